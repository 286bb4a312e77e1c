"""Telegram end to end against a local Bot API server: the shop conversation with an inline
keyboard and a callback query, the secret-token check, redelivered updates answered once,
long replies split, flood control retried, platform errors reported, the output channel used
later, and `switchboard telegram set-webhook`."""

from __future__ import annotations

import asyncio
import itertools
import logging
import shutil
import time
from pathlib import Path
from typing import Any, AsyncIterator

import pytest

from bot.channels.base import DeliveryError
from bot.channels.dispatch import DISPATCHER
from bot.server.keys import OUTPUTS, RUNTIME
from bot.storage.base import Outgoing
from bot.storage.outbox import OutboxStore
from tests.conftest import TEMPLATE
from tests.fakes.telegram_api import FakeTelegram
from tests.integration.conftest import Server, StartServer, delivered, free_port

TOKEN = "123456:TEST-token_abcdefghijklmnopqrstuvwxyz"
SECRET = "s3cret-Token_for-webhook"
CHAT = 5550101
URL = "/webhooks/telegram/webhook"
_ids = itertools.count(7000)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    api = FakeTelegram(TOKEN)
    await api.start(free_port())
    yield api
    await api.stop()


@pytest.fixture
async def server(start_server: StartServer, fake: FakeTelegram, tmp_path: Path) -> Server:
    channels = {"rest": {}, "telegram": {"access_token": TOKEN, "secret_token": SECRET, "base_url": f"{fake.base}/bot"}}
    return await start_server(database_url=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", channels=channels)


def text_update(text: str, chat: int = CHAT, update_id: int | None = None) -> dict[str, Any]:
    user = {"id": chat, "is_bot": False, "first_name": "Ada", "language_code": "en"}
    return {"update_id": update_id or next(_ids), "message": {
        "message_id": next(_ids), "date": int(time.time()), "from": user,
        "chat": {"id": chat, "type": "private", "first_name": "Ada"}, "text": text}}


def callback_update(data: str, chat: int = CHAT) -> dict[str, Any]:
    user = {"id": chat, "is_bot": False, "first_name": "Ada"}
    message = {"message_id": next(_ids), "date": int(time.time()), "chat": {"id": chat, "type": "private"},
               "text": "Hi there"}
    return {"update_id": next(_ids), "callback_query": {
        "id": str(next(_ids)), "from": user, "chat_instance": "42", "message": message, "data": data}}


async def post(server: Server, update: Any, secret: str | None = SECRET, **kwargs: Any) -> tuple[int, Any]:
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
    async with server.http.post(server.base + URL, json=update, headers=headers, **kwargs) as r:
        return r.status, await r.json()


async def test_the_shop_conversation_over_telegram(server: Server, fake: FakeTelegram) -> None:
    assert ("getMe", {}) in fake.calls  # the token was checked at start-up
    assert (await post(server, text_update("/start")))[0] == 200
    greeting = (await fake.wait_for("sendMessage", 1))[-1]
    assert "Northwind" in greeting["text"] and greeting["chat_id"] == str(CHAT)
    keyboard = greeting["reply_markup"]["inline_keyboard"]
    assert {"text": "Where is my order?", "callback_data": "/order_status"} in [row[0] for row in keyboard]

    assert (await post(server, callback_update("/order_status")))[0] == 200
    assert fake.sent("answerCallbackQuery")
    assert "order number" in fake.sent()[-1]["text"].lower()
    await post(server, text_update("it's NW-10002"))
    assert "NW-10002" in fake.sent()[-1]["text"] and "shipped" in fake.sent()[-1]["text"]
    await post(server, text_update("do you sell gift cards?"))
    assert "gift card" in fake.sent()[-1]["text"].lower()

    tracker = await server.tracker(str(CHAT))
    users = [e for e in tracker["events"] if e["event"] == "user"]
    assert [u["text"] for u in users] == ["/greet", "/order_status", "it's NW-10002", "do you sell gift cards?"]
    assert {u["input_channel"] for u in users} == {"telegram"}
    assert users[0]["metadata"]["telegram"]["chat_id"] == CHAT


async def test_forged_and_malformed_requests_are_rejected(server: Server, fake: FakeTelegram) -> None:
    update = text_update("hello", chat=5550102)
    for secret in (None, "", "wrong", SECRET + "x"):
        status, body = await post(server, update, secret=secret)
        assert status == 401 and "X-Telegram-Bot-Api-Secret-Token" in body["error"]
    async with server.http.post(server.base + URL, data=b"{not json") as r:
        assert r.status == 401  # the secret is checked first, before the body is read
    async with server.http.post(server.base + URL, data=b"{not json",
                                headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}) as r:
        assert r.status == 400 and "not valid JSON" in (await r.json())["error"]
    for bad in ({"message": {"text": "hi"}}, {"update_id": "7", "message": {}}, [1, 2]):
        status, body = await post(server, bad)
        assert status == 400 and body["error"], bad
    assert not fake.sent()
    tracker = await server.tracker("5550102")
    assert not [e for e in tracker["events"] if e["event"] == "user"]


