"""Regexes and lookup tables of the NLU data, as Rasa's config.yml uses them.

- As features (Rasa's RegexFeaturizer): each word piece gets one 0/1 feature per pattern, 1 when
  the piece lies inside a match; the entity head reads them beside the encoder's hidden state, so
  "NW-10003" matching `order_number`'s regex, or "Lisbon" being in a `city` lookup table, is a
  strong hint the head learns to trust (or not) from the annotated examples.
- As an extractor (Rasa's RegexEntityExtractor): every match of a pattern named like an entity
  is an entity, with the synonyms mapped.

A lookup table is one pattern: its elements, escaped, longest first, between word boundaries
(`use_word_boundaries`). Options are Rasa's: `use_regexes`, `use_lookup_tables`,
`use_word_boundaries`, `case_sensitive` (the featurizer defaults to case-sensitive, the extractor
to case-insensitive, as in Rasa)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np


@dataclass(frozen=True)
class PatternOptions:
    use_regexes: bool = True
    use_lookup_tables: bool = True
    use_word_boundaries: bool = True
    case_sensitive: bool = True

    def as_dict(self) -> dict[str, bool]:
        return {"use_regexes": self.use_regexes, "use_lookup_tables": self.use_lookup_tables,
                "use_word_boundaries": self.use_word_boundaries, "case_sensitive": self.case_sensitive}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, *, case_sensitive: bool = True) -> "PatternOptions":
        data = data or {}
        return cls(bool(data.get("use_regexes", True)), bool(data.get("use_lookup_tables", True)),
                   bool(data.get("use_word_boundaries", True)), bool(data.get("case_sensitive", case_sensitive)))


def lookup_pattern(elements: Sequence[str], word_boundaries: bool = True) -> str:
    """One regex for a lookup table: the elements escaped, the longest first."""
    alternatives = "|".join(re.escape(e) for e in sorted({e.strip() for e in elements if e.strip()}, key=len,
                                                         reverse=True))
    return rf"(?<!\w)(?:{alternatives})(?!\w)" if word_boundaries else f"(?:{alternatives})"


def compile_patterns(regexes: dict[str, list[str]], lookups: dict[str, list[str]],
                     options: PatternOptions) -> list[tuple[str, re.Pattern[str]]]:
    """(name, compiled pattern) pairs in a stable order: regexes, then lookup tables."""
    flags = 0 if options.case_sensitive else re.IGNORECASE
    out: list[tuple[str, re.Pattern[str]]] = []
    if options.use_regexes:
        for name in sorted(regexes):
            for pattern in regexes[name]:
                out.append((name, re.compile(pattern, flags)))
    if options.use_lookup_tables:
        for name in sorted(lookups):
            if any(e.strip() for e in lookups[name]):
                out.append((name, re.compile(lookup_pattern(lookups[name], options.use_word_boundaries), flags)))
    return out


class PatternFeatures:
    """0/1 features per word piece, one per pattern (RegexFeaturizer's token features)."""

    def __init__(self, regexes: dict[str, list[str]], lookups: dict[str, list[str]], options: PatternOptions) -> None:
        self.patterns = compile_patterns(regexes, lookups, options)

    @property
    def size(self) -> int:
        return len(self.patterns)

    def matches(self, text: str) -> list[list[tuple[int, int]]]:
        return [[m.span() for m in pattern.finditer(text) if m.end() > m.start()] for _, pattern in self.patterns]

    def piece_features(self, text: str, offsets: Sequence[tuple[int, int]]) -> np.ndarray:
        """(pieces, patterns): 1 where the piece overlaps a match of the pattern."""
        out = np.zeros((len(offsets), self.size), np.float32)
        if not self.size:
            return out
        for column, spans in enumerate(self.matches(text)):
            for start, end in spans:
                for row, (a, b) in enumerate(offsets):
                    if b > a and a < end and b > start:
                        out[row, column] = 1.0
        return out


class PatternExtractor:
    """Rasa's RegexEntityExtractor: matches of the patterns named like an entity of the data."""

    EXTRACTOR = "RegexEntityExtractor"

    def __init__(self, regexes: dict[str, list[str]], lookups: dict[str, list[str]], options: PatternOptions,
                 entities: Sequence[str] | None = None, synonyms: dict[str, str] | None = None) -> None:
        wanted = set(entities) if entities is not None else None
        keep = (lambda name: wanted is None or name in wanted)
        self.patterns = compile_patterns({k: v for k, v in regexes.items() if keep(k)},
                                         {k: v for k, v in lookups.items() if keep(k)}, options)
        self.synonyms = {k.lower(): v for k, v in (synonyms or {}).items()}

    def extract(self, text: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for name, pattern in self.patterns:
            for match in pattern.finditer(text):
                if match.end() <= match.start():
                    continue
                value = match.group(0)
                item: dict[str, Any] = {"entity": name, "start": match.start(), "end": match.end(),
                                        "value": self.synonyms.get(value.lower(), value),
                                        "extractor": self.EXTRACTOR}
                if value.lower() in self.synonyms:
                    item["processors"] = ["EntitySynonymMapper"]
                found.append(item)
        return found
