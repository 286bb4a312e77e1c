"""Retrieval interface and its result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class Entry:
    """One past support exchange: a customer question and the agent's answer."""

    id: str
    question: str
    answer: str
    intent: str | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)
    created_at: str | None = None  # ISO 8601; the newest of near-duplicates is kept
    source: str = "logs"  # "logs" (ingested files), "api" (POST /knowledge/entries), "agent" (approved reply)


@dataclass(frozen=True)
class Hit:
    id: str
    question: str
    answer: str
    score: float
    intent: str | None = None


class Retriever(Protocol):
    def search(self, query: str, k: int, *, vector: np.ndarray | None = None) -> list[Hit]:
        """The k entries closest to `query` (or to its precomputed normalised `vector`), best first."""
