"""The socket.io channel with a plain python-socketio client: Rasa's events, rooms that keep a
conversation across reconnects, quick replies, origins, JWT, bad input, and the output channel
reaching a session later (as the agent console will)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import jwt
import pytest
import socketio

from bot.server.keys import OUTPUTS
from tests.integration.conftest import StartServer, Server, delivered
from tests.integration.socketio_client import WidgetClient, has


@pytest.fixture
async def client(server: Server):  # type: ignore[no-untyped-def]
    widget = WidgetClient(server.base)
    await widget.connect()
    yield widget
    await widget.close()


async def test_shop_conversation_over_socketio(server: Server, client: WidgetClient) -> None:
    session = await client.session(None)
    assert re.fullmatch(r"[0-9a-f]{32}", session)
    await client.say("/greet", session)
    greeting = (await client.until(lambda m: "quick_replies" in m))[-1]
    assert "Northwind" in greeting["text"]
    replies = greeting["quick_replies"]
    assert all(r["content_type"] == "text" and r["title"] and r["payload"].startswith("/") for r in replies)
    await client.say("what payment methods do you accept?", session)
    await client.until(has("PayPal"))
    await client.say("do you sell gift cards?", session)
    await client.until(has("gift card"))
    await client.say(next(r["payload"] for r in replies if r["payload"] == "/order_status"), session)
    await client.until(has("order number"))
    tracker = await server.tracker(session)
    users = [e for e in tracker["events"] if e["event"] == "user"]
    assert [e["input_channel"] for e in users] == ["socketio"] * 4
    assert tracker["latest_input_channel"] == "socketio"


async def test_a_reconnecting_client_keeps_its_conversation(server: Server) -> None:
    first = WidgetClient(server.base, transport="polling")  # rasa-webchat starts with long polling
    await first.connect()
    session = await first.session(None)
    await first.say("where is my order?", session)
    await first.until(has("order number"))
    await first.close()

    second = WidgetClient(server.base, transport="polling")
    await second.connect()
    try:
        assert await second.session(session) == session
        await second.say("it's NW-10002", session)
        answer = await second.until(has("NW-10002"))
        assert "shipped" in answer[-1]["text"]
    finally:
        await second.close()


async def test_the_output_channel_reaches_every_socket_of_a_session_later(server: Server) -> None:
    tabs = [WidgetClient(server.base), WidgetClient(server.base)]
    for tab in tabs:
        await tab.connect()
    try:
        session = await tabs[0].session(None)
        assert await tabs[1].session(session) == session
        output = server.app[OUTPUTS]["socketio"]
        await output.send(session, {"text": "Hi, this is Dana from support.",
                                    "buttons": [{"title": "Thanks", "payload": "/thanks"}]})
        for tab in tabs:
            message = (await tab.until(has("Dana")))[-1]
            assert message["quick_replies"] == [{"content_type": "text", "title": "Thanks", "payload": "/thanks"}]

        async def chunks():  # type: ignore[no-untyped-def]
            for piece in ["Your parcel ", "left the ", "warehouse."]:
                yield piece

        text = await output.send_stream(session, chunks())
        deltas = [await asyncio.wait_for(tabs[0].deltas.get(), 10) for _ in range(3)]
        final = (await tabs[0].until(has("warehouse")))[-1]
        assert "".join(d["delta"] for d in deltas) == text == final["text"] == "Your parcel left the warehouse."
        assert {d["stream_id"] for d in deltas} == {final["stream_id"]}
    finally:
        for tab in tabs:
            await tab.close()


async def test_bad_input_gets_an_error_event_and_stores_nothing(server: Server, client: WidgetClient) -> None:
    session = await client.session(None)
    for bad, needle in [
        ({}, "'message'"),
        ({"message": 5}, "'message'"),
        ({"message": "   "}, "'message'"),
        ({"message": "x" * 4001}, "limit"),
        ({"message": "hi", "metadata": "{not json"}, "'metadata'"),
        ({"message": "hi", "metadata": [1]}, "'metadata'"),
        ({"message": "hi", "session_id": "someone-else"}, "not this socket's session"),
    ]:
        await client.sio.emit("user_uttered", {"session_id": session, **bad} if "session_id" not in bad else bad)
        error = await client.error()
        assert error["status"] == 400 and needle in error["error"], (bad, error)
    await client.sio.emit("user_uttered", "just a string")
    assert "needs an object" in (await client.error())["error"]
    tracker = await server.tracker(session)
    assert not [e for e in tracker["events"] if e["event"] == "user"]
    await client.say("hello", session, customData={"page": "/checkout"})  # and the socket still works
    await client.until(lambda m: "quick_replies" in m)
    user = [e for e in (await server.tracker(session))["events"] if e["event"] == "user"][-1]
    assert user["metadata"] == {"page": "/checkout"}  # rasa-webchat's customData


async def test_a_foreign_origin_is_refused_and_a_configured_one_accepted(server: Server) -> None:
    foreign = WidgetClient(server.base)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await foreign.connect(headers={"Origin": "https://evil.example"})
    url = f"{server.base}/socket.io/?EIO=4&transport=polling"
    async with server.http.get(url, headers={"Origin": "https://evil.example"}) as r:
        assert r.status == 400 and "origin" in (await r.json())["error"].lower()
    allowed = WidgetClient(server.base)
    await allowed.connect(headers={"Origin": "http://localhost:5005"})
    assert allowed.sio.connected
    await allowed.close()


async def test_jwt_is_required_when_configured(start_server: StartServer, tmp_path: Path) -> None:
    key = "widget-signing-key-0123456789abcdef"
    server = await start_server(database_url=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
                                channels={"rest": {}, "socketio": {"jwt_key": key}})
    for auth in (None, {"token": "not-a-jwt"}, {"token": jwt.encode({"sub": "u1"}, "wrong-key-0123456789abcdef0123456789")}):
        refused = WidgetClient(server.base)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await refused.connect(auth=auth)
    client = WidgetClient(server.base)
    await client.connect(auth={"token": jwt.encode({"sub": "customer-42"}, key, algorithm="HS256")})
    try:
        session = await client.session(None)
        await client.say("hello", session)
        await client.until(lambda m: "quick_replies" in m)
    finally:
        await client.close()
    user = [e for e in (await server.tracker(session))["events"] if e["event"] == "user"][0]
    assert user["metadata"]["jwt"]["sub"] == "customer-42"



async def test_an_agents_reply_reaches_the_open_widget_and_a_closed_one_is_reported(server: Server) -> None:
    from tests.integration.console_client import Agent, add_agent

    widget = WidgetClient(server.base)
    await widget.connect()
    session = await widget.session(None)
    await widget.say("/ask_human", session)
    await widget.until(has("connecting you"))
    await add_agent(server, "ann")
    agent = Agent(server)
    try:
        await agent.login("ann")
        await agent.ok("POST", f"/conversations/{session}/take")
        await widget.until(has("ann from our customer care team"))
        sent = await agent.ok("POST", f"/conversations/{session}/reply", {"text": "Hi, Ann here."})
        assert sent["item"]["delivered"] is True
        live = (await widget.until(has("Hi, Ann here.")))[-1]
        assert live["metadata"]["agent"] == "ann" and live["metadata"]["delivery_id"]  # who wrote it; its outbox id
        await widget.close()  # the customer closed the tab
        late = await agent.ok("POST", f"/conversations/{session}/reply", {"text": "Anything else?"})
        assert late["item"]["delivered"] is False and "not open now" in late["item"]["delivery_error"]
        assert late["item"]["delivery"]["status"] == "pending"  # kept in the outbox, retried

        back = WidgetClient(server.base)  # the widget reconnects with its session id: it gets what it missed
        await back.connect()
        try:
            assert await back.session(session) == session
            missed = await back.until(has("Anything else?"))
            assert [m["text"] for m in missed] == ["Anything else?"] and missed[0]["metadata"]["agent"] == "ann"
            (done,) = await delivered(server, session, text="Anything else?")
            assert done.status == "sent"
            shown = (await agent.ok("GET", f"/conversations/{session}"))["items"][-1]
            assert shown["text"] == "Anything else?" and shown["delivered"] is True
            await back.close()
            again = WidgetClient(server.base)  # a second reconnect: nothing is sent twice
            await again.connect()
            await again.session(session)
            await again.say("thanks", session)  # with a person: stored, no bot reply; the widget waits
            await agent.ok("POST", f"/conversations/{session}/reply", {"text": "You're welcome."})
            assert [m["text"] for m in await again.until(has("welcome"))] == ["You're welcome."]
            await again.close()
        finally:
            if back.sio.connected:
                await back.close()
    finally:
        await agent.close()


async def test_a_widget_that_acknowledges_gets_a_message_again_until_it_does(server: Server) -> None:
    """A widget that says it acknowledges (ours) and then stops answering (its socket died without
    the server noticing) has not received the message: it stays in the outbox until a widget of
    that session acknowledges it, and comes with the same delivery id, for the widget to show once."""
    from tests.integration.console_client import Agent, add_agent

    mute = WidgetClient(server.base)
    await mute.connect()
    try:
        await mute.sio.emit("session_request", {"session_id": None, "acks": True})
        session = await mute.confirmed.get()
        await mute.say("/ask_human", session)
        await mute.until(has("connecting you"))
        await add_agent(server, "ann")
        agent = Agent(server)
        try:
            await agent.login("ann")
            await agent.ok("POST", f"/conversations/{session}/take")
            await mute.until(has("ann"))
            hung = asyncio.Event()

            async def never_answers(message: dict) -> None:  # a dead socket: receives, never acknowledges
                await mute.inbox.put(message)
                await hung.wait()

            mute.sio.handlers["/"]["bot_uttered"] = never_answers
            item = (await agent.ok("POST", f"/conversations/{session}/reply", {"text": "Still there?"}))["item"]
            assert item["delivered"] is False and "did not acknowledge" in item["delivery_error"]
            first = (await mute.until(has("Still there?")))[-1]
            hung.set()
            back = WidgetClient(server.base)  # the widget comes back on a new socket, acknowledging
            await back.connect()
            try:
                await back.sio.emit("session_request", {"session_id": session, "acks": True})
                assert await back.confirmed.get() == session
                again = (await back.until(has("Still there?")))[-1]
                assert again["metadata"]["delivery_id"] == first["metadata"]["delivery_id"]  # the same message
                (done,) = await delivered(server, session, text="Still there?")
                assert done.status == "sent"
            finally:
                await back.close()
        finally:
            await agent.close()
    finally:
        await mute.close()


async def test_a_message_sent_again_with_its_id_is_handled_once_and_acknowledged(server: Server,
                                                                              client: WidgetClient) -> None:
    """Our widget names each message (metadata.message_id) and sends what was not acknowledged again
    after a reconnect: the server handles it once and acknowledges both."""
    session = await client.session(None)
    payload = {"message": "what payment methods do you accept?", "session_id": session,
               "metadata": {"message_id": "widget-1"}}
    first = await client.sio.call("user_uttered", payload, timeout=60)
    assert first == {"message_id": "widget-1", "duplicate": False}
    await client.until(has("PayPal"))
    again = await client.sio.call("user_uttered", payload, timeout=60)
    assert again == {"message_id": "widget-1", "duplicate": True}
    refused = await client.sio.call("user_uttered", {**payload, "metadata": {"message_id": 5}}, timeout=60)
    assert refused["status"] == 400 and "message_id" in refused["error"]
    tracker = await server.tracker(session)
    assert [e["text"] for e in tracker["events"] if e["event"] == "user"] == [payload["message"]]
    assert len([e for e in tracker["events"] if e["event"] == "bot"]) == 1
    assert client.inbox.empty()  # no second answer was pushed


def nested(levels: int) -> object:
    value: object = 1
    for _ in range(levels):
        value = [value]
    return value


HOSTILE = [
    ({"message": "hi\u0000"}, "'message' contains a NUL"),
    ({"message": "hi \ud800"}, "'message' contains a lone surrogate"),
    ({"message": "hi", "metadata": {"score": float("nan")}}, "'metadata.score' is NaN"),
    ({"message": "hi", "metadata": {"t": float("inf")}}, "'metadata.t' is infinite"),
    ({"message": "hi", "customData": {"pa\u0000ge": 1}}, "a key in 'customData'"),
    ({"message": "hi", "metadata": '{"x": Infinity}'}, "'metadata.x' is infinite"),
    ({"message": "hi", "metadata": {"deep": nested(70)}}, "nested too deeply"),
]


async def test_hostile_payloads_are_refused_with_an_error_event_and_the_socket_lives_on(
        server: Server, client: WidgetClient) -> None:
    session = await client.session(None)
    for bad, needle in HOSTILE:
        refused = await client.sio.call("user_uttered", {"session_id": session, **bad}, timeout=60)
        error = await client.error()  # the error event, and the acknowledgement, say the same
        assert refused == error and error["status"] == 400 and needle in error["error"], (bad, error)
    # a session id with NUL (it would name a room and a conversation)
    await client.sio.emit("session_request", {"session_id": "s\u0000"})
    assert "'session_id' contains a NUL" in (await client.error())["error"]
    # 10,000-deep: too deep for python-socketio's decoder (RecursionError) to hand any handler
    await client.sio.eio.send('2["user_uttered",' + "[" * 10_000 + "]" * 10_000 + "]")
    assert "nested too deeply" in (await client.error())["error"]
    await client.say("hello", session)
    await client.until(lambda m: "quick_replies" in m)
    assert client.sio.connected
    tracker = await server.tracker(session)
    assert [e["text"] for e in tracker["events"] if e["event"] == "user"] == ["hello"]  # nothing else stored


async def test_socketio_messages_count_against_the_address_rate(start_server: StartServer, tmp_path: Path) -> None:
    server = await start_server(database_url=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", rate_limit=0.001,
                                rate_limit_burst=3)
    client = WidgetClient(server.base)
    await client.connect()  # the WebSocket's HTTP request: one of the 3
    try:
        session = await client.session(None)
        for text in ("hello", "thanks"):
            assert (await client.sio.call("user_uttered", {"message": text, "session_id": session}, timeout=60)
                    )["duplicate"] is False
        refused = await client.sio.call("user_uttered", {"message": "one more", "session_id": session}, timeout=60)
        assert refused["status"] == 429 and refused["retry_after"] > 1 and "too many requests" in refused["error"]
        assert client.sio.connected
    finally:
        await client.close()
