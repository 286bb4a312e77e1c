"""action_order_status: asks for the order number, looks the order up, tells its state."""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.orders_db import find_order

ORDER_NUMBER = re.compile(r"\bNW-?(\d{5})\b", re.IGNORECASE)
STOP_INTENTS = {"deny", "goodbye", "ask_human"}

STATUS_TEXT = {
    "processing": "is being prepared in our warehouse and will ship soon",
    "shipped": "has shipped",
    "out_for_delivery": "is out for delivery today",
    "delivered": "has been delivered",
    "cancelled": "was cancelled",
    "returned": "was returned to us",
}


def normalise(text: str | None) -> str | None:
    match = ORDER_NUMBER.search(text or "")
    return f"NW-{match.group(1)}" if match else None


class ActionOrderStatus(Action):
    def name(self) -> str:
        return "action_order_status"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        message = tracker.latest_message or {}
        intent = (message.get("intent") or {}).get("name")
        in_loop = tracker.active_loop_name == self.name()
        if in_loop and intent in STOP_INTENTS:
            dispatcher.utter_message(text="No problem, I've stopped looking up your order.")
            return [ActiveLoop(None), SlotSet("requested_slot", None)]

        number = normalise(message.get("text")) or normalise(tracker.get_slot("order_number"))
        if number is None:
            if in_loop:  # asked once already and the answer held no order number: stop asking
                dispatcher.utter_message(
                    text="I couldn't find an order number in that. Order numbers look like NW-12345; "
                    "you'll find yours in the confirmation e-mail."
                )
                return [ActiveLoop(None), SlotSet("requested_slot", None)]
            dispatcher.utter_message(response="utter_ask_order_number")
            return [ActiveLoop(self.name()), SlotSet("requested_slot", "order_number")]

        order = await find_order(number)
        events: list[dict[str, Any]] = [SlotSet("order_number", number), SlotSet("requested_slot", None)]
        if in_loop:
            events.insert(0, ActiveLoop(None))
        if order is None:
            dispatcher.utter_message(
                text=f"I couldn't find order {number}. Please check the number in your confirmation e-mail."
            )
            return events
        text = f"Order {number} {STATUS_TEXT.get(order['status'], order['status'])}."
        if order.get("carrier") and order.get("tracking_code"):
            text += f" Carrier: {order['carrier']}, tracking code {order['tracking_code']}."
        if order.get("eta"):
            text += f" Expected delivery: {order['eta']}."
        dispatcher.utter_message(text=text)
        return events
