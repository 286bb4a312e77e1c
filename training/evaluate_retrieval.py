"""Retrieval quality of a knowledge index: does the top hit answer the query's intent?

Metrics over labelled queries (a question and its intent):
- `same_intent_at_1` / `same_intent_at_5`: the top hit / any of the top 5 hits has the query's intent;
- `mrr`: mean reciprocal rank of the first same-intent hit within k (0 when there is none);
- a threshold sweep over the top hit's score: `answered_rate` (share of queries whose top score is
  >= t), `wrong_rate` (share of ALL queries answered with a different-intent top hit) and
  `wrong_among_answered`;
- `answered_rate` / `wrong_rate` at one threshold, and single-query latency p50/p95.

Thresholds are calibrated by leave-one-out on the index's own entries (`calibrate_threshold`):
every indexed question is searched against the index with its own entry removed (search k+1,
drop the hit with the query's id), and the threshold is the lowest one whose wrong_rate on those
queries is <= `max_wrong`. This needs no held-out labels and never sees the test questions.

The scoring core (`summarize`, `threshold_sweep`, `lowest_threshold`) works on plain rankings of
(intent, score) pairs, so other retrievers (TF-IDF, hybrid, votes) are scored the same way."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from bot.errors import ConfigError
from knowledge.base import Hit

if TYPE_CHECKING:
    from bot.nlu.encoder import Encoder
    from knowledge.index import KnowledgeBase

Ranking = list[tuple[str | None, float]]  # (intent, score) per hit, best first
MAX_WRONG = 0.02
CALIBRATION_LIMIT = 5000


def rankings_of(hits: Sequence[Sequence[Hit]]) -> list[Ranking]:
    return [[(h.intent, h.score) for h in row] for row in hits]


def _top(rankings: Sequence[Ranking], intents: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The top score per query (-inf without hits) and whether the top hit has the query's intent."""
    scores = np.array([r[0][1] if r else -np.inf for r in rankings], dtype=np.float64)
    correct = np.array([bool(r) and r[0][0] == want for r, want in zip(rankings, intents)], dtype=bool)
    return scores, correct


def at_threshold(scores: np.ndarray, correct: np.ndarray, threshold: float) -> dict[str, float]:
    n = max(len(scores), 1)
    answered = scores >= threshold
    wrong = int(np.sum(answered & ~correct))
    return {
        "threshold": float(threshold),  # unrounded: rounding could move it across a score
        "answered_rate": round(float(answered.sum()) / n, 4),
        "wrong_rate": round(wrong / n, 4),
        "wrong_among_answered": round(wrong / int(answered.sum()), 4) if answered.any() else 0.0,
    }


def threshold_sweep(
    scores: np.ndarray, correct: np.ndarray, thresholds: Sequence[float] | None = None
) -> list[dict[str, float]]:
    """answered / wrong rates on a grid of thresholds (default: 101 steps over [min(0, lo), max(1, hi)])."""
    if thresholds is None:
        finite = scores[np.isfinite(scores)]
        lo = min(0.0, float(finite.min())) if finite.size else 0.0
        hi = max(1.0, float(finite.max())) if finite.size else 1.0
        thresholds = [round(float(t), 4) for t in np.linspace(lo, hi, 101)]
    return [at_threshold(scores, correct, t) for t in thresholds]


def lowest_threshold(scores: np.ndarray, correct: np.ndarray, max_wrong: float = MAX_WRONG) -> float:
    """The lowest threshold whose wrong_rate (wrong answers / all queries) is <= max_wrong.

    wrong_rate only falls as the threshold rises, and only changes at the observed scores, so the
    answer is one of them (or just above the highest score: answer nothing)."""
    finite = np.sort(np.unique(scores[np.isfinite(scores)]))
    if finite.size == 0:
        return 0.0
    n = len(scores)
    for t in finite:  # ascending; the first that passes is the lowest
        if np.sum((scores >= t) & ~correct) / n <= max_wrong:
            return float(t)
    return float(finite[-1]) + 1e-6


