"""The out-of-scope operating points of `evaluate nlu`: the best recall a score gives at an
in-scope accuracy, found by trying every threshold."""

from __future__ import annotations

import numpy as np

from training.evaluate_nlu import operating_points


def test_the_highest_threshold_that_keeps_the_accuracy_is_chosen() -> None:
    # ten in-scope messages, eight classified right; their scores, low to high
    in_scores = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95])
    in_correct = np.array([False, True, False, True, True, True, True, True, True, True])
    oos_scores = np.array([0.15, 0.25, 0.35, 0.45, 0.85])
    caught = np.array([False, False, False, False, True])  # the last one's top intent is the fallback
    points = {p["in_scope_accuracy_at_least"]: p for p in operating_points(in_scores, in_correct, oos_scores, caught,
                                                                          accuracies=(0.8, 0.7, 0.99))}
    # 0.8 right in all: a threshold must keep every right answer, the lowest scored 0.2
    assert points[0.8]["threshold"] == 0.2
    assert points[0.8]["in_scope_accuracy"] == 0.8
    assert points[0.8]["oos_recall"] == 0.4  # 0.15, and the caught one
    # at 0.7, the threshold may drop the right answer scored 0.2: messages scored below 0.4 rejected
    assert points[0.7]["threshold"] == 0.4
    assert points[0.7]["in_scope_accuracy"] == 0.7
    assert points[0.7]["oos_recall"] == 0.8  # 0.15, 0.25, 0.35 below it, and the caught one
    # no threshold reaches 0.99: said, not guessed
    assert points[0.99]["threshold"] is None and points[0.99]["oos_recall"] is None


def test_recall_never_falls_as_the_accuracy_asked_falls() -> None:
    rng = np.random.default_rng(3)
    in_scores, oos_scores = rng.uniform(0.3, 1.0, 500), rng.uniform(0.0, 0.8, 200)
    in_correct = rng.uniform(size=500) < 0.95
    points = operating_points(in_scores, in_correct, oos_scores, np.zeros(200, bool), accuracies=(0.9, 0.8, 0.6))
    recalls = [p["oos_recall"] for p in points]
    assert recalls == sorted(recalls) and recalls[-1] > recalls[0]
