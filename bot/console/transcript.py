"""What the console shows, built from the stored events and state: nothing is recomputed, the
bot's reasons are the ones it recorded when it answered."""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable, Mapping

from bot.events import Event
from bot.storage.outbox import SENT, Delivery
from bot.tracker import State

SHOWN_STATUSES = ("pending", "agent")
Lookup = Callable[[str], "str | None"]  # knowledge entry id -> its question, or None


def approved_id(message_id: str) -> str:
    """The knowledge entry an agent's reply becomes when approved (one per reply)."""
    return f"agent-{message_id}"[:128]


def handoff_of(state: State) -> dict[str, Any]:
    h = state.handoff
    return {"status": h.get("status", "bot"), "trigger": h.get("trigger"), "agent": h.get("agent"),
            "since": h.get("since")}


def queue_item(conversation_id: str, state: State, *, now: float | None = None) -> dict[str, Any] | None:
    """The conversation's row in the agents' queue, or None when it is not in the queue."""
    h = state.handoff
    if h.get("status") not in SHOWN_STATUSES:
        return None
    since = h.get("since")
    latest = state.latest_message or {}
    sentiment = latest.get("sentiment")
    return {
        "id": conversation_id,
        "channel": state.latest_input_channel,
        "status": h.get("status"),
        "trigger": h.get("trigger"),
        "agent": h.get("agent"),
        "since": since,
        "waiting_seconds": None if since is None else round(max(0.0, (now or time.time()) - since), 1),
        "last_message": latest.get("text"),
        "last_sentiment": sentiment if isinstance(sentiment, dict) else None,
    }


def items(
    events: Iterable[Event],
    *,
    corrections: Mapping[str, str] | None = None,
    approved: Callable[[str], bool] = lambda _id: False,
    question_of: Lookup = lambda _id: None,
    deliveries: Mapping[str, Delivery] | None = None,
) -> list[dict[str, Any]]:
    """The transcript: customer, bot and agent messages and handoff changes, oldest first.
    `corrections`: message id -> corrected intent; `approved(entry id)`: is that entry in the
    knowledge base; `question_of(entry id)`: a retrieved log's question, to show beside its score;
    `deliveries`: the conversation's outbox by delivery id (whether each pushed message arrived)."""
    out: list[dict[str, Any]] = []
    for event in events:
        item = _item(event, corrections or {}, approved, question_of)
        if item is not None and item["kind"] in ("bot", "agent"):
            item.update(_delivery(event, deliveries or {}))
        if item is not None:
            out.append(item)
    return out


def _delivery(event: Event, deliveries: Mapping[str, Delivery]) -> dict[str, Any]:
    """delivered / delivery_error / delivery of a bot or agent message: from the outbox when it was
    pushed, from the event when it could not be (a REST conversation), else nothing is known."""
    meta = event.get("metadata") or {}
    found = deliveries.get(str(meta.get("delivery_id")))
    if found is not None:
        return {"delivered": found.status == SENT, "delivery_error": None if found.status == SENT else found.last_error,
                "delivery": found.as_dict()}
    if "delivered" in meta:
        return {"delivered": bool(meta["delivered"]), "delivery_error": meta.get("delivery_error")}
    return {}


def _item(event: Event, corrections: Mapping[str, str], approved: Callable[[str], bool],
          question_of: Lookup) -> dict[str, Any] | None:
    kind, at = event.get("event"), event.get("timestamp")
    if kind == "user":
        parse = event.get("parse_data") or {}
        intent = parse.get("intent") or {}
        message_id = event.get("message_id")
        return {
            "kind": "customer", "at": at, "text": event.get("text"), "message_id": message_id,
            "channel": event.get("input_channel"), "intent": intent.get("name"),
            "confidence": intent.get("confidence"), "sentiment": parse.get("sentiment"),
            "corrected_intent": corrections.get(message_id or ""),
        }
    if kind == "bot":
        data = event.get("data") or {}
        reason = (event.get("metadata") or {}).get("reason")
        return {"kind": "bot", "at": at, "text": event.get("text"), "buttons": data.get("buttons") or [],
                "reason": _annotated(reason, question_of) if isinstance(reason, dict) else None}
    if kind == "agent":
        meta = event.get("metadata") or {}
        message_id = meta.get("message_id") or ""
        entry = approved_id(message_id)
        return {"kind": "agent", "at": at, "text": event.get("text"), "agent": meta.get("agent"),
                "message_id": message_id, "delivered": meta.get("delivered", True),
                "delivery_error": meta.get("delivery_error"), "approved_entry": entry if approved(entry) else None}
    if kind == "handoff":
        return {"kind": "status", "at": at, "status": event.get("status"), "trigger": event.get("trigger"),
                "agent": event.get("agent")}
    if kind in ("pause", "resume"):
        return {"kind": "status", "at": at, "status": "pending" if kind == "pause" else "bot",
                "trigger": "paused" if kind == "pause" else None, "agent": None}
    return None


def _annotated(reason: dict[str, Any], question_of: Lookup) -> dict[str, Any]:
    """The reason as recorded, with each retrieved log's question beside its id and score."""
    hits = reason.get("retrieval")
    if not isinstance(hits, list):
        return reason
    return {**reason, "retrieval": [
        {**hit, "question": question_of(str(hit.get("id")))} if isinstance(hit, dict) else hit for hit in hits
    ]}
