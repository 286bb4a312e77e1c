"""paths of Rasa's HTTP API (bot/server/api.py, dialogue_api.py, privacy_api.py) and the knowledge
API (bot/server/knowledge_api.py). All of them take the API token when one is configured."""

from __future__ import annotations

from bot.server.openapi.common import (
    OPEN, TOKEN_SECURITY, Spec, answer, errors, json_body, obj, operation, path_param, query_param, ref, text,
)
from bot.server.openapi.schemas import CONVERSATION_ID, ENTRY_ID

CID = path_param("conversation_id", "The conversation (Rasa's sender id). An id the router cannot take answers "
                                    "404.", CONVERSATION_ID)
INCLUDE_EVENTS = query_param(
    "include_events", "Which events the tracker carries (case does not matter): ALL, APPLIED (as ALL), "
                      "AFTER_RESTART (the default: those after the last restart) or NONE (`events` is null).",
    {"type": "string", "enum": ["ALL", "APPLIED", "AFTER_RESTART", "NONE"]})
UNTIL = query_param("until", "The conversation as it was at this unix time.", {"type": "number"})
OUTPUT_CHANNEL = query_param(
    "output_channel", "Also send the bot's messages through this channel: a channel that can push (socketio, "
                      "callback, slack, telegram) or `latest`, the conversation's last input channel (nothing "
                      "is sent when that one cannot push, e.g. REST).", {"type": "string"})
TRACKER_OK = answer("The conversation's tracker after the change.", ref("Tracker"))
TURN_OK = answer("The tracker after the turn and the bot's messages.", ref("TurnResult"))
TAGS = ["conversations"]


def _conversation_op(operation_id: str, summary: str, *, responses: Spec, description: str | None = None,
                     parameters: list[Spec] | None = None, body: Spec | None = None) -> Spec:
    return operation(operation_id, summary, tags=TAGS, description=description, body=body,
                     parameters=[CID, *(parameters or [])], responses=responses, security=TOKEN_SECURITY)


def conversation_paths() -> Spec:
    events_body = {"oneOf": [ref("Event"), {"type": "array", "minItems": 1, "items": ref("Event")}]}
    return {
        "/conversations/{conversation_id}": {"delete": _conversation_op(
            "deleteConversation", "Remove one customer's data everywhere Switchboard keeps it",
            description="The conversation's events and snapshot, its message ids and replies, outbox, reminders, "
                        "agents' corrections, and knowledge entries approved from it.",
            responses={"204": answer("Removed."), **errors(400, 401, 404, 503)})},
        "/conversations/{conversation_id}/tracker": {"get": _conversation_op(
            "getTracker", "The conversation's tracker", parameters=[INCLUDE_EVENTS, UNTIL],
            responses={"200": answer("Rasa's tracker JSON.", ref("Tracker")), **errors(400, 401, 404, 503)})},
        "/conversations/{conversation_id}/tracker/events": {
            "post": _conversation_op(
                "appendEvents", "Append events",
                description="How an outside inbox pauses (`{\"event\": \"pause\"}`) or resumes the bot. Every event "
                            "is checked first: all are stored, or none (409: a `user` event's `message_id` is "
                            "already stored in the conversation).",
                parameters=[INCLUDE_EVENTS], body=json_body(events_body, description="One event or a list."),
                responses={"200": TRACKER_OK, **errors(400, 401, 404, 409, 413, 429, 503)}),
            "put": _conversation_op(
                "replaceEvents", "Replace the conversation's events", parameters=[INCLUDE_EVENTS],
                body=json_body({"type": "array", "items": ref("Event")}, description="The new events; an empty "
                                                                                       "list clears it."),
                responses={"200": TRACKER_OK, **errors(400, 401, 404, 409, 413, 429, 503)}),
        },
        "/conversations/{conversation_id}/messages": {"post": _conversation_op(
            "addMessage", "Add a user message without running the bot",
            description="The message is parsed (unless `parse_data` is given) and stored; the bot does not answer.",
            parameters=[INCLUDE_EVENTS],
            body=json_body(obj({"text": text(1, pattern=r"\S"), "sender": {"type": "string", "const": "user"},
                                "parse_data": {"type": "object"}, "metadata": {"type": ["object", "null"]}},
                               required=("text", "sender"))),
            responses={"200": TRACKER_OK, **errors(400, 401, 404, 413, 429, 503)})},
        "/conversations/{conversation_id}/trigger_intent": {"post": _conversation_op(
            "triggerIntent", "Run a turn as if the customer had sent an intent",
            parameters=[OUTPUT_CHANNEL, INCLUDE_EVENTS],
            body=json_body(obj({
                "name": text(1, description="An intent of the domain.", examples=["greet"]),
                "entities": {"anyOf": [
                    {"type": "object", "description": "{entity: value}"},
                    {"type": "array", "items": obj({"entity": {"type": "string"}, "value": {}},
                                                   required=("entity",))},
                    {"type": "null"}]},
            }, required=("name",))),
            responses={"200": TURN_OK, **errors(400, 401, 404, 413, 429, 503)})},
        "/conversations/{conversation_id}/execute": {"post": _conversation_op(
            "executeAction", "Run one action (Rasa 3 keeps it, deprecated in favour of trigger_intent)",
            description="Stores the action's events and messages; nothing is predicted after it.",
            parameters=[OUTPUT_CHANNEL, INCLUDE_EVENTS],
            body=json_body(obj({"name": text(1, description="An action or response of the domain.",
                                             examples=["utter_greet", "action_listen"]),
                                "policy": {"type": ["string", "null"]},
                                "confidence": {"type": ["number", "null"]}}, required=("name",))),
            responses={"200": TURN_OK, **errors(400, 401, 404, 413, 429, 503)})},
        "/conversations/{conversation_id}/predict": {"post": _conversation_op(
            "predictAction", "The policies' scores for the next action; nothing is stored",
            parameters=[INCLUDE_EVENTS],
            responses={"200": answer("Scores, best first.", ref("Prediction")), **errors(400, 401, 404, 503)})},
    }


