"""Every bad input gets a clear 4xx JSON error, stores nothing, and the server keeps serving."""

from __future__ import annotations

import pytest

from tests.integration.conftest import Server, StartServer

WEBHOOK = "/webhooks/rest/webhook"
BAD_MESSAGES = [
    (b"{not json", 400, "not valid JSON"),
    (b"", 400, "empty"),
    (b"[1, 2]", 400, "JSON object"),
    (b'{"message": "hi"}', 400, "sender"),
    (b'{"sender": "", "message": "hi"}', 400, "sender"),
    (b'{"sender": "b1", "message": ""}', 400, "message"),
    (b'{"sender": "b1", "message": "   "}', 400, "message"),
    (b'{"sender": "b1", "message": 42}', 400, "message"),
    (b'{"sender": 7, "message": "hi"}', 400, "sender"),
    (b'{"sender": "b1", "message": "hi", "metadata": [1]}', 400, "metadata"),
    (b'{"sender": "b1", "message": "' + b"x" * 4001 + b'"}', 413, "limit is 4000"),
]


@pytest.mark.parametrize(("body", "status", "words"), BAD_MESSAGES)
async def test_bad_webhook_bodies(server: Server, body: bytes, status: int, words: str) -> None:
    async with server.http.post(server.base + WEBHOOK, data=body, headers={"Content-Type": "application/json"}) as r:
        assert r.status == status
        error = await r.json()
    assert words in error["error"]
    tracker = await server.tracker("b1", include_events="ALL")
    assert tracker["events"] == []  # nothing stored
    assert await server.say("b2", "hi")  # still serving


async def test_body_over_the_size_limit(server: Server) -> None:
    body = b'{"sender": "b3", "message": "' + b"x" * 300_000 + b'"}'
    async with server.http.post(server.base + WEBHOOK, data=body) as r:
        assert r.status == 413 and "too large" in (await r.json())["error"]


@pytest.mark.parametrize(
    "event",
    [
        {"name": "x"},
        {"event": "teleport"},
        {"event": "slot", "value": 1},
        {"event": "user", "text": 5},
        {"event": "slot", "name": "order_number", "timestamp": "yesterday"},
        "pause",
        [],
    ],
)
async def test_malformed_events_are_rejected_and_nothing_is_stored(server: Server, event: object) -> None:
    url = f"{server.base}/conversations/b4/tracker/events"
    async with server.http.post(url, json=event) as r:
        assert r.status == 400
        assert (await r.json())["error"]
    assert (await server.tracker("b4", include_events="ALL"))["events"] == []


async def test_one_bad_event_in_a_list_stores_none_of_them(server: Server) -> None:
    url = f"{server.base}/conversations/b5/tracker/events"
    async with server.http.post(url, json=[{"event": "pause"}, {"event": "slot"}]) as r:
        assert r.status == 400
    tracker = await server.tracker("b5", include_events="ALL")
    assert tracker["events"] == [] and tracker["paused"] is False


async def test_bad_tracker_query_parameters(server: Server) -> None:
    async with server.http.get(f"{server.base}/conversations/x/tracker?include_events=SOME") as r:
        assert r.status == 400 and "include_events" in (await r.json())["error"]
    async with server.http.get(f"{server.base}/conversations/x/tracker?until=soon") as r:
        assert r.status == 400 and "until" in (await r.json())["error"]


async def test_bad_parse_and_messages_bodies(server: Server) -> None:
    async with server.http.post(f"{server.base}/model/parse", json={"text": ""}) as r:
        assert r.status == 400
    async with server.http.post(f"{server.base}/conversations/b6/messages", json={"text": "hi", "sender": "bot"}) as r:
        assert r.status == 400 and "sender" in (await r.json())["error"]


async def test_unknown_route_and_wrong_method_are_json(server: Server) -> None:
    async with server.http.get(f"{server.base}/nope") as r:
        assert r.status == 404 and (await r.json())["status"] == 404
    async with server.http.get(server.base + WEBHOOK) as r:
        assert r.status == 405 and "error" in await r.json()


async def test_api_token_guards_everything_but_webhooks_and_health(start_server: StartServer, tmp_path) -> None:
    server = await start_server(database_url=f"sqlite+aiosqlite:///{tmp_path / 'a.db'}", api_token="s3cret")
    async with server.http.get(f"{server.base}/conversations/a1/tracker") as r:
        assert r.status == 401 and "token" in (await r.json())["error"]
    async with server.http.get(f"{server.base}/conversations/a1/tracker?token=wrong") as r:
        assert r.status == 401
    async with server.http.post(f"{server.base}/model/parse", json={"text": "hi"}) as r:
        assert r.status == 401
    async with server.http.get(f"{server.base}/conversations/a1/tracker?token=s3cret") as r:
        assert r.status == 200
    headers = {"Authorization": "Bearer s3cret"}
    async with server.http.post(f"{server.base}/model/parse", json={"text": "hi"}, headers=headers) as r:
        assert r.status == 200
    assert await server.say("a1", "hi")  # the channel webhook stays open
    async with server.http.get(f"{server.base}/health") as r:
        assert r.status == 200
