"""components.schemas of the agent console's API (bot/console): sessions, agents, the queue, the
transcript and the outbox's deliveries."""

from __future__ import annotations

from bot.server.openapi.common import Spec, nullable, obj, ref

STRING_OR_NULL = {"type": ["string", "null"]}
NUMBER_OR_NULL = {"type": ["number", "null"]}
HANDOFF_STATUS = {"type": "string", "enum": ["bot", "pending", "agent", "closed"]}

ME = obj({
    "agent": obj({"name": {"type": "string"}, "role": {"type": "string", "enum": ["agent", "admin"]}},
                 required=("name", "role")),
    "csrf": {"type": "string", "description": "Send it back in the X-CSRF-Token header of every POST and DELETE."},
}, required=("agent", "csrf"))

AGENT = obj({"name": {"type": "string"}, "role": {"type": "string", "enum": ["agent", "admin"]},
             "created_at": {"type": "string", "description": "ISO 8601."}}, required=("name", "role", "created_at"))

HANDOFF = obj({"status": HANDOFF_STATUS, "trigger": STRING_OR_NULL, "agent": STRING_OR_NULL, "since": NUMBER_OR_NULL},
              required=("status", "trigger", "agent", "since"),
              description="Who has the conversation: the bot, the queue (pending), an agent, or nobody (closed).")

QUEUE_ITEM = obj({
    "id": {"type": "string"}, "channel": STRING_OR_NULL,
    "status": {"type": "string", "enum": ["pending", "agent"]}, "trigger": STRING_OR_NULL, "agent": STRING_OR_NULL,
    "since": NUMBER_OR_NULL, "waiting_seconds": NUMBER_OR_NULL, "last_message": STRING_OR_NULL,
    "last_sentiment": nullable(obj({"label": {"type": "string"}, "confidence": {"type": "number"}})),
}, required=("id", "channel", "status", "trigger", "agent", "since", "waiting_seconds", "last_message",
             "last_sentiment"))

DELIVERY = obj({
    "delivery_id": {"type": "string"}, "channel": {"type": "string"},
    "status": {"type": "string", "enum": ["pending", "sending", "sent", "failed"]},
    "attempts": {"type": "integer"}, "next_attempt_at": NUMBER_OR_NULL, "sent_at": NUMBER_OR_NULL,
    "error": STRING_OR_NULL,
}, required=("delivery_id", "channel", "status", "attempts", "next_attempt_at", "sent_at", "error"),
    description="A message pushed through the outbox, and whether it arrived.")

TRANSCRIPT_ITEM = obj({
    "kind": {"type": "string", "enum": ["customer", "bot", "agent", "status"]},
    "at": NUMBER_OR_NULL,
    "text": STRING_OR_NULL,
    "message_id": STRING_OR_NULL,
    "channel": STRING_OR_NULL,
    "intent": STRING_OR_NULL,
    "confidence": NUMBER_OR_NULL,
    "sentiment": {"type": ["object", "null"]},
    "corrected_intent": STRING_OR_NULL,
    "buttons": {"type": "array"},
    "reason": {"type": ["object", "null"], "description": "Why the bot said it: route, intent, retrieved logs..."},
    "agent": STRING_OR_NULL,
    "approved_entry": STRING_OR_NULL,
    "status": STRING_OR_NULL,
    "trigger": STRING_OR_NULL,
    "delivered": {"type": "boolean"},
    "delivery_error": STRING_OR_NULL,
    "delivery": ref("Delivery"),
}, required=("kind", "at"), description="One line of the transcript: a customer, bot or agent message, or a "
                                         "change of who has the conversation.")

CONVERSATION = obj({
    "id": {"type": "string"}, "channel": STRING_OR_NULL, "handoff": ref("Handoff"),
    "items": {"type": "array", "items": ref("TranscriptItem")},
    "intents": {"type": "array", "items": {"type": "string"}, "description": "The domain's intents (to relabel)."},
}, required=("id", "channel", "handoff", "items", "intents"))

CONSOLE_SCHEMAS: Spec = {
    "ConsoleMe": ME, "Agent": AGENT, "Handoff": HANDOFF, "QueueItem": QUEUE_ITEM, "Delivery": DELIVERY,
    "TranscriptItem": TRANSCRIPT_ITEM, "ConsoleConversation": CONVERSATION,
}
