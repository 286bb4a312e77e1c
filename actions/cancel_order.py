"""Cancelling an order, with the conversation's context: "can I cancel it?" after an order status
acts on that order (the `order_number` slot), and the order is cancelled only after a "yes".

`action_cancel_order` looks the order up and, when it has not shipped yet, asks for a
confirmation (slot `cancel_offered`); `action_confirm_cancel` cancels it after that "yes"."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.order_status import STATUS_TEXT, normalise
from actions.orders_db import cancel_order, find_order

YES_NO = [{"title": "Yes, cancel it", "payload": "/affirm"}, {"title": "No, keep it", "payload": "/deny"}]


class ActionCancelOrder(Action):
    def name(self) -> str:
        return "action_cancel_order"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        text = (tracker.latest_message or {}).get("text")
        number = normalise(text) or normalise(tracker.get_slot("order_number"))
        if number is None:
            dispatcher.utter_message(response="utter_cancel_order")
            return [SlotSet("cancel_offered", False)]
        order = await find_order(number)
        events: list[dict[str, Any]] = [SlotSet("order_number", number), SlotSet("cancel_offered", False)]
        if order is None:
            dispatcher.utter_message(text=f"I couldn't find order {number}. Please check the number in your "
                                          "confirmation e-mail.")
        elif order["status"] == "processing":
            dispatcher.utter_message(text=f"Order {number} hasn't shipped yet, so it can still be cancelled. "
                                          "Shall I cancel it?", buttons=YES_NO)
            events[1] = SlotSet("cancel_offered", True)
        elif order["status"] == "cancelled":
            dispatcher.utter_message(text=f"Order {number} is already cancelled; there's nothing more to do.")
        else:
            state = STATUS_TEXT.get(order["status"], order["status"])
            dispatcher.utter_message(text=f"Order {number} {state}, so it can't be cancelled any more. Once it "
                                          "has arrived you can send it back: just say \"start a return\".")
        return events


class ActionConfirmCancel(Action):
    def name(self) -> str:
        return "action_confirm_cancel"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        number = tracker.get_slot("order_number")
        if not tracker.get_slot("cancel_offered") or not number:
            dispatcher.utter_message(response="utter_affirm")
            return []
        if await cancel_order(str(number)):
            dispatcher.utter_message(text=f"Order {number} is cancelled. If you paid already, the money is back on "
                                          "your account within 5 business days.")
        else:
            dispatcher.utter_message(text=f"Sorry, order {number} has just left our warehouse, so it can't be "
                                          "cancelled any more. You can return it once it arrives.")
        return [SlotSet("cancel_offered", False)]
