"""Temperature scaling and the out-of-scope threshold, on synthetic logits with known answers."""

from __future__ import annotations

import numpy as np

from bot.nlu.transformer import in_scope_score, softmax
from training.calibration import calibrate_oos, choose_threshold, fit_temperature, rejection_curve


def _overconfident(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits from a model that is right 70 % of the time but scaled 4x too sharp."""
    rng = np.random.default_rng(seed)
    targets = rng.integers(0, 5, n)
    logits = rng.normal(0, 1, (n, 5))
    right = rng.random(n) < 0.7
    predicted = np.where(right, targets, (targets + 1 + rng.integers(0, 4, n)) % 5)
    logits[np.arange(n), predicted] += 1.5
    return logits * 4.0, targets


def test_temperature_undoes_overconfidence() -> None:
    logits, targets = _overconfident()
    t = fit_temperature(logits, targets)
    assert 2.5 < t < 6.0
    before = softmax(logits).max(1).mean()
    after = softmax(logits, t).max(1).mean()
    accuracy = (logits.argmax(1) == targets).mean()
    assert abs(after - accuracy) < abs(before - accuracy)
    assert abs(after - accuracy) < 0.05


def test_temperature_of_nothing_is_one() -> None:
    assert fit_temperature(np.zeros((0, 3)), np.zeros(0, int)) == 1.0


def test_threshold_keeps_the_asked_share_of_in_scope_accuracy() -> None:
    rng = np.random.default_rng(1)
    in_scores = rng.uniform(0.3, 1.0, 1000)
    in_correct = rng.random(1000) < in_scores  # higher score, more often right
    oos_scores = rng.uniform(0.0, 0.6, 500)
    curve = rejection_curve(in_scores, in_correct, oos_scores)
    threshold, kept, recall = choose_threshold(curve, keep=0.95)
    base = curve[0][1]
    assert kept >= 0.95 * base - 1e-9
    assert recall is not None and recall > 0.3
    # a stricter keep never gives a higher threshold
    assert choose_threshold(curve, keep=0.99)[0] <= threshold


def test_without_out_of_scope_data_the_highest_allowed_threshold_wins() -> None:
    curve = [(0.0, 0.9, None), (0.5, 0.89, None), (0.7, 0.8, None)]
    assert choose_threshold(curve, keep=0.98)[0] == 0.5


def test_held_out_intents_simulate_unknown_intents() -> None:
    rng = np.random.default_rng(2)
    labels = [f"i{k}" for k in range(10)]
    gold_idx = rng.integers(0, 10, 2000)
    logits = rng.normal(0, 1, (2000, 10))
    logits[np.arange(2000), gold_idx] += 6.0  # a confident, mostly right model
    calibration = calibrate_oos(logits, labels, [labels[i] for i in gold_idx], temperature=1.0, keep=0.97)
    assert calibration.method == "held-out intents"
    assert calibration.oos_examples > 0
    assert calibration.threshold > 0.0
    assert calibration.oos_recall is not None and calibration.oos_recall > 0.5
    assert calibration.in_scope_accuracy >= 0.97 * calibration.in_scope_accuracy_without_threshold - 1e-9


def test_real_out_of_scope_examples_are_used_when_present() -> None:
    labels = ["greet", "nlu_fallback", "order"]
    rng = np.random.default_rng(3)
    gold = ["greet"] * 50 + ["order"] * 50 + ["nlu_fallback"] * 30
    logits = rng.normal(0, 0.5, (130, 3))
    for row, g in enumerate(gold):
        logits[row, labels.index(g)] += 3.0
    calibration = calibrate_oos(logits, labels, gold, temperature=1.0)
    assert calibration.method == "oos examples"
    assert calibration.oos_examples == 30


def test_in_scope_score_ignores_the_fallback_column() -> None:
    p = np.array([[0.7, 0.2, 0.1]])
    assert in_scope_score(p, ["nlu_fallback", "a", "b"])[0] == 0.2


def test_foreign_examples_do_not_lower_the_guard_against_unknown_intents() -> None:
    """Foreign examples the fallback class catches would set the threshold to 0 on their own;
    the held-out intents keep one that catches a question next to a known intent."""
    rng = np.random.default_rng(5)
    labels = ["nlu_fallback"] + [f"i{k}" for k in range(10)]
    gold_idx = list(rng.integers(1, 11, 1500)) + [0] * 100
    logits = rng.normal(0, 1, (1600, 11))
    logits[np.arange(1600), gold_idx] += 6.0  # foreign examples too land on their (fallback) class
    gold = [labels[i] for i in gold_idx]
    only_foreign = rejection_curve(
        in_scope_score(softmax(logits[:1500], 1.0), labels),
        np.array([labels[i] == g for i, g in zip(logits[:1500].argmax(1), gold[:1500])]),
        in_scope_score(softmax(logits[1500:], 1.0), labels), logits[1500:].argmax(1) == 0)
    assert choose_threshold(only_foreign, keep=0.97)[0] == 0.0  # what the data alone would choose
    calibration = calibrate_oos(logits, labels, gold, temperature=1.0, keep=0.97)
    assert calibration.method == "oos examples + held-out intents"
    assert calibration.threshold > 0.0
    assert calibration.oos_examples == 100 and calibration.oos_recall == 1.0
    assert calibration.held_out_intent_recall is not None and calibration.held_out_intent_recall > 0.5
    assert calibration.in_scope_accuracy >= 0.97 * calibration.in_scope_accuracy_without_threshold - 1e-9
