"""Evaluate a trained bot project the way its customers meet it: every test message is a real
turn of the engine (handoff triggers, rules and actions, support logs, generation, fallback) in
a fresh conversation of a throwaway database. Three kinds of test, from the project's `tests/`:

- `held_out*.yml` (Rasa NLU format): right when the intent's own route answers it with that
  intent, or when an intent in `handoff.intents` (asking for a person) is handed over;
- `held_out_logs*.csv` (`text,log_id`): right when the reply is that log's answer (by the logs'
  route, or a generated answer relying on that log);
- `out_of_scope*.txt` (one message per line) and any `--foreign` files: questions the bot must
  not answer; any reply other than the fallback or a handoff counts, per route.

Each set runs with the generator off and, when the project configures one, on. Nothing is
tuned on these files: training never reads tests/. `turn` and the scoring functions use only
the engine's stable interface, so bench/answer_quality.py runs them on older versions too."""

from __future__ import annotations

import csv
import statistics
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from typing import TYPE_CHECKING

from bot.engine import UserMessage

if TYPE_CHECKING:
    from bot.runtime import Runtime

ANSWERING = ("rules", "stories", "loop", "retrieval", "generation")
EXAMPLES = 25


@dataclass
class Outcome:
    text: str
    route: str
    intent: str
    confidence: float
    answer: str | None = None  # the reply's text
    log: str | None = None  # the log the reply's answer is (retrieval) or relies on (generation)
    log_answer: str | None = None  # that log's answer
    details: dict[str, Any] = field(default_factory=dict)
    ms: float = 0.0


@dataclass
class Suite:
    intents: list[tuple[str, str]]  # (text, expected intent)
    logs: list[tuple[str, str]]  # (text, expected log id)
    foreign: list[tuple[str, str]]  # (text, file)


def load_suite(tests_dir: Path, foreign_files: Sequence[Path] = ()) -> Suite:
    from training.data import load_nlu
    from training.foreign import read_lines

    intents = [(e.text, e.label) for path in sorted(tests_dir.glob("held_out*.yml"))
               for e in load_nlu([path]).examples]
    logs: list[tuple[str, str]] = []
    for path in sorted(tests_dir.glob("held_out_logs*.csv")):
        with path.open(newline="", encoding="utf-8") as fh:
            logs += [(row["text"], row["log_id"]) for row in csv.DictReader(fh) if row.get("text")]
    foreign = [(line, path.name) for path in [*sorted(tests_dir.glob("out_of_scope*.txt")), *foreign_files]
               for line in read_lines(path)]
    return Suite(intents, logs, foreign)


async def turn(runtime: "Runtime", text: str) -> Outcome:
    """One message in a conversation of its own; the route and reason of the bot's first reply."""
    engine = runtime.require_engine()
    started = time.perf_counter()
    result = await engine.handle(UserMessage(text, f"evaluate-{uuid.uuid4().hex[:12]}", "evaluate"))
    ms = (time.perf_counter() - started) * 1000
    user = next((e for e in result.events if e.get("event") == "user"), {})
    intent = (user.get("parse_data") or {}).get("intent") or {}
    bots = [e for e in result.events if e.get("event") == "bot"]
    reason = ((bots[0].get("metadata") or {}).get("reason") or {}) if bots else {}
    route = str(reason.get("route") or "none")  # a request for a person: "handoff"
    log = None
    if route == "retrieval" and reason.get("retrieval"):
        log = reason["retrieval"][0]["id"]
    elif route == "generation":
        generation = reason.get("generation") or {}
        relies = (generation.get("grounding") or {}).get("relies_on")
        ids = generation.get("context_ids") or []
        log = ids[relies] if isinstance(relies, int) and relies < len(ids) else None
    details = {k: reason[k] for k in ("threshold", "over_intent", "generation", "escalate", "handoff") if k in reason}
    entry = runtime.knowledge.get(log) if log is not None and runtime.knowledge is not None else None
    return Outcome(text, route, str(intent.get("name") or ""), float(intent.get("confidence") or 0.0),
                   " ".join(str(b.get("text") or "") for b in bots) or None, log,
                   entry.answer if entry is not None else None, details, ms)


def answered(o: Outcome) -> bool:
    return o.route in ANSWERING


def intent_right(o: Outcome, expected: str, handoff_intents: set[str]) -> bool:
    """A request for a person is handed over; any other intent is answered by its own route."""
    if expected in handoff_intents:
        return o.route == "handoff"
    return o.route in ("rules", "stories", "loop") and o.intent == expected


def log_right(o: Outcome, expected_answer: str | None) -> bool:
    """The reply is the expected log's answer (from that log or another with the very same answer)."""
    return (o.route in ("retrieval", "generation") and o.log_answer is not None and expected_answer is not None
            and o.log_answer.strip() == expected_answer.strip())


