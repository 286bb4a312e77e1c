"""knowledge/dedup.py: exact and near duplicates, keeping the newest."""

from __future__ import annotations

import numpy as np
import pytest

from knowledge import dedup
from knowledge.base import Entry
from knowledge.dedup import drop_exact, drop_near, recency


def e(id: str, q: str = "Do you ship to Norway?", a: str = "Yes, in 4 days.", created_at: str | None = None) -> Entry:
    return Entry(id=id, question=q, answer=a, created_at=created_at)


def unit(*rows: list[float]) -> np.ndarray:
    x = np.asarray(rows, dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


# --- drop_exact ------------------------------------------------------------------------------


def test_exact_keeps_newest_and_input_order():
    entries = [
        e("old", created_at="2025-01-01T00:00:00Z"),
        e("other", q="Gift wrap?", a="Yes."),
        e("new", q="do you  ship to NORWAY?", a="Yes, in 4 days. ", created_at="2026-03-01T00:00:00+00:00"),
        e("none"),
    ]
    kept, dropped = drop_exact(entries)
    assert [x.id for x in kept] == ["other", "new"]
    assert dropped == 2


def test_exact_ties_keep_later_one():
    kept, dropped = drop_exact([e("a"), e("b"), e("c", a="No.")])
    assert [x.id for x in kept] == ["b", "c"]
    assert dropped == 1
    kept, _ = drop_exact([e("a", created_at="2026-01-01"), e("b", created_at="2026-01-01T00:00:00")])
    assert [x.id for x in kept] == ["b"]


def test_exact_different_answer_is_not_a_duplicate():
    kept, dropped = drop_exact([e("a"), e("b", a="Yes, in 5 days.")])
    assert len(kept) == 2 and dropped == 0


def test_exact_empty():
    assert drop_exact([]) == ([], 0)


def test_recency_order():
    assert recency(e("x")) == recency(e("x", created_at="not a date")) == (0, 0.0)  # both count as oldest
    assert recency(e("x")) < recency(e("x", created_at="1999-12-31"))
    assert recency(e("x", created_at="2026-01-01T10:00:00+02:00")) < recency(e("x", created_at="2026-01-01T09:00:00Z"))


# --- drop_near -------------------------------------------------------------------------------


def test_near_drops_similar_question_with_same_answer():
    entries = [
        e("a", "Do you ship to Norway?", "Yes, in 4 days.", "2025-01-01"),
        e("b", "Do you deliver to Norway?", "yes,  in 4 days.", "2026-01-01"),
        e("c", "Can I pay by invoice?", "Yes, with Klarna."),
    ]
    vectors = unit([1, 0.1, 0], [1, 0.12, 0], [0, 0, 1])
    kept, kept_vectors, dropped = drop_near(entries, vectors)
    assert [x.id for x in kept] == ["b", "c"]
    assert dropped == 1
    np.testing.assert_allclose(kept_vectors, vectors[[1, 2]])
    assert kept_vectors.dtype == np.float32


def test_near_keeps_similar_question_with_different_answer():
    entries = [e("a", a="Yes, in 4 days."), e("b", a="No, we only ship within the EU.")]
    kept, _, dropped = drop_near(entries, unit([1, 0], [1, 0.01]))
    assert [x.id for x in kept] == ["a", "b"] and dropped == 0


def test_near_answer_jaccard():
    long = "Open Orders, choose the order and press Cancel. The refund reaches your card in 5 days"
    close = long + " or less"  # 16 of 18 tokens shared: Jaccard 0.89
    far = "Open Orders and press Cancel"
    entries = [e("a", a=long), e("b", a=close), e("c", a=far)]
    kept, _, dropped = drop_near(entries, unit([1, 0], [1, 0.01], [1, 0.02]))
    assert [x.id for x in kept] == ["b", "c"] and dropped == 1


def test_near_threshold():
    entries = [e("a"), e("b")]
    vectors = unit([1, 0], [0.9, 0.436])  # cosine 0.9
    assert drop_near(entries, vectors)[2] == 0
    assert drop_near(entries, vectors, threshold=0.85)[2] == 1


def test_near_chain_keeps_the_end_nothing_covers():
    # a ~ b and b ~ c, but a !~ c: b (newest) covers both a and c.
    entries = [e("a", created_at="2025-01-01"), e("b", created_at="2026-01-01"), e("c", created_at="2024-01-01")]
    vectors = unit([1, 0], [0.96, 0.28], [0.85, 0.527])
    kept, _, dropped = drop_near(entries, vectors)
    assert [x.id for x in kept] == ["b"] and dropped == 2
    # a newest: a covers b; c (only similar to the dropped b) stays.
    entries = [e("a", created_at="2026-01-01"), e("b", created_at="2025-01-01"), e("c", created_at="2024-01-01")]
    kept, _, _ = drop_near(entries, vectors)
    assert [x.id for x in kept] == ["a", "c"]


def test_near_small_inputs_and_bad_shapes():
    assert drop_near([], np.zeros((0, 4), np.float32))[2] == 0
    kept, vectors, dropped = drop_near([e("a")], unit([1, 0]))
    assert [x.id for x in kept] == ["a"] and vectors.shape == (1, 2) and dropped == 0
    with pytest.raises(ValueError, match="one vector per entry"):
        drop_near([e("a"), e("b")], unit([1, 0]))


def test_near_many_entries_uses_clustered_search(monkeypatch):
    """Above EXACT_SEARCH_UP_TO the candidates come from the clustered search: same answer."""
    rng = np.random.default_rng(7)
    centres = rng.standard_normal((300, 32)).astype(np.float32)
    labels = np.repeat(np.arange(300), 4)
    x = centres[labels] + 0.01 * rng.standard_normal((1200, 32)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    # every fourth copy of a question has its own answer; the others share one
    entries = [e(str(i), f"q{i}", f"answer {labels[i]}" if i % 4 else f"special {i}") for i in range(1200)]
    exact = drop_near(entries, x)
    monkeypatch.setattr(dedup, "EXACT_SEARCH_UP_TO", 100)
    clustered = drop_near(entries, x)
    assert exact[2] == 600  # per group of 4: 3 share an answer, 2 of them go
    assert [x.id for x in clustered[0]] == [x.id for x in exact[0]]
    np.testing.assert_array_equal(clustered[1], exact[1])
