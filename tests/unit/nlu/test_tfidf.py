"""The TF-IDF ensemble partner: fit, save without pickle, load, same scores; and the mixing."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bot.nlu.tfidf import TfidfModel
from bot.nlu.transformer import log_softmax, mix

TEXTS = ["where is my order", "track my parcel", "my package is late", "refund please", "I want my money back",
         "give me a refund", "hello", "hi there", "good morning"]
LABELS = ["track"] * 3 + ["refund"] * 3 + ["greet"] * 3


def test_round_trip_gives_the_same_scores(tmp_path: Path) -> None:
    model = TfidfModel.fit(TEXTS, LABELS, label_order=["greet", "nlu_fallback", "refund", "track"])
    queries = ["where is my parcel", "refund my order", "hello!"]
    before = model.log_proba(queries)
    model.save(tmp_path, "tfidf_intent")
    assert not list(tmp_path.glob("*.pkl"))
    after = TfidfModel.load(tmp_path, "tfidf_intent").log_proba(queries)
    np.testing.assert_allclose(before, after, atol=1e-6)
    labels = ["greet", "nlu_fallback", "refund", "track"]
    assert [labels[i] for i in after.argmax(1)] == ["track", "refund", "greet"]
    # a label the data never had (here nlu_fallback) gets a negligible probability
    assert np.exp(after[:, 1]).max() < 1e-6
    np.testing.assert_allclose(np.exp(after).sum(1), 1.0, atol=1e-5)


def test_mix_weights_log_probabilities() -> None:
    logits = np.array([[2.0, 0.0, -1.0]])
    partner = np.log(np.array([[0.1, 0.8, 0.1]]))
    assert mix(logits, partner, 0.0) is logits
    assert mix(logits, None, 0.5) is logits
    np.testing.assert_allclose(mix(logits, partner, 1.0), partner)
    half = mix(logits, partner, 0.5)
    np.testing.assert_allclose(half, 0.5 * log_softmax(logits) + 0.5 * partner)


def test_scores_are_sklearns_own() -> None:
    """log_proba computes the features without sklearn's transform: the same numbers as the
    sparse matrix sklearn's fitted vectorizers give, for seen, unseen and empty texts."""
    from scipy.sparse import hstack

    model = TfidfModel.fit(TEXTS, LABELS, label_order=["greet", "refund", "track"])
    queries = ["where is my parcel", "REFUND my order!!", "hello hello hello", "", "zzz qqq", "señor, où est-il ?",
               "my my my package package", "track"]
    features = hstack([v.transform(queries) for v in model.vectorizers], format="csr")
    scores = np.asarray(features @ model.coef.T) + model.intercept
    expected = scores - np.log(np.exp(scores - scores.max(1, keepdims=True)).sum(1, keepdims=True)) \
        - scores.max(1, keepdims=True)
    np.testing.assert_allclose(model.log_proba(queries), expected, atol=1e-5)
    np.testing.assert_allclose(model.log_proba(queries[:1]), expected[:1], atol=1e-5)  # alone as in a batch
