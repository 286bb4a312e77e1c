"""Build, save and load the FAISS index of support-log questions (exact inner product on
normalised vectors, i.e. cosine similarity)."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from bot.errors import ConfigError
from bot.nlu.encoder import ENCODER_NAME, Encoder
from knowledge.base import Entry, Hit

FORMAT_VERSION = "flat-ip-1"


class KnowledgeIndex:
    """Implements `Retriever` over an in-memory FAISS IndexFlatIP."""

    def __init__(self, index: Any, entries: list[Entry], encoder: Encoder, manifest: dict[str, Any]) -> None:
        self.index, self.entries, self.encoder, self.manifest = index, entries, encoder, manifest

    def __len__(self) -> int:
        return len(self.entries)

    @classmethod
    def build(cls, entries: list[Entry], encoder: Encoder, *, data_hash: str) -> "KnowledgeIndex":
        import faiss

        vectors = encoder.encode([e.question for e in entries]) if entries else np.zeros((0, 384), np.float32)
        index = faiss.IndexFlatIP(vectors.shape[1])
        index.add(vectors)
        manifest = {
            "format": FORMAT_VERSION,
            "encoder": ENCODER_NAME,
            "dim": int(vectors.shape[1]),
            "count": len(entries),
            "data_hash": data_hash,
            "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        return cls(index, entries, encoder, manifest)

    def save(self, out_dir: Path) -> None:
        import faiss

        out_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
        faiss.write_index(self.index, str(tmp / "faiss.index"))
        with (tmp / "entries.jsonl").open("w", encoding="utf-8") as fh:
            for entry in self.entries:
                fh.write(json.dumps(asdict(entry)) + "\n")
        (tmp / "manifest.json").write_text(json.dumps(self.manifest, indent=2))
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)

    @classmethod
    def load(cls, path: Path, encoder: Encoder) -> "KnowledgeIndex":
        import faiss

        if not (path / "manifest.json").exists():
            raise ConfigError(f"no knowledge index in {path}: run `switchboard index` (or `switchboard train`)")
        manifest = json.loads((path / "manifest.json").read_text())
        entries = []
        for line in (path / "entries.jsonl").read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            row["tags"] = tuple(row.get("tags") or ())
            entries.append(Entry(**row))
        index = faiss.read_index(str(path / "faiss.index"))
        if index.ntotal != len(entries):
            raise ConfigError(f"{path}: the index holds {index.ntotal} vectors for {len(entries)} entries")
        return cls(index, entries, encoder, manifest)

    def search(self, query: str, k: int, *, vector: np.ndarray | None = None) -> list[Hit]:
        if not self.entries:
            return []
        if vector is None:
            vector = self.encoder.encode([query])[0]
        scores, ids = self.index.search(np.asarray(vector, dtype=np.float32).reshape(1, -1), min(k, len(self.entries)))
        return [
            Hit(self.entries[i].id, self.entries[i].question, self.entries[i].answer, float(s))
            for s, i in zip(scores[0], ids[0])
            if i >= 0
        ]


def stored_hash(path: Path) -> str | None:
    try:
        return json.loads((path / "manifest.json").read_text()).get("data_hash")
    except (OSError, ValueError):
        return None
