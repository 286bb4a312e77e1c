"""Rasa's action loop for one user message: predict the next action, run it, apply its events,
predict again, until the bot listens (at most `max_predictions` actions).

Precedence (README, "How a message is answered"): handoff triggers first (in the engine); then,
on the user's message, the knowledge routes get their say before any action runs: a past support
log answers when no dialogue policy has a real answer (they predict the default fallback, or NLU
says nlu_fallback) and its score clears the calibrated threshold, or when it matches the message
much better than the predicted intent's own examples; a question nothing answers goes to the
generator, then to the fallback (after a bot action the dialogue model turns the core fallback
into listening: bot/dialogue/model.py). A loop's happy path (a form waiting for its answer) is never
overruled: the form runs first, and only if it rejects the message do the routes get their say;
after a routed answer, the form asks for its slot again instead of being dropped."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot import events as ev
from bot.dialogue.conversation import conversation as _conversation, window_prefix
from bot.dialogue.executor import Context
from bot.dialogue.forms import ask_action
from bot.dialogue.slots import REQUESTED_SLOT, extract_slots
from bot.dialogue.states import ACTION_LISTEN
from bot.domain import DEFAULT_RESPONSE, FALLBACK_INTENT, Domain
from bot.nlu.base import Prediction
from bot.policies.base import Conversation, Decision, PolicyPrediction
from bot.tracker import State, Tracker

if TYPE_CHECKING:
    from bot.engine import Engine, UserMessage

log = logging.getLogger(__name__)
SESSION_START = "action_session_start"  # e.g. the followup of a project's own action_restart


def extract(domain: Domain, before: State, user: dict[str, Any], conv: Conversation) -> list[dict[str, Any]]:
    """Rasa's action_extract_slots after a user message: the slot events its mappings give."""
    fills = extract_slots(domain.slots, before, user, forms=domain.forms, loop_rejected=conv.loop_rejected,
                          domain_entities=domain.entities, domain_intents=domain.intents)
    return [fill.event for fill in fills]


