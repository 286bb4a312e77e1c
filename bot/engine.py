"""One turn of the conversation: lock, tracker, nlu, the action loop (bot/dialogue/loop.py), store, reply."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Sequence

from bot import events as ev
from bot.actions.base import ActionRunner
from bot.dialogue.executor import Context, Executor
from bot.dialogue.loop import Turn, extract, turn_events
from bot.dialogue.model import DialogueModel
from bot.dialogue.states import ACTION_LISTEN
from bot.domain import DEFAULT_INTENTS, DEFAULT_RESPONSE, FALLBACK_INTENT, OUT_OF_SCOPE, Domain
from bot.errors import Conflict
from bot.nlu.base import Classifier, Prediction
from bot.nlu.batcher import MicroBatcher
from bot.nlu.entity_context import context_intents
from bot.nlu.payload import parse_payload
from bot.policies.base import Decision
from bot.policies.handoff import DEFAULT_TEXT, HANDOFF_RESPONSE, HandoffTriggers, estimate_wait, take_times
from bot.storage.base import DuplicateMessage, HandledMessage, LockStore, Outgoing, TrackerStore, fingerprint
from bot.tracker import Tracker, apply

if TYPE_CHECKING:
    from bot.policies.generation import GenerationPolicy
    from bot.policies.retrieval import RetrievalPolicy

log = logging.getLogger(__name__)
PICKUP_TIMES_TTL_S = 30.0


@dataclass(frozen=True)
class UserMessage:
    text: str
    sender_id: str
    input_channel: str = "rest"
    metadata: dict[str, Any] = field(default_factory=dict)
    # unique in its conversation: the platform's id (Slack, Telegram) or the client's (metadata.message_id)
    message_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    # the channel whose outbox gets the replies (socket.io, Slack, ...); None: the caller answers them (REST)
    output_channel: str | None = None


@dataclass
class TurnResult:
    replies: list[dict[str, Any]]
    events: list[dict[str, Any]]
    decision: Decision | None
    # the message id was handled before (a redelivery, a client's retry): nothing was done again, and
    # `replies` are the first attempt's (already in the outbox for a push channel)
    duplicate: bool = False


class Engine:
    def __init__(
        self,
        *,
        domain: Domain,
        classifier: Classifier,
        dialogue: DialogueModel,
        store: TrackerStore,
        locks: LockStore,
        actions: ActionRunner,
        history_window: int,
        max_batch: int = 32,
        retrieval: "RetrievalPolicy | None" = None,
        nlu_threshold: float = 0.0,
        nlu_ambiguity: float = 0.0,
        generation: "GenerationPolicy | None" = None,
        handoff: HandoffTriggers | None = None,
    ) -> None:
        self.domain, self.classifier, self.dialogue = domain, classifier, dialogue
        self.retrieval, self.nlu_threshold, self.nlu_ambiguity = retrieval, nlu_threshold, nlu_ambiguity
        self.generation = generation  # async: tries questions the sync policies left unanswered
        self.handoff = handoff  # when to hand the conversation to a person
        self._payload_intents = [*domain.intents, *sorted(DEFAULT_INTENTS - set(domain.intents))]
        self.store, self.locks, self.actions, self.window = store, locks, actions, history_window
        self.executor = Executor(domain, actions, fallback_action=dialogue.fallback_action)
        self.batcher = MicroBatcher(classifier, max_batch=max_batch)
        self._pickups: tuple[float, list[float]] | None = None  # (read at, agents' pickup seconds)

    # -- understanding -------------------------------------------------------------------
    def _threshold(self, prediction: Prediction) -> Prediction:
        """Rasa's FallbackClassifier: under the threshold, or closer to the runner-up than
        config.yml's `ambiguity_threshold`, the intent is nlu_fallback (the model's own ranking
        stays)."""
        if prediction.intent == FALLBACK_INTENT:
            return self._own_out_of_scope(prediction)
        others = [c for name, c in prediction.ranking if name not in (prediction.intent, FALLBACK_INTENT)]
        ambiguous = (self.nlu_ambiguity > 0 and bool(others)  # the two best intents, as Rasa compares them
                     and prediction.confidence - max(others) < self.nlu_ambiguity)
        if prediction.confidence >= self.nlu_threshold and not ambiguous:
            return prediction
        return replace(prediction, intent=FALLBACK_INTENT, confidence=self.nlu_threshold)

    def _own_out_of_scope(self, prediction: Prediction) -> Prediction:
        """Foreign text, for a project that declares its own `out_of_scope` intent (and rules or
        stories for it, as Rasa users write them): that intent, at the model's foreign
        probability. A message that is merely unclear (under the threshold) stays nlu_fallback."""
        if OUT_OF_SCOPE not in self.domain.intents or prediction.foreign is None or prediction.for_logs:
            return prediction
        intents = [c for name, c in prediction.ranking if name != FALLBACK_INTENT]
        if prediction.foreign < max([prediction.knowledge or 0.0, *intents]):
            return prediction
        ranking = ((OUT_OF_SCOPE, prediction.foreign),) + tuple(
            r for r in prediction.ranking if r[0] not in (FALLBACK_INTENT, OUT_OF_SCOPE))
        return replace(prediction, intent=OUT_OF_SCOPE, confidence=prediction.foreign, ranking=ranking)

    def predict_now(self, text: str, context: Sequence[str] = ()) -> Prediction:
        """Classify one message in the calling thread (evaluation, scripts)."""
        payload = parse_payload(text, self._payload_intents)
        return payload if payload is not None else self._threshold(self.classifier.predict([text], [context])[0])

    async def parse(self, text: str, context: Sequence[str] = ()) -> Prediction:
        """Classify one message; concurrent turns share a forward pass (micro-batching). `context`:
        the intents of the conversation's earlier turns (entity typing follows them)."""
        payload = parse_payload(text, self._payload_intents)
        return payload if payload is not None else self._threshold(await self.batcher.predict(text, context))

    def decide(self, tracker: Tracker, prediction: Prediction, *, intent_answers: bool) -> Decision | None:
        """The knowledge routes' say on a user message (FAISS: blocking, call it off the loop):
        a log's answer, an `unanswered` fallback for the generator, or None (the dialogue goes on)."""
        if self.retrieval is None:
            return None if intent_answers else Decision("fallback", (DEFAULT_RESPONSE,), unanswered=True)
        return self.retrieval.decide(tracker, prediction, intent_answers=intent_answers)

    # -- the turn ------------------------------------------------------------------------
    async def handle(self, message: UserMessage) -> TurnResult:
        async with self.locks.lock(message.sender_id):
            started = time.perf_counter()
            handled, tracker = await self.store.begin_turn(message.sender_id, message.message_id, window=self.window)
            if handled is not None or tracker is None:  # a Slack retry, a Telegram redelivery, a client's retry
                assert handled is not None
                return self._duplicate(message, handled)
            new: list[dict[str, Any]] = []
            if self._new_session(tracker):
                new += await self._start_session(tracker, message)
            if tracker.state.paused:  # a person has (or is about to take) the conversation: store, say nothing
                try:
                    new.append(self._user_event(message, await self.parse(message.text)))
                except Exception:  # the agent reads it anyway: stored without an intent
                    log.exception("conversation %s (with an agent): the message could not be classified",
                                  message.sender_id)
                    new.append(self._unparsed(message))
                return await self._store(message, new, [], None)

            mark = len(new)
            try:
                replies, reason, decision = await self._respond(message, tracker, new)
            except Exception as exc:  # a bug or an outage inside the turn: answer, flag, keep the message
                log.exception("turn failed for conversation %s", message.sender_id)
                user = next((e for e in new[mark:] if e["event"] == "user"), None)
                del new[mark:]  # nothing half-done is stored: only the message and the apology
                new.append(user or self._unparsed(message))
                reason = {"route": "fallback", "error": f"{type(exc).__name__}: {exc}", "escalate": "turn_failed",
                          "timings_ms": {}}
                replies, decision = self._say(self.domain.render(DEFAULT_RESPONSE, {}), new, reason), None
            trigger = self._handoff_trigger(tracker, reason)
            if trigger is not None:
                replies += await self._hand_over(message.sender_id, trigger, tracker, new, reason)
            if not new or new[-1].get("event") != "action" or new[-1].get("name") != ACTION_LISTEN:
                new.append(ev.action(ACTION_LISTEN))
            reason["timings_ms"]["turn"] = round((time.perf_counter() - started) * 1000, 2)
            ev.in_time_order(new)
            return await self._store(message, new, replies, decision)

    async def _store(self, message: UserMessage, new: list[dict[str, Any]], replies: list[dict[str, Any]],
                     decision: Decision | None) -> TurnResult:
        """Append the turn with its replies (kept with the message id) and, for a push channel, the
        replies' outbox rows, in one transaction. A message id stored meanwhile (two workers racing
        for one message) makes the turn a duplicate: nothing of it is stored, nothing is sent."""
        outbox = self._outbox(message, new, replies)
        try:
            await self.store.append(message.sender_id, new, initial_slots=self.domain.initial_slots, replies=replies,
                                    outbox=outbox)
        except DuplicateMessage as exc:
            handled = exc.handled or await self.store.handled(message.sender_id, message.message_id)
            if handled is None:
                raise
            return self._duplicate(message, handled)
        return TurnResult(replies, new, decision)

    @staticmethod
    def _outbox(message: UserMessage, new: list[dict[str, Any]], replies: list[dict[str, Any]]) -> list[Outgoing]:
        """The replies as outbox messages of `message.output_channel`; each bot event that says one
        records its delivery id (the agent console shows whether it arrived)."""
        if message.output_channel is None or not replies:
            return []
        outgoing = [Outgoing(message.output_channel, reply) for reply in replies]
        said = [e for e in new if e.get("event") == "bot"]
        if len(said) == len(outgoing):  # every reply is one bot event, in order (Engine._say)
            for event, out in zip(said, outgoing):
                event["metadata"] = {**(event.get("metadata") or {}), "delivery_id": out.delivery_id}
        else:
            log.error("conversation %s: %d replies but %d bot events; the console cannot show their delivery",
                      message.sender_id, len(outgoing), len(said))
        return outgoing

    @staticmethod
    def _duplicate(message: UserMessage, handled: HandledMessage) -> TurnResult:
        if handled.fingerprint != fingerprint(message.text):
            raise Conflict(f"message id {message.message_id!r} was used for another message in conversation "
                           f"{message.sender_id!r}; a retry must send the same text")
        log.info("message %s of conversation %s was already handled; not answered again",
                 message.message_id, message.sender_id)
        return TurnResult(list(handled.replies or []), [], None, duplicate=True)

    def _new_session(self, tracker: Tracker) -> bool:
        last = tracker.state.latest_event_time
        minutes = self.domain.session.expiration_minutes
        return last is None or (minutes > 0 and time.time() - last > minutes * 60 and not tracker.state.paused)

    async def _start_session(self, tracker: Tracker, message: UserMessage) -> list[dict[str, Any]]:
        """Rasa's action_session_start: a new session, the slots carried over when configured."""
        ctx = Context(tracker.conversation_id, tracker.state, tracker.recent_events, [],
                      self.dialogue.conversation([]), message.input_channel)
        started = ev.action("action_session_start")  # made first: the events stay in time order
        outcome = await self.executor.run("action_session_start", ctx)
        return [started, *outcome.events, ev.action(ACTION_LISTEN)]

    async def _respond(
        self, message: UserMessage, tracker: Tracker, new: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], dict[str, Any], Decision | None]:
        """Understand, then predict and run actions until the bot listens; events go to `new`."""
        t0 = time.perf_counter()
        prediction = await self.parse(message.text, context_intents(tracker.recent_events + new))
        nlu_ms = (time.perf_counter() - t0) * 1000
        user = self._user_event(message, prediction)
        before = apply(tracker.state, new, initial_slots=self.domain.initial_slots)
        new.append(user)
        new += extract(self.domain, before, user, self.dialogue.conversation(turn_events(self.domain, tracker, new)))
        trigger = self.handoff.before(tracker, prediction) if self.handoff is not None else None
        if trigger is not None:  # the customer wants, or needs, a person: the bot does not try
            decision = Decision("handoff", (), details={"escalate": trigger})
            return [], self._reason(prediction, decision, nlu_ms, 0.0), decision
        turn = Turn(self, message, tracker, prediction, new, nlu_ms)
        return await turn.run()

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
        ahead = await self.store.waiting_ahead(conversation_id)
        minutes = estimate_wait(ahead, await self._pickup_times(), self.handoff.settings.typical_wait_minutes)
        loop = apply(tracker.state, new, initial_slots=self.domain.initial_slots).active_loop
        if loop in self.domain.forms:  # a person takes over: the form ends, what it collected stays
            new += [{"event": "active_loop", "timestamp": time.time(), "name": None},
                    {"event": "slot", "timestamp": time.time(), "name": "requested_slot", "value": None}]
        new.append(ev.handoff("pending", trigger=trigger))
        reason["handoff"] = trigger
        reason["wait"] = {"ahead": ahead, "minutes": minutes}
        values = {**self.slots(tracker, new), "wait_minutes": minutes, "queue_position": ahead + 1,
                  "queue_text": "" if ahead == 0 else
                  f"There {'is 1 customer' if ahead == 1 else f'are {ahead} customers'} ahead of you. "}
        if HANDOFF_RESPONSE in self.domain.responses:
            messages = self.domain.render(HANDOFF_RESPONSE, values)
        else:
            messages = [{"text": DEFAULT_TEXT.format(**values)}]
        return self._say(messages, new, reason)

    async def _pickup_times(self) -> list[float]:
        """How long agents took to pick up the last handoffs: read again at most every
        PICKUP_TIMES_TTL_S (an estimate in minutes needs no fresher figures, and a burst of
        handoffs need not read the same 200 events each)."""
        now = time.monotonic()
        if self._pickups is None or now - self._pickups[0] > PICKUP_TIMES_TTL_S:
            self._pickups = (now, take_times(await self.store.recent_events_of_type("handoff", limit=200)))
        return self._pickups[1]

    def _user_event(self, message: UserMessage, prediction: Prediction) -> dict[str, Any]:
        return ev.user(
            message.text,
            prediction.parse_data(),
            input_channel=message.input_channel,
            metadata=message.metadata,
            message_id=message.message_id,
        )

    @staticmethod
    def _unparsed(message: UserMessage) -> dict[str, Any]:
        """The message as a user event without an intent (its turn failed before or in the NLU)."""
        return ev.user(message.text, {"text": message.text, "intent": {}, "entities": []},
                       input_channel=message.input_channel, metadata=message.metadata, message_id=message.message_id)

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

    def slots(self, tracker: Tracker, new: list[dict[str, Any]]) -> dict[str, Any]:
        return {**self.domain.initial_slots, **apply(tracker.state, new, initial_slots=self.domain.initial_slots).slots}

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
