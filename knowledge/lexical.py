"""BM25 over the knowledge base's questions, kept live (entries added and removed one by
one), used to re-rank the dense candidates: words the customer typed that match a logged
question exactly ("invoice", "Klarna", "VAT") count beyond what the embedding captures.

Okapi BM25 with k1=1.2, b=0.75 and idf = ln(1 + (N - df + 0.5) / (df + 0.5))."""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Iterable, Sequence

K1, B = 1.2, 0.75
_WORD = re.compile(r"[a-z0-9]+")
STOPWORDS = frozenset(
    "a an and are as at be but by can could do does for from had has have how i if in into is it its me my "
    "of on or our please so that the their them then there these they this to was we were what when where "
    "which who will with would you your".split()
)


def tokens(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


class LexicalIndex:
    """Term statistics by row position (the same positions as the FAISS index)."""

    def __init__(self) -> None:
        self._docs: list[Counter[str] | None] = []
        self._df: Counter[str] = Counter()
        self._length = 0
        self._alive = 0

    def add(self, texts: Iterable[str]) -> None:
        for text in texts:
            counts = Counter(tokens(text))
            self._docs.append(counts)
            self._df.update(counts.keys())
            self._length += sum(counts.values())
            self._alive += 1

    def remove(self, position: int) -> None:
        counts = self._docs[position]
        if counts is None:
            return
        self._docs[position] = None
        self._df.subtract(counts.keys())
        self._length -= sum(counts.values())
        self._alive -= 1

    def scores(self, query: str, positions: Sequence[int]) -> list[float]:
        words = set(tokens(query))
        if not words or self._alive == 0:
            return [0.0] * len(positions)
        avg = self._length / self._alive or 1.0
        idf = {w: math.log(1 + (self._alive - self._df[w] + 0.5) / (self._df[w] + 0.5)) for w in words}
        out = []
        for position in positions:
            doc = self._docs[position]
            if doc is None:
                out.append(0.0)
                continue
            size = sum(doc.values())
            score = 0.0
            for word in words:
                tf = doc.get(word, 0)
                if tf:
                    score += idf[word] * tf * (K1 + 1) / (tf + K1 * (1 - B + B * size / avg))
            out.append(score)
        return out


def fuse(dense: Sequence[float], lexical: Sequence[float], weight: float) -> list[float]:
    """weight * cosine + (1 - weight) * BM25 min-max normalised over the candidates."""
    low, high = min(lexical, default=0.0), max(lexical, default=0.0)
    span = high - low
    return [weight * d + (1 - weight) * ((x - low) / span if span > 0 else 0.0) for d, x in zip(dense, lexical)]
