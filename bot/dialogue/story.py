"""A story, rule or test story as the dialogue code reads it: Switchboard events in order.

Every YAML step becomes an event dict of the tracker's own shape (bot/events.py), so the
policies featurise a story and a live conversation with the same code:
- `- intent: x` (with `entities:`, `user:` text) -> {"event": "user", "text": <text or None>,
  "parse_data": {"intent": {"name": x, "confidence": 1.0}, "entities": [{"entity", "value", ...}]}}
- `- action: a`                  -> {"event": "action", "name": a}
- `- slot_was_set: [...]`        -> one {"event": "slot", "name", "value"} per slot
- `- active_loop: f` (or null)   -> {"event": "active_loop", "name": f | None}
- `- bot: text` (e2e bot turns)  -> {"event": "action", "name": None, "action_text": text}
`or:` steps and checkpoints are expanded by the loader: a StoryBlock never holds them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Event = dict[str, Any]
Kind = Literal["story", "rule", "test"]


@dataclass(frozen=True)
class StoryBlock:
    name: str
    kind: Kind
    events: tuple[Event, ...]
    source: str  # "data/rules.yml:12": where the block starts, for every message about it
    condition: tuple[Event, ...] = ()  # rules: slot / active_loop events that hold before the steps
    conversation_start: bool = False  # rules: only at the start of a conversation
    wait_for_user_input: bool = True  # rules: an implicit action_listen after the last step
    step_sources: tuple[str, ...] = field(default=(), compare=False)  # "file:line" of each event
