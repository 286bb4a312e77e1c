"""The agent console and the widget side by side in Debian's Chromium (Playwright): a customer
asks for a person; an agent, logged in in a second browser context, sees the conversation appear
live, reads the annotated transcript, takes it and replies; the widget shows the reply; the agent
approves the reply as an answer and hands back; the customer asks again and the bot answers from
the index. Saves console.png (the console showing an annotated transcript) in the artifacts
directory (SWITCHBOARD_TEST_ARTIFACTS, else a temporary one)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import missing
from tests.integration.conftest import Server
from tests.integration.console_client import PASSWORD, add_agent
from tests.integration.test_widget_browser import ARGS, CHROMIUM, TURN_MS

QUESTION = "do you ship to the Faroe Islands?"
ANSWER = "Yes: parcels to the Faroe Islands go by Posta and take 5 to 7 working days."
HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'


async def test_customer_and_agent_in_chromium(server: Server, artifacts_dir: Path) -> None:
    if not CHROMIUM.exists():
        missing("Chromium is not installed at /usr/bin/chromium (apt-get install chromium)")
    from playwright.async_api import async_playwright, expect

    await add_agent(server, "Ann")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            errors: list[str] = []
            agent_ctx = await browser.new_context(viewport={"width": 1400, "height": 900})
            console = await agent_ctx.new_page()
            console.on("pageerror", lambda exc: errors.append(f"console: {exc}"))
            await console.goto(server.base + "/console")
            await console.fill("#login-name", "Ann")
            await console.fill("#login-password", "not the password")
            await console.click("#login-submit")
            await expect(console.locator("#login-error")).to_contain_text("wrong name or password")
            await console.fill("#login-password", PASSWORD)
            await console.click("#login-submit")
            await expect(console.locator("#agent-name")).to_have_text("Ann")
            await expect(console.locator("#live-status")).to_have_text("live")
            queue = console.locator("#queue li.queue-item")
            await expect(queue).to_have_count(0)

            customer_ctx = await browser.new_context(viewport={"width": 1000, "height": 760})
            shop = await customer_ctx.new_page()
            shop.on("pageerror", lambda exc: errors.append(f"widget: {exc}"))
            await shop.goto(server.base + "/")
            await shop.get_by_role("button", name="Open chat: Northwind Goods").click()
            box = shop.get_by_role("textbox", name="Message")
            log = shop.get_by_role("log", name="Conversation")
            bot = log.locator("li.msg.bot")
            await expect(bot.first).to_contain_text("Northwind", timeout=TURN_MS)

            async def ask(text: str, answer: str | None) -> None:
                await box.fill(text)
                await shop.keyboard.press("Enter")
                await expect(log.locator("li.msg.user").last).to_have_text("You said: " + text)
                if answer is not None:
                    await expect(bot.filter(has_text=answer).last).to_be_visible(timeout=TURN_MS)

            await ask("do you sell gift cards?", "gift card")  # a support-log answer: retrieval with scores
            await ask("I'd like to talk to a person, please", "connecting you")

            # the conversation appears in the console without a reload
            await expect(queue).to_have_count(1, timeout=TURN_MS)
            row = queue.first
            await expect(row.locator(".trigger")).to_contain_text("customer request")
            await expect(row.locator(".waiting")).to_contain_text("waiting")
            await row.click()
            await expect(console.locator("#conv-status")).to_have_text("pending")
            transcript = console.locator("#transcript")
            bot_items = transcript.locator("li.item-bot")
            retrieval = bot_items.filter(has_text="gift card").first.locator(".reason")
            await expect(retrieval).to_contain_text("retrieval")
            await expect(retrieval.locator("ul.reason-retrieval li .score").first).to_be_visible()
            handoff = bot_items.filter(has_text="connecting you").last.locator(".reason")
            await expect(handoff).to_contain_text("handoff")
            await expect(handoff).to_contain_text("ask_human")

            # while pending the bot is silent; what the customer writes shows up live, as text
            answered = await bot.count()
            await ask(HOSTILE, None)
            await ask(QUESTION, None)
            customer_items = transcript.locator("li.item-customer")
            await expect(customer_items.filter(has_text=QUESTION)).to_have_count(1, timeout=TURN_MS)
            await expect(customer_items.filter(has_text="<script>window.__pwned")).to_have_count(1)
            assert await transcript.locator("script, img").count() == 0
            assert await console.evaluate("window.__pwned") is None
            assert await bot.count() == answered

            await console.click("#take")
            await expect(console.locator("#conv-status")).to_have_text("agent")
            await expect(bot.filter(has_text="Ann from our customer care team has joined").last).to_be_visible(
                timeout=TURN_MS)
            await console.fill("#reply-text", ANSWER)
            await console.keyboard.press("Enter")
            await expect(bot.filter(has_text=ANSWER).last).to_be_visible(timeout=TURN_MS)
            await expect(bot.filter(has_text=ANSWER).last.locator(".who")).to_have_text("Ann · our team")
            mine = transcript.locator("li.item-agent").filter(has_text=ANSWER)
            await expect(mine).to_have_count(1)

            await retrieval.scroll_into_view_if_needed()  # the shot shows retrieval scores and the handoff
            await retrieval.evaluate("node => node.closest('li').scrollIntoView({block: 'start'})")
            await console.screenshot(path=str(artifacts_dir / "console.png"), full_page=True)

            await mine.locator("button.approve").click()
            await expect(mine.locator(".approved")).to_be_visible()
            await console.click("#handback")
            await expect(console.locator("#conv-status")).to_have_text("bot")
            await expect(queue).to_have_count(0)
            await expect(bot.filter(has_text="back with the Northwind Goods assistant").last).to_be_visible(
                timeout=TURN_MS)

            # the bot now answers the question itself, from the index
            before = await bot.filter(has_text=ANSWER).count()
            await ask(QUESTION, None)
            await expect(bot.filter(has_text=ANSWER)).to_have_count(before + 1, timeout=TURN_MS)
            last_reason = transcript.locator("li.item-bot").last.locator(".reason")
            await expect(last_reason).to_contain_text("retrieval", timeout=TURN_MS)
            assert await shop.evaluate("window.__pwned") is None
            assert not errors, errors
        finally:
            await browser.close()
