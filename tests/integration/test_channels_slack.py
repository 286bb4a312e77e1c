"""Slack end to end against a local Slack Web API: signed events (and forged ones), the
url_verification handshake, direct messages and mentions answered in their thread, Block Kit
buttons and their clicks, Slack retries not answered twice, the bot's own messages ignored,
platform errors logged, and the output channel reaching a user later."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import logging
import time
from pathlib import Path
from typing import Any, AsyncIterator
from urllib.parse import urlencode

import pytest

from bot.server.keys import OUTPUTS
from tests.fakes.slack_api import BOT_USER, TEAM, FakeSlack
from tests.integration.conftest import Server, StartServer, delivered, free_port

TOKEN = "xoxb-test-0000-northwind"
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
URL = "/webhooks/slack/webhook"
DM = "D0ADA0001"
_seq = itertools.count(1)


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    api = FakeSlack(TOKEN)
    await api.start(free_port())
    yield api
    await api.stop()


@pytest.fixture
async def server(start_server: StartServer, fake: FakeSlack, tmp_path: Path) -> Server:
    channels = {"rest": {}, "slack": {"slack_token": TOKEN, "slack_signing_secret": SECRET, "base_url": fake.api_url}}
    return await start_server(database_url=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", channels=channels)


def signed(body: bytes, *, secret: str = SECRET, age: float = 0.0) -> dict[str, str]:
    ts = str(int(time.time() - age))
    mac = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={mac}"}


def event(inner: dict[str, Any]) -> dict[str, Any]:
    return {"token": "legacy", "team_id": TEAM, "api_app_id": "A0SHOP", "type": "event_callback",
            "event_id": f"Ev{next(_seq):08d}", "event_time": int(time.time()), "event": inner,
            "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}]}


def dm(text: str, user: str = "U0ADA", **extra: Any) -> dict[str, Any]:
    ts = f"{int(time.time())}.{next(_seq):06d}"
    return event({"type": "message", "channel": DM, "channel_type": "im", "user": user, "text": text,
                  "ts": ts, "event_ts": ts, **extra})


async def send(server: Server, payload: dict[str, Any], *, headers: dict[str, str] | None = None,
               form: bool = False, **sign: Any) -> tuple[int, str]:
    body = (urlencode({"payload": json.dumps(payload)}) if form else json.dumps(payload)).encode()
    content_type = "application/x-www-form-urlencoded" if form else "application/json"
    all_headers = {"Content-Type": content_type, **signed(body, **sign), **(headers or {})}
    async with server.http.post(server.base + URL, data=body, headers=all_headers) as r:
        return r.status, await r.text()


async def test_the_shop_conversation_over_slack(server: Server, fake: FakeSlack) -> None:
    status, _ = await send(server, dm("hello"))
    assert status == 200
    assert "auth.test" in [method for method, _ in fake.calls]  # bolt asked who the bot is
    greeting = (await fake.wait_for_posts(1))[-1]
    assert greeting["channel"] == DM and greeting.get("thread_ts") is None
    assert "Northwind" in greeting["text"]
    actions = next(b for b in greeting["blocks"] if b["type"] == "actions")
    button = next(e for e in actions["elements"] if e["value"] == "/order_status")
    assert button["type"] == "button" and button["text"]["text"] == "Where is my order?"

    click = {"type": "block_actions", "team": {"id": TEAM}, "user": {"id": "U0ADA"}, "api_app_id": "A0SHOP",
             "token": "legacy", "trigger_id": "1.2.3", "channel": {"id": DM},
             "container": {"type": "message", "message_ts": "1.1", "channel_id": DM, "is_ephemeral": False},
             "message": {"type": "message", "ts": "1.1", "text": greeting["text"]},
             "actions": [{"type": "button", "action_id": button["action_id"], "block_id": actions["block_id"],
                          "value": "/order_status", "text": button["text"], "action_ts": f"{time.time():.6f}"}]}
    assert (await send(server, click, form=True))[0] == 200
    assert "order number" in (await fake.wait_for_posts(2))[-1]["text"].lower()
    await send(server, dm("it's NW-10002"))
    answer = (await fake.wait_for_posts(3))[-1]["text"]
    assert "NW-10002" in answer and "shipped" in answer
    await send(server, dm("do you sell gift cards?"))
    assert "gift card" in (await fake.wait_for_posts(4))[-1]["text"].lower()

    tracker = await server.tracker("U0ADA")
    users = [e for e in tracker["events"] if e["event"] == "user"]
    assert [u["text"] for u in users] == ["hello", "/order_status", "it's NW-10002", "do you sell gift cards?"]
    assert {u["input_channel"] for u in users} == {"slack"}
    assert users[0]["metadata"]["slack"]["channel"] == DM


async def test_a_mention_is_answered_in_its_thread(server: Server, fake: FakeSlack) -> None:
    ts = f"{int(time.time())}.000777"
    mention = event({"type": "app_mention", "channel": "C0GENERAL", "user": "U0BOB", "ts": ts, "event_ts": ts,
                     "text": f"<@{BOT_USER}> what payment methods do you accept?"})
    assert (await send(server, mention))[0] == 200
    reply = (await fake.wait_for_posts(1))[-1]
    assert reply["channel"] == "C0GENERAL" and reply["thread_ts"] == ts and "PayPal" in reply["text"]
    user = [e for e in (await server.tracker("U0BOB"))["events"] if e["event"] == "user"][0]
    assert user["text"] == "what payment methods do you accept?"  # the mention itself is not the question


async def test_url_verification_and_forged_requests(server: Server, fake: FakeSlack) -> None:
    status, body = await send(server, {"type": "url_verification", "token": "legacy", "challenge": "c-123"})
    assert status == 200 and json.loads(body)["challenge"] == "c-123"
    for forged in ({"secret": "not-the-signing-secret"}, {"age": 10 * 60}):  # wrong key; replayed after 10 min
        status, body = await send(server, dm("hello from a forger", user="U0EVE"), **forged)
        assert status == 401 and json.loads(body)["error"]
    async with server.http.post(server.base + URL, json=dm("unsigned", user="U0EVE")) as r:
        assert r.status == 401
    assert not fake.posted()
    assert not [e for e in (await server.tracker("U0EVE"))["events"] if e["event"] == "user"]


async def test_hostile_slack_requests_get_400_before_bolt_reads_them(server: Server, fake: FakeSlack) -> None:
    nan = dm("hello", user="U0MAL")
    nan["event_time"] = float("nan")
    click = {"type": "block_actions", "user": {"id": "U0MAL"}, "actions": [{"value": "/greet\u0000"}]}
    for payload, form, words in ((dm("hi\u0000", user="U0MAL"), False, "'event.text' contains a NUL"),
                                 (dm("hi \ud800", user="U0MAL"), False, "'event.text' contains a lone surrogate"),
                                 (nan, False, "'event_time' is NaN"),
                                 (click, True, "'actions[0].value' contains a NUL")):
        status, body = await send(server, payload, form=form)
        assert status == 400 and words in json.loads(body)["error"], body
    deep = b"[" * 10_000 + b"]" * 10_000
    async with server.http.post(server.base + URL, data=deep, headers={"Content-Type": "application/json",
                                                                       **signed(deep)}) as r:
        assert r.status == 400 and "nested too deeply" in (await r.json())["error"]
    async with server.http.post(server.base + URL, data=b'{"text": "\xff"}',
                                headers={"Content-Type": "application/json"}) as r:
        assert r.status == 400 and "UTF-8" in (await r.json())["error"]
    assert not fake.posted()
    assert not [e for e in (await server.tracker("U0MAL"))["events"] if e["event"] == "user"]
    assert (await send(server, dm("hello", user="U0MAL")))[0] == 200  # still serving


async def test_slack_retries_and_the_bots_own_messages_get_no_reply(server: Server, fake: FakeSlack) -> None:
    first = dm("how long does shipping take?", user="U0CAROL")
    retry_headers = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    results = await asyncio.gather(send(server, first), send(server, first, headers=retry_headers))
    assert [status for status, _ in results] == [200, 200]
    await send(server, first, headers={"X-Slack-Retry-Num": "2", "X-Slack-Retry-Reason": "http_timeout"})
    own = dm("Orders usually leave our warehouse...", user=BOT_USER)
    other_bot = dm("beep", user="U0OTHER", bot_id="B0OTHER")
    edited = dm("", user="U0CAROL", subtype="message_changed")
    for payload in (own, other_bot, edited):
        assert (await send(server, payload))[0] == 200
    assert (await send(server, event({"type": "reaction_added", "user": "U0CAROL", "reaction": "+1"})))[0] == 200
    await send(server, dm("thanks!", user="U0CAROL"))  # a later message: its reply marks the end
    texts = [post["text"] for post in fake.posted()]  # each send returned after its turn
    assert len([t for t in texts if "business days" in t]) == 1  # the retries were not answered again
    assert len(texts) == len(set(texts)) and texts[-1] != texts[0]
    users = [e["text"] for e in (await server.tracker("U0CAROL"))["events"] if e["event"] == "user"]
    assert users == ["how long does shipping take?", "thanks!"]


async def test_the_output_channel_reaches_the_user_later(server: Server, fake: FakeSlack) -> None:
    ts = f"{int(time.time())}.000900"
    await send(server, event({"type": "app_mention", "channel": "C0HELP", "user": "U0DAN", "ts": ts,
                              "event_ts": ts, "text": f"<@{BOT_USER}> hi"}))
    await fake.wait_for_posts(1)
    output = server.app[OUTPUTS]["slack"]
    await output.send("U0DAN", {"text": "Hi, this is Dana from support. <b>Coming</b> & going.",
                                "buttons": [{"title": "Thanks", "payload": "/thanks"}]})
    later = fake.posted()[-1]
    assert later["channel"] == "C0HELP" and later["thread_ts"] == ts  # where the user last wrote
    assert later["text"] == "Hi, this is Dana from support. &lt;b&gt;Coming&lt;/b&gt; &amp; going."
    assert later["blocks"][1]["elements"][0]["value"] == "/thanks"
    from bot.errors import NotFound

    with pytest.raises(NotFound):
        await output.send("U0NOBODY", {"text": "hello?"})


async def test_platform_errors_are_retried_by_the_outbox_or_given_up(
    server: Server, fake: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    fake.fail_next("chat.postMessage", 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"})
    assert (await send(server, dm("what payment methods do you accept?", user="U0ERIN")))[0] == 200
    (delivery,) = await delivered(server, "U0ERIN")  # rate-limited once, then sent by the outbox's retry
    assert (delivery.status, delivery.attempts) == ("sent", 2)
    posts = fake.posted()
    assert len(posts) == 2 and posts[0]["text"] == posts[1]["text"] and "PayPal" in posts[1]["text"]

    fake.fail_next("chat.postMessage", 200, {"ok": False, "error": "channel_not_found"})
    with caplog.at_level(logging.ERROR, logger="bot.channels.slack"):
        status, _ = await send(server, dm("hello", user="U0FRANK"))
    assert status == 200
    assert any(DM in r.getMessage() and "channel_not_found" in r.getMessage() for r in caplog.records)
    given_up = await delivered(server, "U0FRANK")
    assert given_up[0].status == "failed" and given_up[0].attempts == 1  # no retry can fix it


async def test_a_message_over_the_limit_is_answered_with_a_notice(server: Server, fake: FakeSlack) -> None:
    assert (await send(server, dm("word " * 900, user="U0GINA")))[0] == 200
    notice = (await fake.wait_for_posts(1))[-1]
    assert "too long" in notice["text"] and notice["channel"] == DM
    assert not [e for e in (await server.tracker("U0GINA"))["events"] if e["event"] == "user"]


async def test_an_agents_reply_goes_to_the_customers_slack_thread(server: Server, fake: FakeSlack) -> None:
    from tests.integration.console_client import Agent, add_agent

    ts = f"{int(time.time())}.000555"
    await send(server, event({"type": "app_mention", "channel": "C0HELP", "user": "U0ERIN", "ts": ts,
                              "event_ts": ts, "text": f"<@{BOT_USER}> can I talk to a person?"}))
    assert "connecting you" in (await fake.wait_for_posts(1))[-1]["text"]
    await add_agent(server, "sam")
    agent = Agent(server)
    try:
        await agent.login("sam")
        await agent.ok("POST", "/conversations/U0ERIN/take")
        reply = await agent.ok("POST", "/conversations/U0ERIN/reply", {"text": "Hi Erin, Sam here."})
        assert reply["item"]["delivered"] is True
        last = fake.posted()[-1]
        assert last["channel"] == "C0HELP" and last["thread_ts"] == ts and last["text"] == "Hi Erin, Sam here."
    finally:
        await agent.close()
