"""Rasa's `action_two_stage_fallback`: a loop that a project starts with a rule on `nlu_fallback`
(`- intent: nlu_fallback`, `- action: action_two_stage_fallback`, `- active_loop:
action_two_stage_fallback`). It asks the customer to affirm the intent NLU thought most likely
("Did you mean 'X'?", buttons Yes -> `/X`, No -> `/out_of_scope`, through
`action_default_ask_affirmation`); on No it asks them to rephrase (`action_default_ask_rephrase`,
`utter_ask_rephrase`) and asks to affirm again if the rephrasing is still unclear. As in Rasa:
- a reply whose intent is neither `nlu_fallback` nor `out_of_scope` clarifies the message: the
  loop ends and the policies answer that reply as if it had been the first message (its intent's
  confidence set to 1);
- two unclear messages in a row, or a second No, give up: the fallback action answers
  (`action_default_fallback`, `utter_default`, or the project's own one).
The project may replace either asking action with its own custom action of the same name.

Where Switchboard differs: Rasa keeps the loop's turns in the tracker and leaves them out of what
the policies see; here the loop's own messages are taken back with `rewind` events (so the
policies, the stored state and `switchboard test` all read the clarified message in the first
one's place; the transcript keeps everything). When NLU ranks no intent of the domain, nothing is
offered to affirm and the customer is asked to rephrase at once (Rasa would offer 'nlu_fallback')."""

from __future__ import annotations

import copy
import time
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from bot.dialogue.conversation import session_events
from bot.dialogue.slots import REQUESTED_SLOT
from bot.dialogue.states import ACTION_LISTEN
from bot.dialogue.story import Event
from bot.domain import DEFAULT_RESPONSE, FALLBACK_INTENT, OUT_OF_SCOPE

if TYPE_CHECKING:
    from bot.dialogue.executor import Context, Executor, Outcome

NAME = "action_two_stage_fallback"
ASK_AFFIRMATION = "action_default_ask_affirmation"
ASK_REPHRASE = "action_default_ask_rephrase"
REPHRASE_RESPONSE = "utter_ask_rephrase"
REPHRASE_TEXT = "I'm sorry, I didn't quite understand that. Could you rephrase?"  # Rasa's default


def _intent(event: Event) -> str | None:
    return ((event.get("parse_data") or {}).get("intent") or {}).get("name")


def intent_to_affirm(user: Event, intents: set[str]) -> str | None:
    """The intent NLU ranked highest for `user` among the domain's own ones (not nlu_fallback)."""
    ranking = (user.get("parse_data") or {}).get("intent_ranking") or []
    for entry in ranking:
        name = entry.get("name") if isinstance(entry, dict) else None
        if name in intents and name not in (FALLBACK_INTENT, OUT_OF_SCOPE):
            return str(name)
    return None


def affirmation(intent: str) -> dict[str, Any]:
    return {"text": f"Did you mean '{intent}'?",
            "buttons": [{"title": "Yes", "payload": f"/{intent}"}, {"title": "No", "payload": f"/{OUT_OF_SCOPE}"}]}


class TwoStageFallback:
    """One run of the loop, for the executor (bot/dialogue/executor.py)."""

    def __init__(self, executor: "Executor", custom: Callable[[str, "Context"], Awaitable["Outcome"]]) -> None:
        self.executor, self.custom = executor, custom

    async def run(self, ctx: "Context") -> "Outcome":
        from bot.dialogue.executor import Outcome

        applied = session_events(ctx.events)
        users = [e for e in applied if e.get("event") == "user"]
        if not users:
            return Outcome()
        if ctx.conversation.active_loop != NAME:  # activation, on the unclear message
            asked = await self._ask(ctx, users[-1], affirm=True)
            return Outcome([{"event": "active_loop", "timestamp": time.time(), "name": NAME}, *asked.events],
                           asked.messages, error=asked.error)
        start = max((i for i, e in enumerate(applied) if e.get("event") == "active_loop" and e.get("name") == NAME),
                    default=0)  # its activation older than the loaded window: every message loaded is the loop's
        replies = [e for e in applied[start:] if e.get("event") == "user"]
        taken_back = [{"event": "rewind", "timestamp": time.time()} for _ in range(len(replies) + 1)]
        closed = [{"event": "active_loop", "timestamp": time.time(), "name": None}, _slot_unset()]
        intents = [_intent(u) for u in users]
        if intents[-1] not in (FALLBACK_INTENT, OUT_OF_SCOPE):  # clarified: answered as the first message
            clarified = copy.deepcopy(replies[-1])
            clarified["parse_data"].setdefault("intent", {})["confidence"] = 1.0
            clarified["timestamp"] = time.time()
            clarified.pop("message_id", None)
            listen = {"event": "action", "timestamp": time.time(), "name": ACTION_LISTEN, "policy": NAME,
                      "confidence": 1.0}
            return Outcome([*taken_back, *closed, listen, clarified])
        if intents[-2:] == [FALLBACK_INTENT] * 2 or intents[-3:] == [OUT_OF_SCOPE, FALLBACK_INTENT, OUT_OF_SCOPE]:
            return await self._give_up(ctx, [*closed, *taken_back])  # ends with a rewind: the bot listens
        asked = await self._ask(ctx, replies[-1], affirm=intents[-1] == FALLBACK_INTENT)
        return asked

    async def ask(self, ctx: "Context", affirm: bool) -> "Outcome":
        """action_default_ask_affirmation / action_default_ask_rephrase run on their own (a rule's)."""
        from bot.dialogue.executor import Outcome

        users = [e for e in session_events(ctx.events) if e.get("event") == "user"]
        return await self._ask(ctx, users[-1], affirm=affirm) if users else Outcome()

    async def _ask(self, ctx: "Context", user: Event, *, affirm: bool) -> "Outcome":
        from bot.dialogue.executor import Outcome

        domain = self.executor.domain
        intent = intent_to_affirm(user, set(domain.intents)) if affirm else None
        name = ASK_AFFIRMATION if intent is not None else ASK_REPHRASE
        if name in domain.actions:  # the project's own
            return await self.custom(name, ctx)
        if intent is not None:
            return Outcome(messages=[affirmation(intent)])
        if REPHRASE_RESPONSE in domain.responses:
            return Outcome(messages=self.executor.render(REPHRASE_RESPONSE, self.executor.slots(ctx),
                                                         ctx.input_channel))
        return Outcome(messages=[{"text": REPHRASE_TEXT}])

    async def _give_up(self, ctx: "Context", events: list[Event]) -> "Outcome":
        from bot.dialogue.executor import Outcome

        fallback = self.executor.fallback_action
        if fallback != "action_default_fallback" or fallback in self.executor.domain.actions:
            done = await self.custom(fallback, ctx)
            return Outcome([*events, *done.events], done.messages, error=done.error)
        said = (self.executor.render(DEFAULT_RESPONSE, self.executor.slots(ctx), ctx.input_channel)
                if DEFAULT_RESPONSE in self.executor.domain.responses else [])
        return Outcome(events, said)


def _slot_unset() -> Event:
    return {"event": "slot", "timestamp": time.time(), "name": REQUESTED_SLOT, "value": None}
