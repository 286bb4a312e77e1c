"""The bot's domain (intents, entities, slots, responses, actions) from Rasa's domain.yml."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.dialogue.slots import FormSpec, Slot, parse_forms, parse_slots
from bot.errors import ConfigError
from bot.settings import read_yaml

FALLBACK_INTENT = "nlu_fallback"
OUT_OF_SCOPE = "out_of_scope"  # Rasa's intent for what the bot does not handle (a project may declare it)
# Rasa's default intents: every domain has them (`/restart`, `/back`, `/session_start` run default actions)
DEFAULT_INTENTS = frozenset({"restart", "back", OUT_OF_SCOPE, "session_start", FALLBACK_INTENT})
# The NLU model's label for the support logs' questions: not an intent of the domain (never in
# /model/parse), it tells "a question the logs answer" apart from "foreign" (nlu_fallback).
KNOWLEDGE_LABEL = "_support_logs"
DEFAULT_RESPONSE = "utter_default"


DEFAULT_ACTIONS = frozenset({
    "action_listen", "action_restart", "action_session_start", "action_default_fallback",
    "action_deactivate_loop", "action_revert_fallback_events", "action_default_ask_affirmation",
    "action_default_ask_rephrase", "action_two_stage_fallback", "action_back", "action_unlikely_intent",
    "action_extract_slots",
})


@dataclass(frozen=True)
class SessionConfig:
    expiration_minutes: float = 60.0  # 0: a session never expires
    carry_over_slots: bool = True


@dataclass
class Domain:
    intents: list[str]
    entities: list[str]
    slots: dict[str, Slot]
    responses: dict[str, list[dict[str, Any]]]
    actions: list[str]
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    forms: dict[str, FormSpec] = field(default_factory=dict)
    intent_entities: dict[str, frozenset[str] | None] = field(default_factory=dict)
    session: SessionConfig = field(default_factory=SessionConfig)
    store_entities_as_slots: bool = True

    @classmethod
    def load(cls, path: Path) -> "Domain":
        """One domain file, a `domain/` directory of them, or a project directory (its domain
        file or directory, plus the `responses:` kept in its data files)."""
        from bot.dialogue.project import data_files, find_domain, load_domain

        if path.is_dir():
            files = find_domain(path)
            if files:  # a project: its domain, and the responses kept in its data files
                merged = load_domain(files, root=path, data_responses=data_files(path).responses)
            else:  # a domain/ directory itself
                merged = load_domain(sorted([*path.rglob("*.yml"), *path.rglob("*.yaml")]), root=path)
            errors = [f.line() for f in merged.findings if f.level == "error"]
            if errors:
                raise ConfigError("; ".join(errors))
            data, source = merged.data, str(path)
        else:
            data, source = read_yaml(path), str(path)
        if not data:
            raise ConfigError(f"{path} is missing or empty")
        return cls.from_dict(data, source)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "domain.yml") -> "Domain":
        from bot.dialogue.migrate import MIGRATE_HINT, is_2x_domain

        if is_2x_domain(data):
            raise ConfigError(f"{source} is a Rasa 2 domain: {MIGRATE_HINT}")
        intents, intent_entities = _intents(data.get("intents") or [], [_name(e) for e in data.get("entities") or []])
        try:
            slots = parse_slots(data.get("slots") or {})
            forms = parse_forms(data.get("forms") or {})
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from exc
        responses = data.get("responses") or {}
        for name, variants in responses.items():
            if not isinstance(variants, list) or not variants:
                raise ConfigError(f"response {name!r} in {source} needs a list of variants")
            for variant in variants:
                if not isinstance(variant, dict):
                    raise ConfigError(
                        f"response {name!r} in {source}: each variant must be a mapping such as `- text: ...`"
                    )
        session = data.get("session_config") or {}
        config = data.get("config") or {}
        return cls(
            intents=intents,
            entities=[_name(e) for e in data.get("entities") or []],
            slots=slots,
            responses=responses,
            actions=list(data.get("actions") or []),
            raw=data,
            forms=forms,
            intent_entities=intent_entities,
            session=SessionConfig(float(session.get("session_expiration_time", 60) or 0),
                                  bool(session.get("carry_over_slots_to_new_session", True))),
            store_entities_as_slots=bool(config.get("store_entities_as_slots", True)),
        )

    @property
    def initial_slots(self) -> dict[str, Any]:
        return {name: spec.initial_value for name, spec in self.slots.items()}

    def has_action(self, name: str) -> bool:
        return name in self.responses or name in self.actions or name in self.forms or name in DEFAULT_ACTIONS \
            or self.is_retrieval_action(name)

    def is_retrieval_action(self, name: str) -> bool:
        """`utter_faq` when responses `utter_faq/<key>` exist: Rasa's retrieval action, which says the
        response the ResponseSelector chose for the latest message."""
        return name.startswith("utter_") and name not in self.responses and \
            any(key.startswith(name + "/") for key in self.responses)

    @property
    def retrieval_responses(self) -> dict[str, list[dict[str, Any]]]:
        """The responses of retrieval intents (`utter_faq/ask_hours`), by name."""
        return {k: v for k, v in self.responses.items() if k.startswith("utter_") and "/" in k}

    def render(self, name: str, slots: dict[str, Any], rng: random.Random | None = None,
               channel: str | None = None) -> list[dict[str, Any]]:
        """One variant of response `name` for `channel` as bot messages: chosen and filled in as
        Rasa does (bot/dialogue/responses.py), its text split at blank lines (buttons and images
        go with the last part, as Rasa does); no message when no variant's condition holds."""
        from bot.dialogue.responses import choose

        variants = self.responses.get(name)
        if not variants:
            raise ConfigError(f"the domain has no response {name!r}")
        values = {**{slot: None for slot in self.slots}, **slots}
        variant = choose(variants, values, channel, rng)
        if variant is None:
            return []
        text = variant.pop("text", None)
        extras = {k: v for k, v in variant.items() if v}
        if text is None:
            return [extras] if extras else []
        text = str(text)
        parts = [p.strip() for p in text.split("\n\n") if p.strip()] or [text]
        messages: list[dict[str, Any]] = [{"text": p} for p in parts]
        messages[-1].update(extras)
        return messages

    def as_dict(self) -> dict[str, Any]:
        """The domain as Rasa's GET /domain and the action-server payload carry it."""
        return self.raw


def _intents(items: list[Any], entities: list[str]) -> tuple[list[str], dict[str, frozenset[str] | None]]:
    """Intent names, and the entities each lets into the dialogue state (Rasa's `use_entities`
    / `ignore_entities`; None: all of them)."""
    names: list[str] = []
    allowed: dict[str, frozenset[str] | None] = {}
    for item in items:
        name = _name(item)
        names.append(name)
        spec = item.get(name) if isinstance(item, dict) else None
        spec = spec if isinstance(spec, dict) else {}
        use, ignore = spec.get("use_entities", True), spec.get("ignore_entities") or []
        if use is True or use is None:
            chosen = None if not ignore else frozenset(e for e in entities if e not in ignore)
        elif use is False:
            chosen = frozenset()
        else:
            chosen = frozenset(str(e) for e in use if str(e) not in ignore)
        allowed[name] = chosen
    return names, allowed


def _name(item: Any) -> str:
    if isinstance(item, dict):  # `- intent_name: {use_entities: [...]}`
        return str(next(iter(item)))
    return str(item)
