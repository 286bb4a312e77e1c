"""The events the tracker API takes (POST and PUT /conversations/{id}/tracker/events), one schema
per type, as bot/events.py validates them: Rasa's JSON, and Switchboard's `handoff`."""

from __future__ import annotations

from bot.server.openapi.common import Spec, obj, text

# fields any event may carry, with the types bot/events.py accepts
COMMON: Spec = {
    "timestamp": {"type": ["number", "null"], "description": "Unix time; now when left out."},
    "metadata": {"type": ["object", "null"]},
    "text": {"type": ["string", "null"]},
    "parse_data": {"type": ["object", "null"]},
    "data": {"type": ["object", "null"]},
    "input_channel": {"type": ["string", "null"]},
    "message_id": {"type": ["string", "null"]},
    "policy": {"type": ["string", "null"]},
    "confidence": {"type": ["number", "null"]},
}
NAME = text(1)
ENTITIES = {"anyOf": [{"type": "object"}, {"type": "array", "items": {"type": "object"}}]}

# event type -> (its own fields, the required ones, what it does)
TYPES: dict[str, tuple[Spec, tuple[str, ...], str]] = {
    "user": ({}, (), "A customer message; `parse_data` as POST /model/parse answers."),
    "bot": ({}, (), "A bot message; `data` holds buttons, image, attachment, custom."),
    "agent": ({}, (), "A message from a person (the agent console)."),
    "slot": ({"name": NAME, "value": {}}, ("name",), "Sets a slot."),
    "action": ({"name": NAME}, ("name",), "An action ran."),
    "action_execution_rejected": ({"name": NAME}, ("name",), "An action refused to run."),
    "followup": ({"name": NAME}, ("name",), "The action to run next."),
    "pause": ({}, (), "A person takes over: the bot stays silent (a handoff with trigger `paused`)."),
    "resume": ({}, (), "The bot answers again."),
    "handoff": ({"status": {"type": "string", "enum": ["bot", "pending", "agent", "closed"]},
                 "trigger": {"type": "string"}, "agent": {"type": "string"}}, ("status",),
                "Switchboard's: who has the conversation."),
    "restart": ({}, (), "Forget the conversation so far."),
    "session_started": ({}, (), "A new session starts."),
    "session_ended": ({}, (), "The session ended."),
    "active_loop": ({"name": {"type": ["string", "null"]}}, (), "A form starts (its name) or stops (null)."),
    "loop_interrupted": ({"is_interrupted": {"type": "boolean"}}, (), "The active form was interrupted."),
    "reset_slots": ({}, (), "Every slot back to its initial value."),
    "user_featurization": ({"use_text_for_featurization": {"type": "boolean"}}, (), "Kept for Rasa's sake."),
    "entities": ({"entities": {"type": "array", "items": {"type": "object"}}}, (), "Entities added to the "
                                                                                    "last user message."),
    "rewind": ({}, (), "Takes back the last user message."),
    "undo": ({}, (), "Takes back the last action."),
    "reminder": ({"intent": {"type": "string"}, "entities": ENTITIES,
                  "date_time": {"type": "string", "format": "date-time"}, "name": {"type": "string"},
                  "kill_on_user_msg": {"type": "boolean"}}, (), "Triggers `intent` at `date_time`."),
    "cancel_reminder": ({"name": {"type": "string"}, "intent": {"type": "string"}, "entities": ENTITIES}, (),
                        "Cancels the reminders matching it."),
    "export": ({}, (), "Kept for Rasa's sake."),
}


def _event(kind: str) -> Spec:
    own, required, description = TYPES[kind]
    return obj({"event": {"type": "string", "const": kind}, **COMMON, **own}, required=("event", *required),
               description=description)


def _name(kind: str) -> str:
    return "Event_" + kind


EVENT_SCHEMAS: Spec = {
    _name(kind): _event(kind) for kind in TYPES
} | {
    "Event": {
        "oneOf": [{"$ref": f"#/components/schemas/{_name(kind)}"} for kind in TYPES],
        "discriminator": {"propertyName": "event",
                          "mapping": {kind: f"#/components/schemas/{_name(kind)}" for kind in TYPES}},
        "description": "One conversation event, as Rasa writes it.",
    },
}
