"""The web widget in Debian's Chromium (Playwright): the demo shop page, keyboard-only opening,
a greeting, an intent question, a support-log question, text that stays text, a quick reply,
and a reload that keeps the conversation going. Saves widget.png in the artifacts directory
(SWITCHBOARD_TEST_ARTIFACTS, else a temporary one)."""

from __future__ import annotations

from pathlib import Path

from bot.server.keys import OUTPUTS
from tests.conftest import missing
from tests.integration.conftest import Server

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
TURN_MS = 90_000  # an upper bound for one bot turn on a busy machine; only a failure waits this long


async def test_the_widget_in_chromium(server: Server, artifacts_dir: Path) -> None:
    if not CHROMIUM.exists():
        missing("Chromium is not installed at /usr/bin/chromium (apt-get install chromium)")
    from playwright.async_api import async_playwright, expect

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1100, "height": 760})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(server.base + "/")
            await expect(page.get_by_role("heading", name="Northwind Goods", exact=True).first).to_be_visible()

            launcher = page.get_by_role("button", name="Open chat: Northwind Goods")
            await launcher.focus()
            await page.keyboard.press("Enter")  # keyboard only
            box = page.get_by_role("textbox", name="Message")
            await expect(box).to_be_focused()
            log = page.get_by_role("log", name="Conversation")
            await expect(log).to_have_attribute("aria-live", "polite")
            bot = log.locator("li.msg.bot")
            await expect(bot.first).to_contain_text("Northwind", timeout=TURN_MS)  # the init payload's greeting
            await expect(log.locator(".quick-reply").first).to_be_visible()

            async def ask(text: str, answer: str | None) -> None:
                answered = await bot.count()
                await box.fill(text)
                await page.keyboard.press("Enter")
                await expect(log.locator("li.msg.user").last).to_have_text("You said: " + text)
                if answer is None:  # any answer will do
                    await expect(bot).not_to_have_count(answered, timeout=TURN_MS)
                else:
                    await expect(bot.filter(has_text=answer).last).to_be_visible(timeout=TURN_MS)

            await ask("how long does shipping take?", "business days")
            await ask("do you sell gift cards?", "gift card")
            hostile = '<img src=x onerror="window.__pwned = 1"><b>bold?</b>'
            await ask(hostile, None)
            assert await page.evaluate("window.__pwned") is None
            await expect(log.locator("img, b")).to_have_count(0)

            await ask("hello", "Northwind")
            await log.get_by_role("button", name="Where is my order?").click()
            await expect(bot.filter(has_text="order number").last).to_be_visible(timeout=TURN_MS)
            await expect(log.locator(".quick-reply")).to_have_count(0)  # used quick replies go
            before = await log.locator("li.msg").count()

            await page.reload()  # the session id and the transcript live in the browser
            log = page.get_by_role("log", name="Conversation")
            bot, box = log.locator("li.msg.bot"), page.get_by_role("textbox", name="Message")
            await expect(log).to_be_visible()  # the panel stays open
            await expect(log.locator("li.msg")).to_have_count(before)
            await expect(log.locator("li.msg.user").filter(has_text="Where is my order?")).to_have_count(1)
            await ask("it's NW-10002", "NW-10002")  # the server kept the conversation: its order form goes on
            await expect(bot.last).to_contain_text("shipped")

            output = server.app[OUTPUTS]["socketio"]  # later, outside a turn: streamed text reaches the page

            async def chunks():  # type: ignore[no-untyped-def]
                yield "Your parcel "
                yield "is with DHL "
                await expect(bot.last).to_have_text("Assistant: Your parcel is with DHL")  # shown while streaming
                await expect(bot.last).to_have_attribute("aria-busy", "true")
                yield "and arrives soon."

            await output.send_stream(await _session_of(server), chunks())
            await expect(bot.last).to_have_text("Assistant: Your parcel is with DHL and arrives soon.")
            await expect(bot.last).not_to_have_attribute("aria-busy", "true")

            await page.keyboard.press("Escape")  # keyboard closes it and focus returns to the launcher
            await expect(launcher).to_be_focused()
            await page.keyboard.press("Enter")
            await expect(box).to_be_focused()

            await page.screenshot(path=str(artifacts_dir / "widget.png"))
            assert not errors, errors
        finally:
            await browser.close()

    tracker = await server.tracker(await _session_of(server))
    assert tracker["slots"]["order_number"] == "NW-10002"
    assert {e["input_channel"] for e in tracker["events"] if e["event"] == "user"} == {"socketio"}


async def _session_of(server: Server) -> str:
    """The widget's conversation: the only one this fresh server has."""
    from bot.server.keys import RUNTIME

    ids = await server.app[RUNTIME].store.conversation_ids()
    assert len(ids) == 1, ids
    return ids[0]


async def test_a_return_through_the_form_in_the_widget(server: Server) -> None:
    """The return form walked as a customer walks it: typed answers and tapped quick replies."""
    if not CHROMIUM.exists():
        missing("Chromium is not installed at /usr/bin/chromium (apt-get install chromium)")
    from playwright.async_api import async_playwright, expect

    from actions.orders_db import returns_of

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1100, "height": 760})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(server.base + "/")
            await page.get_by_role("button", name="Open chat: Northwind Goods").click()
            box = page.get_by_role("textbox", name="Message")
            log = page.get_by_role("log", name="Conversation")
            bot = log.locator("li.msg.bot")
            await expect(bot.first).to_contain_text("Northwind", timeout=TURN_MS)

            async def shows(text: str) -> None:
                await expect(bot.filter(has_text=text).last).to_be_visible(timeout=TURN_MS)

            async def type_in(text: str, answer: str) -> None:
                await box.fill(text)
                await page.keyboard.press("Enter")
                await shows(answer)

            await type_in("I'd like to return an item", "Shall I start a return?")
            await log.get_by_role("button", name="Start a return").click()
            await shows("What's the order number?")
            await type_in("NW-10003", "Which item from order NW-10003")
            await type_in("the blue mug", "Why are you returning the blue mug?")
            await log.get_by_role("button", name="It arrived damaged or faulty").click()
            await shows("Shall I open the return?")
            await log.get_by_role("button", name="Yes, open it").click()
            await shows("Return RT-")
            assert not errors, errors
        finally:
            await browser.close()
    (stored,) = await returns_of("NW-10003")
    assert (stored["item"], stored["reason"]) == ("blue mug", "damaged")
