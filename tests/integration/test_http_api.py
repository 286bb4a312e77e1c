"""Rasa's HTTP API on the running server: tracker, events, messages, parse, status, health."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import aiohttp
from aiohttp import web

from bot.app import create_app
from bot.server.keys import RUNTIME
from bot.settings import load_settings
from tests.conftest import TEMPLATE
from tests.integration.conftest import Server, free_port


async def test_parse_returns_intent_ranking_entities_and_sentiment(server: Server) -> None:
    async with server.http.post(f"{server.base}/model/parse", json={"text": "where is NW-10002"}) as r:
        assert r.status == 200
        body = await r.json()
    assert body["text"] == "where is NW-10002"
    assert body["intent"]["name"] == "order_status"
    assert 0 < body["intent"]["confidence"] <= 1
    assert body["intent_ranking"][0]["name"] == "order_status"
    assert [e["value"] for e in body["entities"] if e["entity"] == "order_number"] == ["NW-10002"]
    assert body["sentiment"]["label"] in {"negative", "neutral", "positive"}


async def test_parse_reports_out_of_scope_as_nlu_fallback(server: Server) -> None:
    async with server.http.post(f"{server.base}/model/parse", json={"text": "how tall is mount everest"}) as r:
        body = await r.json()
    assert body["intent"]["name"] == "nlu_fallback"
    assert body["intent_ranking"][0]["name"] == "nlu_fallback"


async def test_parse_scores_an_angry_message_negative(server: Server) -> None:
    text = "this is the third time my order is late, I am absolutely furious with you"
    async with server.http.post(f"{server.base}/model/parse", json={"text": text}) as r:
        body = await r.json()
    assert body["sentiment"]["label"] == "negative"
    assert 0.34 < body["sentiment"]["confidence"] <= 1


async def test_tracker_has_rasa_keys_and_include_events_filters(server: Server) -> None:
    await server.say("t1", "hi")
    tracker = await server.tracker("t1", include_events="ALL")
    for key in ("sender_id", "slots", "latest_message", "latest_event_time", "followup_action", "paused",
                "events", "latest_input_channel", "active_loop", "latest_action", "latest_action_name"):
        assert key in tracker
    assert tracker["latest_input_channel"] == "rest"
    assert tracker["latest_action_name"] == "action_listen"
    assert "order_number" in tracker["slots"]  # unset domain slots appear with their initial value
    assert (await server.tracker("t1", include_events="NONE"))["events"] is None

    async with server.http.post(f"{server.base}/conversations/t1/tracker/events", json={"event": "restart"}) as r:
        assert r.status == 200
    await server.say("t1", "thanks")
    everything = (await server.tracker("t1", include_events="ALL"))["events"]
    after = (await server.tracker("t1", include_events="AFTER_RESTART"))["events"]
    assert len(after) < len(everything)
    assert [e["text"] for e in after if e["event"] == "user"] == ["thanks"]


async def test_until_returns_the_conversation_as_it_was(server: Server) -> None:
    await server.say("t2", "hi")
    cut = time.time()
    await server.say("t2", "where is NW-10002")
    earlier = await server.tracker("t2", include_events="ALL", until=str(cut))
    assert [e["text"] for e in earlier["events"] if e["event"] == "user"] == ["hi"]
    assert earlier["slots"]["order_number"] is None
    now = await server.tracker("t2")
    assert now["slots"]["order_number"] == "NW-10002"


async def test_pause_stops_replies_and_resume_brings_them_back(server: Server) -> None:
    await server.say("t3", "hi")
    async with server.http.post(f"{server.base}/conversations/t3/tracker/events", json={"event": "pause"}) as r:
        assert r.status == 200 and (await r.json())["paused"] is True
    assert await server.say("t3", "is anyone there?") == []
    tracker = await server.tracker("t3")
    assert tracker["events"][-1]["event"] == "user" and tracker["events"][-1]["text"] == "is anyone there?"
    async with server.http.post(f"{server.base}/conversations/t3/tracker/events", json={"event": "resume"}) as r:
        assert (await r.json())["paused"] is False
    assert await server.say("t3", "hello again")


async def test_slot_event_and_event_lists(server: Server) -> None:
    events = [{"event": "slot", "name": "order_number", "value": "NW-10005"}, {"event": "pause"}]
    async with server.http.post(f"{server.base}/conversations/t4/tracker/events", json=events) as r:
        assert r.status == 200
        body = await r.json()
    assert body["slots"]["order_number"] == "NW-10005" and body["paused"] is True


async def test_messages_endpoint_adds_a_user_message_without_replying(server: Server) -> None:
    url = f"{server.base}/conversations/t5/messages"
    async with server.http.post(url, json={"text": "I want to return a lamp", "sender": "user"}) as r:
        assert r.status == 200
        body = await r.json()
    users = [e for e in body["events"] if e["event"] == "user"]
    assert users[-1]["text"] == "I want to return a lamp"
    assert users[-1]["parse_data"]["intent"]["name"] == "return_item"
    assert not [e for e in body["events"] if e["event"] == "bot"]


async def test_status_version_domain_health(server: Server) -> None:
    async with server.http.get(f"{server.base}/status") as r:
        status = await r.json()
    assert status["ready"] is True and status["model_id"] and status["knowledge_entries"] >= 80
    async with server.http.get(f"{server.base}/version") as r:
        assert "version" in await r.json()
    async with server.http.get(f"{server.base}/domain") as r:
        domain = await r.json()
    assert "order_status" in domain["intents"] and "utter_greet" in domain["responses"]
    async with server.http.get(f"{server.base}/health") as r:
        assert r.status == 200
        health = await r.json()
    assert (health["status"], health["models"], health["database"]) == ("ok", True, True)


async def test_health_is_503_and_turns_are_refused_until_models_load(tmp_path: Path) -> None:
    untrained = tmp_path / "untrained"
    shutil.copytree(TEMPLATE, untrained, ignore=shutil.ignore_patterns(".switchboard"))
    app = create_app(load_settings(untrained, database_url=f"sqlite+aiosqlite:///{tmp_path / 'u.db'}"))
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/health") as r:
                assert r.status == 503
                body = await r.json()
            assert body["models"] is False and body["database"] is True
            payload = {"sender": "h1", "message": "hi"}
            async with http.post(f"http://127.0.0.1:{port}/webhooks/rest/webhook", json=payload) as r:
                assert r.status == 503 and (await r.json())["error"]
    finally:
        await runner.cleanup()


async def test_cors_allows_configured_origins_only(server: Server) -> None:
    url = f"{server.base}/webhooks/rest/webhook"
    preflight = {"Origin": "http://localhost:5005", "Access-Control-Request-Method": "POST"}
    async with server.http.options(url, headers=preflight) as r:
        assert r.status == 204
        assert r.headers["Access-Control-Allow-Origin"] == "http://localhost:5005"
    async with server.http.options(url, headers={**preflight, "Origin": "http://evil.example"}) as r:
        assert r.status == 403 and "Access-Control-Allow-Origin" not in r.headers
    body = {"sender": "cors1", "message": "hi"}
    async with server.http.post(url, json=body, headers={"Origin": "http://evil.example"}) as r:
        assert "Access-Control-Allow-Origin" not in r.headers


async def test_a_loaded_server_holds_blas_to_its_torch_threads(server: Server) -> None:
    """numpy's BLAS threads spin between a message's small products: the runtime holds them to
    engine.torch_threads (bot/runtime.py), as torch's own. An OpenMP build (FAISS's) counts its
    threads per calling thread, so it is not checked from here."""
    from threadpoolctl import threadpool_info

    blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas" and pool.get("threading_layer") != "openmp"]
    assert blas and all(pool["num_threads"] == server.app[RUNTIME].settings.torch_threads for pool in blas), \
        [(pool["filepath"], pool["num_threads"]) for pool in blas]
