"""Support logs -> entries.

Reads Q&A files (JSONL or CSV with `question` and `answer` columns, optional `id`, `intent`,
`tags`, `created_at`) and multi-turn transcripts (JSONL whose records have `turns`, or both
`conversation_id` and `turn`; see knowledge/transcripts.py). `ingest` also cleans the text:
normalises it, redacts PII and drops exact duplicates. Near duplicates need embeddings: the index
builder calls `knowledge.dedup.drop_near` after encoding.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, MutableMapping

from bot.errors import ConfigError
from bot.jsonl import read_jsonl
from knowledge.base import Entry
from knowledge.clean import normalise, redact
from knowledge.dedup import drop_exact
from knowledge.transcripts import load_transcripts


@dataclass
class IngestResult:
    """Cleaned entries and what happened on the way. `stats` keys:
    read (question/answer pairs found: Q&A rows plus transcript pairs), transcripts_pairs (transcript
    pairs kept), skipped_small_talk, skipped_empty (transcript pairs without a question or answer),
    exact_duplicates, kept, and redacted: {email, phone, card}."""

    entries: list[Entry]
    stats: dict[str, Any] = field(default_factory=dict)


def _entry(row: dict[str, Any], where: str, fallback_id: str) -> Entry:
    question, answer = str(row.get("question") or "").strip(), str(row.get("answer") or "").strip()
    if not question or not answer:
        raise ConfigError(f"{where}: every support log needs a non-empty question and answer")
    tags = row.get("tags") or ()
    if isinstance(tags, str):
        tags = [t for t in tags.replace(";", ",").split(",") if t.strip()]
    created_at = str(row.get("created_at") or "").strip() or None
    return Entry(
        id=str(row.get("id") or fallback_id),
        question=question,
        answer=answer,
        intent=row.get("intent") or None,
        tags=tuple(str(t).strip() for t in tags),
        created_at=created_at,
    )


def is_transcript(row: dict[str, Any]) -> bool:
    """A transcript record: a whole conversation (`turns`) or one turn of it (`conversation_id` and `turn`)."""
    return "turns" in row or ("conversation_id" in row and "turn" in row)


def _is_transcript_file(path: Path) -> bool:
    """Decided by the first record of a JSONL file."""
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    return False  # _json_records reports it with its line number
                return isinstance(row, dict) and is_transcript(row)
    return False


def _load(paths: Iterable[Path], stats: MutableMapping[str, int]) -> list[Entry]:
    entries: list[Entry] = []
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise ConfigError(f"support-log file {path} does not exist")
        if path.suffix.lower() == ".csv":
            with path.open(newline="", encoding="utf-8") as fh:
                rows = [_entry(row, f"{path}:{n}", f"{path.stem}-{n}") for n, row in enumerate(csv.DictReader(fh), 2)]
        elif _is_transcript_file(path):
            entries.extend(load_transcripts(path, stats=stats))
            continue
        else:
            rows = [_entry(row, f"{path}:{n}", f"{path.stem}-{n}") for n, row in read_jsonl(path)]
        stats["read"] = stats.get("read", 0) + len(rows)
        entries.extend(rows)
    dupes = sorted(i for i, count in Counter(e.id for e in entries).items() if count > 1)
    if dupes:
        raise ConfigError(f"support-log ids must be unique; repeated: {', '.join(dupes[:5])}")
    return entries


def load_logs(paths: Iterable[Path]) -> list[Entry]:
    """Entries from Q&A files and transcripts, as written (only surrounding whitespace trimmed)."""
    return _load(paths, {})


def clean_entry(entry: Entry, redacted: MutableMapping[str, int]) -> Entry:
    """`entry` with normalised, PII-redacted question and answer; adds to the `redacted` counts."""
    question, q_counts = redact(normalise(entry.question))
    answer, a_counts = redact(normalise(entry.answer))
    for kind in ("email", "phone", "card"):
        redacted[kind] = redacted.get(kind, 0) + q_counts[kind] + a_counts[kind]
    if (question, answer) == (entry.question, entry.answer):
        return entry
    return replace(entry, question=question, answer=answer)


def ingest(paths: Iterable[Path]) -> IngestResult:
    """Load, normalise, redact and drop exact duplicates (keeping the newest of each)."""
    counts: dict[str, int] = {"read": 0, "transcripts_pairs": 0, "skipped_small_talk": 0, "skipped_empty": 0}
    loaded = _load(paths, counts)
    redacted = {"email": 0, "phone": 0, "card": 0}
    cleaned = [clean_entry(entry, redacted) for entry in loaded]
    nonempty = [e for e in cleaned if e.question and e.answer]  # e.g. only invisible characters
    counts["skipped_empty"] += len(cleaned) - len(nonempty)
    entries, exact = drop_exact(nonempty)
    stats: dict[str, Any] = {**counts, "exact_duplicates": exact, "kept": len(entries), "redacted": redacted}
    return IngestResult(entries, stats)