def summarize(
    rankings: Sequence[Ranking], intents: Sequence[str], *, threshold: float | None, max_wrong: float = MAX_WRONG
) -> dict[str, Any]:
    """Every metric but latency, from rankings (best first). threshold None: fitted on these queries."""
    if len(rankings) != len(intents):
        raise ValueError(f"{len(rankings)} rankings for {len(intents)} intents")
    n = max(len(intents), 1)
    at1 = at5 = 0
    rr = 0.0
    for ranking, want in zip(rankings, intents):
        ranks = [i for i, (intent, _) in enumerate(ranking, 1) if intent == want]
        at1 += bool(ranks) and ranks[0] == 1
        at5 += bool(ranks) and ranks[0] <= 5
        rr += 1.0 / ranks[0] if ranks else 0.0
    scores, correct = _top(rankings, intents)
    source = "given"
    if threshold is None:
        threshold, source = lowest_threshold(scores, correct, max_wrong), "fitted on the evaluated queries"
    chosen = at_threshold(scores, correct, threshold)
    return {
        "queries": len(intents),
        "same_intent_at_1": round(at1 / n, 4),
        "same_intent_at_5": round(at5 / n, 4),
        "mrr": round(rr / n, 4),
        **chosen,
        "threshold_source": source,
        "sweep": threshold_sweep(scores, correct),
    }


def _encoder(kb: "KnowledgeBase", encoder: "Encoder | None") -> "Encoder":
    chosen = encoder if encoder is not None else kb.encoder
    if chosen is None:
        raise ValueError("pass query vectors or an encoder")
    return chosen


def percentiles(samples_ms: Sequence[float]) -> dict[str, float]:
    if not samples_ms:
        return {"latency_ms_p50": 0.0, "latency_ms_p95": 0.0}
    ordered = sorted(samples_ms)
    return {
        "latency_ms_p50": round(statistics.median(ordered), 3),
        "latency_ms_p95": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 3),
    }


def search_latency(
    kb: "KnowledgeBase", questions: Sequence[str], *, k: int, encoder: "Encoder | None", vectors: np.ndarray | None,
    limit: int = 200,
) -> dict[str, Any]:
    """Single-query latency on up to `limit` queries: encode + search with an encoder, else search only."""
    count = min(limit, len(questions))
    samples: list[float] = []
    if encoder is not None:
        encoder.encode([questions[0]] if count else ["warm up"])
        for text in questions[:count]:
            started = time.perf_counter()
            kb.search_vectors(encoder.encode([text]), k, texts=[text])
            samples.append((time.perf_counter() - started) * 1000)
        scope = "encode+search"
    else:
        assert vectors is not None
        for text, row in zip(questions, vectors[:count]):
            started = time.perf_counter()
            kb.search_vectors(row.reshape(1, -1), k, texts=[text])
            samples.append((time.perf_counter() - started) * 1000)
        scope = "search"
    return {**percentiles(samples), "latency_queries": count, "latency_scope": scope}


def evaluate_retrieval(
    kb: "KnowledgeBase", questions: Sequence[str], intents: Sequence[str], *, threshold: float | None, k: int = 5,
    encoder: "Encoder | None" = None, vectors: np.ndarray | None = None, max_wrong: float = MAX_WRONG,
    latency_queries: int = 200,
) -> dict[str, Any]:
    """Score `kb` on labelled queries. Pass `vectors` (normalised, one row per question) to skip
    encoding; with `encoder=None` too, latency covers the index search only. `threshold=None`
    fits it on these very queries (optimistic): callers should pass one calibrated on train."""
    if vectors is None:
        encoder = _encoder(kb, encoder)
        vectors = encoder.encode(list(questions))
    hits = kb.search_vectors(vectors, k, texts=list(questions))
    report = summarize(rankings_of(hits), intents, threshold=threshold, max_wrong=max_wrong)
    report["k"] = k
    report.update(search_latency(kb, questions, k=k, encoder=encoder, vectors=vectors, limit=latency_queries))
    return report


