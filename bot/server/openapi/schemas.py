"""components.schemas of the OpenAPI description: the bodies the HTTP API reads and writes, as the
handlers build them (bot/server, bot/channels/rest.py, bot/tracker.py, bot/nlu/base.py)."""

from __future__ import annotations

from bot.server.openapi.common import ERROR_SCHEMA, Spec, nullable, obj, ref, text
from bot.server.openapi.events import EVENT_SCHEMAS

NUMBER_OR_NULL = {"type": ["number", "null"]}
STRING_OR_NULL = {"type": ["string", "null"]}
SENDER = text(1, 255, pattern=r"\S", description="The conversation (Rasa's sender id): 1 to 255 characters, not "
                                                 "all blank.")
# in a path: `{` and `}` are not routed (404), and clients resolve `.` and `..` as path steps
CONVERSATION_ID = text(1, 255, pattern=r"^(?!\.{1,2}$)[^{}]*[^{}\s][^{}]*$",
                       description="The conversation (Rasa's sender id): 1 to 255 characters, not all blank, without "
                                   "`{` or `}`; a `/` is sent as %2F.")

BUTTON = obj({"title": {"type": "string"}, "payload": {"type": "string"}})

BOT_MESSAGE = obj({
    "recipient_id": {"type": "string", "description": "The conversation the message belongs to."},
    "text": {"type": "string"},
    "buttons": {"type": "array", "items": ref("Button")},
    "image": {"type": "string", "description": "An image URL."},
    "attachment": {},
    "custom": {},
}, required=("recipient_id",), description="One bot message, as Rasa's REST channel sends it; keys without a value "
                                           "are left out. A response's other keys (e.g. `quick_replies`) pass "
                                           "through.")

USER_MESSAGE = obj({
    "sender": SENDER,
    "message": text(1, pattern=r"\S", description="What the customer wrote; a text starting with `/` is an intent "
                                                  "payload (`/intent_name{\"entity\": \"value\"}`)."),
    "metadata": nullable(obj({
        "message_id": text(1, 255, pattern=r"\S", description="The client's own id of the message: a retry with "
                                                              "the same id is not handled twice and gets the first "
                                                              "answer again."),
    }, description="Anything the client wants stored with the message. A JSON string holding an object is "
                   "read as that object.")),
    "input_channel": {"type": ["string", "null"], "description": "The channel name to record (default: the "
                                                                 "webhook's own)."},
}, required=("sender", "message"))

ENTITY = obj({
    "entity": {"type": "string"}, "value": {}, "start": {"type": "integer"}, "end": {"type": "integer"},
    "confidence_entity": {"type": "number"}, "extractor": {"type": "string"}, "role": {"type": "string"},
    "group": {"type": "string"},
}, required=("entity", "value"))

INTENT = obj({"name": {"type": "string"}, "confidence": {"type": "number"}})

PARSE_RESULT = obj({
    "text": {"type": "string"},
    "intent": obj({**INTENT["properties"], "full_retrieval_intent_name": {"type": "string"}},
                  required=("name", "confidence")),
    "intent_ranking": {"type": "array", "items": obj(INTENT["properties"], required=("name", "confidence"))},
    "entities": {"type": "array", "items": ref("Entity")},
    "sentiment": nullable(obj({"label": {"type": "string", "description": "e.g. negative, neutral, positive"},
                               "confidence": {"type": "number"}}, required=("label", "confidence"))),
    "response_selector": {"type": "object"},
    "scope": obj({"foreign": {"type": "number"}, "support_logs": {"type": "number"},
                  "for_logs": {"type": "boolean"}}, description="Switchboard's own: how foreign the message "
                                                                "looks and how close it is to the support logs."),
}, required=("text", "intent", "intent_ranking", "entities", "sentiment"),
    description="Rasa's parse result; out of scope is the intent `nlu_fallback`. Switchboard adds `sentiment` "
                "(null for a model trained without sentiment data) and `scope`.")

TRACKER = obj({
    "sender_id": {"type": "string"},
    "slots": {"type": "object", "description": "Every slot of the domain, unset ones with their initial value."},
    "latest_message": {"type": "object", "description": "The last user message's text with its parse data."},
    "latest_event_time": NUMBER_OR_NULL,
    "followup_action": STRING_OR_NULL,
    "paused": {"type": "boolean"},
    "events": {"type": ["array", "null"], "items": ref("StoredEvent"),
               "description": "null with include_events=NONE."},
    "latest_input_channel": STRING_OR_NULL,
    "active_loop": obj({"name": {"type": "string"}}),
    "latest_action": obj({"action_name": {"type": "string"}}),
    "latest_action_name": STRING_OR_NULL,
}, required=("sender_id", "slots", "latest_message", "latest_event_time", "followup_action", "paused", "events",
             "latest_input_channel", "active_loop", "latest_action", "latest_action_name"),
    description="Rasa's tracker JSON. A conversation the bot never saw has an empty one.")

