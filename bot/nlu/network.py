"""The fine-tuned network: all-MiniLM-L6-v2 with mean pooling, an intent head, a sentiment head
and a token head for entities (bot/nlu/tagging.py), so one forward pass gives all three. Shared by training (training/finetune.py) and serving
(bot/nlu/transformer.py). Importing this module imports torch: import it lazily."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

HEADS_FILE = "heads.pt"
ENCODER_DIR = "encoder"


def offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@dataclass(frozen=True)
class TagHead:
    """The entity head's shape: its BILOU tags, the pattern features it reads beside the hidden
    state (bot/nlu/patterns.py), and whether a CRF scores tag pairs (bot/nlu/crf.py)."""

    tags: int = 0
    features: int = 0
    crf: bool = False


class IntentSentimentNet(nn.Module):
    """encoder -> mean pooling -> (intent logits, sentiment logits or None, pooled vector); the
    token head (entity tags) reads the encoder's hidden states of the same pass, with the word
    pieces' pattern features beside them, and a CRF's transition scores decode its spans."""

    def __init__(self, encoder: Any, n_intents: int, n_sentiments: int, tagging: TagHead = TagHead(), *,
                 responses: int = 0, intent_parts: Sequence[Sequence[int]] | None = None,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        width = int(encoder.config.hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.intent_head = nn.Linear(width, n_intents)
        # multi-intent labels (`greet+ask_weather`, bot/nlu/pipeline.py): each label's score adds the
        # scores of the intents it is made of, shared by every label that has them (as DIET embeds a
        # label from its tokens), so what is learned of `greet` helps `greet+ask_weather`
        self.intent_parts_head: nn.Linear | None = None
        if intent_parts:
            n_parts = 1 + max(i for parts in intent_parts for i in parts)
            matrix = torch.zeros(n_intents, n_parts)
            for label, parts in enumerate(intent_parts):
                matrix[label, list(parts)] = 1.0
            self.register_buffer("intent_parts", matrix)
            self.intent_parts_head = nn.Linear(width, n_parts, bias=False)
            nn.init.zeros_(self.intent_parts_head.weight)
        # retrieval intents' full names (`faq/ask_hours`): Rasa's ResponseSelector, on the same pass
        self.response_head = nn.Linear(width, responses) if responses else None
        self.sentiment_head = nn.Linear(width, n_sentiments) if n_sentiments else None
        self.tagging = tagging
        self.entity_head = nn.Linear(width + tagging.features, tagging.tags) if tagging.tags else None
        self.entity_crf = CRFParameters(tagging.tags) if tagging.tags and tagging.crf else None

    def encode(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(hidden states per token, mean-pooled vector)."""
        hidden = self.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return hidden, (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-6)

    def pool(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.encode(batch)[1]

    def tag_logits(self, hidden: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor | None:
        """Per word piece, a score for each tag (the CRF's emissions, or softmax logits without one)."""
        if self.entity_head is None:
            return None
        inputs = self.dropout(hidden)
        if self.tagging.features:
            if features is None:
                features = hidden.new_zeros(*hidden.shape[:2], self.tagging.features)
            inputs = torch.cat([inputs, features.to(hidden.dtype)], dim=-1)
        return self.entity_head(inputs)

    def intent_logits(self, pooled: torch.Tensor) -> torch.Tensor:
        x = self.dropout(pooled)
        logits = self.intent_head(x)
        if self.intent_parts_head is not None:
            logits = logits + self.intent_parts_head(x) @ self.intent_parts.T
        return logits

    def response_logits(self, pooled: torch.Tensor) -> torch.Tensor | None:
        return self.response_head(self.dropout(pooled)) if self.response_head is not None else None

    def sentiment_logits(self, pooled: torch.Tensor) -> torch.Tensor | None:
        return self.sentiment_head(self.dropout(pooled)) if self.sentiment_head is not None else None

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        pooled = self.pool(batch)
        return self.intent_logits(pooled), self.sentiment_logits(pooled), pooled

    def save(self, directory: Path, tokenizer: Any) -> None:
        self.encoder.save_pretrained(directory / ENCODER_DIR)
        tokenizer.save_pretrained(directory / ENCODER_DIR)
        heads = {f"intent_head.{k}": v for k, v in self.intent_head.state_dict().items()}
        if self.intent_parts_head is not None:
            heads["intent_parts"] = self.intent_parts
            heads.update({f"intent_parts_head.{k}": v for k, v in self.intent_parts_head.state_dict().items()})
        if self.response_head is not None:
            heads.update({f"response_head.{k}": v for k, v in self.response_head.state_dict().items()})
        if self.sentiment_head is not None:
            heads.update({f"sentiment_head.{k}": v for k, v in self.sentiment_head.state_dict().items()})
        if self.entity_head is not None:
            heads.update({f"entity_head.{k}": v for k, v in self.entity_head.state_dict().items()})
        if self.entity_crf is not None:
            heads.update({f"entity_crf.{k}": v for k, v in self.entity_crf.state_dict().items()})
        torch.save(heads, directory / HEADS_FILE)


class CRFParameters(nn.Module):
    """The CRF's learned scores (bot/nlu/crf.py adds BILOU's constraints to them)."""

    def __init__(self, n_tags: int) -> None:
        super().__init__()
        self.transitions = nn.Parameter(torch.zeros(n_tags, n_tags))
        self.start = nn.Parameter(torch.zeros(n_tags))
        self.end = nn.Parameter(torch.zeros(n_tags))

    def weights(self, tags: Sequence[str]) -> Any:
        """The numpy weights for decoding, constraints included."""
        from bot.nlu.crf import CRFWeights

        return CRFWeights.build(tags, self.transitions.detach().numpy(), self.start.detach().numpy(),
                                self.end.detach().numpy())


def base_model_path() -> str:
    from bot.nlu.encoder import model_path

    return model_path()


def load_base(n_intents: int, n_sentiments: int, tagging: TagHead = TagHead(), **heads: Any,
              ) -> tuple[IntentSentimentNet, Any]:
    """A fresh network on the pre-trained MiniLM, heads initialised, and its tokenizer. `heads`:
    `responses` and `intent_parts`, as IntentSentimentNet takes them."""
    offline()
    from transformers import AutoModel, AutoTokenizer

    path = base_model_path()
    net = IntentSentimentNet(AutoModel.from_pretrained(path), n_intents, n_sentiments, tagging, **heads)
    return net, AutoTokenizer.from_pretrained(path)


def load_trained(directory: Path, n_intents: int, n_sentiments: int, tagging: TagHead = TagHead(),
                 **heads: Any) -> tuple[IntentSentimentNet, Any]:
    """The network and tokenizer written by `IntentSentimentNet.save`, in eval mode."""
    offline()
    from transformers import AutoModel, AutoTokenizer

    encoder = AutoModel.from_pretrained(directory / ENCODER_DIR)
    net = IntentSentimentNet(encoder, n_intents, n_sentiments, tagging, **heads)
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
    # per text: its word pieces' character offsets and their tag scores (entity head only)
    tags: list[tuple[list[tuple[int, int]], np.ndarray]] | None
    pooled: np.ndarray | None = None  # the mean-pooled sentence vectors (with `pooled=True`)
    responses: np.ndarray | None = None  # the response head's logits (retrieval intents' full names)


#: text, word-piece offsets -> (pieces, features) pattern features of a text (bot/nlu/patterns.py)
Featurize = Callable[[str, Sequence[tuple[int, int]]], np.ndarray]


def feature_tensor(featurize: Featurize, texts: Sequence[str], offsets: Any, width: int, size: int) -> torch.Tensor:
    """(batch, pieces, features) for a tokenised batch (`offsets` as the tokenizer gives them)."""
    out = np.zeros((len(texts), width, size), np.float32)
    for row, text in enumerate(texts):
        pieces = [(int(a), int(b)) for a, b in offsets[row].tolist()]
        out[row, : len(pieces)] = featurize(text, pieces)
    return torch.from_numpy(out)


def batch_logits(
    net: IntentSentimentNet, tokenizer: Any, texts: Sequence[str], *, batch_size: int = 64, max_length: int = 64
) -> tuple[np.ndarray, np.ndarray | None]:
    """Intent and sentiment logits for `texts` (in their order), in inference mode."""
    out = batch_outputs(net, tokenizer, texts, batch_size=batch_size, max_length=max_length, tags=False)
    return out.intents, out.sentiments


def batch_outputs(
    net: IntentSentimentNet, tokenizer: Any, texts: Sequence[str], *, batch_size: int = 64, max_length: int = 64,
    tags: bool = True, featurize: Featurize | None = None, pooled: bool = False,
) -> Outputs:
    """Everything one forward pass gives for `texts` (in their order), in inference mode: intent
    and sentiment logits, (`tags` and an entity head) each word piece's tag scores, reading the
    pieces' pattern features from `featurize`, and (`pooled`) the sentence vectors."""
    n = len(texts)
    intents = np.zeros((n, net.intent_head.out_features), np.float32)
    sentiment_head = net.sentiment_head
    sentiments = np.zeros((n, sentiment_head.out_features), np.float32) if sentiment_head is not None else None
    vectors = np.zeros((n, net.intent_head.in_features), np.float32) if pooled else None
    response_head = net.response_head
    responses = np.zeros((n, response_head.out_features), np.float32) if response_head is not None else None
    per_text: list[tuple[list[tuple[int, int]], np.ndarray]] | None = \
        [([], np.zeros((0, 0), np.float32))] * n if tags and net.entity_head is not None else None
    was_training = net.training
    if was_training:  # a served model is in eval mode already: switching every module costs a turn ~1 ms
        net.eval()
    try:
        with torch.inference_mode():
            for rows in length_sorted_batches(texts, batch_size):
                chunk = [texts[i] for i in rows]
                batch = tokenizer(chunk, padding=True, truncation=True, max_length=max_length,
                                  return_tensors="pt", return_offsets_mapping=per_text is not None)
                offsets = batch.pop("offset_mapping", None)
                hidden, sentence = net.encode(batch)
                intents[rows] = net.intent_logits(sentence).numpy()
                if vectors is not None:
                    vectors[rows] = sentence.numpy()
                response_logits = net.response_logits(sentence)
                if responses is not None and response_logits is not None:
                    responses[rows] = response_logits.numpy()
                sentiment_logits = net.sentiment_logits(sentence)
                if sentiments is not None and sentiment_logits is not None:
                    sentiments[rows] = sentiment_logits.numpy()
                if per_text is None or offsets is None:
                    continue
                features = None
                if net.tagging.features and featurize is not None:
                    features = feature_tensor(featurize, chunk, offsets, hidden.shape[1], net.tagging.features)
                tag_logits = net.tag_logits(hidden, features)
                if tag_logits is None:
                    continue
                scores = tag_logits.numpy()
                lengths = batch["attention_mask"].sum(1).tolist()
                for j, row in enumerate(rows):
                    pieces = [(int(a), int(b)) for a, b in offsets[j][: lengths[j]].tolist()]
                    per_text[row] = (pieces, scores[j, : lengths[j]])
    finally:
        if was_training:
            net.train()
    return Outputs(intents, sentiments, per_text, vectors, responses)
