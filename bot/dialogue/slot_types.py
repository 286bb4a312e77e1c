"""The slot types of a domain as story steps need them: `slot_was_set` with a plain name sets a
value that depends on the slot's type (bot/dialogue/stories.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping


@dataclass(frozen=True)
class SlotType:
    """A domain slot as `slot_was_set: [name]` needs it."""

    type: str  # text, bool, categorical, float, list, any, or a custom class path
    influences: bool = True  # influence_conversation


def slot_types(domain: Mapping[str, Any]) -> dict[str, SlotType]:
    """The slot types of a domain dict (Rasa 2 class paths such as rasa.shared.core.slots.TextSlot
    are read as their short names; UnfeaturizedSlot as `any`)."""
    out: dict[str, SlotType] = {}
    for name, spec in (domain.get("slots") or {}).items():
        spec = spec if isinstance(spec, dict) else {}
        raw = str(spec.get("type") or "any")
        short = raw.rsplit(".", 1)[-1]
        if "." in raw and short.endswith("Slot"):
            short = short[: -len("Slot")]
        kind = {"unfeaturized": "any"}.get(short.lower(), short.lower() if short.lower() in (
            "text", "bool", "categorical", "float", "list", "any") else raw)
        influences = spec.get("influence_conversation", kind != "any") is not False and kind != "any"
        out[str(name)] = SlotType(kind, influences)
    return out
