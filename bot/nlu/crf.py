"""A linear-chain CRF over BILOU tags, for the entity head (bot/nlu/tagging.py).

The token head gives each word piece a score per tag (emissions); the CRF adds a learned score
for each pair of consecutive tags and for the first and last tag, and forbids the pairs BILOU
cannot have (an `I-city` after `O`, an `L-date` after `B-city`, a span left open at the end). So
a span is decoded whole, with one type, instead of piece by piece (DIET's CRF does the same).

Serving (numpy): `viterbi` for the best tag sequence and `marginals` (forward-backward) for each
piece's tag probabilities, from which an entity's `confidence_entity` is read. Training (torch):
`crf_nll`, the negative log-likelihood of the gold tags. Both apply `constraints(tags)`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

FORBIDDEN = -1e4  # added to a forbidden transition's score (not -inf: the gradients stay finite)


@dataclass(frozen=True)
class Constraints:
    transitions: np.ndarray  # (T, T): 0 where tag j may follow tag i, FORBIDDEN otherwise
    start: np.ndarray  # (T,): 0 for a tag a sequence may start with
    end: np.ndarray  # (T,): 0 for a tag a sequence may end with


def _parts(tag: str) -> tuple[str, str]:
    prefix, _, label = tag.partition("-")
    return prefix, label


def constraints(tags: Sequence[str]) -> Constraints:
    """BILOU's rules: after O, L- or U- (nothing open) come O, B- or U-; after B-x or I-x (x open)
    come I-x or L-x; a sequence starts with nothing open and ends with nothing open."""
    n = len(tags)
    transitions = np.full((n, n), FORBIDDEN, np.float32)
    start = np.full(n, FORBIDDEN, np.float32)
    end = np.full(n, FORBIDDEN, np.float32)
    for j, tag in enumerate(tags):
        prefix, _ = _parts(tag)
        if tag == "O" or prefix in ("B", "U"):
            start[j] = 0.0
        if tag == "O" or prefix in ("L", "U"):
            end[j] = 0.0
    for i, before in enumerate(tags):
        p_before, l_before = _parts(before)
        open_label = l_before if p_before in ("B", "I") else None
        for j, after in enumerate(tags):
            p_after, l_after = _parts(after)
            if open_label is None:
                ok = after == "O" or p_after in ("B", "U")
            else:
                ok = p_after in ("I", "L") and l_after == open_label
            if ok:
                transitions[i, j] = 0.0
    return Constraints(transitions, start, end)


@dataclass(frozen=True)
class CRFWeights:
    """The learned scores, with BILOU's constraints folded in."""

    transitions: np.ndarray  # (T, T)
    start: np.ndarray  # (T,)
    end: np.ndarray  # (T,)

    @classmethod
    def build(cls, tags: Sequence[str], transitions: np.ndarray | None = None, start: np.ndarray | None = None,
              end: np.ndarray | None = None) -> "CRFWeights":
        rules = constraints(tags)
        n = len(tags)
        learned_t = transitions if transitions is not None else np.zeros((n, n), np.float32)
        learned_s = start if start is not None else np.zeros(n, np.float32)
        learned_e = end if end is not None else np.zeros(n, np.float32)
        return cls(learned_t + rules.transitions, learned_s + rules.start, learned_e + rules.end)


def viterbi(emissions: np.ndarray, weights: CRFWeights) -> list[int]:
    """The best tag sequence for one text: `emissions` (L, T) are the head's scores per piece."""
    length = emissions.shape[0]
    if length == 0:
        return []
    score = weights.start + emissions[0]
    back = np.zeros((length, emissions.shape[1]), np.int64)
    for t in range(1, length):
        candidates = score[:, None] + weights.transitions  # (from, to)
        back[t] = candidates.argmax(axis=0)
        score = candidates.max(axis=0) + emissions[t]
    best = int(np.argmax(score + weights.end))
    path = [best]
    for t in range(length - 1, 0, -1):
        best = int(back[t, best])
        path.append(best)
    return path[::-1]


def _logsumexp(values: np.ndarray, axis: int) -> np.ndarray:
    top = values.max(axis=axis, keepdims=True)
    return np.squeeze(top, axis=axis) + np.log(np.exp(values - top).sum(axis=axis))


def marginals(emissions: np.ndarray, weights: CRFWeights) -> np.ndarray:
    """P(tag of piece t = j | text) for one text, by forward-backward in log space: (L, T)."""
    length, n = emissions.shape
    if length == 0:
        return np.zeros((0, n), np.float32)
    alpha = np.zeros((length, n), np.float64)
    beta = np.zeros((length, n), np.float64)
    alpha[0] = weights.start + emissions[0]
    for t in range(1, length):
        alpha[t] = _logsumexp(alpha[t - 1][:, None] + weights.transitions, axis=0) + emissions[t]
    beta[-1] = weights.end
    for t in range(length - 2, -1, -1):
        beta[t] = _logsumexp(weights.transitions + (emissions[t + 1] + beta[t + 1])[None, :], axis=1)
    log_z = _logsumexp(alpha[-1] + weights.end, axis=0)
    return np.exp(alpha + beta - log_z).astype(np.float32)


def crf_nll(emissions: Any, targets: Any, mask: Any, transitions: Any, start: Any, end: Any) -> Any:
    """The mean negative log-likelihood per tagged piece of the gold tags (torch).

    emissions (B, L, T); targets (B, L) tag ids; mask (B, L) bool, True on the tagged pieces (each
    row's tagged pieces need not be contiguous: they are packed to the front first); transitions
    (T, T), start and end (T,) already include the constraints. Rows with no tagged piece add 0."""
    import torch

    # pack each row's tagged pieces to the front, in order, so the mask becomes a prefix
    order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)
    emissions = emissions.gather(1, order.unsqueeze(-1).expand_as(emissions))
    targets = targets.gather(1, order).clamp(min=0)
    mask = mask.gather(1, order)
    lengths = mask.sum(1)
    rows = lengths > 0
    if not bool(rows.any()):
        return emissions.sum() * 0.0
    emissions, targets, mask, lengths = emissions[rows], targets[rows], mask[rows], lengths[rows]
    batch, width, _ = emissions.shape
    index = torch.arange(batch)

    # the gold sequence's score
    gold = start[targets[:, 0]] + emissions[index, 0, targets[:, 0]]
    for t in range(1, width):
        step = transitions[targets[:, t - 1], targets[:, t]] + emissions[index, t, targets[:, t]]
        gold = gold + step * mask[:, t]
    last = targets[index, lengths - 1]
    gold = gold + end[last]

    # the partition function (forward algorithm)
    alpha = start.unsqueeze(0) + emissions[:, 0]
    for t in range(1, width):
        nxt = torch.logsumexp(alpha.unsqueeze(2) + transitions.unsqueeze(0), dim=1) + emissions[:, t]
        alpha = torch.where(mask[:, t].unsqueeze(1), nxt, alpha)
    log_z = torch.logsumexp(alpha + end.unsqueeze(0), dim=1)
    return (log_z - gold).sum() / lengths.sum().clamp(min=1)
