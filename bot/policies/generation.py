"""Generation: a question no intent and no close past log answers goes to the generator, with
the top retrieved logs as context. The answer is sent only when the grounding check passes;
otherwise the customer gets an honest reply that offers a human. A generator that fails, times
out or is shut off by its circuit breaker gives a polite reply and flags the conversation for
escalation (`escalate: generator_failed`), always within the generator's timeout.

Unlike the other policies this one is async (it waits on the network or a model thread): the
engine calls `answer` in the async part of the turn, after the sync policies decided `unanswered`."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from typing import Any

from bot.domain import DEFAULT_RESPONSE
from bot.generation.base import Generator, GeneratorError, GeneratorTimeout
from bot.generation.config import GenerationSettings
from bot.generation.grounding import GroundingCheck
from bot.generation.prompt import build_prompt, clean_answer, history_window
from bot.generation.safety import injection, leaks
from bot.nlu.base import Prediction
from bot.policies.base import Decision
from bot.policies.retrieval import fill_placeholders
from bot.routes import UNCALIBRATED
from bot.tracker import Tracker

log = logging.getLogger(__name__)
UNGROUNDED_RESPONSE = "utter_no_grounded_answer"  # optional in the domain; utter_default otherwise
FAILED_RESPONSE = "utter_generator_unavailable"
MAX_RECORDED_ANSWER = 500


class GenerationPolicy:
    name = "generation"

    def __init__(
        self,
        generator: Generator,
        grounding: GroundingCheck,
        settings: GenerationSettings,
        *,
        timeout: float,
        responses: frozenset[str] = frozenset(),
        min_context_score: float | None = None,
    ) -> None:
        self.generator, self.grounding, self.settings, self.timeout = generator, grounding, settings, timeout
        # the calibrated (or configured) floor of the best retrieval score for asking the model at all
        if min_context_score is None:
            min_context_score = settings.min_context_score
        self.min_context_score = UNCALIBRATED["min_context_score"] if min_context_score is None else min_context_score
        self.responses = responses  # the domain's response names, to pick the fallback texts

    def _fallback(self, decision: Decision, response: str, generation: dict[str, Any], **extra: Any) -> Decision:
        action = response if response in self.responses else DEFAULT_RESPONSE
        return replace(decision, route="fallback", actions=(action,), answer=None,
                       details={**decision.details, **extra, "generation": generation}, unanswered=False)

    async def answer(self, tracker: Tracker, prediction: Prediction, decision: Decision) -> Decision:
        """A `generation` decision with the grounded answer, or a `fallback` that says why not."""
        hits = [h for h in decision.hits[: self.settings.context_k]]
        best = hits[0].score if hits else None
        if prediction.knowledge is not None and not prediction.for_logs:
            # the NLU model finds the message foreign (or an intent it is unsure of): the notes,
            # however close, were not written for it
            generation = {"skipped": "not a question for the support logs", "foreign": round(prediction.foreign or 0, 4)}
            return replace(decision, details={**decision.details, "generation": generation}, unanswered=False)
        if best is None or best < self.min_context_score:
            generation = {"skipped": "no relevant context", "min_context_score": self.min_context_score}
            return replace(decision, details={**decision.details, "generation": generation}, unanswered=False)
        pattern = injection(prediction.text)
        if pattern is not None:
            log.warning("conversation %s: message looks like a prompt injection (%s); not generating",
                        tracker.conversation_id, pattern)
            return self._fallback(decision, UNGROUNDED_RESPONSE, {"refused": "prompt_injection", "pattern": pattern})
        dropped = [h.id for h in hits if injection(f"{h.question}\n{h.answer}")]
        context = [h for h in hits if h.id not in dropped]
        if not context:
            return self._fallback(decision, UNGROUNDED_RESPONSE, {"skipped": "context dropped", "context_dropped": dropped})
        prompt = build_prompt(prediction.text, context, history_window(tracker.recent_events, self.settings.history_turns),
                              persona=self.settings.persona)
        generation: dict[str, Any] = {"model": self.generator.model, "context_ids": prompt.context_ids}
        if dropped:
            generation["context_dropped"] = dropped
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout):  # the customer is answered within it, whatever happens
                reply = await self.generator.generate(prompt.messages, timeout=self.timeout)
        except (GeneratorError, TimeoutError, asyncio.TimeoutError) as exc:
            kind = exc.reason if isinstance(exc, GeneratorError) else GeneratorTimeout.reason
            log.warning("conversation %s: generator failed (%s): %s", tracker.conversation_id, kind, exc)
            generation.update(error=kind, detail=str(exc)[:300], latency_ms=_ms(started))
            return self._fallback(decision, FAILED_RESPONSE, generation, escalate="generator_failed")
        except Exception as exc:  # a bug in a generator must not cost the customer an answer either
            log.exception("conversation %s: generator crashed", tracker.conversation_id)
            generation.update(error="crash", detail=f"{type(exc).__name__}: {exc}"[:300], latency_ms=_ms(started))
            return self._fallback(decision, FAILED_RESPONSE, generation, escalate="generator_failed")
        text = clean_answer(reply.text, truncated=reply.finish_reason == "length")
        contexts = [f"{h.question}\n{h.answer}" for h in context]
        result = await asyncio.to_thread(self.grounding.check, text, contexts, question=prediction.text,
                                         context_questions=[h.question for h in context])
        generation.update(
            model=reply.model,
            latency_ms=reply.latency_ms,
            tokens={"prompt": reply.prompt_tokens, "completion": reply.completion_tokens},
            finish_reason=reply.finish_reason,
            attempts=reply.attempts,
            grounding=result.as_dict(self.grounding.thresholds),
        )
        blocked = "prompt_leak" if leaks(text, prompt.system) else ("injection_in_answer" if injection(text) else None)
        if blocked or not result.passed:
            generation["grounding"]["passed"] = False
            if blocked:
                generation["blocked"] = blocked
            generation["rejected_answer"] = text[:MAX_RECORDED_ANSWER]
            return self._fallback(decision, UNGROUNDED_RESPONSE, generation)
        answer, unfilled = fill_placeholders(text, tracker.state.slots)
        details = {**decision.details, "generation": generation}
        if unfilled:
            details["unfilled_placeholders"] = unfilled
        return replace(decision, route="generation", actions=(), answer=answer, hits=tuple(context),
                       details=details, unanswered=False)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
