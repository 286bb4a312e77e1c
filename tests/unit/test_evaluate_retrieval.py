"""Retrieval metrics on tiny FAISS indexes built from hand-made vectors: no model is loaded,
query vectors are passed directly (encoder=None), and every number is worked out by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pytest

from bot.cli import build_parser
from knowledge.base import Entry
from knowledge.index import KnowledgeBase
from training.evaluate_retrieval import (
    calibrate_threshold,
    evaluate_retrieval,
    index_calibration_set,
    lowest_threshold,
    plot_sweep,
    summarize,
)


def kb_of(rows: Sequence[tuple[str, str, Sequence[float]]]) -> KnowledgeBase:
    entries = [Entry(id=i, question=f"question {i}", answer=f"answer {i}", intent=intent) for i, intent, _ in rows]
    vectors = np.array([v for _, _, v in rows], dtype=np.float32)
    return KnowledgeBase.build(entries, None, data_hash="test", kind="flat", vectors=vectors)  # type: ignore[arg-type]


# Three entries on the axes; four queries whose top scores are all distinct:
#   q1 intent A (.8, .6, 0)        -> a .8,  b .6,  c 0    : top A right, rank 1
#   q2 intent B (.96, .28, 0)      -> a .96, b .28, c 0    : top A wrong, B at rank 2
#   q3 intent C (0, .352, .936)    -> c .936, b .352, a 0  : top C right, rank 1
#   q4 intent C (5/13, 12/13, 0)   -> b .923, a .385, c 0  : top B wrong, C at rank 3
AXES = [("a", "A", (1.0, 0.0, 0.0)), ("b", "B", (0.0, 1.0, 0.0)), ("c", "C", (0.0, 0.0, 1.0))]
QUERIES = np.array([[0.8, 0.6, 0], [0.96, 0.28, 0], [0, 0.352, 0.936], [5 / 13, 12 / 13, 0]], dtype=np.float32)
INTENTS = ["A", "B", "C", "C"]
TEXTS = ["q1", "q2", "q3", "q4"]


def test_ranking_metrics_by_hand() -> None:
    report = evaluate_retrieval(kb_of(AXES), TEXTS, INTENTS, threshold=0.85, encoder=None, vectors=QUERIES)
    assert report["queries"] == 4
    assert report["same_intent_at_1"] == 0.5  # q1, q3
    assert report["same_intent_at_5"] == 1.0  # every intent is within the 3 hits
    assert report["mrr"] == pytest.approx((1 + 1 / 2 + 1 + 1 / 3) / 4, abs=1e-4)
    # top scores .8 (right), .96 (wrong), .936 (right), .923 (wrong); >= .85 answers q2, q3, q4
    assert report["threshold"] == 0.85 and report["threshold_source"] == "given"
    assert report["answered_rate"] == 0.75
    assert report["wrong_rate"] == 0.5  # q2 and q4, out of all 4 queries
    assert report["wrong_among_answered"] == pytest.approx(2 / 3, abs=1e-4)
    assert report["latency_scope"] == "search" and report["latency_queries"] == 4
    assert report["latency_ms_p50"] >= 0 and report["latency_ms_p95"] >= report["latency_ms_p50"]


def test_sweep_is_monotone_and_matches_threshold() -> None:
    report = evaluate_retrieval(kb_of(AXES), TEXTS, INTENTS, threshold=0.85, encoder=None, vectors=QUERIES)
    sweep = report["sweep"]
    assert sweep[0]["threshold"] == 0.0 and sweep[0]["answered_rate"] == 1.0 and sweep[0]["wrong_rate"] == 0.5
    assert sweep[-1]["threshold"] == 1.0 and sweep[-1]["answered_rate"] == 0.0 and sweep[-1]["wrong_rate"] == 0.0
    answered = [row["answered_rate"] for row in sweep]
    wrong = [row["wrong_rate"] for row in sweep]
    assert answered == sorted(answered, reverse=True) and wrong == sorted(wrong, reverse=True)
    at_90 = next(row for row in sweep if row["threshold"] == 0.9)
    assert at_90["answered_rate"] == 0.75 and at_90["wrong_rate"] == 0.5  # .96, .936, .923


def test_threshold_fitted_when_none() -> None:
    kb = kb_of(AXES)
    # one wrong answer in four is allowed: the lowest passing threshold is q3's .936 (answers q2, q3)
    report = evaluate_retrieval(kb, TEXTS, INTENTS, threshold=None, encoder=None, vectors=QUERIES, max_wrong=0.25)
    assert report["threshold"] == pytest.approx(0.936, abs=1e-4)
    assert report["threshold_source"] == "fitted on the evaluated queries"
    assert (report["answered_rate"], report["wrong_rate"], report["wrong_among_answered"]) == (0.5, 0.25, 0.5)
    # no wrong answer allowed: the highest top score (a wrong one) must be excluded, so nothing is answered
    strict = evaluate_retrieval(kb, TEXTS, INTENTS, threshold=None, encoder=None, vectors=QUERIES)
    assert strict["threshold"] > QUERIES[1] @ np.array([1, 0, 0], np.float32)
    assert strict["answered_rate"] == 0.0 and strict["wrong_rate"] == 0.0


def test_summarize_without_hits() -> None:
    report = summarize([[], [("A", 0.7)]], ["A", "A"], threshold=0.5)
    assert report["same_intent_at_1"] == 0.5 and report["mrr"] == 0.5
    assert report["answered_rate"] == 0.5 and report["wrong_rate"] == 0.0
    assert lowest_threshold(np.array([0.9, 0.8]), np.array([True, True])) == 0.8


# Leave-one-out over six entries (each query is an entry; its own hit is dropped):
#   a1 -> a2 .96 right   a2 -> a1 .96 right   b1 -> b2 .96 right   b2 -> b1 .96 right
#   c1 (.6, .8, 0) -> b2 .936 wrong            c2 (0, .6, .8) -> b1 .6 wrong
LOO = [
    ("a1", "A", (1.0, 0.0, 0.0)), ("a2", "A", (0.96, 0.28, 0.0)),
    ("b1", "B", (0.0, 1.0, 0.0)), ("b2", "B", (0.28, 0.96, 0.0)),
    ("c1", "C", (0.6, 0.8, 0.0)), ("c2", "C", (0.0, 0.6, 0.8)),
]


def test_calibrate_threshold_leave_one_out() -> None:
    kb = kb_of(LOO)
    questions, intents, ids, vectors = index_calibration_set(kb, None)
    assert ids == [i for i, _, _ in LOO] and intents == ["A", "A", "B", "B", "C", "C"]
    np.testing.assert_allclose(vectors, np.array([v for _, _, v in LOO], dtype=np.float32))
    # one wrong in six (.167) passes max_wrong .2: the lowest such threshold is c1's .936
    loose = calibrate_threshold(kb, questions, intents, ids=ids, vectors=vectors, max_wrong=0.2)
    assert loose == pytest.approx(0.936, abs=1e-4)
    # without ids the entry with the same question text is the one left out: same answer
    assert calibrate_threshold(kb, questions, intents, vectors=vectors, max_wrong=0.2) == loose
    # no wrong answer allowed: .96 (only right answers score that high; .936 and .6 are wrong)
    strict = calibrate_threshold(kb, questions, intents, ids=ids, vectors=vectors)
    assert strict == pytest.approx(0.96, abs=1e-4)
    # a query that found itself would score 1.0 and be right: the threshold would be 1.0, not .96


def test_plot_sweep_writes_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    report = summarize([[("A", 0.9)], [("B", 0.4)]], ["A", "A"], threshold=0.5)
    path = plot_sweep(report["sweep"], tmp_path / "sweep.png", threshold=0.5)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_evaluate_keeps_plain_form() -> None:
    plain = build_parser().parse_args(["evaluate", "--out", "r.json"])
    assert plain.what == "project" and plain.out == "r.json" and plain.tests is None
    retrieval = build_parser().parse_args(
        ["evaluate", "retrieval", "--index", "idx", "--data", "test.csv", "--out", "o", "--threshold", "0.6"]
    )
    assert (retrieval.what, retrieval.index, retrieval.data) == ("retrieval", "idx", "test.csv")
    assert retrieval.threshold == 0.6 and retrieval.out == "o"
