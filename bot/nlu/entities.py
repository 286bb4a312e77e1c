"""Entities from the regexes of nlu.yml (Rasa's RegexEntityExtractor), plus synonyms."""

from __future__ import annotations

import re
from typing import Any


class RegexEntities:
    def __init__(self, regexes: dict[str, list[str]], synonyms: dict[str, str] | None = None) -> None:
        self._patterns = [(name, re.compile(p, re.IGNORECASE)) for name, ps in regexes.items() for p in ps]
        self._synonyms = {k.lower(): v for k, v in (synonyms or {}).items()}

    def extract(self, text: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for name, pattern in self._patterns:
            for match in pattern.finditer(text):
                value = match.group(0)
                found.append(
                    {
                        "entity": name,
                        "start": match.start(),
                        "end": match.end(),
                        "value": self._synonyms.get(value.lower(), value),
                        "extractor": "RegexEntityExtractor",
                    }
                )
        return found
