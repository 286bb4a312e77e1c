"""The bot's domain (intents, entities, slots, responses, actions) from Rasa's domain.yml."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.errors import ConfigError
from bot.settings import read_yaml

FALLBACK_INTENT = "nlu_fallback"
# The NLU model's label for the support logs' questions: not an intent of the domain (never in
# /model/parse), it tells "a question the logs answer" apart from "foreign" (nlu_fallback).
KNOWLEDGE_LABEL = "_support_logs"
DEFAULT_RESPONSE = "utter_default"
_SLOT_REF = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class SlotSpec:
    name: str
    type: str
    initial_value: Any = None
    from_entities: tuple[str, ...] = ()


@dataclass
class Domain:
    intents: list[str]
    entities: list[str]
    slots: dict[str, SlotSpec]
    responses: dict[str, list[dict[str, Any]]]
    actions: list[str]
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, path: Path) -> "Domain":
        data = read_yaml(path)
        if not data:
            raise ConfigError(f"{path} is missing or empty")
        intents = [_name(i) for i in data.get("intents") or []]
        slots: dict[str, SlotSpec] = {}
        for name, spec in (data.get("slots") or {}).items():
            spec = spec or {}
            entities = tuple(
                m["entity"] for m in spec.get("mappings") or [] if m.get("type") == "from_entity" and m.get("entity")
            )
            slots[name] = SlotSpec(name, spec.get("type", "any"), spec.get("initial_value"), entities)
        responses = data.get("responses") or {}
        for name, variants in responses.items():
            if not isinstance(variants, list) or not variants:
                raise ConfigError(f"response {name!r} in {path} needs a list of variants")
            for variant in variants:
                if not isinstance(variant, dict):
                    raise ConfigError(
                        f"response {name!r} in {path}: each variant must be a mapping such as `- text: ...`"
                    )
        return cls(
            intents=intents,
            entities=[_name(e) for e in data.get("entities") or []],
            slots=slots,
            responses=responses,
            actions=list(data.get("actions") or []),
            raw=data,
        )

    @property
    def initial_slots(self) -> dict[str, Any]:
        return {name: spec.initial_value for name, spec in self.slots.items()}

    def has_action(self, name: str) -> bool:
        return name in self.responses or name in self.actions

    def render(self, name: str, slots: dict[str, Any], rng: random.Random | None = None) -> list[dict[str, Any]]:
        """One variant of response `name` as bot messages, slots filled in, blank lines split."""
        variants = self.responses.get(name)
        if not variants:
            raise ConfigError(f"the domain has no response {name!r}")
        variant = (rng or random).choice(variants)
        text = variant.get("text")
        extras = {k: v for k, v in variant.items() if k in ("buttons", "image", "custom", "attachment") and v}
        if text is None:
            return [dict(extras)]
        text = _SLOT_REF.sub(lambda m: str(slots.get(m.group(1), m.group(0))), text)
        parts = [p.strip() for p in text.split("\n\n") if p.strip()] or [text]
        messages: list[dict[str, Any]] = [{"text": p} for p in parts]
        messages[-1].update(extras)  # buttons and images go with the last part, as Rasa does
        return messages

    def as_dict(self) -> dict[str, Any]:
        """The domain as Rasa's GET /domain and the action-server payload carry it."""
        return self.raw

    def slots_from_entities(self, entities: list[dict[str, Any]]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for spec in self.slots.values():
            for entity in entities:
                if entity.get("entity") in spec.from_entities:
                    values[spec.name] = entity.get("value")
        return values


def _name(item: Any) -> str:
    if isinstance(item, dict):  # `- intent_name: {use_entities: [...]}`
        return str(next(iter(item)))
    return str(item)
