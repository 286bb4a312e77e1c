"""One encoder for understanding and retrieval: the NLU model's sentence vector, mapped linearly
onto the retrieval encoder's space, serves the knowledge base too.

The fine-tuned NLU encoder keeps most of what MiniLM knew: its mean-pooled vector, through a
ridge regression fitted at `switchboard train` on the bot's own texts (its NLU examples, its
logs' questions and the shipped foreign text) onto the vectors of the retrieval encoder (the
copy fine-tuned on the bot's logs, or MiniLM itself), retrieves about as well as that encoder
(bench/results/knowledge_bitext.md, answer_quality.md). So a message costs one forward pass,
whose vector retrieval reuses (`Prediction.embedding`), and the server loads one model where it
loaded two (the pre-trained MiniLM is loaded only for the generator's grounding check).

    models/retrieval_map/map.npz     W: (pooled width + 1, retrieval width), the bias in the last row
    models/retrieval_map/meta.json   the NLU model's and the target encoder's data hashes, the fit"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

if TYPE_CHECKING:
    from bot.nlu.transformer import TransformerClassifier

MAP_DIR = "retrieval_map"
MAP_FILE = "map.npz"
META_FILE = "meta.json"


def normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


@dataclass(frozen=True)
class Projection:
    weights: np.ndarray  # (width + 1, out): the last row is the bias
    meta: dict[str, Any]

    @property
    def name(self) -> str:
        return f"nlu:{self.meta.get('nlu_hash')}>map:{self.meta.get('target')}"

    def apply(self, pooled: np.ndarray) -> np.ndarray:
        """L2-normalised retrieval vectors for (n, width) pooled sentence vectors."""
        return normalise(pooled @ self.weights[:-1] + self.weights[-1])

    @classmethod
    def fit(cls, pooled: np.ndarray, wanted: np.ndarray, *, ridge: float = 1.0, **meta: Any) -> "Projection":
        """Least squares from `pooled` onto `wanted`, with an L2 penalty on the weights (not the bias)."""
        x = np.hstack([pooled.astype(np.float64), np.ones((len(pooled), 1))])
        penalty = ridge * np.eye(x.shape[1])
        penalty[-1, -1] = 0.0
        weights = np.linalg.solve(x.T @ x + penalty, x.T @ wanted.astype(np.float64))
        return cls(weights.astype(np.float32), meta)

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        np.savez(directory / MAP_FILE, weights=self.weights)
        (directory / META_FILE).write_text(json.dumps(self.meta, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> "Projection | None":
        if not (directory / MAP_FILE).exists() or not (directory / META_FILE).exists():
            return None
        with np.load(directory / MAP_FILE) as data:
            weights = data["weights"].astype(np.float32)
        return cls(weights, json.loads((directory / META_FILE).read_text(encoding="utf-8")))


class ProjectedEncoder:
    """The Encoder interface (name, dim, encode, warm_up) on the NLU model's forward pass: what
    the knowledge base embeds its questions and queries with when the bot has a retrieval map."""

    def __init__(self, classifier: "TransformerClassifier", projection: Projection) -> None:
        self.classifier, self.projection = classifier, projection
        self.name = projection.name

    @property
    def dim(self) -> int:
        return int(self.projection.weights.shape[1])

    def warm_up(self) -> None:
        self.encode(["hello"])

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return self.projection.apply(self.classifier.sentence_vectors(texts))


def query_encoder(settings: Any, classifier: "TransformerClassifier | None" = None) -> Any:
    """The encoder a project's knowledge base embeds with: the NLU model through its retrieval map
    (`retrieval.encoder: nlu`, the default, when `switchboard train` fitted one for this NLU
    model), else the retrieval encoder. With the map, `classifier` (loaded when not given) also
    gets it, so its predictions carry their retrieval vector."""
    from bot.nlu.encoder import retrieval_encoder

    projection = Projection.load(settings.retrieval_map_dir) if settings.retrieval_encoder == "nlu" else None
    if projection is not None:
        if classifier is None:
            from bot.nlu.transformer import TransformerClassifier

            classifier = TransformerClassifier(settings.nlu_model_dir, threads=settings.torch_threads,
                                               quantize=settings.nlu_quantize)
        if projection.meta.get("nlu_hash") == classifier.meta.get("data_hash") and \
                projection.meta.get("quantize") == classifier.quantize:
            classifier.projection = projection
            return ProjectedEncoder(classifier, projection)
    return retrieval_encoder(settings.retrieval_encoder_dir, threads=settings.torch_threads)
