"""socket.io across workers, in Debian's Chromium: two workers of one bot (one PostgreSQL, one
Redis) as `switchboard run --workers 2` makes them, the widget connected to worker A; a reply that
worker B sends (trigger_intent with output_channel) and an agent's reply sent through worker B's
console both reach the widget, and the console knows the customer is there (delivered)."""

from __future__ import annotations

import asyncio
import uuid
from bench.private_servers import PrivatePostgres, PrivateRedis
from pathlib import Path

from bot.server.keys import RUNTIME
from tests.conftest import missing
from tests.integration.conftest import StartServer
from tests.integration.console_client import Agent, add_agent
from tests.integration.test_widget_browser import ARGS, CHROMIUM, TURN_MS


async def test_a_widget_on_worker_a_hears_worker_b_and_its_agent(
        start_server: StartServer, private_postgres: PrivatePostgres, private_redis: PrivateRedis,
        artifacts_dir: Path) -> None:
    if not CHROMIUM.exists():
        missing("Chromium is not installed at /usr/bin/chromium (apt-get install chromium)")
    from playwright.async_api import async_playwright, expect

    url = private_postgres.create_database(f"sio_{uuid.uuid4().hex[:8]}")
    a, b = [await start_server(database_url=url, lock_store_url=private_redis.url(), workers=2) for _ in range(2)]
    async with b.http.get(f"{b.base}/socket.io/?EIO=4&transport=polling") as r:  # several workers: WebSocket only
        assert r.status == 400 and (await r.json())["error"]
    await add_agent(b, "Bea")
    agent = Agent(b)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1000, "height": 760})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(a.base + "/")  # the widget talks to worker A only
            await page.get_by_role("button", name="Open chat: Northwind Goods").click()
            log = page.get_by_role("log", name="Conversation")
            bot = log.locator("li.msg.bot")
            await expect(bot.first).to_contain_text("Northwind", timeout=TURN_MS)
            (cid,) = await a.app[RUNTIME].store.conversation_ids()

            # a bot reply that worker B sends (Rasa's trigger_intent with output_channel=latest)
            async with b.http.post(f"{b.base}/conversations/{cid}/trigger_intent?output_channel=latest",
                                   json={"name": "opening_hours"}) as r:
                assert r.status == 200, await r.text()
                sent = (await r.json())["messages"][0]["text"]
            await expect(bot.filter(has_text=sent[:40]).last).to_be_visible(timeout=TURN_MS)

            box = page.get_by_role("textbox", name="Message")
            await box.fill("I'd like to talk to a person, please")
            await page.keyboard.press("Enter")
            await expect(bot.filter(has_text="connecting you").last).to_be_visible(timeout=TURN_MS)

            await agent.login("Bea")  # an agent whose console is on worker B
            await agent.ok("POST", f"/conversations/{cid}/take")
            await expect(bot.filter(has_text="Bea").last).to_be_visible(timeout=TURN_MS)
            reply = await agent.ok("POST", f"/conversations/{cid}/reply", {"text": "Hello from worker B's console."})
            await expect(bot.filter(has_text="Hello from worker B's console.").last).to_be_visible(timeout=TURN_MS)
            assert reply["item"]["delivered"] is True, reply  # B knew the customer is there, on A
            await page.screenshot(path=str(artifacts_dir / "widget_across_workers.png"))

            await page.close()  # the customer leaves: the console on B says so
            for _ in range(100):
                reply = await agent.ok("POST", f"/conversations/{cid}/reply", {"text": "Still there?"})
                if reply["item"]["delivered"] is False:
                    break
                await asyncio.sleep(0.1)
            assert reply["item"]["delivered"] is False and "not open" in reply["item"]["delivery_error"]
            assert not errors, errors
        finally:
            await browser.close()
            await agent.close()