async def test_hostile_updates_get_400_naming_the_field(server: Server, fake: FakeTelegram) -> None:
    """Signed (the secret is right) but unstorable: refused before Telegram's parser or the store."""
    nul, surrogate = text_update("hi\u0000", chat=5550103), text_update("hi \ud800", chat=5550103)
    nan = text_update("hi", chat=5550103)
    nan["message"]["date"] = float("nan")
    deep = b"[" * 10_000 + b"]" * 10_000
    for update, words in ((nul, "'message.text' contains a NUL"), (surrogate, "'message.text' contains a lone"),
                          (nan, "'message.date' is NaN")):
        status, body = await post(server, update)
        assert status == 400 and words in body["error"], body
    async with server.http.post(server.base + URL, data=deep, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}) as r:
        assert r.status == 400 and "nested too deeply" in (await r.json())["error"]
    assert not fake.sent("sendMessage")
    assert not [e for e in (await server.tracker("5550103"))["events"] if e["event"] == "user"]
    assert (await post(server, text_update("hello", chat=5550103)))[0] == 200  # still serving


async def test_a_redelivered_update_is_answered_once(server: Server, fake: FakeTelegram) -> None:
    update = text_update("what payment methods do you accept?", chat=5550103)
    results = await asyncio.gather(*(post(server, update) for _ in range(3)))  # Telegram did not get its 200
    assert all(status == 200 for status, _ in results)
    assert sorted(body["duplicate"] for _, body in results) == [False, True, True]
    await post(server, update)
    assert len([m for m in fake.sent() if m["chat_id"] == "5550103"]) == 1
    tracker = await server.tracker("5550103")
    assert len([e for e in tracker["events"] if e["event"] == "user"]) == 1


async def test_an_update_redelivered_after_newer_ones_is_still_answered_once(
    start_server: StartServer, fake: FakeTelegram, tmp_path: Path
) -> None:
    """The dedupe is a unique index on the conversation's message ids, not a look at its recent
    events: Telegram may redeliver an update after the bot has handled many newer ones."""
    channels = {"telegram": {"access_token": TOKEN, "secret_token": SECRET, "base_url": f"{fake.base}/bot"}}
    server = await start_server(database_url=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", channels=channels,
                                history_window=5)
    first = text_update("what payment methods do you accept?", chat=5550113)
    assert (await post(server, first))[1]["duplicate"] is False
    for _ in range(4):
        await post(server, text_update("/thanks", chat=5550113))
    count = len(fake.sent())
    assert (await post(server, first))[1]["duplicate"] is True
    assert len(fake.sent()) == count
    tracker = await server.tracker("5550113", include_events="ALL")
    assert len([e for e in tracker["events"] if e["event"] == "user"]) == 5


async def test_updates_the_bot_does_not_answer_get_their_200(server: Server, fake: FakeTelegram) -> None:
    sticker = text_update("x", chat=5550104)
    del sticker["message"]["text"]
    sticker["message"]["sticker"] = {"file_id": "f", "file_unique_id": "u", "width": 1, "height": 1,
                                     "is_animated": False, "is_video": False, "type": "regular"}
    assert await post(server, sticker) == (200, {"ok": True, "ignored": True})
    assert await post(server, {"update_id": next(_ids)}) == (200, {"ok": True, "ignored": True})
    assert not fake.sent()