def leave_one_out_hits(
    kb: "KnowledgeBase", vectors: np.ndarray, ids: Sequence[str | None], questions: Sequence[str], k: int
) -> list[list[Hit]]:
    """Search each vector for k+1 hits and drop the query's own entry (by id, else by same question)."""
    rows = kb.search_vectors(vectors, k + 1, texts=list(questions))
    kept = []
    for own_id, question, hits in zip(ids, questions, rows):
        if own_id is not None:
            others = [h for h in hits if h.id != own_id]
        else:
            others = [h for h in hits if h.question != question]
        kept.append(others[:k])
    return kept


def calibrate_threshold(
    kb: "KnowledgeBase", questions: Sequence[str], intents: Sequence[str], *, ids: Sequence[str | None] | None = None,
    vectors: np.ndarray | None = None, encoder: "Encoder | None" = None, max_wrong: float = MAX_WRONG, k: int = 5,
) -> float:
    """Leave-one-out calibration: `questions` are entries of `kb` (their `ids`; without ids, the hit with
    the same question text is the one left out). Returns the lowest threshold with wrong_rate <= max_wrong."""
    if vectors is None:
        vectors = _encoder(kb, encoder).encode(list(questions))
    hits = leave_one_out_hits(kb, vectors, list(ids) if ids is not None else [None] * len(questions), questions, k)
    scores, correct = _top(rankings_of(hits), intents)
    return lowest_threshold(scores, correct, max_wrong)


def index_calibration_set(
    kb: "KnowledgeBase", encoder: "Encoder | None", limit: int = CALIBRATION_LIMIT, seed: int = 13
) -> tuple[list[str], list[str], list[str | None], np.ndarray]:
    """(questions, intents, ids, vectors) of up to `limit` indexed entries that carry an intent.
    Vectors come from the index itself when it has no deleted rows, else they are re-encoded."""
    entries = kb.entries
    chosen = [i for i, e in enumerate(entries) if e.intent]
    if not chosen:
        raise ConfigError("the index's entries carry no intents: pass --threshold to evaluate it")
    if len(chosen) > limit:
        chosen = sorted(np.random.default_rng(seed).choice(chosen, size=limit, replace=False).tolist())
    picked = [entries[i] for i in chosen]
    if kb.index.ntotal == len(entries):  # no tombstones: row i of the index is entries[i]
        vectors = np.vstack([kb.index.index.reconstruct(int(i)) for i in chosen]).astype(np.float32)
    else:
        vectors = _encoder(kb, encoder).encode([e.question for e in picked])
    return [e.question for e in picked], [str(e.intent) for e in picked], [e.id for e in picked], vectors


def plot_sweep(sweep: Sequence[dict[str, float]], path: Path, *, threshold: float | None = None,
               title: str = "Retrieval threshold sweep") -> Path:
    """Answered rate and wrong-answer rate against the threshold, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ts = [row["threshold"] for row in sweep]
    wrong = [row["wrong_rate"] for row in sweep]
    among = [row["wrong_among_answered"] for row in sweep]
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    lines = ax.plot(ts, [row["answered_rate"] for row in sweep], color="tab:blue", label="answered rate (left)")
    ax.set(xlabel="threshold on the top hit's score", ylabel="answered share", title=title, ylim=(-0.02, 1.02))
    ax.grid(alpha=0.3)
    right = ax.twinx()  # wrong rates are small: their own scale
    lines += right.plot(ts, wrong, color="tab:red", label="wrong answers / all queries (right)")
    lines += right.plot(ts, among, ":", color="tab:orange", label="wrong among answered (right)")
    lines.append(right.axhline(MAX_WRONG, color="tab:red", linewidth=0.6, alpha=0.5, label=f"{MAX_WRONG:.0%} wrong"))
    right.set(ylabel="wrong share", ylim=(0, max([MAX_WRONG, *wrong, *among]) * 1.15))
    if threshold is not None:
        lines.append(ax.axvline(threshold, color="grey", linestyle="--", label=f"threshold {threshold:.3f}"))
    ax.legend(handles=lines, loc="center left", fontsize=7)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
