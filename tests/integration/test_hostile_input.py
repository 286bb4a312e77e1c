"""Hostile and broken input on every route, on SQLite and on PostgreSQL (which refuses NaN in JSON
and NUL in text): NUL characters, lone surrogates, NaN/Infinity/1e400, 10,000-deep nesting and
oversized bodies get a 4xx JSON error naming the field, nothing is stored, and the server goes on
answering. Then the limits: a conversation flooded with turns, an address flooding the server,
and a poisoned message classified together with other customers' messages."""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Sequence

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from bot.app import create_app
from bot.nlu.base import Prediction
from bot.server.keys import RUNTIME
from bot.settings import load_settings
from tests.integration.conftest import Server, StartServer, free_port

WEBHOOK = "/webhooks/rest/webhook"
NAN, INF = float("nan"), float("inf")


def j(value: Any) -> bytes:
    """JSON as a careless (or hostile) client writes it: NaN and Infinity as bare words, NUL and
    lone surrogates as \\u escapes."""
    return json.dumps(value).encode()


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str  # {cid}: this case's own conversation
    body: bytes | None
    status: int
    words: str  # what the error must say (the field it names)


def say(cid: str, message: str = "hi", **extra: Any) -> dict[str, Any]:
    return {"sender": cid, "message": message, **extra}


