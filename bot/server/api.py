"""Rasa's HTTP API: conversations/tracker, model/parse, status, version, domain, health."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

from aiohttp import web

import bot
from bot import events as ev
from bot.actions.base import RASA_PROTOCOL_VERSION
from bot.errors import BadRequest, InvalidEvent, PayloadTooLarge
from bot.nlu.entity_context import context_intents
from bot.server.keys import RUNTIME, SETTINGS, TURN_ADMISSION
from bot.server.requests import json_body, json_object
from bot.tracker import State, after_restart, apply, tracker_json

INCLUDE_EVENTS = ("ALL", "APPLIED", "AFTER_RESTART", "NONE")
routes = web.RouteTableDef()


def _conversation_id(request: web.Request) -> str:
    cid = request.match_info["conversation_id"]
    if not cid.strip() or len(cid) > 255:
        raise BadRequest("the conversation id must be 1 to 255 characters")
    return cid


@asynccontextmanager
async def locked(request: web.Request, cid: str) -> AsyncIterator[None]:
    """The conversation's lock for a change made through the API: it waits in the conversation's
    bounded queue as a message does (429 beyond server.max_waiting_turns_per_conversation)."""
    with request.app[TURN_ADMISSION].admit(cid):
        async with request.app[RUNTIME].require_engine().locks.lock(cid):
            yield


async def _tracker(request: web.Request, cid: str) -> dict[str, Any]:
    include = request.query.get("include_events", "AFTER_RESTART").upper()
    if include not in INCLUDE_EVENTS:
        raise BadRequest(f"include_events must be one of {', '.join(INCLUDE_EVENTS)}")
    until = None
    if "until" in request.query:
        try:
            until = float(request.query["until"])
        except ValueError as exc:
            raise BadRequest("'until' must be a unix timestamp") from exc
    runtime = request.app[RUNTIME]
    window = await runtime.store.load(cid, window=1)
    events: list[dict[str, Any]] | None = None
    state = window.state
    if include != "NONE" or until is not None:
        all_events = await runtime.store.events(cid, until=until)
        if until is not None:  # the state as it was at `until`
            state = apply(State(), all_events, initial_slots=runtime.domain.initial_slots)
        if include != "NONE":
            events = all_events if include == "ALL" else after_restart(all_events)
    return tracker_json(cid, state, events, initial_slots=runtime.domain.initial_slots)


@routes.get("/conversations/{conversation_id}/tracker")
async def get_tracker(request: web.Request) -> web.Response:
    return web.json_response(await _tracker(request, _conversation_id(request)))


@routes.post("/conversations/{conversation_id}/tracker/events")
async def append_events(request: web.Request) -> web.Response:
    cid = _conversation_id(request)
    body = await json_body(request)
    raw_events = body if isinstance(body, list) else [body]
    if not raw_events:
        raise InvalidEvent("send one event object or a non-empty list of events")
    events = [ev.validate(raw) for raw in raw_events]  # all valid, or nothing is stored
    runtime = request.app[RUNTIME]
    async with locked(request, cid):
        await runtime.store.append(cid, events, initial_slots=runtime.domain.initial_slots)
    return web.json_response(await _tracker(request, cid))


@routes.post("/conversations/{conversation_id}/messages")
async def add_message(request: web.Request) -> web.Response:
    cid = _conversation_id(request)
    body = await json_object(request)
    text, sender = body.get("text"), body.get("sender")
    if sender != "user":
        raise BadRequest("'sender' must be \"user\" (only user messages can be added)")
    if not isinstance(text, str) or not text.strip():
        raise BadRequest("'text' must be a non-empty string")
    settings = request.app[SETTINGS]
    if len(text) > settings.max_message_chars:
        raise PayloadTooLarge(f"'text' is {len(text)} characters; the limit is {settings.max_message_chars}")
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise BadRequest("'metadata' must be a JSON object")
    runtime = request.app[RUNTIME]
    engine = runtime.require_engine()
    earlier = await runtime.store.load(cid, window=engine.window)  # the conversation types the entities
    prediction = await engine.parse(text, context_intents(earlier.recent_events))
    parse_data = body.get("parse_data") if isinstance(body.get("parse_data"), dict) else prediction.parse_data()
    event = ev.user(text, parse_data, input_channel="http_api", metadata=metadata)
    async with locked(request, cid):
        await runtime.store.append(cid, [event], initial_slots=runtime.domain.initial_slots)
    return web.json_response(await _tracker(request, cid))


@routes.post("/model/parse")
async def parse(request: web.Request) -> web.Response:
    body = await json_object(request)
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        raise BadRequest("'text' must be a non-empty string")
    settings = request.app[SETTINGS]
    if len(text) > settings.max_message_chars:
        raise PayloadTooLarge(f"'text' is {len(text)} characters; the limit is {settings.max_message_chars}")
    prediction = await request.app[RUNTIME].require_engine().parse(text)
    return web.json_response(prediction.parse_data())


@routes.get("/status")
async def status(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    nlu, knowledge = runtime.nlu, runtime.knowledge
    return web.json_response(
        {
            "model_file": str(runtime.settings.nlu_model_dir),
            "model_id": nlu.meta["data_hash"] if nlu else None,
            "num_active_training_jobs": 0,
            "ready": runtime.engine is not None,
            "knowledge_entries": len(knowledge) if knowledge else 0,
            "load_seconds": runtime.load_seconds,
            "routes": _routes(runtime),
        }
    )


def _routes(runtime: Any) -> dict[str, Any] | None:
    """The thresholds in use (and where each came from) and what `switchboard train` measured
    for them: the share of held-out foreign questions each route answers."""
    if runtime.thresholds is None:
        return None
    calibration = runtime.calibration or {}
    return {
        "thresholds": runtime.thresholds.as_dict(),
        "calibrated": calibration.get("thresholds"),
        "target_foreign_rate": calibration.get("target_foreign_rate"),
        "expected_foreign_answered": calibration.get("foreign_answered"),
        "expected_in_domain": calibration.get("in_domain"),
        "foreign_messages": calibration.get("foreign_messages"),
        "generation": runtime.engine is not None and runtime.engine.generation is not None,
    }


@routes.get("/version")
async def version(_: web.Request) -> web.Response:
    return web.json_response(
        {"version": bot.__version__, "rasa_protocol": RASA_PROTOCOL_VERSION, "minimum_compatible_version": "3.0.0"}
    )


@routes.get("/domain")
async def domain(request: web.Request) -> web.Response:
    return web.json_response(request.app[RUNTIME].domain.as_dict())


@routes.get("/health")
async def health(request: web.Request) -> web.Response:
    """200 when the models are loaded and every store this worker needs answers; else 503 with
    Retry-After, `down` naming the stores that do not answer (never SQL)."""
    body = await request.app[RUNTIME].health()
    if body["status"] == "ok":
        return web.json_response(body)
    return web.json_response(body, status=503, headers={"Retry-After": "2" if body["down"] else "5"})

