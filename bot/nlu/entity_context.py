"""Conversation-aware entity typing: how likely each entity label is in a turn, from the turn's
own intent scores and the intents the conversation had before it.

A reply such as "the 5th, at 6 pm" names a date, but whether it is a hotel's check-in date or a
bus's leaving date is said only by the turns before it. Rasa's DIET types each message on its own;
Switchboard also reads the conversation. At training, each intent records the entity labels its
examples annotate (meta `entity_labels_by_intent`). Intents that share a label are joined into one
*family* (connected components), so a family is a domain of the assistant: hotels, buses, movies.
At parse time, the family of the turn is chosen by the turn's intent probabilities summed per
family, times a prior that the conversation stays in the family of its last intent that had one
(`stay`); each span the entity head decodes is then typed again with the other families' labels
weighed down by how much less likely their family is (down to `floor`; bot/nlu/tagging.py), so a
plain "March 3rd" takes the conversation's type while a span the head is sure of keeps its own.

An assistant whose intents all share labels (most single-domain bots: `inform` carries every
entity) has one family, and nothing changes for it. bench/entity_bench.py measures the effect.

Modes (switchboard.yml `nlu.entity_families`): `soft`, the default, keeps a span the head is sure of
in another family's type (an e-mail address given in the middle of an order conversation); `strict`
types each span in the chosen family only, and drops a span no label of that family fits
(bot/nlu/tagging.py), for assistants whose turns each stay in one domain; `off` types each turn
alone, as Rasa does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from bot.events import Event
from bot.tracker import without_reverted

STAY = 0.9  # the prior that a turn stays in the family of the conversation's last one
FLOOR = 0.05  # the least weight of another family's labels, against the best family's (0: a hard mask)
# switchboard.yml `nlu.entity_families`: the floor of each mode; `off` types each turn alone (Rasa)
MODES: dict[str, float | None] = {"soft": FLOOR, "strict": 0.0, "off": None}
CONTEXT_TURNS = 5  # user turns of the session a context holds, most recent last


@dataclass(frozen=True)
class EntityFamilies:
    family_of: dict[str, int]  # intent -> family
    labels: tuple[frozenset[str], ...]  # family -> the entity labels its intents annotate

    @classmethod
    def build(cls, labels_by_intent: Mapping[str, Sequence[str]]) -> "EntityFamilies":
        """Connected components of the intent-label graph (union-find over intents)."""
        parent: dict[str, str] = {intent: intent for intent, labels in labels_by_intent.items() if labels}

        def root(intent: str) -> str:
            while parent[intent] != intent:
                parent[intent] = parent[parent[intent]]
                intent = parent[intent]
            return intent

        owner: dict[str, str] = {}  # label -> the first intent seen with it
        for intent in parent:
            for label in labels_by_intent[intent]:
                if label in owner:
                    parent[root(intent)] = root(owner[label])
                else:
                    owner[label] = intent
        roots = sorted({root(i) for i in parent})
        family_of = {intent: roots.index(root(intent)) for intent in parent}
        labels = tuple(frozenset(label for intent, f in family_of.items() if f == k for label in labels_by_intent[intent])
                       for k in range(len(roots)))
        return cls(family_of, labels)

    @property
    def active(self) -> bool:
        """Whether there is anything to choose: two families or more."""
        return len(self.labels) > 1

    def context_family(self, context: Sequence[str]) -> int | None:
        """The family of the most recent context intent that has one."""
        return next((self.family_of[i] for i in reversed(context) if i in self.family_of), None)

    def bias(self, ranking: Iterable[tuple[str, float]], context: Sequence[str] = (), stay: float = STAY,
             floor: float = FLOOR) -> dict[str, float] | None:
        """Each entity label's log weight in typing a span: 0 for the labels of the turn's most
        likely family, log(its probability / the best's), at least log(`floor`), for the others'.
        A family's probability: the turn's intent probabilities summed over the family, times the
        prior that the conversation keeps the family of its last intent that had one (`stay`).
        None for no bias (one family, or no evidence at all)."""
        if not self.active:
            return None
        mass = [0.0] * len(self.labels)
        for intent, p in ranking:
            if intent in self.family_of:
                mass[self.family_of[intent]] += p
        before = self.context_family(context)
        if max(mass) <= 0.0:  # a turn whose intents carry no entities ("yes, the 5th")
            if before is None:
                return None
            mass = [1.0] * len(self.labels)
        if before is not None:
            others = (1.0 - stay) / (len(self.labels) - 1)
            mass = [m * (stay if k == before else others) for k, m in enumerate(mass)]
        best = max(mass)
        out: dict[str, float] = {}
        for k, labels in enumerate(self.labels):
            weight = math.log(max(mass[k] / best, floor)) if floor > 0 else (0.0 if mass[k] >= best else -math.inf)
            out.update((label, weight) for label in labels)  # a label is in one family
        return out


def context_intents(events: Sequence[Event], limit: int = CONTEXT_TURNS) -> tuple[str, ...]:
    """The intents of the last `limit` user messages since the session started or restarted,
    oldest first (reverted ones out)."""
    start = max((i for i, e in enumerate(events) if e.get("event") in ("session_started", "restart")), default=-1) + 1
    intents = [str(((e.get("parse_data") or {}).get("intent") or {}).get("name") or "")
               for e in without_reverted(events[start:]) if e.get("event") == "user"]
    return tuple(i for i in intents if i)[-limit:]