def model_and_server_paths() -> Spec:
    parse_body = obj({"text": text(1, pattern=r"\S", description="The message to parse.")}, required=("text",))
    return {
        "/model/parse": {"post": operation(
            "parseMessage", "Intent, entities and sentiment of a text", tags=["model"], security=TOKEN_SECURITY,
            body=json_body(parse_body), responses={"200": answer("The parse result.", ref("ParseResult")),
                                                   **errors(400, 401, 413, 429, 503)})},
        "/status": {"get": operation(
            "getStatus", "The loaded model and the thresholds in use", tags=["server"], security=TOKEN_SECURITY,
            responses={"200": answer("Status.", ref("Status")), **errors(401)})},
        "/version": {"get": operation(
            "getVersion", "Switchboard's version and the Rasa protocol it speaks", tags=["server"],
            security=TOKEN_SECURITY, responses={"200": answer("Versions.", ref("Version")), **errors(401)})},
        "/domain": {"get": operation(
            "getDomain", "The bot's domain (intents, entities, slots, responses, actions, forms)", tags=["server"],
            security=TOKEN_SECURITY, responses={"200": answer("The domain as Rasa's JSON.", {"type": "object"}),
                                                **errors(401)})},
        "/health": {"get": operation(
            "getHealth", "Whether this worker can answer", tags=["server"], security=OPEN,
            description="Open (no token): for load balancers and orchestrators.",
            responses={
                "200": answer("The models are loaded and every store answers.", ref("Health")),
                "503": answer("Loading, or a store is down (`down` names it).", ref("Health"),
                              headers={"Retry-After": {"schema": {"type": "integer"}}}),
            })},
    }


def knowledge_paths() -> Spec:
    entry_id = path_param("entry_id", "The entry's id.", ENTRY_ID)
    entry = obj({"entry": ref("KnowledgeEntry")}, required=("entry",))
    change = {"seq": {"type": "integer", "description": "The change's position in the knowledge change log."},
              "entries": {"type": "integer", "description": "How many entries the index holds now."}}
    return {
        "/knowledge/entries": {"post": operation(
            "addKnowledgeEntry", "Teach the running bot a question and its answer", tags=["knowledge"],
            description="Stored in SQL, then indexed: the next message can already use it. An entry with an "
                        "existing id replaces it.",
            security=TOKEN_SECURITY, body=json_body(ref("KnowledgeEntryInput")),
            responses={"201": answer("Added.", obj({"entry": ref("KnowledgeEntry"), **change},
                                                   required=("entry", "seq", "entries"))),
                       **errors(400, 401, 413, 503)})},
        "/knowledge/entries/{entry_id}": {
            "get": operation("getKnowledgeEntry", "One knowledge entry", tags=["knowledge"], security=TOKEN_SECURITY,
                             parameters=[entry_id],
                             responses={"200": answer("The entry.", entry), **errors(401, 404, 503)}),
            "delete": operation(
                "deleteKnowledgeEntry", "Forget a knowledge entry", tags=["knowledge"], security=TOKEN_SECURITY,
                parameters=[entry_id],
                responses={"200": answer("Removed.", obj({"deleted": {"type": "string"}, **change},
                                                         required=("deleted", "seq", "entries"))),
                           **errors(401, 404, 503)}),
        },
    }
