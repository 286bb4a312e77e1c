"""A form, run as Rasa's FormAction runs it.

The slots were already filled from the message (action_extract_slots, bot/dialogue/slots.py);
the form decides what they mean for it:
- activation: `active_loop` is set and the required slots already known are validated;
- after the customer answered: the required slots filled since their message are validated
  (by the project's `validate_<form>` action when the domain lists one, as rasa-sdk's
  FormValidationAction); nothing filled and nothing validated while a slot was requested is a
  rejection, so that the rules and stories can handle the message (an interruption);
- then the next empty required slot is asked for (`requested_slot`, and the first of
  `action_ask_<form>_<slot>`, `utter_ask_<form>_<slot>`, `action_ask_<slot>`, `utter_ask_<slot>`),
  or, when none is left (or validation ended the form), the loop is closed; when the validator
  rejected the customer's answer itself (an `action_execution_rejected` among its events), nothing
  is asked and the loop stays, so that the rules and stories answer instead.
Coming back after an interruption (`loop_interrupted`) skips validation, as Rasa does."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Mapping, Sequence

from bot.dialogue.slots import REQUESTED_SLOT, FormSpec
from bot.dialogue.states import ACTION_LISTEN
from bot.dialogue.story import Event
from bot.policies.base import Conversation

# runs an action (custom or response) with extra events applied first: (events, bot messages)
RunAction = Callable[[str, Sequence[Event]], Awaitable[tuple[list[Event], list[dict[str, Any]]]]]


@dataclass
class FormOutcome:
    events: list[Event] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    rejected: bool = False
    asked: str | None = None  # the slot asked for next


def _slot(name: str, value: Any) -> Event:
    return {"event": "slot", "name": name, "value": value}


def since_last_user(events: Sequence[Event]) -> list[Event]:
    for i in range(len(events) - 1, -1, -1):
        if events[i].get("event") == "user":
            return list(events[i + 1:])
    return []


def _requested_cleared(events: Sequence[Event]) -> bool:
    last = next((e for e in reversed(events) if e.get("event") == "slot" and e.get("name") == REQUESTED_SLOT), None)
    return last is not None and last.get("value") is None


def ask_action(form: str, slot: str, known: Callable[[str], bool]) -> str | None:
    for name in (f"action_ask_{form}_{slot}", f"utter_ask_{form}_{slot}", f"action_ask_{slot}", f"utter_ask_{slot}"):
        if known(name):
            return name
    return None


class FormAction:
    def __init__(self, spec: FormSpec, *, known: Callable[[str], bool], run: RunAction) -> None:
        self.spec, self.known, self.run_action = spec, known, run
        self.validator = f"validate_{spec.name}" if known(f"validate_{spec.name}") else None

    @property
    def name(self) -> str:
        return self.spec.name

    async def _validate(self, candidates: dict[str, Any], so_far: list[Event]) -> tuple[list[Event], list[dict[str, Any]]]:
        if self.validator is None:
            return [], []  # the extracted values stand (their slot events are already in the conversation)
        extra = so_far + [_slot(k, v) for k, v in candidates.items()]
        return await self.run_action(self.validator, extra)

    async def run(self, conversation: Conversation, slots: Mapping[str, Any]) -> FormOutcome:
        out = FormOutcome()
        values = dict(slots)
        manual = False  # the validator rejected the answer itself (ActionExecutionRejected)
        if conversation.active_loop != self.name:  # activation
            out.events.append({"event": "active_loop", "name": self.name})
            prefilled = {s: values[s] for s in self.spec.required_slots if values.get(s) is not None}
            events, messages = await self._validate(prefilled, out.events)
            out.events += events
            out.messages += messages
        elif conversation.latest_action == ACTION_LISTEN and not conversation.loop_interrupted:
            candidates: dict[str, Any] = {}
            for event in since_last_user(conversation.events):
                if event.get("event") == "slot" and event["name"] in self.spec.required_slots:
                    candidates[event["name"]] = event.get("value")
            events, messages = await self._validate(candidates, out.events)
            validated = any(e.get("event") == "slot" and e.get("name") != REQUESTED_SLOT for e in events)
            manual = any(e.get("event") == "action_execution_rejected" for e in events)
            if values.get(REQUESTED_SLOT) and not candidates and not validated and not manual:
                return FormOutcome(rejected=True)
            out.events += events
            out.messages += messages
        for event in out.events:
            if event.get("event") == "slot":
                values[event["name"]] = event.get("value")
        if not self._done(out.events) and not manual:  # as Rasa's FormAction.do: no question after a rejection
            await self._request_next(out, values)
        if self._done(out.events):
            if not any(e.get("event") == "active_loop" and e.get("name") is None for e in out.events):
                out.events.append({"event": "active_loop", "name": None})
            if not _requested_cleared(out.events):
                out.events.append(_slot(REQUESTED_SLOT, None))
        return out

    @staticmethod
    def _done(events: Sequence[Event]) -> bool:
        if any(e.get("event") == "action_execution_rejected" for e in events):
            return False
        last_requested = next((e for e in reversed(events) if e.get("event") == "slot"
                               and e.get("name") == REQUESTED_SLOT), None)
        last_loop = next((e for e in reversed(events) if e.get("event") == "active_loop"), None)
        return (last_requested is not None and last_requested.get("value") is None) or (
            last_loop is not None and last_loop.get("name") is None)

    async def _request_next(self, out: FormOutcome, values: dict[str, Any]) -> None:
        chosen = next((e.get("value") for e in out.events if e.get("event") == "slot"
                       and e.get("name") == REQUESTED_SLOT), None)  # a validator may pick the next slot
        if not chosen:
            chosen = next((s for s in self.spec.required_slots if values.get(s) is None), None)
            out.events.append(_slot(REQUESTED_SLOT, chosen))
        if not chosen:
            return
        out.asked = chosen
        name = ask_action(self.name, chosen, self.known)
        if name is not None:
            events, messages = await self.run_action(name, out.events)
            out.events += events
            out.messages += messages
