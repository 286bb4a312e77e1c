"""The FAISS index of question vectors, chosen by size.

- below HNSW_FROM entries: `IndexFlatIP`, exact inner product (cosine on normalised vectors);
- from HNSW_FROM entries: `IndexHNSWFlat` (inner product), M=32 links per node,
  efConstruction=80 while building, efSearch=96 while searching: recall@5 against exact
  search is measured by `make bench` (bench/knowledge_scale.py).

Rows are addressed by position (0..n-1), appended in order; deletes are the caller's
tombstones, since HNSW cannot remove vectors. Not thread-safe: KnowledgeBase serialises access.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

HNSW_FROM = 20_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 96


def kind_for(count: int) -> str:
    return "hnsw" if count >= HNSW_FROM else "flat"


class VectorIndex:
    def __init__(self, index: Any, kind: str) -> None:
        self.index, self.kind = index, kind

    @classmethod
    def create(cls, dim: int, kind: str) -> "VectorIndex":
        import faiss

        if kind == "flat":
            return cls(faiss.IndexFlatIP(dim), kind)
        if kind == "hnsw":
            index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
            index.hnsw.efSearch = HNSW_EF_SEARCH
            return cls(index, kind)
        raise ValueError(f"unknown index kind {kind!r}: flat or hnsw")

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    def add(self, vectors: np.ndarray) -> None:
        if len(vectors):
            self.index.add(np.ascontiguousarray(vectors, dtype=np.float32))

    def search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = max(1, min(k, self.ntotal))
        return self.index.search(np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, vectors.shape[-1]), k)

    def save(self, path: Path) -> None:
        import faiss

        faiss.write_index(self.index, str(path))

    @classmethod
    def load(cls, path: Path, kind: str) -> "VectorIndex":
        import faiss

        index = faiss.read_index(str(path))
        if kind == "hnsw":
            index.hnsw.efSearch = HNSW_EF_SEARCH
        return cls(index, kind)
