"""Support logs -> entries. Reads JSONL or CSV with `question` and `answer` columns."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Iterable

from bot.errors import ConfigError
from knowledge.base import Entry


def _entry(row: dict[str, Any], where: str, fallback_id: str) -> Entry:
    question, answer = str(row.get("question") or "").strip(), str(row.get("answer") or "").strip()
    if not question or not answer:
        raise ConfigError(f"{where}: every support log needs a non-empty question and answer")
    tags = row.get("tags") or ()
    if isinstance(tags, str):
        tags = [t for t in tags.replace(";", ",").split(",") if t.strip()]
    return Entry(
        id=str(row.get("id") or fallback_id),
        question=question,
        answer=answer,
        intent=row.get("intent") or None,
        tags=tuple(str(t).strip() for t in tags),
    )


def load_logs(paths: Iterable[Path]) -> list[Entry]:
    entries: list[Entry] = []
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise ConfigError(f"support-log file {path} does not exist")
        if path.suffix.lower() == ".csv":
            with path.open(newline="", encoding="utf-8") as fh:
                for n, row in enumerate(csv.DictReader(fh), 2):
                    entries.append(_entry(row, f"{path}:{n}", f"{path.stem}-{n}"))
        else:
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ConfigError(f"{path}:{n} is not valid JSON: {exc}") from exc
                if not isinstance(row, dict):
                    raise ConfigError(f"{path}:{n} must be a JSON object")
                entries.append(_entry(row, f"{path}:{n}", f"{path.stem}-{n}"))
    ids = [e.id for e in entries]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ConfigError(f"support-log ids must be unique; repeated: {', '.join(dupes[:5])}")
    return entries