EVENTS = "/conversations/{cid}/tracker/events"
MESSAGES = "/conversations/{cid}/messages"
TRIGGER = "/conversations/{cid}/trigger_intent"
CASES = [
    # the REST channel's webhook
    Case("nan-in-metadata", "POST", WEBHOOK, j(say("{cid}", metadata={"score": NAN})), 400, "'metadata.score' is NaN"),
    Case("infinity-in-metadata", "POST", WEBHOOK, j(say("{cid}", metadata={"score": INF})), 400,
         "'metadata.score' is infinite"),
    Case("minus-infinity-in-a-list", "POST", WEBHOOK, j(say("{cid}", metadata={"a": [1, -INF]})), 400,
         "'metadata.a[1]' is infinite"),
    Case("1e400-in-metadata", "POST", WEBHOOK, b'{"sender": "{cid}", "message": "hi", "metadata": {"t": 1e400}}', 400,
         "'metadata.t' is infinite"),
    Case("nul-in-sender", "POST", WEBHOOK, j(say("{cid}\u0000x")), 400, "'sender' contains a NUL"),
    Case("nul-in-message", "POST", WEBHOOK, j(say("{cid}", "hi\u0000there")), 400, "'message' contains a NUL"),
    Case("nul-in-a-metadata-key", "POST", WEBHOOK, j(say("{cid}", metadata={"pa\u0000ge": 1})), 400,
         "a key in 'metadata'"),
    Case("nul-deep-in-metadata", "POST", WEBHOOK, j(say("{cid}", metadata={"page": {"title": ["\u0000"]}})), 400,
         "'metadata.page.title[0]' contains a NUL"),
    Case("surrogate-in-sender", "POST", WEBHOOK, j(say("{cid}\ud800")), 400, "'sender' contains a lone surrogate"),
    Case("surrogate-in-message", "POST", WEBHOOK, j(say("{cid}", "hi \udfff")), 400,
         "'message' contains a lone surrogate"),
    Case("surrogate-in-a-metadata-key", "POST", WEBHOOK, j(say("{cid}", metadata={"\udbff": 1})), 400,
         "a key in 'metadata'"),
    Case("nul-in-message-id", "POST", WEBHOOK, j(say("{cid}", metadata={"message_id": "m\u0000"})), 400,
         "'metadata.message_id' contains a NUL"),
    Case("10000-deep", "POST", WEBHOOK, b"[" * 10_000 + b"]" * 10_000, 400, "nested too deeply"),
    Case("100-deep-metadata", "POST", WEBHOOK,
         b'{"sender": "{cid}", "message": "hi", "metadata": ' + b'{"a": ' * 100 + b"1" + b"}" * 101, 400,
         "nested too deeply"),
    Case("nan-in-string-metadata", "POST", WEBHOOK, j(say("{cid}", metadata='{"x": NaN}')), 400,
         "'metadata.x' is NaN"),
    Case("integer-over-64-bits", "POST", WEBHOOK, j(say("{cid}", metadata={"n": 2**70})), 400,
         "'metadata.n' is an integer wider than 64 bits"),
    Case("body-over-the-limit", "POST", WEBHOOK, j(say("{cid}", "x" * 300_000)), 413, "too large"),
    # the tracker API
    Case("nan-timestamp", "POST", EVENTS, j({"event": "slot", "name": "order_number", "value": "1", "timestamp": NAN}),
         400, "'timestamp' is NaN"),
    Case("1e400-timestamp", "POST", EVENTS, b'{"event": "pause", "timestamp": 1e400}', 400, "'timestamp' is infinite"),
    Case("infinite-slot-in-a-list", "POST", EVENTS,
         j([{"event": "pause"}, {"event": "slot", "name": "order_number", "value": INF}]), 400,
         "'[1].value' is infinite"),
    Case("nul-in-slot-name", "POST", EVENTS, j({"event": "slot", "name": "order\u0000", "value": "1"}), 400,
         "'name' contains a NUL"),
    Case("surrogate-in-user-text", "POST", EVENTS, j({"event": "user", "text": "\ud83d", "parse_data": {}}), 400,
         "'text' contains a lone surrogate"),
    Case("10000-deep-events", "POST", EVENTS, b"[" * 10_000 + b"]" * 10_000, 400, "nested too deeply"),
    Case("nan-replacing-events", "PUT", EVENTS, j([{"event": "pause", "timestamp": NAN}]), 400,
         "'[0].timestamp' is NaN"),
    Case("nul-in-added-message", "POST", MESSAGES, j({"text": "hi\u0000", "sender": "user"}), 400,
         "'text' contains a NUL"),
    Case("nan-in-parse-data", "POST", MESSAGES,
         j({"text": "hi", "sender": "user", "parse_data": {"intent": {"name": "greet", "confidence": NAN}}}), 400,
         "'parse_data.intent.confidence' is NaN"),
    Case("surrogate-in-added-metadata", "POST", MESSAGES, j({"text": "hi", "sender": "user", "metadata": {"n": "\udc00"}}),
         400, "'metadata.n' contains a lone surrogate"),
    Case("nul-in-triggered-intent", "POST", TRIGGER, j({"name": "greet\u0000"}), 400, "'name' contains a NUL"),
    Case("nan-in-triggered-entities", "POST", TRIGGER, j({"name": "greet", "entities": {"amount": NAN}}), 400,
         "'entities.amount' is NaN"),
    Case("surrogate-in-triggered-entities", "POST", TRIGGER,
         j({"name": "greet", "entities": [{"entity": "x", "value": "\ud800"}]}), 400,
         "'entities[0].value' contains a lone surrogate"),
    Case("nan-confidence-to-execute", "POST", "/conversations/{cid}/execute",
         j({"name": "utter_greet", "confidence": NAN}), 400, "'confidence' is NaN"),
    # parsing, knowledge, the console
    Case("surrogate-to-parse", "POST", "/model/parse", j({"text": "\ud800"}), 400, "'text' contains a lone surrogate"),
    Case("nul-to-parse", "POST", "/model/parse", j({"text": "\u0000"}), 400, "'text' contains a NUL"),
    Case("1e400-to-parse", "POST", "/model/parse", b'{"text": "hi", "x": [1e400]}', 400, "'x[0]' is infinite"),
    Case("nul-in-a-knowledge-question", "POST", "/knowledge/entries",
         j({"id": "{cid}", "question": "gift\u0000cards?", "answer": "Yes."}), 400, "'question' contains a NUL"),
    Case("surrogate-in-a-knowledge-answer", "POST", "/knowledge/entries",
         j({"id": "{cid}", "question": "gift cards?", "answer": "Yes \udbff"}), 400, "'answer' contains a lone"),
    Case("surrogate-in-a-login-name", "POST", "/console/api/login", j({"name": "ad\ud800min", "password": "x" * 12}),
         400, "'name' contains a lone surrogate"),
    Case("nul-in-a-login-password", "POST", "/console/api/login", j({"name": "admin", "password": "pass\u0000word"}),
         400, "'password' contains a NUL"),
    Case("nan-in-a-login", "POST", "/console/api/login", j({"name": "admin", "password": "x" * 12, "n": NAN}), 400,
         "'n' is NaN"),
    # the URL
    Case("nul-in-the-conversation-id", "GET", "/conversations/{cid}%00x/tracker", None, 400,
         "the URL's 'conversation_id' contains a NUL"),
    Case("nul-in-the-id-of-posted-events", "POST", "/conversations/{cid}%00x/tracker/events", j({"event": "pause"}),
         400, "the URL's 'conversation_id' contains a NUL"),
    Case("nul-in-a-query-parameter", "GET", "/conversations/{cid}/tracker?include_events=ALL%00", None, 400,
         "the query parameter 'include_events' contains a NUL"),
    Case("nul-in-a-knowledge-id", "DELETE", "/knowledge/entries/{cid}%00", None, 400,
         "the URL's 'entry_id' contains a NUL"),
]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "postgresql":
        return str(request.getfixturevalue("postgres_url"))  # skips (fails under SWITCHBOARD_STRICT) without it
    return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('hostile-db') / 'bot.db'}"


