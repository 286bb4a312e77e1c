"""The learned dialogue policy: TEDPolicy's job (generalise the stories to paths they never
show) done by a small MLP over the last `max_history` featurised states.

Each state becomes a sparse vector over the features the training stories use (`intent:x`,
`entity:e`, `prev:action`, `loop:form`, `slot:name:i` with the slot's feature value); the last
`max_history` states are laid side by side (the current one first, older ones after, padded
with zeros) and two dense layers give a softmax over the domain's actions. `switchboard train`
fits the weights (training/dialogue_policy.py, torch); here they are numpy arrays, so a
prediction costs two small matrix products and the runtime never imports torch for it.

Where Switchboard differs from Rasa's TEDPolicy: it says nothing (no prediction) when the
latest intent never occurs in the stories it learned from, instead of guessing an action for
an intent it knows nothing about; rules and the fallback then decide. Slots and loops only
rules use are left out of its states, as Rasa does for TED."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from bot.dialogue.states import State
from bot.policies.base import Conversation, PolicyPrediction

PRIORITY = 1  # Rasa's TEDPolicy priority: the lowest, it only wins on confidence
NAME = "LearnedPolicy"
RECIPE = "mlp-2:states-v1"
WEIGHTS, META = "policy.npz", "policy.json"


def state_features(state: State) -> dict[str, float]:
    """The named features of one state (see the module docstring)."""
    out: dict[str, float] = {}
    user = state.get("user", {})
    if user.get("intent"):
        out[f"intent:{user['intent']}"] = 1.0
    for entity in user.get("entities", ()):
        out[f"entity:{entity}"] = 1.0
    prev = state.get("prev_action", {})
    if prev.get("action_name"):
        out[f"prev:{prev['action_name']}"] = 1.0
    elif prev:
        out["prev:<bot text>"] = 1.0
    loop = state.get("active_loop", {}).get("name")
    if loop:
        out[f"loop:{loop}"] = 1.0
    for slot, feature in state.get("slots", {}).items():
        if isinstance(feature, str):
            out[f"slot:{slot}:{feature}"] = 1.0
            continue
        for i, value in enumerate(feature):
            if value:
                out[f"slot:{slot}:{i}"] = float(value)
    return out


@dataclass
class StateEncoder:
    """Turns the last `max_history` states into the network's input vector."""

    vocabulary: dict[str, int]
    max_history: int

    @classmethod
    def fit(cls, states: Iterable[State], max_history: int) -> "StateEncoder":
        names = sorted({name for state in states for name in state_features(state)})
        return cls({name: i for i, name in enumerate(names)}, max_history)

    @property
    def width(self) -> int:
        return len(self.vocabulary) * self.max_history

    def encode(self, states: Sequence[State]) -> np.ndarray:
        size = len(self.vocabulary)
        row = np.zeros(self.width, dtype=np.float32)
        for age, state in enumerate(reversed(list(states)[-self.max_history:])):
            for name, value in state_features(state).items():
                index = self.vocabulary.get(name)
                if index is not None:
                    row[age * size + index] = value
        return row


@dataclass
class LearnedWeights:
    encoder: StateEncoder
    actions: list[str]
    layers: list[tuple[np.ndarray, np.ndarray]]  # (weight [in, out], bias [out]) per dense layer
    meta: dict[str, Any]

    def probabilities(self, states: Sequence[State]) -> np.ndarray:
        x = self.encoder.encode(states)
        for i, (weight, bias) in enumerate(self.layers):
            x = x @ weight + bias
            if i < len(self.layers) - 1:
                x = np.maximum(x, 0.0)
        x = np.exp(x - x.max())
        return x / x.sum()

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        arrays = {f"{kind}{i}": a for i, (w, b) in enumerate(self.layers) for kind, a in (("w", w), ("b", b))}
        np.savez(folder / WEIGHTS, **arrays)
        meta = {**self.meta, "recipe": RECIPE, "actions": self.actions, "vocabulary": self.encoder.vocabulary,
                "max_history": self.encoder.max_history, "layers": len(self.layers)}
        (folder / META).write_text(json.dumps(meta, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> "LearnedWeights":
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
        with np.load(folder / WEIGHTS) as arrays:
            layers = [(arrays[f"w{i}"], arrays[f"b{i}"]) for i in range(int(meta["layers"]))]
        encoder = StateEncoder({str(k): int(v) for k, v in meta["vocabulary"].items()}, int(meta["max_history"]))
        return cls(encoder, list(meta["actions"]), layers, meta)


class LearnedPolicy:
    name = NAME
    priority = PRIORITY

    def __init__(self, weights: LearnedWeights, strip: Any = None) -> None:
        self.weights = weights
        self.strip = strip or (lambda state: state)  # drops rule-only slots and loops
        self.known_intents = frozenset(n.split(":", 1)[1] for n in weights.encoder.vocabulary if n.startswith("intent:"))

    def predict(self, conversation: Conversation) -> PolicyPrediction:
        if conversation.latest_intent is not None and conversation.latest_intent not in self.known_intents:
            return PolicyPrediction(self.name, self.priority, None, source="an intent no story shows")
        states = [self.strip(s) for s in conversation.states]
        p = self.weights.probabilities(states)
        order = np.argsort(-p)
        best, second = int(order[0]), int(order[1]) if len(order) > 1 else None
        runner = (self.weights.actions[second], round(float(p[second]), 4)) if second is not None else None
        return PolicyPrediction(self.name, self.priority, self.weights.actions[best], float(p[best]),
                                runner_up=runner, source=f"learned from the stories (max_history {self.weights.encoder.max_history})")


def data_hash(files: Iterable[Path], settings: Mapping[str, Any]) -> str:
    """What the learned policy depends on: the domain, rules, stories and config files, and its settings."""
    digest = hashlib.sha256(RECIPE.encode())
    digest.update(json.dumps(dict(settings), sort_keys=True).encode())
    for path in sorted(set(files)):
        digest.update(str(path.name).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
