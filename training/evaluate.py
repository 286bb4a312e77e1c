"""Evaluate a trained bot project on held-out data, through the same engine a customer meets:
intent accuracy on held-out intent examples, the route and cited log for paraphrased
support-log questions, and the fallback rate on out-of-scope messages."""

from __future__ import annotations

import csv
import statistics
import time
from pathlib import Path
from typing import Any

from bot.domain import FALLBACK_INTENT
from bot.runtime import Runtime
from bot.tracker import Tracker, State
from training.data import load_nlu


def _decide(runtime: Runtime, text: str) -> tuple[str, str, str | None, float]:
    engine = runtime.require_engine()
    tracker = Tracker("evaluate", State(), [])
    started = time.perf_counter()
    prediction = engine.predict_now(text)
    decision = engine.decide(tracker, prediction)
    ms = (time.perf_counter() - started) * 1000
    top_log = decision.hits[0].id if decision.route == "retrieval" and decision.hits else None
    return prediction.intent, decision.route, top_log, ms


def evaluate_project(runtime: Runtime, tests_dir: Path) -> dict[str, Any]:
    report: dict[str, Any] = {}
    latencies: list[float] = []
    held_out = tests_dir / "held_out.yml"
    if held_out.exists():
        examples = load_nlu([held_out]).examples
        correct, confusions = 0, []
        for example in examples:
            intent, _, _, ms = _decide(runtime, example.text)
            latencies.append(ms)
            if intent == example.label:
                correct += 1
            else:
                confusions.append({"text": example.text, "expected": example.label, "got": intent})
        report["intent_accuracy"] = round(correct / len(examples), 4)
        report["intent_examples"] = len(examples)
        report["intent_errors"] = confusions
    logs = tests_dir / "held_out_logs.csv"
    if logs.exists():
        with logs.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        answered = right = 0
        misses = []
        for row in rows:
            _, route, log_id, ms = _decide(runtime, row["text"])
            latencies.append(ms)
            answered += route == "retrieval"
            right += log_id == row["log_id"]
            if log_id != row["log_id"]:
                misses.append({"text": row["text"], "expected": row["log_id"], "route": route, "got": log_id})
        report["log_questions"] = len(rows)
        report["log_answered_rate"] = round(answered / len(rows), 4)
        report["log_correct_rate"] = round(right / len(rows), 4)
        report["log_errors"] = misses
    oos = tests_dir / "out_of_scope.txt"
    if oos.exists():
        lines = [line.strip() for line in oos.read_text(encoding="utf-8").splitlines() if line.strip()]
        fallback = 0
        wrong = []
        for text in lines:
            intent, route, _, ms = _decide(runtime, text)
            latencies.append(ms)
            if route == "fallback":
                fallback += 1
            else:
                wrong.append({"text": text, "route": route, "intent": intent})
        report["out_of_scope"] = len(lines)
        report["out_of_scope_fallback_rate"] = round(fallback / len(lines), 4)
        report["out_of_scope_errors"] = wrong
    if latencies:
        report["decide_ms_p50"] = round(statistics.median(latencies), 2)
    report["fallback_intent"] = FALLBACK_INTENT
    return report