STORED_EVENT = obj({"event": {"type": "string"}, "timestamp": {"type": "number"}}, required=("event",),
                   description="An event as stored: Rasa's JSON (see the Event schema for the types and fields).")

TURN_RESULT = obj({"tracker": ref("Tracker"), "messages": {"type": "array", "items": ref("BotMessage")}},
                  required=("tracker", "messages"))

PREDICTION = obj({
    "scores": {"type": "array", "items": obj({"action": {"type": "string"}, "score": {"type": "number"}},
                                             required=("action", "score"))},
    "policy": {"type": "string", "description": "The policy whose prediction won."},
    "confidence": {"type": "number"},
    "action": STRING_OR_NULL,
    "tracker": ref("Tracker"),
}, required=("scores", "policy", "confidence", "action", "tracker"))

STATUS = obj({
    "model_file": {"type": "string"}, "model_id": STRING_OR_NULL, "num_active_training_jobs": {"type": "integer"},
    "ready": {"type": "boolean"}, "knowledge_entries": {"type": "integer"}, "load_seconds": NUMBER_OR_NULL,
    "routes": nullable(obj({
        "thresholds": {"type": "object"}, "calibrated": {"type": ["object", "null"]},
        "target_foreign_rate": NUMBER_OR_NULL, "expected_foreign_answered": {},
        "expected_in_domain": {}, "foreign_messages": {}, "generation": {"type": "boolean"},
    }, description="The thresholds in use and what `switchboard train` measured for them.")),
}, required=("model_file", "model_id", "num_active_training_jobs", "ready", "knowledge_entries", "routes"))

VERSION = obj({"version": {"type": "string"}, "rasa_protocol": {"type": "string"},
               "minimum_compatible_version": {"type": "string"}},
              required=("version", "rasa_protocol", "minimum_compatible_version"))

HEALTH = obj({
    "status": {"type": "string", "enum": ["ok", "unavailable"]},
    "models": {"type": "boolean", "description": "The models are loaded."},
    "database": {"type": ["boolean", "null"]},
    "redis": {"type": ["boolean", "null"], "description": "null when this worker uses no Redis."},
    "down": {"type": "array", "items": {"type": "string", "enum": ["database", "redis"]}},
    "pid": {"type": "integer"},
    "time": {"type": "number"},
    "loading": obj({"attempts": {"type": "integer"}, "error": STRING_OR_NULL}),
    "error": {"type": "string"},
}, required=("status", "models", "database", "redis", "down", "pid", "time"))

ENTRY_ID = text(1, 128, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$")
KNOWLEDGE_INPUT = obj({
    "id": ENTRY_ID,
    "question": text(1, 1000, pattern=r"\S"),
    "answer": text(1, 10_000, pattern=r"\S"),
    "intent": {"type": ["string", "null"], "maxLength": 255},
    "tags": {"type": ["array", "null"], "maxItems": 20, "items": text(1)},
    "created_at": {"type": ["string", "null"], "description": "ISO 8601."},
}, required=("question", "answer"), closed=True, description="A support exchange to teach the bot; it is "
                                                              "normalised and PII-redacted as ingested logs are.")
KNOWLEDGE_ENTRY = obj({
    "id": {"type": "string"}, "question": {"type": "string"}, "answer": {"type": "string"},
    "intent": STRING_OR_NULL, "tags": {"type": "array", "items": {"type": "string"}},
    "created_at": STRING_OR_NULL, "source": {"type": "string", "enum": ["logs", "api", "agent"]},
}, required=("id", "question", "answer", "intent", "tags", "created_at", "source"))


def schemas() -> Spec:
    from bot.server.openapi.console_schemas import CONSOLE_SCHEMAS

    return {
        "Error": ERROR_SCHEMA, "Button": BUTTON, "BotMessage": BOT_MESSAGE, "UserMessage": USER_MESSAGE,
        "Entity": ENTITY, "ParseResult": PARSE_RESULT, "Tracker": TRACKER, "StoredEvent": STORED_EVENT,
        "TurnResult": TURN_RESULT, "Prediction": PREDICTION, "Status": STATUS, "Version": VERSION,
        "Health": HEALTH, "KnowledgeEntryInput": KNOWLEDGE_INPUT, "KnowledgeEntry": KNOWLEDGE_ENTRY,
        **EVENT_SCHEMAS, **CONSOLE_SCHEMAS,
    }
