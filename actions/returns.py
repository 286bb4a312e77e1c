"""The return form's validation (`validate_return_form`) and its submission (`action_submit_return`).

The form asks, in order: the order number (looked up in the orders table: it must exist and be
delivered), the item, a reason from a fixed list (buttons, or typed words mapped to the list),
and a confirmation. Submission stores a row in shop_returns and answers with its number."""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.order_status import STATUS_TEXT, normalise
from actions.orders_db import create_return, find_order

BARE_NUMBER = re.compile(r"^\s*#?(\d{5})\s*$")
# the fixed list of reasons, and words that choose one when the customer types instead of tapping
REASONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "damaged": ("it arrived damaged or faulty", ("damag", "broke", "crack", "faulty", "defect", "scratch", "dent")),
    "wrong_item": ("it is not what I ordered", ("wrong", "not what i ordered", "different item", "mix")),
    "not_as_described": ("it is not as described", ("not as described", "describ", "look different", "photo",
                                                    "quality", "smaller", "bigger", "size", "colour", "color")),
    "no_longer_needed": ("I no longer need it", ("changed my mind", "no longer", "don't need", "do not need",
                                                 "don't want", "dont want", "not needed", "twice", "gift")),
    "other": ("another reason", ("other", "something else")),
}
LEADING_ARTICLE = re.compile(r"^(?:the|a|an|my|this|that|these|those)\s+", re.IGNORECASE)
FORM_SLOTS = ("return_item", "return_reason", "return_confirmed")


def order_number_of(value: Any) -> str | None:
    text = str(value or "")
    bare = BARE_NUMBER.match(text)
    return f"NW-{bare.group(1)}" if bare else normalise(text)


def reason_of(value: Any) -> str | None:
    text = str(value or "").strip().lower()
    if text in REASONS:
        return text
    for key, (_, words) in REASONS.items():
        if any(word in text for word in words):
            return key
    return None


class ValidateReturnForm(FormValidationAction):
    def name(self) -> str:
        return "validate_return_form"

    async def validate_order_number(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                    domain: dict[str, Any]) -> dict[str, Any]:
        number = order_number_of(value)
        if number is None:
            dispatcher.utter_message(text="That doesn't look like an order number: they look like NW-12345, "
                                          "and you'll find yours in the confirmation e-mail.")
            return {"order_number": None}
        order = await find_order(number)
        if order is None:
            dispatcher.utter_message(text=f"I couldn't find order {number}. Please check the number in your "
                                          "confirmation e-mail.")
            return {"order_number": None}
        if order["status"] != "delivered":
            state = STATUS_TEXT.get(order["status"], order["status"])
            dispatcher.utter_message(text=f"Order {number} {state}, so it can't be returned yet: a return "
                                          "starts once the parcel has been delivered.")
            return {"order_number": None}
        return {"order_number": number}

    async def validate_return_item(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                   domain: dict[str, Any]) -> dict[str, Any]:
        item = LEADING_ARTICLE.sub("", " ".join(str(value or "").split()))  # "the blue mug" -> "blue mug"
        if not 2 <= len(item) <= 120:
            dispatcher.utter_message(text="Please tell me which item it is in a few words, e.g. \"the blue mug\".")
            return {"return_item": None}
        return {"return_item": item}

    async def validate_return_reason(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                     domain: dict[str, Any]) -> dict[str, Any]:
        reason = reason_of(value)
        if reason is None:
            dispatcher.utter_message(text="Sorry, I didn't get the reason. Please pick the closest one:")
        return {"return_reason": reason}


class ActionSubmitReturn(Action):
    def name(self) -> str:
        return "action_submit_return"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        reset = [SlotSet(slot, None) for slot in FORM_SLOTS]
        if tracker.get_slot("return_confirmed") is not True:
            dispatcher.utter_message(response="utter_return_cancelled")
            return reset
        order, item, reason = (tracker.get_slot(s) for s in ("order_number", "return_item", "return_reason"))
        number = await create_return(str(order), str(item), str(reason))
        dispatcher.utter_message(text=f"Done! Return {number} for the {item} from order {order} is open. We'll e-mail "
                                      "you a prepaid return label within the hour; your refund follows within 5 "
                                      "business days of the parcel reaching us.")
        return [SlotSet("return_number", number), *reset]
