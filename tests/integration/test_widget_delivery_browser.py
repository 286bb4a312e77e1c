"""Nothing lost, nothing doubled, in Chromium: a widget that comes back (the tab reopened) gets the
agent's reply it missed, once; and what the widget had sent without an acknowledgement, or typed
while away, goes out again on the next connection under its own id: handled once, answered once."""

from __future__ import annotations

import json

from tests.conftest import missing
from tests.integration.conftest import Server, delivered
from tests.integration.console_client import PASSWORD, Agent, add_agent
from tests.integration.socketio_client import WidgetClient, has
from tests.integration.test_widget_browser import ARGS, CHROMIUM, TURN_MS, _session_of


async def test_a_reopened_widget_gets_what_it_missed_once(server: Server) -> None:
    if not CHROMIUM.exists():
        missing("Chromium is not installed at /usr/bin/chromium (apt-get install chromium)")
    from playwright.async_api import async_playwright, expect

    await add_agent(server, "ann")
    agent = Agent(server)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            context = await browser.new_context()  # one browser profile: its localStorage outlives the tab
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(server.base + "/")
            await page.get_by_role("button", name="Open chat: Northwind Goods").click()
            log = page.get_by_role("log", name="Conversation")
            bot = log.locator("li.msg.bot")
            await expect(bot.first).to_contain_text("Northwind", timeout=TURN_MS)
            await page.get_by_role("textbox", name="Message").fill("I want to talk to a person")
            await page.keyboard.press("Enter")
            await expect(bot.filter(has_text="connecting you")).to_have_count(1, timeout=TURN_MS)
            session = await _session_of(server)
            await agent.login("ann")
            await agent.ok("POST", f"/conversations/{session}/take")
            await expect(bot.filter(has_text="ann")).to_have_count(1, timeout=TURN_MS)
            await page.close()  # the customer closed the tab

            console = await (await browser.new_context()).new_page()  # the agent's console, live
            console.on("pageerror", lambda exc: errors.append(f"console: {exc}"))
            await console.goto(f"{server.base}/console#conv={session}")
            await console.fill("#login-name", "ann")
            await console.fill("#login-password", PASSWORD)
            await console.click("#login-submit")
            await expect(console.locator("#live-status")).to_have_text("live")
            await console.goto(f"{server.base}/console#conv={session}")  # signed in: the conversation opens
            await expect(console.locator("#conv-status")).to_have_text("agent")
            await expect(console.locator("#live-status")).to_have_text("live")

            reply = await agent.ok("POST", f"/conversations/{session}/reply", {"text": "Your refund is on its way."})
            assert reply["item"]["delivered"] is False  # nobody to receive it: it waits in the outbox
            shown = console.locator("#transcript li.item-agent").filter(has_text="Your refund is on its way.")
            await expect(shown.locator(".undelivered")).to_contain_text("Not delivered yet", timeout=TURN_MS)
            await expect(shown.get_by_role("button", name="Retry now")).to_be_visible()

            page = await context.new_page()  # the customer comes back
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(server.base + "/")
            log = page.get_by_role("log", name="Conversation")
            await expect(log.locator("li.msg.bot").filter(has_text="Your refund is on its way.")).to_have_count(
                1, timeout=TURN_MS)
            (done,) = await delivered(server, session, text="Your refund is on its way.")
            assert done.status == "sent"
            await expect(shown.locator(".undelivered")).to_have_count(0, timeout=TURN_MS)  # live: it arrived
            await page.reload()  # reconnecting again sends nothing twice
            await expect(log.locator("li.msg.user")).to_have_count(1, timeout=TURN_MS)
            await page.wait_for_function("JSON.parse(localStorage.getItem(Object.keys(localStorage)[0])).outbox"
                                         ".length === 0")
            await expect(log.locator("li.msg.bot").filter(has_text="Your refund is on its way.")).to_have_count(1)
            assert not errors, errors
        finally:
            await agent.close()
            await browser.close()


async def test_unacknowledged_messages_go_again_and_are_handled_once(server: Server) -> None:
    if not CHROMIUM.exists():
        missing("Chromium is not installed at /usr/bin/chromium (apt-get install chromium)")
    from playwright.async_api import async_playwright, expect

    client = WidgetClient(server.base)  # the widget's last page: it sent "w-1", then closed before the ack
    await client.connect()
    session = await client.session(None)
    asked = "what payment methods do you accept?"
    await client.say(asked, session, metadata={"message_id": "w-1"})
    await client.until(has("PayPal"))
    await client.close()
    saved = {"sessionId": session, "open": True, "greeted": True,
             "messages": [{"from": "user", "text": asked}, {"from": "bot", "text": "(shown before)"}],
             "outbox": [{"id": "w-1", "text": asked},  # sent, never acknowledged
                        {"id": "w-2", "text": "how long does shipping take?"}]}  # typed while offline

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = await browser.new_page()
            await page.add_init_script(f"localStorage.setItem({json.dumps('switchboard:' + server.base)}, "
                                       f"{json.dumps(json.dumps(saved))})")
            await page.goto(server.base + "/")
            log = page.get_by_role("log", name="Conversation")
            await expect(log.locator("li.msg.bot").filter(has_text="business days")).to_have_count(1, timeout=TURN_MS)
            await page.wait_for_function(f"JSON.parse(localStorage.getItem({json.dumps('switchboard:' + server.base)}))"
                                         ".outbox.length === 0")
            await expect(log.locator("li.msg.bot").filter(has_text="PayPal")).to_have_count(0)  # no second answer
        finally:
            await browser.close()

    events = (await server.tracker(session))["events"]
    users = [(e["text"], e["message_id"]) for e in events if e["event"] == "user"]
    assert users == [(asked, "w-1"), ("how long does shipping take?", "w-2")]
    answers = [e["text"] for e in events if e["event"] == "bot"]
    assert len([t for t in answers if "PayPal" in t]) == 1 and any("business days" in t for t in answers)
