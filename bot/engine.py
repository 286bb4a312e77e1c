"""One turn of the conversation: lock, tracker, nlu, policy, actions, store, reply."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Sequence

from bot import events as ev
from bot.actions.base import ActionRunner
from bot.domain import DEFAULT_RESPONSE, Domain
from bot.errors import ActionError, ActionRejected
from bot.nlu.base import Classifier, Prediction
from bot.nlu.batcher import MicroBatcher
from bot.nlu.payload import parse_payload
from bot.policies.base import Decision, Policy
from bot.policies.handoff import DEFAULT_TEXT, HANDOFF_RESPONSE, HandoffTriggers, estimate_wait, take_times
from bot.storage.base import LockStore, TrackerStore
from bot.tracker import Tracker, apply, tracker_json

if TYPE_CHECKING:
    from bot.policies.generation import GenerationPolicy

log = logging.getLogger(__name__)
REPLY_KEYS = ("text", "buttons", "image", "custom", "attachment")


@dataclass(frozen=True)
class UserMessage:
    text: str
    sender_id: str
    input_channel: str = "rest"
    metadata: dict[str, Any] = field(default_factory=dict)
    message_id: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass
class TurnResult:
    replies: list[dict[str, Any]]
    events: list[dict[str, Any]]
    decision: Decision | None
    duplicate: bool = False  # the message id was already handled (a platform redelivery): nothing done


class Engine:
    def __init__(
        self,
        *,
        domain: Domain,
        classifier: Classifier,
        policies: Sequence[Policy],
        store: TrackerStore,
        locks: LockStore,
        actions: ActionRunner,
        history_window: int,
        max_batch: int = 32,
        generation: "GenerationPolicy | None" = None,
        handoff: HandoffTriggers | None = None,
    ) -> None:
        self.domain, self.classifier, self.policies = domain, classifier, list(policies)
        self.generation = generation  # async: tries questions the sync policies left unanswered
        self.handoff = handoff  # when to hand the conversation to a person
        self.store, self.locks, self.actions, self.window = store, locks, actions, history_window
        self.batcher = MicroBatcher(classifier, max_batch=max_batch)

    # -- understanding -------------------------------------------------------------------
    def predict_now(self, text: str) -> Prediction:
        """Classify one message in the calling thread (evaluation, scripts)."""
        payload = parse_payload(text, self.domain.intents)
        return payload if payload is not None else self.classifier.predict([text])[0]

    async def parse(self, text: str) -> Prediction:
        """Classify one message; concurrent turns share a forward pass (micro-batching)."""
        payload = parse_payload(text, self.domain.intents)
        return payload if payload is not None else await self.batcher.predict(text)

    def decide(self, tracker: Tracker, prediction: Prediction) -> Decision:
        """The first policy with a decision wins. Blocking (FAISS): call it off the loop."""
        for policy in self.policies:
            decision = policy.decide(tracker, prediction)
            if decision is not None:
                return decision
        return Decision("fallback", (DEFAULT_RESPONSE,))

    # -- the turn ------------------------------------------------------------------------
    async def handle(self, message: UserMessage) -> TurnResult:
        async with self.locks.lock(message.sender_id):
            started = time.perf_counter()
            tracker = await self.store.load(message.sender_id, window=self.window)
            if any(e.get("event") == "user" and e.get("message_id") == message.message_id
                   for e in tracker.recent_events):  # Slack retries, Telegram redeliveries
                log.info("message %s of conversation %s was already handled; not answered again",
                         message.message_id, message.sender_id)
                return TurnResult([], [], None, duplicate=True)
            new: list[dict[str, Any]] = []
            if tracker.state.latest_event_time is None:
                new += [ev.action("action_session_start"), ev.session_started(), ev.action("action_listen")]
            if tracker.state.paused:  # a person has (or is about to take) the conversation: store, say nothing
                prediction = await self.parse(message.text)
                new.append(self._user_event(message, prediction))
                await self.store.append(message.sender_id, new, initial_slots=self.domain.initial_slots)
                return TurnResult([], new, None)

            mark = len(new)
            try:
                replies, reason, decision = await self._respond(message, tracker, new)
            except Exception as exc:  # a bug or an outage inside the turn: answer, flag, keep the message
                log.exception("turn failed for conversation %s", message.sender_id)
                user = next((e for e in new[mark:] if e["event"] == "user"), None)
                del new[mark:]  # nothing half-done is stored: only the message and the apology
                new.append(user or ev.user(message.text, {"text": message.text, "intent": {}, "entities": []},
                                           input_channel=message.input_channel, metadata=message.metadata,
                                           message_id=message.message_id))
                reason = {"route": "fallback", "error": f"{type(exc).__name__}: {exc}", "escalate": "turn_failed",
                          "timings_ms": {}}
                replies, decision = self._say(self.domain.render(DEFAULT_RESPONSE, {}), new, reason), None
            trigger = self._handoff_trigger(tracker, reason)
            if trigger is not None:
                replies += await self._hand_over(message.sender_id, trigger, tracker, new, reason)
            new.append(ev.action("action_listen"))
            reason["timings_ms"]["turn"] = round((time.perf_counter() - started) * 1000, 2)
            await self.store.append(message.sender_id, new, initial_slots=self.domain.initial_slots)
            return TurnResult(replies, new, decision)

    async def _respond(
        self, message: UserMessage, tracker: Tracker, new: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], dict[str, Any], Decision]:
        """Understand, decide and act; the events go to `new`."""
        t0 = time.perf_counter()
        prediction = await self.parse(message.text)
        t1 = time.perf_counter()
        trigger = self.handoff.before(tracker, prediction) if self.handoff is not None else None
        if trigger is not None:  # the customer wants, or needs, a person: the bot does not try
            decision = Decision("handoff", (), details={"escalate": trigger})
        else:
            decision = await asyncio.to_thread(self.decide, tracker, prediction)
        nlu_ms, policy_ms = (t1 - t0) * 1000, (time.perf_counter() - t1) * 1000
        new.append(self._user_event(message, prediction))
        new += [ev.slot(k, v) for k, v in self.domain.slots_from_entities(list(prediction.entities)).items()]
        if decision.deactivate_loop:
            new.append({"event": "active_loop", "timestamp": time.time(), "name": None})
            decision = await asyncio.to_thread(self._after_interrupt, tracker, prediction)
        generation_ms = None
        if decision.unanswered and self.generation is not None:
            t2 = time.perf_counter()
            decision = await self.generation.answer(tracker, prediction, decision)
            generation_ms = round((time.perf_counter() - t2) * 1000, 2)
        reason = self._reason(prediction, decision, nlu_ms, policy_ms)
        if generation_ms is not None:
            reason["timings_ms"]["generation"] = generation_ms
        replies = await self._execute(tracker, decision, prediction, new, reason)
        return replies, reason, decision

    def _handoff_trigger(self, tracker: Tracker, reason: dict[str, Any]) -> str | None:
        if self.handoff is None:
            return None
        if reason.get("route") == "handoff":
            return str(reason["escalate"])
        return self.handoff.after(tracker, reason)

    async def _hand_over(
        self, conversation_id: str, trigger: str, tracker: Tracker, new: list[dict[str, Any]], reason: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Put the conversation in the agents' queue and tell the customer roughly how long it takes."""
        assert self.handoff is not None
        waiting = [(cid, state.handoff.get("since")) for cid, state in await self.store.queue()
                   if state.handoff.get("status") == "pending"]
        pickups = take_times(await self.store.recent_events_of_type("handoff", limit=200))
        ahead, minutes = estimate_wait(conversation_id, waiting, pickups, self.handoff.settings.typical_wait_minutes)
        new.append(ev.handoff("pending", trigger=trigger))
        reason["handoff"] = trigger
        reason["wait"] = {"ahead": ahead, "minutes": minutes}
        values = {**self._slots(tracker, new), "wait_minutes": minutes, "queue_position": ahead + 1,
                  "queue_text": "" if ahead == 0 else
                  f"There {'is 1 customer' if ahead == 1 else f'are {ahead} customers'} ahead of you. "}
        if HANDOFF_RESPONSE in self.domain.responses:
            messages = self.domain.render(HANDOFF_RESPONSE, values)
        else:
            messages = [{"text": DEFAULT_TEXT.format(**values)}]
        return self._say(messages, new, reason)

    def _after_interrupt(self, tracker: Tracker, prediction: Prediction) -> Decision:
        """The loop was interrupted: decide again as if no loop were active."""
        return self.decide(Tracker(tracker.conversation_id, replace(tracker.state, active_loop=None),
                                   tracker.recent_events), prediction)

    def _user_event(self, message: UserMessage, prediction: Prediction) -> dict[str, Any]:
        return ev.user(
            message.text,
            prediction.parse_data(),
            input_channel=message.input_channel,
            metadata=message.metadata,
            message_id=message.message_id,
        )

    @staticmethod
    def _reason(prediction: Prediction, decision: Decision, nlu_ms: float, policy_ms: float) -> dict[str, Any]:
        reason: dict[str, Any] = {
            "route": decision.route,
            "intent": prediction.intent,
            "confidence": round(prediction.confidence, 4),
            "ranking": [{"name": n, "confidence": round(c, 4)} for n, c in prediction.ranking[:3]],
            "retrieval": [{"id": h.id, "score": round(h.score, 4)} for h in decision.hits],
            "timings_ms": {"nlu": round(nlu_ms, 2), "policy": round(policy_ms, 2)},
            **decision.details,
        }
        if prediction.sentiment is not None:
            reason["sentiment"] = {"label": prediction.sentiment.label,
                                   "confidence": round(prediction.sentiment.confidence, 4)}
        return reason

    async def _execute(
        self,
        tracker: Tracker,
        decision: Decision,
        prediction: Prediction,
        new: list[dict[str, Any]],
        reason: dict[str, Any],
    ) -> list[dict[str, Any]]:
        replies: list[dict[str, Any]] = []
        if decision.answer is not None:
            name = "action_generate_answer" if decision.route == "generation" else "action_retrieve_answer"
            new.append(ev.action(name, policy=decision.route, confidence=decision.hits[0].score if decision.hits else 1.0))
            replies += self._say([{"text": part} for part in _split(decision.answer)], new, reason)
        for name in decision.actions:
            new.append(ev.action(name, policy=decision.route, confidence=prediction.confidence))
            if name in self.domain.responses:
                replies += self._say(self.domain.render(name, self._slots(tracker, new)), new, reason)
                continue
            replies += await self._run_action(name, tracker, new, reason)
        return replies

    async def _run_action(
        self, name: str, tracker: Tracker, new: list[dict[str, Any]], reason: dict[str, Any]
    ) -> list[dict[str, Any]]:
        state = apply(tracker.state, new, initial_slots=self.domain.initial_slots)
        body = tracker_json(
            tracker.conversation_id, state, tracker.recent_events + new, initial_slots=self.domain.initial_slots
        )
        t0 = time.perf_counter()
        try:
            result = await self.actions.run(name, body, self.domain.as_dict())
        except ActionError as exc:
            rejected = isinstance(exc, ActionRejected)
            log.warning("action %s %s: %s", name, "rejected" if rejected else "failed", exc)
            reason.update(route="fallback", action_error={"action": name, "error": str(exc), "rejected": rejected})
            if not rejected:
                reason["escalate"] = "action_failed"
            return self._say(self.domain.render(DEFAULT_RESPONSE, state.slots), new, reason)
        reason["timings_ms"][name] = round((time.perf_counter() - t0) * 1000, 2)
        messages: list[dict[str, Any]] = []
        for response in result.responses:  # uttered before the action's events are applied
            template = response.get("response") or response.get("template")
            if template and template in self.domain.responses:
                messages += self.domain.render(template, state.slots)
            else:
                messages.append({k: response[k] for k in REPLY_KEYS if response.get(k)})
        replies = self._say(messages, new, reason)
        for raw in result.events:
            try:
                new.append(ev.validate(raw))
            except Exception as exc:  # a bad event from an action is dropped, loudly
                log.error("action %s returned an invalid event %r: %s", name, raw, exc)
        return replies

    def _slots(self, tracker: Tracker, new: list[dict[str, Any]]) -> dict[str, Any]:
        return apply(tracker.state, new, initial_slots=self.domain.initial_slots).slots

    @staticmethod
    def _say(messages: list[dict[str, Any]], new: list[dict[str, Any]], reason: dict[str, Any]) -> list[dict[str, Any]]:
        out = []
        for message in messages:
            message = {k: v for k, v in message.items() if v not in (None, [], {}, "")}
            if not message:
                continue
            data = {k: v for k, v in message.items() if k != "text"}
            new.append(ev.bot(message.get("text"), data=data, metadata={"reason": reason}))
            out.append(message)
        return out


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split("\n\n") if part.strip()] or [text]
