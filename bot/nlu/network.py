"""The fine-tuned network: all-MiniLM-L6-v2 with mean pooling, an intent head, a sentiment head
and a token head for entities (bot/nlu/tagging.py), so one forward pass gives all three. Shared by training (training/finetune.py) and serving
(bot/nlu/transformer.py). Importing this module imports torch: import it lazily."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

HEADS_FILE = "heads.pt"
ENCODER_DIR = "encoder"


def offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class IntentSentimentNet(nn.Module):
    """encoder -> mean pooling -> (intent logits, sentiment logits or None, pooled vector); the
    token head (entity tags) reads the encoder's hidden states of the same pass."""

    def __init__(self, encoder: Any, n_intents: int, n_sentiments: int, n_tags: int = 0, *,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        width = int(encoder.config.hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.intent_head = nn.Linear(width, n_intents)
        self.sentiment_head = nn.Linear(width, n_sentiments) if n_sentiments else None
        self.entity_head = nn.Linear(width, n_tags) if n_tags else None

    def encode(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(hidden states per token, mean-pooled vector)."""
        hidden = self.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return hidden, (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-6)

    def pool(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.encode(batch)[1]

    def tag_logits(self, hidden: torch.Tensor) -> torch.Tensor | None:
        return self.entity_head(self.dropout(hidden)) if self.entity_head is not None else None

    def intent_logits(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.intent_head(self.dropout(pooled))

    def sentiment_logits(self, pooled: torch.Tensor) -> torch.Tensor | None:
        return self.sentiment_head(self.dropout(pooled)) if self.sentiment_head is not None else None

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        pooled = self.pool(batch)
        return self.intent_logits(pooled), self.sentiment_logits(pooled), pooled

    def save(self, directory: Path, tokenizer: Any) -> None:
        self.encoder.save_pretrained(directory / ENCODER_DIR)
        tokenizer.save_pretrained(directory / ENCODER_DIR)
        heads = {f"intent_head.{k}": v for k, v in self.intent_head.state_dict().items()}
        if self.sentiment_head is not None:
            heads.update({f"sentiment_head.{k}": v for k, v in self.sentiment_head.state_dict().items()})
        if self.entity_head is not None:
            heads.update({f"entity_head.{k}": v for k, v in self.entity_head.state_dict().items()})
        torch.save(heads, directory / HEADS_FILE)


def base_model_path() -> str:
    from bot.nlu.encoder import model_path

    return model_path()


def load_base(n_intents: int, n_sentiments: int, n_tags: int = 0) -> tuple[IntentSentimentNet, Any]:
    """A fresh network on the pre-trained MiniLM, heads initialised, and its tokenizer."""
    offline()
    from transformers import AutoModel, AutoTokenizer

    path = base_model_path()
    net = IntentSentimentNet(AutoModel.from_pretrained(path), n_intents, n_sentiments, n_tags)
    return net, AutoTokenizer.from_pretrained(path)


def load_trained(directory: Path, n_intents: int, n_sentiments: int, n_tags: int = 0) -> tuple[IntentSentimentNet, Any]:
    """The network and tokenizer written by `IntentSentimentNet.save`, in eval mode."""
    offline()
    from transformers import AutoModel, AutoTokenizer

    encoder = AutoModel.from_pretrained(directory / ENCODER_DIR)
    net = IntentSentimentNet(encoder, n_intents, n_sentiments, n_tags)
    state = torch.load(directory / HEADS_FILE, map_location="cpu", weights_only=True)
    net.load_state_dict({**{f"encoder.{k}": v for k, v in encoder.state_dict().items()}, **state})
    net.eval()
    return net, AutoTokenizer.from_pretrained(directory / ENCODER_DIR)


def length_sorted_batches(texts: Sequence[str], size: int) -> list[list[int]]:
    """Indices in batches of similar length, so padding costs little."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    return [order[i : i + size] for i in range(0, len(order), size)]


@dataclass
class Outputs:
    intents: np.ndarray
    sentiments: np.ndarray | None
    # per text: its word pieces' character offsets and their tag probabilities (entity head only)
    tags: list[tuple[list[tuple[int, int]], np.ndarray]] | None


def batch_logits(
    net: IntentSentimentNet, tokenizer: Any, texts: Sequence[str], *, batch_size: int = 64, max_length: int = 64
) -> tuple[np.ndarray, np.ndarray | None]:
    """Intent and sentiment logits for `texts` (in their order), in inference mode."""
    out = batch_outputs(net, tokenizer, texts, batch_size=batch_size, max_length=max_length, tags=False)
    return out.intents, out.sentiments


def batch_outputs(
    net: IntentSentimentNet, tokenizer: Any, texts: Sequence[str], *, batch_size: int = 64, max_length: int = 64,
    tags: bool = True,
) -> Outputs:
    """Everything one forward pass gives for `texts` (in their order), in inference mode: intent
    and sentiment logits, and (`tags` and an entity head) each word piece's tag probabilities."""
    n = len(texts)
    intents = np.zeros((n, net.intent_head.out_features), np.float32)
    sentiment_head = net.sentiment_head
    sentiments = np.zeros((n, sentiment_head.out_features), np.float32) if sentiment_head is not None else None
    per_text: list[tuple[list[tuple[int, int]], np.ndarray]] | None = \
        [([], np.zeros((0, 0), np.float32))] * n if tags and net.entity_head is not None else None
    was_training = net.training
    net.eval()
    try:
        with torch.inference_mode():
            for rows in length_sorted_batches(texts, batch_size):
                batch = tokenizer([texts[i] for i in rows], padding=True, truncation=True, max_length=max_length,
                                  return_tensors="pt", return_offsets_mapping=per_text is not None)
                offsets = batch.pop("offset_mapping", None)
                hidden, pooled = net.encode(batch)
                intents[rows] = net.intent_logits(pooled).numpy()
                sentiment_logits = net.sentiment_logits(pooled)
                if sentiments is not None and sentiment_logits is not None:
                    sentiments[rows] = sentiment_logits.numpy()
                tag_logits = net.tag_logits(hidden) if per_text is not None else None
                if per_text is not None and tag_logits is not None and offsets is not None:
                    probabilities = torch.softmax(tag_logits, dim=-1).numpy()
                    lengths = batch["attention_mask"].sum(1).tolist()
                    for j, row in enumerate(rows):
                        pieces = [(int(a), int(b)) for a, b in offsets[j][: lengths[j]].tolist()]
                        per_text[row] = (pieces, probabilities[j, : lengths[j]])
    finally:
        net.train(was_training)
    return Outputs(intents, sentiments, per_text)
