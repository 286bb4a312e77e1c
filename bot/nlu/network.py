"""The fine-tuned network: all-MiniLM-L6-v2 with mean pooling, an intent head and a sentiment
head, so one forward pass gives both. Shared by training (training/finetune.py) and serving
(bot/nlu/transformer.py). Importing this module imports torch: import it lazily."""

from __future__ import annotations

import os
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
    """encoder -> mean pooling -> (intent logits, sentiment logits or None, pooled vector)."""

    def __init__(self, encoder: Any, n_intents: int, n_sentiments: int, *, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        width = int(encoder.config.hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.intent_head = nn.Linear(width, n_intents)
        self.sentiment_head = nn.Linear(width, n_sentiments) if n_sentiments else None

    def pool(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        hidden = self.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-6)

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
        torch.save(heads, directory / HEADS_FILE)


def base_model_path() -> str:
    from bot.nlu.encoder import model_path

    return model_path()


def load_base(n_intents: int, n_sentiments: int) -> tuple[IntentSentimentNet, Any]:
    """A fresh network on the pre-trained MiniLM, heads initialised, and its tokenizer."""
    offline()
    from transformers import AutoModel, AutoTokenizer

    path = base_model_path()
    return IntentSentimentNet(AutoModel.from_pretrained(path), n_intents, n_sentiments), AutoTokenizer.from_pretrained(path)


def load_trained(directory: Path, n_intents: int, n_sentiments: int) -> tuple[IntentSentimentNet, Any]:
    """The network and tokenizer written by `IntentSentimentNet.save`, in eval mode."""
    offline()
    from transformers import AutoModel, AutoTokenizer

    encoder = AutoModel.from_pretrained(directory / ENCODER_DIR)
    net = IntentSentimentNet(encoder, n_intents, n_sentiments)
    state = torch.load(directory / HEADS_FILE, map_location="cpu", weights_only=True)
    net.load_state_dict({**{f"encoder.{k}": v for k, v in encoder.state_dict().items()}, **state})
    net.eval()
    return net, AutoTokenizer.from_pretrained(directory / ENCODER_DIR)


def length_sorted_batches(texts: Sequence[str], size: int) -> list[list[int]]:
    """Indices in batches of similar length, so padding costs little."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    return [order[i : i + size] for i in range(0, len(order), size)]


def batch_logits(
    net: IntentSentimentNet, tokenizer: Any, texts: Sequence[str], *, batch_size: int = 64, max_length: int = 64
) -> tuple[np.ndarray, np.ndarray | None]:
    """Intent and sentiment logits for `texts` (in their order), in inference mode."""
    n = len(texts)
    intents = np.zeros((n, net.intent_head.out_features), np.float32)
    sentiment_head = net.sentiment_head
    sentiments = np.zeros((n, sentiment_head.out_features), np.float32) if sentiment_head is not None else None
    was_training = net.training
    net.eval()
    try:
        with torch.inference_mode():
            for rows in length_sorted_batches(texts, batch_size):
                batch = tokenizer([texts[i] for i in rows], padding=True, truncation=True,
                                  max_length=max_length, return_tensors="pt")
                intent_logits, sentiment_logits, _ = net(batch)
                intents[rows] = intent_logits.numpy()
                if sentiments is not None and sentiment_logits is not None:
                    sentiments[rows] = sentiment_logits.numpy()
    finally:
        net.train(was_training)
    return intents, sentiments
