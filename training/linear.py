"""Train the linear intent and sentiment heads over frozen MiniLM embeddings.

Out-of-scope: questions from the support logs (which the intents do not cover) become
examples of `nlu_fallback`, so log questions are routed to retrieval instead of being
forced into the nearest intent."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bot.domain import FALLBACK_INTENT
from bot.nlu.encoder import ENCODER_NAME, Encoder
from training.data import Example, NLUData

FORMAT_VERSION = "linear-1"
MAX_FALLBACK_EXAMPLES = 400


@dataclass
class TrainResult:
    model_dir: Path
    data_hash: str
    metrics: dict[str, Any]
    seconds: float


def _fit(vectors: np.ndarray, labels: list[str], seed: int) -> tuple[np.ndarray, np.ndarray, list[str], Any]:
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=10.0, max_iter=2000, random_state=seed)
    clf.fit(vectors, labels)
    classes = [str(c) for c in clf.classes_]
    coef, intercept = clf.coef_, clf.intercept_
    if len(classes) == 2:  # sklearn keeps one row for binary problems; expand to two for softmax
        coef = np.vstack([-coef[0] / 2, coef[0] / 2])
        intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
    return coef, intercept, classes, clf


def _cv_accuracy(vectors: np.ndarray, labels: list[str], seed: int) -> float | None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    counts = {label: labels.count(label) for label in set(labels)}
    folds = min(5, min(counts.values()))
    if folds < 2:
        return None
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = cross_val_score(LogisticRegression(C=10.0, max_iter=2000), vectors, labels, cv=splitter)
    return float(scores.mean())


def train_linear(
    nlu: NLUData,
    out_dir: Path,
    *,
    encoder: Encoder,
    data_hash: str,
    fallback_questions: list[str] | None = None,
    sentiment: NLUData | None = None,
    seed: int = 13,
) -> TrainResult:
    """Fit the heads and write the artifact atomically to `out_dir`."""
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    examples: list[Example] = list(nlu.examples)
    if fallback_questions:
        picked = list(fallback_questions)
        if len(picked) > MAX_FALLBACK_EXAMPLES:
            picked = [picked[i] for i in rng.choice(len(picked), MAX_FALLBACK_EXAMPLES, replace=False)]
        examples += [Example(q, FALLBACK_INTENT) for q in picked]
    texts, labels = [e.text for e in examples], [e.label for e in examples]
    vectors = encoder.encode(texts)
    coef, intercept, intents, _ = _fit(vectors, labels, seed)
    arrays: dict[str, np.ndarray] = {"intent_coef": coef, "intent_intercept": intercept}
    metrics: dict[str, Any] = {
        "examples": len(examples),
        "intents": len([i for i in intents if i != FALLBACK_INTENT]),
        "intent_cv_accuracy": _cv_accuracy(vectors, labels, seed),
    }
    sentiments: list[str] = []
    if sentiment and sentiment.examples:
        s_vectors = encoder.encode([e.text for e in sentiment.examples])
        s_labels = [e.label for e in sentiment.examples]
        s_coef, s_intercept, sentiments, _ = _fit(s_vectors, s_labels, seed)
        arrays.update(sentiment_coef=s_coef, sentiment_intercept=s_intercept)
        metrics["sentiment_examples"] = len(s_labels)
        metrics["sentiment_cv_accuracy"] = _cv_accuracy(s_vectors, s_labels, seed)
    meta = {
        "format": FORMAT_VERSION,
        "encoder": ENCODER_NAME,
        "intents": intents,
        "sentiments": sentiments,
        "regexes": nlu.regexes,
        "synonyms": nlu.synonyms,
        "data_hash": data_hash,
        "seed": seed,
        "metrics": metrics,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    write_artifact(out_dir, meta, arrays)
    return TrainResult(out_dir, data_hash, metrics, time.perf_counter() - started)


def write_artifact(out_dir: Path, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """Write to a temporary sibling then swap it in, so a reader never sees half a model."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    np.savez(tmp / "heads.npz", **arrays)
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)


def stored_hash(model_dir: Path) -> str | None:
    try:
        return json.loads((model_dir / "meta.json").read_text()).get("data_hash")
    except (OSError, ValueError):
        return None