async def test_the_output_channel_reaches_a_chat_later_split_and_with_buttons(server: Server, fake: FakeTelegram) -> None:
    output = server.app[OUTPUTS]["telegram"]
    paragraph = ("Your parcel is on its way. " * 40).strip()
    long_text = "\n\n".join([paragraph] * 9)  # about 9,700 characters
    await output.send("5550105", {"text": long_text, "buttons": [{"title": "Thanks", "payload": "/thanks"}]})
    sent = fake.sent()
    assert len(sent) == 3 and all(len(m["text"]) <= 4096 for m in sent)
    assert "".join(m["text"] for m in sent) == long_text
    assert [("reply_markup" in m) for m in sent] == [False, False, True]
    assert sent[-1]["reply_markup"]["inline_keyboard"] == [[{"text": "Thanks", "callback_data": "/thanks"}]]


async def test_flood_control_is_retried_by_the_outbox_and_refusals_are_not(
    server: Server, fake: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = OutboxStore(server.app[RUNTIME].store.engine)
    fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    status, _ = await post(server, text_update("what payment methods do you accept?", chat=5550106))
    assert status == 200  # stored and acknowledged: the reply waits in the outbox
    (delivery,) = await delivered(server, "5550106")  # refused once, then sent by the outbox's retry
    assert (delivery.status, delivery.attempts) == ("sent", 2)
    attempts = [m["text"] for m in fake.sent() if m["chat_id"] == "5550106"]
    assert len(attempts) == 2 and attempts[0] == attempts[1] and "PayPal" in attempts[1]

    output = server.app[OUTPUTS]["telegram"]
    fake.fail_next("sendMessage", 400, "Bad Request: chat not found")
    with caplog.at_level(logging.ERROR, logger="bot.channels.telegram"):
        with pytest.raises(DeliveryError, match="(?i)chat not found") as refused:
            await output.send("999", {"text": "nobody there"})
    assert refused.value.permanent
    assert any("999" in r.getMessage() and "chat not found" in r.getMessage().lower() for r in caplog.records)

    fake.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")  # during a turn
    with caplog.at_level(logging.ERROR, logger="bot.channels.telegram"):
        status, _ = await post(server, text_update("hello", chat=5550107))
    assert status == 200  # answered, so Telegram does not redeliver; the failure is in the log
    assert any("5550107" in r.getMessage() and "blocked" in r.getMessage().lower() for r in caplog.records)
    failed = list((await outbox.of_conversation("5550107")).values())
    assert failed and all(d.status == "failed" and d.attempts == 1 for d in failed)  # not retried
    calls = len(fake.sent())
    await server.app[DISPATCHER].poll_once()
    assert len(fake.sent()) == calls


async def test_a_long_reply_cut_off_midway_resumes_where_it_stopped(server: Server, fake: FakeTelegram) -> None:
    """A text Telegram takes in three calls, the second failing for a while: the outbox's retry
    sends the second and the third, never the first again."""
    paragraph = ("Your parcel is on its way. " * 40).strip()
    long_text = "\n\n".join([paragraph] * 9)
    cid, runtime = "5550109", server.app[RUNTIME]
    fake.fail_next("sendMessage", 502, "Bad Gateway", after=1)
    async with runtime.locks.lock(cid):  # every append is made under the conversation's lock
        await runtime.store.append(cid, [{"event": "bot", "text": long_text, "metadata": {"delivery_id": "d-long"}}],
                                   outbox=[Outgoing("telegram", {"text": long_text}, "d-long")])
    (delivery,) = await delivered(server, cid)
    assert (delivery.status, delivery.attempts, delivery.parts_sent) == ("sent", 2, 1)
    calls = [m["text"] for m in fake.sent() if m["chat_id"] == cid]
    assert len(calls) == 4 and calls[1] == calls[2]  # the second refused once, then sent
    assert calls[0] + calls[2] + calls[3] == long_text


async def test_set_webhook_command(fake: FakeTelegram, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    project = tmp_path / "bot"
    shutil.copytree(TEMPLATE, project, ignore=shutil.ignore_patterns(".switchboard"))
    credentials = (project / "credentials.yml").read_text()
    (project / "credentials.yml").write_text(credentials.replace(
        "  start_payload:", f"  base_url: {fake.base}/bot\n  start_payload:"))
    monkeypatch.setenv("TELEGRAM_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_SECRET_TOKEN", SECRET)
    hook = "https://shop.example/webhooks/telegram/webhook"
    assert await asyncio.to_thread(main, ["--project", str(project), "telegram", "set-webhook", "--url", hook]) == 0
    assert fake.webhook["url"] == hook and fake.webhook["secret_token"] == SECRET
    assert fake.webhook["allowed_updates"] == ["message", "callback_query"]
    assert f"webhook set: {hook}" in capsys.readouterr().out

    monkeypatch.setenv("TELEGRAM_TOKEN", "")
    assert await asyncio.to_thread(main, ["--project", str(project), "telegram", "set-webhook", "--url", hook]) == 2
    assert "access_token is empty" in capsys.readouterr().err


async def test_a_message_over_the_limit_is_answered_with_a_notice_not_a_4xx(server: Server, fake: FakeTelegram) -> None:
    status, body = await post(server, text_update("word " * 900, chat=5550108))  # 4,500 characters
    assert status == 200 and body["too_long"] is True  # a 4xx would make Telegram redeliver it forever
    assert "too long" in fake.sent()[-1]["text"] and fake.sent()[-1]["chat_id"] == "5550108"
    assert not [e for e in (await server.tracker("5550108"))["events"] if e["event"] == "user"]


async def test_an_agents_reply_reaches_the_telegram_chat(server: Server, fake: FakeTelegram) -> None:
    from tests.integration.console_client import Agent, add_agent

    chat = 5550177
    await post(server, text_update("I want to speak to a human", chat=chat))
    assert "connecting you" in fake.sent()[-1]["text"]
    count = len(fake.sent())
    await post(server, text_update("my parcel is soaking wet", chat=chat))
    assert len(fake.sent()) == count  # the bot stayed silent
    await add_agent(server, "tess")
    agent = Agent(server)
    try:
        await agent.login("tess")
        await agent.ok("POST", f"/conversations/{chat}/take")
        assert "tess" in fake.sent()[-1]["text"] and fake.sent()[-1]["chat_id"] == str(chat)
        reply = await agent.ok("POST", f"/conversations/{chat}/reply", {"text": "So sorry! A new one ships today."})
        assert reply["item"]["delivered"] is True
        assert (fake.sent()[-1]["chat_id"], fake.sent()[-1]["text"]) == (str(chat), "So sorry! A new one ships today.")
        fake.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
        failed = await agent.ok("POST", f"/conversations/{chat}/reply", {"text": "Are you still there?"})
        assert failed["item"]["delivered"] is False and "blocked" in failed["item"]["delivery_error"]
        shown = (await agent.ok("GET", f"/conversations/{chat}"))["items"][-1]
        assert shown["text"] == "Are you still there?" and shown["delivered"] is False  # kept, flagged
        assert shown["delivery"]["status"] == "failed"  # a refusal for good: not retried by itself
        calls = len(fake.sent())
        resent = await agent.ok("POST", f"/conversations/{chat}/resend",
                                {"delivery_id": shown["delivery"]["delivery_id"]})  # unblocked: the agent resends
        assert resent["delivered"] is True and fake.sent()[-1]["text"] == "Are you still there?"
        again = await agent.ok("POST", f"/conversations/{chat}/resend", {"delivery_id": shown["delivery"]["delivery_id"]})
        assert again["delivered"] is True and len(fake.sent()) == calls + 1  # sent: never twice
        assert (await agent.call("POST", f"/conversations/{chat}/resend", {"delivery_id": "nope"}))[0] == 404
        assert (await agent.call("POST", f"/conversations/{chat}/resend", {}))[0] == 400
        shown = (await agent.ok("GET", f"/conversations/{chat}"))["items"][-1]
        assert shown["delivered"] is True and shown["delivery_error"] is None
    finally:
        await agent.close()