def turn_events(domain: Domain, tracker: Tracker, new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the policies read: the stored window (with what it no longer shows put back) and this turn."""
    window = tracker.recent_events
    prefix = window_prefix(tracker.state.slots, tracker.state.active_loop, window, domain.initial_slots)
    return [*prefix, *window, *new]


def route_of(prediction: PolicyPrediction, is_fallback: bool) -> str:
    if is_fallback:
        return "fallback"
    if prediction.no_user:
        return "loop"
    return {"RulePolicy": "rules", "followup": "rules"}.get(prediction.policy, "stories")


@dataclass
class Turn:
    engine: "Engine"
    message: "UserMessage"
    tracker: Tracker
    prediction: Prediction
    new: list[dict[str, Any]]
    nlu_ms: float
    replies: list[dict[str, Any]] = field(default_factory=list)
    reason: dict[str, Any] | None = None
    decision: Decision | None = None
    policy_ms: float = 0.0

    def _events(self) -> list[dict[str, Any]]:
        return turn_events(self.engine.domain, self.tracker, self.new)

    def _context(self, conv: Conversation) -> Context:
        return Context(self.tracker.conversation_id, self.tracker.state, self.tracker.recent_events, self.new, conv,
                       self.message.input_channel)

    async def run(self) -> tuple[list[dict[str, Any]], dict[str, Any], Decision | None]:
        e = self.engine
        acted = False
        for _ in range(e.dialogue.max_predictions):
            t0 = time.perf_counter()
            best, _, conv = await asyncio.to_thread(e.dialogue.predict, self._events())
            if conv.followup:  # a FollowupAction from the last action runs without a prediction
                best = PolicyPrediction("followup", 10, conv.followup, 1.0, source="FollowupAction")
            self.policy_ms += (time.perf_counter() - t0) * 1000
            action = best.action or ACTION_LISTEN
            fallback = e.dialogue.is_fallback(best.action)
            if not acted and not best.no_user:
                routed = await self._knowledge(best, conv, fallback)
                if routed:
                    break
            if action == ACTION_LISTEN:
                self.new.append(ev.action(ACTION_LISTEN, policy=best.policy, confidence=best.confidence))
                break
            recorded = ev.action(action, policy=best.policy, confidence=best.confidence)  # before its events
            outcome = await e.executor.run(action, self._context(conv))
            if outcome.rejected:
                self.new.append({"event": "action_execution_rejected", "timestamp": time.time(), "name": action,
                                 "policy": best.policy, "confidence": best.confidence})
                continue
            reason = self._action_reason(best, action, fallback, outcome.ms)
            self.new += [dict(event) for event in best.events]
            self.new.append(recorded)
            self.replies += e._say(outcome.messages, self.new, reason)
            self.new += outcome.events
            acted = True
            if outcome.error:
                reason.update(route="fallback", action_error={"action": action, "error": outcome.error,
                                                              "rejected": False}, escalate="action_failed")
                self.replies += e._say(e.domain.render(DEFAULT_RESPONSE, e.slots(self.tracker, self.new),
                                                      channel=self.message.input_channel),
                                       self.new, reason)
                break
            if action == SESSION_START:  # as Rasa's should_predict_another_action: a new session waits for the user
                break
        else:
            log.error("conversation %s: %d actions after one message without listening; stopped (a loop in the "
                      "rules or stories?)", self.tracker.conversation_id, e.dialogue.max_predictions)
            self._turn_reason(Decision("fallback")).update(loop_limit=e.dialogue.max_predictions)
        return self.replies, self._turn_reason(Decision("listen")), self.decision

    def _turn_reason(self, decision: Decision) -> dict[str, Any]:
        if self.reason is None:
            self.decision = self.decision or decision
            self.reason = self.engine._reason(self.prediction, decision, self.nlu_ms, self.policy_ms)
        return self.reason

    def _action_reason(self, best: PolicyPrediction, action: str, fallback: bool, ms: float) -> dict[str, Any]:
        decision = Decision(route_of(best, fallback), (action,))
        turn = self._turn_reason(decision)
        turn["timings_ms"][action] = ms
        if turn.get("action") is None:
            turn.update(self._policy_details(best, action))
            return turn
        return {**turn, **self._policy_details(best, action), "route": decision.route}

    @staticmethod
    def _policy_details(best: PolicyPrediction, action: str) -> dict[str, Any]:
        return {"action": action, "policy": best.policy, "policy_confidence": round(best.confidence, 4),
                "runner_up": {"action": best.runner_up[0], "confidence": round(best.runner_up[1], 4)}
                if best.runner_up else None, "source": best.source}

    async def _knowledge(self, best: PolicyPrediction, conv: Conversation, fallback: bool) -> bool:
        """Let the support logs (and the generator) answer; True when they took the turn."""
        e = self.engine
        intent_answers = not fallback and self.prediction.intent != FALLBACK_INTENT
        t0 = time.perf_counter()
        decision = await asyncio.to_thread(e.decide, self.tracker, self.prediction, intent_answers=intent_answers)
        self.policy_ms += (time.perf_counter() - t0) * 1000
        if decision is None:
            return False
        generation_ms = None
        if decision.unanswered and e.generation is not None:
            t1 = time.perf_counter()
            decision = await e.generation.answer(self.tracker, self.prediction, decision)
            generation_ms = round((time.perf_counter() - t1) * 1000, 2)
        reason = e._reason(self.prediction, decision, self.nlu_ms, self.policy_ms)
        if generation_ms is not None:
            reason["timings_ms"]["generation"] = generation_ms
        self.reason, self.decision = reason, decision
        form = conv.active_loop if conv.active_loop in e.domain.forms else None
        # the project's own core fallback action, or its own rule for nlu_fallback (the two-stage
        # fallback), answers what the knowledge routes cannot
        own = best.action not in (None, ACTION_LISTEN, "action_default_fallback") and (
            fallback or self.prediction.intent == FALLBACK_INTENT)
        if decision.answer is None and form is None and own:
            return False
        if decision.answer is not None:
            name = "action_generate_answer" if decision.route == "generation" else "action_retrieve_answer"
            confidence = decision.hits[0].score if decision.hits else 1.0
            self.new.append(ev.action(name, policy=decision.route, confidence=confidence))
            self.replies += e._say([{"text": part} for part in _split(decision.answer)], self.new, reason)
        elif form is not None:  # nothing answers, a form waits: ask its question again
            reason.update(route="loop", reask=form)
        else:
            slots = e.slots(self.tracker, self.new)
            self.new.append(ev.action("action_default_fallback", policy=decision.route, confidence=best.confidence))
            for name in decision.actions:
                self.replies += e._say(e.domain.render(name, slots, channel=self.message.input_channel), self.new, reason)
            self.new.append({"event": "rewind", "timestamp": time.time()})  # as Rasa: the message is taken back
        if form is not None:
            await self._reask(form, conv, reason)
        return True

    async def _reask(self, form: str, conv: Conversation, reason: dict[str, Any]) -> None:
        e = self.engine
        slot = e.slots(self.tracker, self.new).get(REQUESTED_SLOT)
        name = ask_action(form, str(slot), e.domain.has_action) if slot else None
        if name is None:
            return
        recorded = ev.action(name, policy="loop", confidence=1.0)
        outcome = await e.executor.run(name, self._context(_conversation(self._events(), e.dialogue.featurizer)))
        self.new.append(recorded)
        self.replies += e._say(outcome.messages, self.new, {**reason, "action": name, "reask": form})
        self.new += outcome.events


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split("\n\n") if part.strip()] or [text]
