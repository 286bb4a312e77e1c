"""bot/dialogue/forms.py: a form as Rasa's FormAction runs it."""

from __future__ import annotations

import asyncio
from typing import Any, Sequence

from bot.dialogue.conversation import conversation
from bot.dialogue.forms import FormAction
from bot.dialogue.slots import FormSpec
from tests.unit.dialogue.policy_helpers import FEATURIZER, START, a, loop, rejected, slot, u

FORM = FormSpec("return_form", ("order_number", "reason"), ())
RESPONSES = {"utter_ask_order_number", "utter_ask_return_form_reason"}


class Recorder:
    """The actions a form runs (its asks, its validator), answered as a test wants."""

    def __init__(self, validator: list[dict[str, Any]] | None = None) -> None:
        self.ran: list[tuple[str, list[dict[str, Any]]]] = []
        self.validator = validator

    def known(self, name: str) -> bool:
        return name in RESPONSES or (name == "validate_return_form" and self.validator is not None)

    async def run(self, name: str, extra: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        self.ran.append((name, list(extra)))
        if name == "validate_return_form":
            return list(self.validator or []), []
        return [], [{"text": name}]


def run(events: list[dict[str, Any]], slots: dict[str, Any], recorder: Recorder):  # type: ignore[no-untyped-def]
    form = FormAction(FORM, known=recorder.known, run=recorder.run)
    return asyncio.run(form.run(conversation(events, FEATURIZER), slots))


def test_activation_asks_the_first_empty_slot() -> None:
    rec = Recorder()
    out = run(START + [u("return_item")], {}, rec)
    assert out.events[0] == {"event": "active_loop", "name": "return_form"}
    assert slot("requested_slot", "order_number") in out.events
    assert out.messages == [{"text": "utter_ask_order_number"}] and out.asked == "order_number"


def test_prefilled_slots_are_skipped_and_the_form_specific_ask_wins() -> None:
    out = run(START + [u("return_item")], {"order_number": "NW-10001"}, Recorder())
    assert out.asked == "reason" and out.messages == [{"text": "utter_ask_return_form_reason"}]


def test_an_answer_that_fills_the_slot_moves_on_and_the_last_closes_the_form() -> None:
    asked = START + [u("return_item"), a("return_form"), loop("return_form"), slot("requested_slot", "order_number"),
                     a("action_listen")]
    out = run(asked + [u("inform"), slot("order_number", "NW-10001")],
              {"order_number": "NW-10001", "requested_slot": "order_number"}, Recorder())
    assert out.asked == "reason" and not out.rejected
    done = run(asked + [u("inform"), slot("order_number", "NW-1"), slot("reason", "broken")],
               {"order_number": "NW-1", "reason": "broken", "requested_slot": "order_number"}, Recorder())
    assert done.events[-2:] == [slot("requested_slot", None), {"event": "active_loop", "name": None}]
    assert done.messages == []


def test_an_answer_that_fills_nothing_is_rejected() -> None:
    asked = START + [u("return_item"), a("return_form"), loop("return_form"), a("action_listen")]
    out = run(asked + [u("chitchat")], {"requested_slot": "order_number"}, Recorder())
    assert out.rejected and out.events == [] and out.messages == []


def test_the_validator_sees_the_candidates_and_can_reset_a_slot() -> None:
    rec = Recorder(validator=[slot("order_number", None)])  # validate_order_number said: not an order of ours
    asked = START + [u("return_item"), a("return_form"), loop("return_form"), a("action_listen")]
    out = run(asked + [u("inform"), slot("order_number", "NW-99999")],
              {"order_number": "NW-99999", "requested_slot": "order_number"}, rec)
    name, extra = rec.ran[0]
    assert name == "validate_return_form" and slot("order_number", "NW-99999") in extra
    assert not out.rejected and out.asked == "order_number"  # asked again


def test_coming_back_after_an_interruption_skips_validation() -> None:
    rec = Recorder(validator=[])
    events = START + [u("return_item"), a("return_form"), loop("return_form"), a("action_listen"), u("chitchat"),
                      {"event": "action_execution_rejected", "name": "return_form"}, a("utter_chitchat"),
                      {"event": "loop_interrupted", "is_interrupted": True}]
    out = run(events, {"requested_slot": "order_number"}, rec)
    assert [name for name, _ in rec.ran] == ["utter_ask_order_number"] and not out.rejected


def test_a_validator_that_rejects_the_answer_itself_gets_no_question_asked() -> None:
    """As Rasa's FormAction.do: after the validator's own ActionExecutionRejected (sent with
    LoopInterrupted to hand the message to the rules, as financial-demo's CustomFormValidationAction
    is written to) the form asks nothing, so that the rules and stories answer; the loop stays."""
    interrupted = {"event": "loop_interrupted", "is_interrupted": True}
    rec = Recorder(validator=[interrupted, rejected("return_form")])
    asked = START + [u("return_item"), a("return_form"), loop("return_form"), slot("requested_slot", "order_number"),
                     a("action_listen")]
    out = run(asked + [u("chitchat")], {"requested_slot": "order_number"}, rec)
    assert [name for name, _ in rec.ran] == ["validate_return_form"]
    assert out.events == [interrupted, rejected("return_form")] and out.messages == [] and out.asked is None
    assert not out.rejected  # the validator's rejection is in the events, as Rasa keeps it
