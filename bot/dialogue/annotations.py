"""Entities of a story's user turn: Rasa's inline annotations in `user:` text, with character
offsets in the plain text, and the `entities:` list of an intent-only step."""

from __future__ import annotations

import json
import re
from typing import Any

# [text](entity) | [text](entity:value) | [text]{"entity": ...} | [text][{...}, {...}]
_ANNOTATION = re.compile(
    r"\[(?P<text>[^\]]+?)\]"
    r"(?:\((?P<entity>[^:)]+?)(?::(?P<value>[^)]+))?\)|\{(?P<json>[^}]+?)\}|\[(?P<many>.*?)\])"
)
_ONE_JSON = re.compile(r"\{(?P<json>[^}]+?)\}")


def parse_annotated(text: str) -> tuple[str, list[dict[str, Any]], list[str]]:
    """Rasa's inline entity annotations -> (plain text, entities with start/end in the plain text,
    problems). `[Berlin](city)`, `[Berlin](city:BER)`, `[LA]{"entity": "city", "role": "to"}`."""
    entities: list[dict[str, Any]] = []
    problems: list[str] = []
    pieces: list[str] = []
    last = 0
    length = 0
    for match in _ANNOTATION.finditer(text):
        pieces.append(text[last:match.start()])
        length += match.start() - last
        surface = match.group("text")
        start, end = length, length + len(surface)
        if match.group("entity"):
            entities.append({"entity": match.group("entity"), "value": match.group("value") or surface,
                             "start": start, "end": end})
        else:
            specs = [match.group("json")] if match.group("json") else \
                [m.group("json") for m in _ONE_JSON.finditer(match.group("many") or "")]
            for spec in specs:
                entity = _entity_from_json(spec, surface, start, end, problems)
                if entity is not None:
                    entities.append(entity)
        pieces.append(surface)
        length += len(surface)
        last = match.end()
    pieces.append(text[last:])
    return "".join(pieces), entities, problems


def _entity_from_json(spec: str, surface: str, start: int, end: int, problems: list[str]) -> dict[str, Any] | None:
    try:
        data = json.loads("{" + spec + "}")
    except json.JSONDecodeError as exc:
        problems.append(f"the entity annotation {{{spec}}} is not valid JSON ({exc.msg})")
        return None
    if not isinstance(data.get("entity"), str) or not data["entity"]:
        problems.append(f"the entity annotation {{{spec}}} needs \"entity\": a name")
        return None
    entity: dict[str, Any] = {"entity": data["entity"], "value": data.get("value", surface), "start": start, "end": end}
    for key in ("role", "group"):
        if data.get(key) is not None:
            entity[key] = data[key]
    return entity


def listed_entities(raw: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """A step's `entities:` -> (entities, problems). Items are `- city` (Rasa gives the value ""),
    `- city: Berlin` (with `role:` / `group:` beside it, as Rasa reads them), or the full
    `- {entity: city, value: Berlin, role: to}`."""
    if not isinstance(raw, list):
        return [], ["`entities` must be a list such as `- city: Berlin`"]
    out: list[dict[str, Any]] = []
    problems: list[str] = []
    for entity in raw:
        if isinstance(entity, str) and entity:
            out.append({"entity": entity, "value": ""})
        elif isinstance(entity, dict) and isinstance(entity.get("entity"), str) and \
                set(entity) <= {"entity", "value", "role", "group"}:
            out.append({k: entity[k] for k in ("entity", "value", "role", "group") if entity.get(k) is not None})
        elif isinstance(entity, dict) and any(k not in ("role", "group") for k in entity):
            found: dict[str, Any] = {}
            for key, value in entity.items():
                if key in ("role", "group"):
                    found[key] = value
                else:
                    found["entity"], found["value"] = str(key), value
            out.append(found)
        else:
            problems.append(f"entity {entity!r} must be a name or `name: value`")
    return out, problems
