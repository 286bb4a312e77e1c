"""Rasa's HTTP API for driving a conversation from outside:

- `POST /conversations/{id}/trigger_intent` `{"name", "entities"?}`: a turn as if the customer had
  sent that intent (the payload `/name{...}`), with the bot's replies; `?output_channel=latest|<name>`
  also sends them through that channel (`latest`: the conversation's last input channel);
- `POST /conversations/{id}/execute` `{"name", "policy"?, "confidence"?}`: runs one action (as Rasa
  3 does: no prediction after it), stores its events and replies;
- `POST /conversations/{id}/predict`: the policies' scores for the next action; nothing is stored;
- `PUT /conversations/{id}/tracker/events` `[events]`: replaces the conversation's events.
The first two answer `{"tracker", "messages"}` (`include_events` as for GET tracker)."""

from __future__ import annotations

import json
import time
from typing import Any

from aiohttp import web

from bot import events as ev
from bot.dialogue.executor import Context
from bot.dialogue.loop import turn_events
from bot.domain import DEFAULT_ACTIONS, DEFAULT_INTENTS
from bot.engine import UserMessage
from bot.errors import BadRequest, InvalidEvent, NotFound
from bot.server.api import _conversation_id, _tracker, locked
from bot.server.keys import OUTPUTS, RUNTIME, TURN_ADMISSION
from bot.server.requests import json_body, json_object

routes = web.RouteTableDef()


def _output(request: web.Request, latest: str | None) -> Any:
    wanted = request.query.get("output_channel")
    if not wanted:
        return None
    name = latest if wanted == "latest" else wanted
    outputs = request.app.get(OUTPUTS) or {}
    if name not in outputs:
        if wanted == "latest":
            return None  # the conversation came through a channel that cannot be written to later (REST)
        raise BadRequest(f"output_channel '{wanted}' is none of the channels that can send: "
                         f"{', '.join(sorted(outputs)) or 'none is configured'} (or 'latest')")
    return outputs[name]


async def _send(output: Any, cid: str, messages: list[dict[str, Any]]) -> None:
    if output is not None:
        for message in messages:
            await output.send(cid, message)


def _entities(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    if isinstance(raw, dict):
        return {str(k): v for k, v in raw.items()}
    if isinstance(raw, list) and all(isinstance(e, dict) and "entity" in e for e in raw):
        return {str(e["entity"]): e.get("value") for e in raw}
    raise BadRequest("'entities' must be a mapping {entity: value} or a list of {\"entity\", \"value\"}")


@routes.post("/conversations/{conversation_id}/trigger_intent")
async def trigger_intent(request: web.Request) -> web.Response:
    cid = _conversation_id(request)
    body = await json_object(request)
    intent = body.get("name")
    if not isinstance(intent, str) or not intent:
        raise BadRequest("'name' must be the intent to trigger")
    runtime = request.app[RUNTIME]
    engine = runtime.require_engine()
    if intent not in runtime.domain.intents and intent not in DEFAULT_INTENTS:
        raise NotFound(f"the intent '{intent}' is not in the domain")
    entities = _entities(body.get("entities"))
    text = f"/{intent}" + (json.dumps(entities) if entities else "")
    state = (await runtime.store.load(cid, window=1)).state
    output = _output(request, state.latest_input_channel)
    channel = state.latest_input_channel or "http_api"
    with request.app[TURN_ADMISSION].admit(cid):
        result = await engine.handle(UserMessage(text, cid, input_channel=channel, metadata={"trigger_intent": True}))
    messages = [{"recipient_id": cid, **m} for m in result.replies]
    await _send(output, cid, result.replies)
    return web.json_response({"tracker": await _tracker(request, cid), "messages": messages})


@routes.post("/conversations/{conversation_id}/execute")
async def execute(request: web.Request) -> web.Response:
    cid = _conversation_id(request)
    body = await json_object(request)
    action = body.get("name")
    if not isinstance(action, str) or not action:
        raise BadRequest("'name' must be the action to run")
    runtime = request.app[RUNTIME]
    engine = runtime.require_engine()
    if not runtime.domain.has_action(action) and action not in DEFAULT_ACTIONS:
        raise NotFound(f"the action '{action}' is not in the domain")
    policy, confidence = body.get("policy"), body.get("confidence")
    if confidence is not None and not isinstance(confidence, (int, float)):
        raise BadRequest("'confidence' must be a number")
    async with locked(request, cid):
        tracker = await runtime.store.load(cid, window=engine.window)
        output = _output(request, tracker.state.latest_input_channel)
        new: list[dict[str, Any]] = []
        conv = engine.dialogue.conversation(turn_events(engine.domain, tracker, new))
        ctx = Context(cid, tracker.state, tracker.recent_events, new, conv, tracker.state.latest_input_channel)
        recorded = ev.action(action, policy=policy or "http_api", confidence=float(confidence or 1.0))
        outcome = await engine.executor.run(action, ctx)
        if outcome.rejected:
            new.append({"event": "action_execution_rejected", "timestamp": time.time(), "name": action})
            replies: list[dict[str, Any]] = []
        else:
            new.append(recorded)
            reason = {"route": "http_api", "action": action, "policy": recorded.get("policy"), "timings_ms": {}}
            replies = engine._say(outcome.messages, new, reason)
            new += outcome.events
        ev.in_time_order(new)
        await runtime.store.append(cid, new, initial_slots=runtime.domain.initial_slots)
    await _send(output, cid, replies)
    messages = [{"recipient_id": cid, **m} for m in replies]
    return web.json_response({"tracker": await _tracker(request, cid), "messages": messages})


@routes.post("/conversations/{conversation_id}/predict")
async def predict(request: web.Request) -> web.Response:
    cid = _conversation_id(request)
    runtime = request.app[RUNTIME]
    engine = runtime.require_engine()
    tracker = await runtime.store.load(cid, window=engine.window)
    best, everyone, _ = engine.dialogue.predict(turn_events(engine.domain, tracker, []))
    scores: dict[str, float] = {name: 0.0 for name in [*runtime.domain.responses, *runtime.domain.actions,
                                                       *runtime.domain.forms, *sorted(DEFAULT_ACTIONS)]}
    for prediction in [*everyone, best]:
        if prediction.action:
            scores[prediction.action] = max(scores.get(prediction.action, 0.0), round(prediction.confidence, 4))
    ranked = sorted(scores.items(), key=lambda item: -item[1])
    return web.json_response({"scores": [{"action": a, "score": s} for a, s in ranked], "policy": best.policy,
                              "confidence": round(best.confidence, 4), "action": best.action,
                              "tracker": await _tracker(request, cid)})


@routes.put("/conversations/{conversation_id}/tracker/events")
async def replace_events(request: web.Request) -> web.Response:
    cid = _conversation_id(request)
    body = await json_body(request)
    if not isinstance(body, list):
        raise InvalidEvent("send the conversation's new events as a JSON list (an empty list clears it)")
    events = [ev.validate(raw) for raw in body]  # all valid, or nothing changes
    runtime = request.app[RUNTIME]
    async with locked(request, cid):
        await runtime.store.replace(cid, events, initial_slots=runtime.domain.initial_slots)
    return web.json_response(await _tracker(request, cid))