@pytest.fixture(scope="module")
async def hostile_server(database_url: str, trained_project: Path,
                         tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    """The shop bot, once per database for the whole module (no address limit: the cases come
    fast from one address; the limit has its own test)."""
    tmp, url = tmp_path_factory.mktemp("hostile"), database_url
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SHOP_DATABASE_URL", f"sqlite+aiosqlite:///{tmp / 'shop.db'}")
        settings = load_settings(trained_project, database_url=url, generator=None, rate_limit=0)
        runner = web.AppRunner(create_app(settings, wait_for_models=True), shutdown_timeout=2.0)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        async with aiohttp.ClientSession() as http:
            yield Server(f"http://127.0.0.1:{port}", runner.app, http)
        await runner.cleanup()


def _fill(raw: bytes | str, cid: str) -> Any:
    return raw.replace(b"{cid}", cid.encode()) if isinstance(raw, bytes) else raw.replace("{cid}", cid)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_hostile_bodies_get_a_json_4xx_and_nothing_is_stored(hostile_server: Server, case: Case) -> None:
    server, cid = hostile_server, f"h-{case.name}"
    url = URL(server.base + _fill(case.path, cid), encoded=True)  # %00 reaches the server as sent
    body = _fill(case.body, cid) if case.body is not None else None
    async with server.http.request(case.method, url, data=body, headers={"Content-Type": "application/json"}) as r:
        assert r.status == case.status, await r.text()
        assert r.content_type == "application/json"
        error = await r.json()
    assert error["status"] == case.status and case.words in error["error"], error
    assert (await server.tracker(cid, include_events="ALL"))["events"] == []  # nothing stored
    assert await server.say(f"alive-{case.name}", "hi")  # and the server still answers


async def test_a_chunked_body_over_the_limit_is_413(hostile_server: Server) -> None:
    """No Content-Length to refuse up front: reading stops at the limit."""

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"sender": "h-chunked", "message": "'
        for _ in range(100):
            yield b"x" * 10_000
        yield b'"}'

    async with hostile_server.http.post(hostile_server.base + WEBHOOK, data=chunks()) as r:
        assert r.status == 413
        assert r.request_info.headers.get("Transfer-Encoding") == "chunked"
        assert "too large" in (await r.json())["error"]
    assert (await hostile_server.tracker("h-chunked", include_events="ALL"))["events"] == []
    assert await hostile_server.say("alive-chunked", "hi")


async def test_a_flooded_conversation_refuses_beyond_its_queue_and_others_are_answered(
        hostile_server: Server) -> None:
    """50 messages at once to one conversation whose turn is held: 1 may run and 8 wait
    (server.max_waiting_turns_per_conversation), 41 get 429 with Retry-After; another customer
    is answered meanwhile, and the 9 admitted are answered once the turn is free."""
    server = hostile_server
    locks = server.app[RUNTIME].locks

    async def post(i: int) -> tuple[int, Any, str | None]:
        async with server.http.post(server.base + WEBHOOK, json=say("h-flood", f"hi number {i}")) as r:
            return r.status, await r.json(), r.headers.get("Retry-After")

    async with locks.lock("h-flood"):  # a long turn of this conversation is running
        flood = [asyncio.create_task(post(i)) for i in range(50)]
        refused = []
        for finished in asyncio.as_completed(flood):  # the refusals come back while the turn is held
            refused.append(await finished)
            if len(refused) == 41:
                break
        assert all(status == 429 and retry == "1" and "waiting" in body["error"] for status, body, retry in refused)
        assert await server.say("h-other", "hi")  # another conversation is not held up
    results = await asyncio.gather(*flood)
    assert sorted(status for status, _, _ in results) == [200] * 9 + [429] * 41
    assert all(body for status, body, _ in results if status == 200)  # the admitted ones are answered
    users = [e for e in (await server.tracker("h-flood"))["events"] if e["event"] == "user"]
    assert len(users) == 9


async def test_an_address_over_its_rate_gets_429_and_others_do_not(start_server: StartServer, tmp_path: Path) -> None:
    """Five requests in a burst, then none for a thousand seconds (no refill during the test)."""
    server = await start_server(database_url=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", rate_limit=0.001,
                                rate_limit_burst=5, trusted_proxies=("127.0.0.1",))
    for i in range(5):
        assert await server.say("r1", f"hi {i}")
    async with server.http.post(server.base + WEBHOOK, json=say("r1", "one more")) as r:
        assert r.status == 429 and int(r.headers["Retry-After"]) > 1
        assert "too many requests" in (await r.json())["error"]
    async with server.http.get(f"{server.base}/conversations/r1/tracker") as r:
        assert r.status == 429  # every route of the address, not only the webhook
    async with server.http.get(f"{server.base}/health") as r:
        assert r.status == 200  # health checks are not counted
    behind_proxy = {"X-Forwarded-For": "203.0.113.9"}  # another client, through the trusted proxy
    async with server.http.post(server.base + WEBHOOK, json=say("r2", "hi"), headers=behind_proxy) as r:
        assert r.status == 200 and await r.json()
    events = await server.app[RUNTIME].store.events("r1")  # (the HTTP API would say 429 to this address now)
    assert [e["text"] for e in events if e["event"] == "user"] == [f"hi {i}" for i in range(5)]


class Poisoned:
    """The real shop classifier, except that a pass holding a text with POISON in it raises (as the
    tokenizer does on text it cannot encode). Its first pass waits for `release`, so that the
    messages sent meanwhile are classified together in the next one."""

    def __init__(self, real: Any) -> None:
        self.real, self.intents = real, real.intents
        self.passes: list[list[str]] = []
        self.entered, self.release = threading.Event(), threading.Event()

    def predict(self, texts: Sequence[str], contexts: Sequence[Sequence[str]] | None = None) -> list[Prediction]:
        self.passes.append(list(texts))
        if len(self.passes) == 1:
            self.entered.set()
            self.release.wait(60)
        if any("POISON" in t for t in texts):
            raise ValueError("the tokenizer cannot encode this text")
        return list(self.real.predict(texts))


async def test_a_poisoned_message_among_twelve_customers_fails_only_itself(hostile_server: Server) -> None:
    server = hostile_server
    engine = server.app[RUNTIME].require_engine()
    texts = {f"h-innocent-{i}": t for i, t in enumerate(
        ["hello there", "what payment methods do you accept?", "do you sell gift cards?", "where is my order?",
         "hi", "how long does shipping take?", "thanks", "can I return a sweater?", "good morning",
         "do you ship abroad?", "what is your refund policy?", "bye"])}
    expected = {cid: (await engine.parse(text)).intent for cid, text in texts.items()}  # each alone, first
    real = engine.batcher.classifier
    poisoned = engine.batcher.classifier = Poisoned(real)
    try:
        first_cid, *rest = texts
        first = asyncio.create_task(server.say(first_cid, texts[first_cid]))
        assert await asyncio.to_thread(poisoned.entered.wait, 60)  # its pass is running
        others = [asyncio.create_task(server.say(cid, texts[cid])) for cid in rest]
        bad = asyncio.create_task(server.say("h-poisoned", "POISON pill"))
        while engine.batcher.queued < len(rest) + 1:  # all of them wait for the next pass
            await asyncio.sleep(0.01)
        poisoned.release.set()
        await asyncio.gather(first, *others)
        fallback = await bad
    finally:
        engine.batcher.classifier = real
    assert sorted(poisoned.passes[1]) == sorted([texts[c] for c in rest] + ["POISON pill"])  # one pass, broken
    for cid in texts:
        tracker = await server.tracker(cid)
        assert tracker["latest_message"]["intent"]["name"] == expected[cid], cid
        assert any(e["event"] == "bot" for e in tracker["events"]), cid
    assert fallback  # the poisoned customer is answered (the fallback), and the turn is marked failed
    tracker = await server.tracker("h-poisoned", include_events="ALL")
    kinds = [e["event"] for e in tracker["events"]]
    assert kinds.count("user") == 1 and kinds[-1] == "action" and tracker["events"][-1]["name"] == "action_listen"
    reason = [e for e in tracker["events"] if e["event"] == "bot"][0]["metadata"]["reason"]
    assert reason["escalate"] == "turn_failed" and "cannot encode" in reason["error"]
    async with server.http.post(server.base + WEBHOOK, json=say("h-poisoned", "hi")) as r:
        assert r.status == 200  # and the conversation goes on (with a person, when errors hand over)


async def test_tracker_api_changes_wait_in_the_same_bounded_queue(hostile_server: Server) -> None:
    server = hostile_server
    url = f"{server.base}/conversations/h-events-flood/tracker/events"

    async def post() -> int:
        async with server.http.post(url, json={"event": "slot", "name": "order_number", "value": "NW-1"}) as r:
            return r.status

    async with server.app[RUNTIME].locks.lock("h-events-flood"):
        posts = [asyncio.create_task(post()) for _ in range(20)]
        refused = []
        for finished in asyncio.as_completed(posts):  # 9 of them wait (1 + 8), the rest are refused at once
            refused.append(await finished)
            if len(refused) == 11:
                break
        assert refused == [429] * 11
    assert sorted(await asyncio.gather(*posts)) == [200] * 9 + [429] * 11


async def test_a_poisoned_message_to_a_conversation_with_an_agent_is_stored_for_the_agent(
        hostile_server: Server) -> None:
    server = hostile_server
    engine = server.app[RUNTIME].require_engine()
    async with server.http.post(f"{server.base}/conversations/h-paused/tracker/events", json={"event": "pause"}) as r:
        assert r.status == 200
    real = engine.batcher.classifier
    poisoned = engine.batcher.classifier = Poisoned(real)
    poisoned.release.set()
    try:
        assert await server.say("h-paused", "POISON for the agent") == []  # the bot keeps quiet, as it does then
    finally:
        engine.batcher.classifier = real
    user = [e for e in (await server.tracker("h-paused"))["events"] if e["event"] == "user"]
    assert [(u["text"], u["parse_data"]["intent"]) for u in user] == [("POISON for the agent", {})]
