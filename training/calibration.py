"""Honest confidence and the out-of-scope threshold, both chosen on held-out data.

1. Temperature scaling: one scalar T that minimises the negative log-likelihood of the dev
   slice, so a confidence of 0.8 is right about 80 % of the time.
2. Out-of-scope threshold on the calibrated in-scope score (the best in-scope probability):
   among thresholds that keep in-scope accuracy >= `keep` x the accuracy without a threshold,
   the one with the best balanced accuracy (in-scope accuracy + out-of-scope recall) / 2.
   Out-of-scope examples come from holding out whole intents (their columns are removed from
   the dev slice's logits, so their examples look like intents the model does not know) and
   from the data (labels `oos`, `out_of_scope`, `nlu_fallback`: the foreign corpus, the
   project's own). With both, the higher of the two thresholds wins. The data's foreign
   examples are mostly caught by the fallback class the model learns from them, so on their
   own they set the threshold to 0, and a question next to a known intent (a bank's "cancel my
   transfer" beside "my transfer failed") then went through whatever its score: on BANKING77
   with 10 intents held out, 1.5 % of them were caught, against 53 % with both (bench/nlu_bench.py)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from bot.domain import FALLBACK_INTENT
from bot.nlu.transformer import NOT_INTENTS, in_scope_score, softmax

OOS_LABELS = frozenset({"oos", "out_of_scope", "out-of-scope", FALLBACK_INTENT})
MIN_OOS_EXAMPLES = 10


@dataclass(frozen=True)
class OOSCalibration:
    threshold: float
    keep: float
    method: str  # "oos examples" | "held-out intents" | "oos examples + held-out intents" | "none"
    in_scope_accuracy: float  # on the dev slice, at the threshold
    in_scope_accuracy_without_threshold: float
    oos_recall: float | None  # on the dev slice's (real or simulated) out-of-scope examples
    oos_examples: int
    held_out_intent_recall: float | None = None  # with both sources: recall on the simulated unknown intents


MIN_DEV_ERRORS = 5  # a dev slice the model gets (almost) all right cannot tell how sure to be


def fit_temperature(logits: np.ndarray, targets: np.ndarray) -> float:
    """The T in (0.05, 20) minimising the NLL of softmax(logits / T): a log grid, then a finer
    one. With fewer than MIN_DEV_ERRORS mistakes on the dev slice the NLL keeps falling as T
    shrinks (every answer looks certain), so T stays 1."""
    if len(targets) == 0 or int((logits.argmax(1) != targets).sum()) < MIN_DEV_ERRORS:
        return 1.0

    def nll(t: float) -> float:
        p = softmax(logits, t)[np.arange(len(targets)), targets]
        return float(-np.log(np.clip(p, 1e-12, None)).mean())

    grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 61))
    best = min(grid, key=nll)
    fine = np.linspace(best / 1.2, best * 1.2, 41)
    return float(min(fine, key=nll))


def rejection_curve(
    in_scores: np.ndarray, in_correct: np.ndarray, oos_scores: np.ndarray, oos_caught: np.ndarray | None = None
) -> list[tuple[float, float, float | None]]:
    """(threshold, in-scope accuracy, out-of-scope recall) for each candidate threshold.
    `oos_caught` marks out-of-scope examples rejected whatever the threshold (top = fallback)."""
    candidates = np.unique(np.concatenate([[0.0], in_scores, oos_scores]))
    caught = oos_caught if oos_caught is not None else np.zeros(len(oos_scores), bool)
    curve = []
    for t in candidates:
        accuracy = float(np.mean(in_correct & (in_scores >= t))) if len(in_scores) else 0.0
        recall = float(np.mean(caught | (oos_scores < t))) if len(oos_scores) else None
        curve.append((float(t), accuracy, recall))
    return curve


def choose_threshold(curve: list[tuple[float, float, float | None]], keep: float) -> tuple[float, float, float | None]:
    """The point of the curve with the best balanced accuracy among those keeping in-scope
    accuracy >= keep x its value at threshold 0; without out-of-scope data, the highest such."""
    base = curve[0][1]
    allowed = [point for point in curve if point[1] >= keep * base - 1e-12]
    if all(point[2] is None for point in allowed):
        return max(allowed, key=lambda point: point[0])
    return max(allowed, key=lambda point: ((point[1] + (point[2] or 0.0)) / 2, -point[0]))


def calibrate_oos(
    logits: np.ndarray,
    labels: Sequence[str],
    gold: Sequence[str],
    *,
    temperature: float,
    keep: float = 0.97,
    seed: int = 13,
    rounds: int = 5,
) -> OOSCalibration:
    """Pick the out-of-scope threshold on the dev slice (`logits` with `gold` labels)."""
    gold = list(gold)
    is_oos = np.array([g in NOT_INTENTS for g in gold])  # foreign, or a question for the logs: no intent
    probabilities = softmax(logits, temperature)
    near, n_near = _held_out_intent_curve(logits, labels, gold, temperature, seed, rounds)
    if is_oos.sum() < MIN_OOS_EXAMPLES:
        threshold, accuracy, recall = choose_threshold(near, keep)
        return OOSCalibration(threshold, keep, "held-out intents" if n_near else "none", accuracy, near[0][1], recall,
                              n_near)
    scores = in_scope_score(probabilities, labels)
    top = [labels[i] for i in probabilities.argmax(1)]
    in_correct = np.array([t == g for t, g in zip(top, gold)])[~is_oos]
    caught = np.array([t in NOT_INTENTS for t in top])[is_oos]
    curve = rejection_curve(scores[~is_oos], in_correct, scores[is_oos], caught)
    threshold = choose_threshold(curve, keep)[0]
    near_recall = None
    if n_near:
        threshold = max(threshold, choose_threshold(near, keep)[0])
        near_recall = [point for point in near if point[0] <= threshold][-1][2]
    # the data's curve read at the threshold chosen: its candidates are its own scores
    accuracy = float(np.mean(in_correct & (scores[~is_oos] >= threshold))) if (~is_oos).any() else 0.0
    recall = float(np.mean(caught | (scores[is_oos] < threshold)))
    method = "oos examples + held-out intents" if n_near else "oos examples"
    return OOSCalibration(threshold, keep, method, accuracy, curve[0][1], recall, int(is_oos.sum()), near_recall)


def _held_out_intent_curve(
    logits: np.ndarray, labels: Sequence[str], gold: Sequence[str], temperature: float, seed: int, rounds: int
) -> tuple[list[tuple[float, float, float | None]], int]:
    """Pool `rounds` simulations, each holding out ~15 % of the intents (at least one)."""
    rng = random.Random(seed)
    intents = sorted({g for g in gold if g in labels and g not in NOT_INTENTS})
    if len(intents) < 3:
        probabilities = softmax(logits, temperature)
        scores = in_scope_score(probabilities, labels)
        correct = np.array([labels[i] == g for i, g in zip(probabilities.argmax(1), gold)])
        return rejection_curve(scores, correct, np.zeros(0)), 0
    k = max(1, round(0.15 * len(intents)))
    in_scores, in_correct, oos_scores = [], [], []
    for _ in range(rounds):
        held = set(rng.sample(intents, k))
        keep_columns = [i for i, label in enumerate(labels) if label not in held]
        kept_labels = [labels[i] for i in keep_columns]
        probabilities = softmax(logits[:, keep_columns], temperature)
        scores = in_scope_score(probabilities, kept_labels)
        top = [kept_labels[i] for i in probabilities.argmax(1)]
        for row, g in enumerate(gold):
            if g in held:
                oos_scores.append(scores[row])
            elif g not in NOT_INTENTS:
                in_scores.append(scores[row])
                in_correct.append(top[row] == g)
    curve = rejection_curve(np.array(in_scores), np.array(in_correct), np.array(oos_scores))
    return curve, len(oos_scores)
