"""The agent console's API: logins and their protections, the live queue, taking, replying,
handing back and closing, and the corrections that teach the bot."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, AsyncIterator

import aiohttp
import pytest

from bot.server.keys import RUNTIME
from tests.integration.conftest import Server
from tests.integration.console_client import PASSWORD, Agent, add_agent

CONVERSATION_ROUTES = ["take", "handback", "close", "reply", "relabel", "approve"]


@pytest.fixture
async def agents(server: Server) -> AsyncIterator[tuple[Agent, Agent]]:
    """(ann, an agent; root, an admin), both logged in."""
    await add_agent(server, "ann")
    await add_agent(server, "root", role="admin")
    ann, root = Agent(server), Agent(server)
    await ann.login("ann")
    await root.login("root")
    yield ann, root
    await ann.close()
    await root.close()


async def test_every_console_api_refuses_without_a_session(server: Server) -> None:
    stranger = Agent(server)
    try:
        calls = [("GET", "/me"), ("GET", "/queue"), ("GET", "/live"), ("GET", "/conversations/c1"),
                 ("GET", "/agents"), ("POST", "/agents"), ("DELETE", "/agents/ann"), ("POST", "/logout")]
        calls += [("POST", f"/conversations/c1/{route}") for route in CONVERSATION_ROUTES]
        for method, path in calls:
            status, body = await stranger.call(method, path, {})
            assert status == 401, (method, path, status, body)
            assert body["error"] == "log in to the console first"
    finally:
        await stranger.close()


async def test_state_changes_need_the_sessions_csrf_token(server: Server, agents: tuple[Agent, Agent]) -> None:
    ann, root = agents
    await server.say("x1", "/ask_human")
    for token in (None, "", "wrong", root.csrf):  # another session's token is wrong too
        ann_token = ann.csrf
        ann.csrf = token
        try:
            for route in CONVERSATION_ROUTES:
                status, body = await ann.call("POST", f"/conversations/x1/{route}", {"text": "hi"})
                assert status == 403 and "X-CSRF-Token" in body["error"], (route, token, status, body)
            assert (await ann.call("POST", "/logout"))[0] == 403
        finally:
            ann.csrf = ann_token
    status, _ = await root.call("POST", "/agents", {"name": "eve", "password": PASSWORD}, csrf=False)
    assert status == 403
    # nothing happened: the conversation still waits for a person
    queue = (await ann.ok("GET", "/queue"))["conversations"]
    assert [(q["id"], q["status"]) for q in queue] == [("x1", "pending")]


async def test_agents_cannot_reach_admin_endpoints(server: Server, agents: tuple[Agent, Agent]) -> None:
    ann, root = agents
    for method, path, body in [("GET", "/agents", None), ("POST", "/agents", {"name": "eve", "password": PASSWORD}),
                               ("DELETE", "/agents/root", None)]:
        status, answer = await ann.call(method, path, body)
        assert status == 403 and answer["error"] == "only an admin can do this", (method, path)
    created = await root.ok("POST", "/agents", {"name": "eve", "password": PASSWORD, "role": "agent"})
    assert created["agent"]["role"] == "agent"
    assert (await root.call("POST", "/agents", {"name": "eve", "password": PASSWORD}))[0] == 409
    assert (await root.call("POST", "/agents", {"name": "bad name", "password": PASSWORD}))[0] == 400
    assert (await root.call("POST", "/agents", {"name": "max", "password": "short"}))[0] == 400
    assert (await root.call("POST", "/agents", {"name": "max", "password": PASSWORD, "role": "god"}))[0] == 400
    names = [a["name"] for a in (await root.ok("GET", "/agents"))["agents"]]
    assert names == ["ann", "eve", "root"]
    assert (await root.call("DELETE", "/agents/root"))[0] == 409  # not yourself
    assert (await root.call("DELETE", "/agents/eve"))[0] == 204
    assert (await root.call("DELETE", "/agents/eve"))[0] == 404


async def test_login_sets_a_strict_httponly_cookie_and_logout_ends_the_session(server: Server) -> None:
    await add_agent(server, "ann")
    async with server.http.post(f"{server.base}/console/api/login",
                                json={"name": "ann", "password": PASSWORD}) as r:
        assert r.status == 200
        cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
    ann = Agent(server)
    try:
        me = await ann.login("ann")
        assert me["agent"] == {"name": "ann", "role": "agent"}
        assert (await ann.ok("GET", "/me"))["csrf"] == ann.csrf
        assert (await ann.call("POST", "/logout"))[0] == 204
        assert (await ann.call("GET", "/me"))[0] == 401
    finally:
        await ann.close()


async def test_wrong_passwords_are_refused_and_repeated_failures_rate_limited(server: Server) -> None:
    await add_agent(server, "ann")
    url = f"{server.base}/console/api/login"
    for body in ({"name": "ann", "password": "wrong password!"}, {"name": "nobody", "password": PASSWORD}):
        async with server.http.post(url, json=body) as r:
            assert r.status == 401 and (await r.json())["error"] == "wrong name or password"
    async with server.http.post(url, data="name=ann&password=x",
                                headers={"Content-Type": "application/x-www-form-urlencoded"}) as r:
        assert r.status == 400  # a cross-site form cannot log anyone in
    statuses = []
    for _ in range(5):
        async with server.http.post(url, json={"name": "ann", "password": "still wrong!"}) as r:
            statuses.append(r.status)
            retry = r.headers.get("Retry-After")
    assert statuses[-1] == 429 and retry is not None and int(retry) > 0
    async with server.http.post(url, json={"name": "ann", "password": PASSWORD}) as r:
        assert r.status == 429  # the right password waits too, until the window passes


async def read_events(response: aiohttp.ClientResponse, wanted: int, timeout: float = 30.0) -> list[tuple[str, Any]]:
    """Read server-sent events until `wanted` `conversation`/`annotation` events came."""
    found: list[tuple[str, Any]] = []
    kind = None

    async def read() -> None:
        nonlocal kind
        while len(found) < wanted:
            line = (await response.content.readline()).decode().rstrip("\n")
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: ") and kind:
                found.append((kind, json.loads(line[6:])))

    await asyncio.wait_for(read(), timeout)
    return found


async def test_the_whole_handoff_through_the_api(server: Server, agents: tuple[Agent, Agent]) -> None:
    ann, root = agents
    async with ann.http.get(f"{server.base}/console/api/live") as live:
        assert live.status == 200 and live.content_type == "text/event-stream"
        await server.say("w1", "/ask_human")
        events = await read_events(live, 1)
    kind, update = events[0]
    assert kind == "conversation" and update["id"] == "w1"
    assert update["queue_item"]["status"] == "pending" and update["queue_item"]["trigger"] == "customer_request"
    assert [i["kind"] for i in update["items"]] == ["customer", "status", "bot"]

    assert await server.say("w1", "do you ship to the Faroe Islands?") == []
    # REST customers cannot be pushed to: the agent is told, the reply is kept
    assert (await ann.call("POST", "/conversations/w1/reply", {"text": "hello"}))[0] == 409  # take it first
    taken = await ann.ok("POST", "/conversations/w1/take")
    assert taken["handoff"]["status"] == "agent" and taken["handoff"]["agent"] == "ann"
    status, body = await root.call("POST", "/conversations/w1/take")  # an admin may take it over ...
    assert status == 200
    assert (await ann.call("POST", "/conversations/w1/reply", {"text": "hi"}))[0] == 409  # ... then it is theirs
    reply = await root.ok("POST", "/conversations/w1/reply", {"text": "Yes, we ship to the Faroe Islands in 5 days."})
    item = reply["item"]
    assert item["kind"] == "agent" and item["agent"] == "root"
    assert item["delivered"] is False and "rest channel cannot push" in item["delivery_error"]
    for bad in ({"text": ""}, {"text": "x" * 5000}, {}):
        assert (await root.call("POST", "/conversations/w1/reply", bad))[0] == 400

    conversation = await ann.ok("GET", "/conversations/w1")
    kinds = [i["kind"] for i in conversation["items"]]
    assert kinds[-3:] == ["status", "bot", "agent"] and "customer" in kinds
    assert conversation["handoff"]["status"] == "agent" and "order_status" in conversation["intents"]
    first_bot = next(i for i in conversation["items"] if i["kind"] == "bot")
    assert first_bot["reason"]["route"] == "handoff" and first_bot["reason"]["intent"] == "ask_human"

    # approve the reply as an answer, hand back: the bot now answers that question itself
    approved = await root.ok("POST", "/conversations/w1/approve", {"message_id": item["message_id"]})
    assert approved["entry"]["question"] == "do you ship to the Faroe Islands?"
    assert approved["entry"]["source"] == "agent"
    assert (await ann.ok("GET", "/conversations/w1"))["items"][-1]["approved_entry"] == approved["entry"]["id"]
    assert (await ann.call("POST", "/conversations/w1/handback"))[0] == 409  # root has it, ann is no admin
    back = await root.ok("POST", "/conversations/w1/handback")
    assert back["handoff"]["status"] == "bot"
    assert (await ann.ok("GET", "/queue"))["conversations"] == []
    answer = await server.say("w1", "do you ship to the Faroe Islands?")
    assert "Faroe Islands in 5 days" in answer[0]["text"]
    reason = [e for e in (await server.tracker("w1"))["events"] if e["event"] == "bot"][-1]["metadata"]["reason"]
    assert reason["route"] == "retrieval" and reason["retrieval"][0]["id"] == approved["entry"]["id"]

    # closing: from pending, by any agent
    await server.say("w1", "/ask_human")
    closed = await ann.ok("POST", "/conversations/w1/close")
    assert closed["handoff"]["status"] == "closed"
    assert (await ann.call("POST", "/conversations/w1/close"))[0] == 409
    assert (await ann.call("POST", "/conversations/nope/take"))[0] == 404


async def test_relabelled_intents_are_exported_as_rasa_nlu(server: Server, agents: tuple[Agent, Agent],
                                                           tmp_path: Path) -> None:
    ann, _ = agents
    await server.say("r1", "/ask_human")
    await server.say("r1", "my parcel came smashed to bits")
    conversation = await ann.ok("GET", "/conversations/r1")
    message = [i for i in conversation["items"] if i["kind"] == "customer"][-1]
    assert (await ann.call("POST", "/conversations/r1/relabel",
                           {"message_id": message["message_id"], "intent": "no_such_intent"}))[0] == 400
    assert (await ann.call("POST", "/conversations/r1/relabel",
                           {"message_id": "missing", "intent": "complaint"}))[0] == 404
    done = await ann.ok("POST", "/conversations/r1/relabel", {"message_id": message["message_id"],
                                                             "intent": "return_item"})
    assert done["intent"] == "return_item" and done["predicted"] == message["intent"]
    shown = [i for i in (await ann.ok("GET", "/conversations/r1"))["items"] if i["kind"] == "customer"][-1]
    assert shown["corrected_intent"] == "return_item"

    runtime = server.app[RUNTIME]
    out = tmp_path / "corrections.yml"
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "--project", str(runtime.settings.project), "export", "training-data",
         "--out", str(out)],
        env={"SWITCHBOARD_DATABASE_URL": runtime.settings.database_url, "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    from training.data import load_rasa_nlu

    examples = [(e.text, e.label) for e in load_rasa_nlu(out).examples]
    assert examples == [("my parcel came smashed to bits", "return_item")]


async def test_a_removed_agents_live_stream_ends(server: Server, agents: tuple[Agent, Agent],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.console import live

    monkeypatch.setattr(live, "HEARTBEAT_SECONDS", 0.2)
    ann, root = agents
    async with ann.http.get(f"{server.base}/console/api/live") as stream:
        assert (await root.call("DELETE", "/agents/ann"))[0] == 204
        body = await asyncio.wait_for(stream.content.read(), 10)  # the server closes it
    assert b"event: session_ended" in body
    assert (await ann.call("GET", "/queue"))[0] == 401
