"""bot/nlu/crf.py: BILOU constraints, Viterbi, marginals and the training loss, checked against
brute force over every tag sequence of short texts."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from bot.nlu.crf import FORBIDDEN, CRFWeights, constraints, crf_nll, marginals, viterbi
from bot.nlu.tagging import tag_names

TAGS = tag_names(["city||", "date||"])  # O, B/I/L/U-city, B/I/L/U-date


def _score(path: tuple[int, ...], emissions: np.ndarray, w: CRFWeights) -> float:
    total = w.start[path[0]] + emissions[0, path[0]] + w.end[path[-1]]
    for t in range(1, len(path)):
        total += w.transitions[path[t - 1], path[t]] + emissions[t, path[t]]
    return float(total)


def _valid(path: tuple[int, ...]) -> bool:
    rules = constraints(TAGS)
    return _score(path, np.zeros((len(path), len(TAGS))), CRFWeights(rules.transitions, rules.start, rules.end)) > -1


def test_constraints_follow_bilou() -> None:
    rules = constraints(TAGS)
    i = {t: k for k, t in enumerate(TAGS)}
    assert rules.transitions[i["B-city||"], i["L-city||"]] == 0
    assert rules.transitions[i["B-city||"], i["L-date||"]] == FORBIDDEN
    assert rules.transitions[i["O"], i["I-city||"]] == FORBIDDEN
    assert rules.transitions[i["U-city||"], i["B-date||"]] == 0
    assert rules.start[i["L-city||"]] == FORBIDDEN and rules.end[i["B-city||"]] == FORBIDDEN
    assert rules.start[i["U-date||"]] == 0 and rules.end[i["O"]] == 0


@pytest.mark.parametrize("seed", range(5))
def test_viterbi_and_marginals_match_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, length = len(TAGS), 3
    emissions = rng.normal(size=(length, n))
    w = CRFWeights.build(TAGS, rng.normal(size=(n, n)).astype(np.float32), rng.normal(size=n).astype(np.float32),
                         rng.normal(size=n).astype(np.float32))
    paths = list(itertools.product(range(n), repeat=length))
    scores = np.array([_score(p, emissions, w) for p in paths])
    best = paths[int(scores.argmax())]
    assert tuple(viterbi(emissions, w)) == best and _valid(best)
    probabilities = np.exp(scores - scores.max())
    probabilities /= probabilities.sum()
    expected = np.zeros((length, n))
    for p, prob in zip(paths, probabilities):
        for t, tag in enumerate(p):
            expected[t, tag] += prob
    got = marginals(emissions, w)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)


def test_training_loss_is_the_negative_log_likelihood() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    n, width = len(TAGS), 5
    w = CRFWeights.build(TAGS, rng.normal(size=(n, n)).astype(np.float32))
    emissions = rng.normal(size=(2, width, n)).astype(np.float32)
    i = {t: k for k, t in enumerate(TAGS)}
    # row 0: [CLS] B-city L-city O [SEP]; row 1: [CLS] U-date [SEP] pad pad (-100: no tag)
    targets = np.array([[-100, i["B-city||"], i["L-city||"], i["O"], -100],
                        [-100, i["U-date||"], -100, -100, -100]])
    mask = targets != -100
    loss = crf_nll(torch.tensor(emissions), torch.tensor(targets), torch.tensor(mask),
                   torch.tensor(w.transitions), torch.tensor(w.start), torch.tensor(w.end))
    expected = 0.0
    for row in range(2):
        kept = emissions[row][mask[row]]
        gold = tuple(int(t) for t in targets[row][mask[row]])
        scores = [_score(p, kept, w) for p in itertools.product(range(n), repeat=len(gold))]
        log_z = np.log(np.sum(np.exp(np.array(scores) - max(scores)))) + max(scores)
        expected += log_z - _score(gold, kept, w)
    assert float(loss) == pytest.approx(expected / mask.sum(), rel=1e-4)
