"""The searchable knowledge base: a FAISS index of support-log questions plus their entries.

Built from files by `switchboard index` (an artifact directory: faiss.index, entries.jsonl,
manifest.json), then kept live in the server: entries added or deleted through the API, by
agents, or by another worker (replayed from SQL) are searchable at once. A lock serialises
FAISS access, so searches running during an add are safe."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from bot.artifacts import staged_dir
from bot.errors import ConfigError
from bot.nlu.encoder import ENCODER_NAME, Encoder
from knowledge.base import Entry, Hit
from knowledge.lexical import LexicalIndex, fuse
from knowledge.vectors import VectorIndex, kind_for

FORMAT_VERSION = "knowledge-2"
HYBRID_CANDIDATES = 20  # dense candidates re-ranked by the hybrid score


class KnowledgeBase:
    """Implements `Retriever`."""

    def __init__(
        self, index: VectorIndex, entries: list[Entry | None], encoder: Encoder, manifest: dict[str, Any]
    ) -> None:
        if index.ntotal != len(entries):
            raise ConfigError(f"the index holds {index.ntotal} vectors for {len(entries)} entries")
        self.index, self.encoder, self.manifest = index, encoder, manifest
        self._rows: list[Entry | None] = list(entries)  # by FAISS position; None = deleted
        self._where: dict[str, int] = {e.id: i for i, e in enumerate(entries) if e is not None}
        self._dead = len(entries) - len(self._where)
        self.lexical = LexicalIndex()
        self.lexical.add(e.question if e is not None else "" for e in entries)
        for position, entry in enumerate(entries):
            if entry is None:
                self.lexical.remove(position)
        # with a weight, dense candidates are re-ranked by cosine fused with BM25 (set by calibration)
        self.hybrid_weight: float | None = manifest.get("hybrid_weight")
        self._lock = threading.Lock()
        self.seq = 0  # the last SQL change applied (see knowledge/sync.py)

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._where

    def get(self, entry_id: str) -> Entry | None:
        with self._lock:
            position = self._where.get(entry_id)
            return self._rows[position] if position is not None else None

    # -- building ---------------------------------------------------------------------------
    @classmethod
    def build(
        cls, entries: list[Entry], encoder: Encoder, *, data_hash: str, kind: str | None = None,
        vectors: np.ndarray | None = None, progress: bool = False, stats: dict[str, Any] | None = None,
    ) -> "KnowledgeBase":
        started = time.perf_counter()
        if vectors is None:
            vectors = encoder.encode([e.question for e in entries], progress=progress) if entries \
                else np.zeros((0, 384), np.float32)
        kind = kind or kind_for(len(entries))
        index = VectorIndex.create(int(vectors.shape[1]), kind)
        index.add(vectors)
        manifest = {
            "format": FORMAT_VERSION, "encoder": getattr(encoder, "name", ENCODER_NAME), "dim": int(vectors.shape[1]), "count": len(entries),
            "kind": kind, "data_hash": data_hash, "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "build_seconds": round(time.perf_counter() - started, 2), "ingest": stats or {},
        }
        return cls(index, entries, encoder, manifest)

    def save(self, out_dir: Path) -> None:
        """Write the artifact atomically (a temporary sibling swapped in). Live changes are in SQL."""
        with staged_dir(out_dir) as tmp:
            with self._lock:
                self.index.save(tmp / "faiss.index")
                with (tmp / "entries.jsonl").open("w", encoding="utf-8") as fh:
                    for entry in self._rows:
                        fh.write(json.dumps(asdict(entry) if entry else None) + "\n")
            (tmp / "manifest.json").write_text(json.dumps(self.manifest, indent=2))

    @classmethod
    def load(cls, path: Path, encoder: Encoder) -> "KnowledgeBase":
        if not (path / "manifest.json").exists():
            raise ConfigError(f"no knowledge index in {path}: run `switchboard index` (or `switchboard train`)")
        manifest = json.loads((path / "manifest.json").read_text())
        if manifest.get("format") != FORMAT_VERSION:
            raise ConfigError(f"{path} was built by another version: run `switchboard index --force`")
        rows = [json.loads(line) for line in (path / "entries.jsonl").read_text(encoding="utf-8").splitlines()]
        entries = [Entry(**{**row, "tags": tuple(row.get("tags") or ())}) if row else None for row in rows]
        return cls(VectorIndex.load(path / "faiss.index", manifest["kind"]), entries, encoder, manifest)

    def vectors_by_question(self) -> dict[str, np.ndarray]:
        """The stored vector of every live question (to reuse instead of embedding again)."""
        with self._lock:
            return {e.question: self.index.index.reconstruct(p) for p, e in enumerate(self._rows) if e is not None}

    @property
    def entries(self) -> list[Entry]:
        with self._lock:
            return [e for e in self._rows if e is not None]

    # -- searching --------------------------------------------------------------------------
    def search(self, query: str, k: int, *, vector: np.ndarray | None = None) -> list[Hit]:
        if vector is None:
            vector = self.encoder.encode([query])[0]
        return self.search_vectors(np.asarray(vector, dtype=np.float32).reshape(1, -1), k, texts=[query])[0]

    def search_vectors(self, vectors: np.ndarray, k: int, *, texts: Sequence[str] | None = None) -> list[list[Hit]]:
        """The k best entries per query vector; with `texts` and a hybrid weight, the dense
        candidates are re-ranked by the fused score (which then is the hits' score)."""
        hybrid = self.hybrid_weight is not None and texts is not None
        wanted = max(k, HYBRID_CANDIDATES) if hybrid else k
        results = []
        with self._lock:
            if not self._where:
                return [[] for _ in range(len(vectors))]
            scores, positions = self.index.search(vectors, wanted + self._dead)
            for row, (row_scores, row_positions) in enumerate(zip(scores, positions)):
                found = [(float(s), int(p)) for s, p in zip(row_scores, row_positions)
                         if p >= 0 and self._rows[p] is not None][:wanted]
                if hybrid and found:
                    assert texts is not None and self.hybrid_weight is not None
                    lexical = self.lexical.scores(texts[row], [p for _, p in found])
                    fused = fuse([s for s, _ in found], lexical, self.hybrid_weight)
                    found = sorted(((f, p) for f, (_, p) in zip(fused, found)), key=lambda x: -x[0])
                hits = []
                for score, position in found[:k]:
                    entry = self._rows[position]
                    assert entry is not None
                    hits.append(Hit(entry.id, entry.question, entry.answer, score, entry.intent))
                results.append(hits)
        return results

    # -- live changes -----------------------------------------------------------------------
    def add(self, entries: Iterable[Entry], vectors: np.ndarray | None = None) -> None:
        """Add or replace entries (embedding them unless `vectors` is given); searchable on return."""
        entries = list(entries)
        if not entries:
            return
        if vectors is None:
            vectors = self.encoder.encode([e.question for e in entries])
        with self._lock:
            for entry in entries:
                self._kill(entry.id)
            base = len(self._rows)
            self.index.add(vectors)
            self._rows.extend(entries)
            self.lexical.add(e.question for e in entries)
            for offset, entry in enumerate(entries):
                self._where[entry.id] = base + offset

    def remove(self, ids: Iterable[str]) -> int:
        with self._lock:
            return sum(self._kill(i) for i in ids)

    def _kill(self, entry_id: str) -> bool:
        position = self._where.pop(entry_id, None)
        if position is None:
            return False
        self._rows[position] = None
        self.lexical.remove(position)
        self._dead += 1
        return True


def stored_hash(path: Path) -> str | None:
    try:
        manifest = json.loads((path / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    return manifest.get("data_hash") if manifest.get("format") == FORMAT_VERSION else None