def _expected_answer(runtime: "Runtime", log_id: str) -> str | None:
    entry = runtime.knowledge.get(log_id) if runtime.knowledge is not None else None
    return entry.answer if entry is not None else None


async def run_suite(runtime: "Runtime", suite: Suite) -> dict[str, Any]:
    handoff = set(runtime.settings.handoff.intents) if runtime.settings.handoff.enabled else set()
    report: dict[str, Any] = {}
    latencies: list[float] = []
    if suite.intents:
        errors, right = [], 0
        for text, expected in suite.intents:
            o = await turn(runtime, text)
            latencies.append(o.ms)
            ok = intent_right(o, expected, handoff)
            right += ok
            if not ok:
                errors.append({"text": text, "expected": expected, "intent": o.intent,
                               "confidence": round(o.confidence, 3), "route": o.route, "log": o.log})
        report["intents"] = {"examples": len(suite.intents), "answered_right": _share(right, len(suite.intents)),
                             "handoff_intents": sorted(handoff), "errors": errors}
    if suite.logs:
        errors, right, answered, wrong = [], 0, 0, 0
        for text, expected in suite.logs:
            o = await turn(runtime, text)
            latencies.append(o.ms)
            ok = log_right(o, _expected_answer(runtime, expected))
            right += ok
            answered += o.route in ANSWERING
            wrong += o.route in ANSWERING and not ok
            if not ok:
                errors.append({"text": text, "expected": expected, "route": o.route, "log": o.log, "intent": o.intent,
                               "confidence": round(o.confidence, 3), **_scores(o)})
        report["logs"] = {"questions": len(suite.logs), "answered_right": _share(right, len(suite.logs)),
                          "answered": _share(answered, len(suite.logs)),
                          "answered_wrong": _share(wrong, len(suite.logs)), "errors": errors}
    if suite.foreign:
        by_route: dict[str, int] = {}
        answered_examples: list[dict[str, Any]] = []
        for text, source in suite.foreign:
            o = await turn(runtime, text)
            latencies.append(o.ms)
            by_route[o.route] = by_route.get(o.route, 0) + 1
            if o.route in ANSWERING:
                answered_examples.append({"text": text, "file": source, "route": o.route, "intent": o.intent,
                                          "confidence": round(o.confidence, 3), "log": o.log,
                                          "reply": (o.answer or "")[:200], **_scores(o)})
        n = len(suite.foreign)
        report["foreign"] = {
            "questions": n,
            "answered": _share(sum(by_route.get(r, 0) for r in ANSWERING), n),
            "by_route": {"intent": _share(by_route.get("rules", 0) + by_route.get("loop", 0), n),
                         "retrieval": _share(by_route.get("retrieval", 0), n),
                         "generation": _share(by_route.get("generation", 0), n),
                         "handoff": _share(by_route.get("handoff", 0), n),
                         "fallback": _share(by_route.get("fallback", 0), n)},
            "answered_examples": answered_examples,
        }
    if latencies:
        report["turn_ms_p50"] = round(statistics.median(latencies), 1)
    return report


def _share(count: int, total: int) -> dict[str, Any]:
    return {"rate": round(count / total, 4) if total else 0.0, "count": count, "of": total}


def _scores(o: Outcome) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "over_intent" in o.details:
        out["over_intent"] = o.details["over_intent"]
    generation = o.details.get("generation") or {}
    if generation.get("grounding"):
        g = generation["grounding"]
        out["grounding"] = {k: g.get(k) for k in ("passed", "similarity", "note_relevance", "answer_relevance")}
    if generation.get("rejected_answer"):
        out["rejected_answer"] = generation["rejected_answer"][:200]
    return out


async def evaluate_project(runtime: "Runtime", tests_dir: Path, *, foreign_files: Sequence[Path] = (),
                           generator: bool = True) -> dict[str, Any]:
    """The report: thresholds in use, then each test set with the generator off and (when the
    project has one and `generator`) on."""
    suite = load_suite(tests_dir, foreign_files)
    engine = runtime.require_engine()
    configured = engine.generation
    report: dict[str, Any] = {
        "project": str(runtime.settings.project), "tests": str(tests_dir),
        "thresholds": runtime.thresholds.as_dict() if runtime.thresholds else None,
        "calibration": (runtime.calibration or {}).get("foreign_answered"),
        "runs": {},
    }
    modes = [("generator_off", None)] + ([("generator_on", configured)] if configured is not None and generator else [])
    try:
        for name, policy in modes:
            engine.generation = policy
            if policy is not None and runtime.generator is not None:
                await runtime.generator.warm_up()
            report["runs"][name] = await run_suite(runtime, suite)
            if policy is not None:
                report["runs"][name]["generator"] = runtime.generator.model if runtime.generator else None
    finally:
        engine.generation = configured
    return report
