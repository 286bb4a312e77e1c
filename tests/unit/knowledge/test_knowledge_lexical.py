"""Live BM25 and its fusion with the dense score."""

from __future__ import annotations

import math

import numpy as np

from knowledge.base import Entry
from knowledge.index import KnowledgeBase
from knowledge.lexical import LexicalIndex, fuse, tokens


def test_tokens_drop_stopwords_and_punctuation() -> None:
    assert tokens("Where is MY VAT-invoice, please?") == ["vat", "invoice"]


def test_bm25_prefers_rare_matching_words_and_follows_removals() -> None:
    lex = LexicalIndex()
    lex.add(["vat invoice for my company", "invoice copy", "gift cards", "gift wrapping"])
    vat, copy, gift, wrap = lex.scores("vat invoice", [0, 1, 2, 3])
    assert vat > copy > 0 and gift == wrap == 0
    # idf of a word in 1 of 4 docs: ln(1 + (4 - 1 + 0.5) / (1 + 0.5))
    assert math.isclose(lex.scores("gift", [2])[0] / lex.scores("gift", [3])[0], 1.0)
    lex.remove(0)
    assert lex.scores("vat invoice", [0])[0] == 0.0
    assert lex.scores("vat", [1]) == [0.0]


def test_fuse_normalises_bm25_over_the_candidates() -> None:
    assert np.allclose(fuse([0.8, 0.7], [2.0, 6.0], 0.75), [0.6, 0.775])
    assert fuse([0.5], [0.0], 0.9) == [0.45]


def test_hybrid_weight_reranks_dense_candidates_by_words() -> None:
    entries = [Entry("a", "how do i get an invoice", "A", "invoice"), Entry("b", "where is my parcel", "B", "track")]
    vectors = np.array([[0.6, 0.8], [0.8, 0.6]], dtype=np.float32)
    kb = KnowledgeBase.build(entries, encoder=None, data_hash="t", vectors=vectors)  # type: ignore[arg-type]
    query = np.array([[1.0, 0.0]], dtype=np.float32)  # closer to "parcel" by cosine
    assert kb.search_vectors(query, 1, texts=["invoice please"])[0][0].id == "b"  # dense only
    kb.hybrid_weight = 0.7
    assert kb.search_vectors(query, 1, texts=["invoice please"])[0][0].id == "a"
    assert kb.search_vectors(query, 1)[0][0].id == "b"  # without the text: dense only
