"""Loaders for training data: Rasa nlu.yml, CSV `text,label`, JSONL `{"text", "intent"|"label"}`."""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import yaml

from bot.dialogue.annotations import parse_annotated
from bot.errors import ConfigError
from bot.jsonl import read_jsonl
from bot.nlu.tagging import Span


@dataclass(frozen=True)
class Example:
    text: str
    label: str
    entities: tuple[tuple[str, str], ...] = ()  # (entity, value)
    spans: tuple[Span, ...] = ()  # the same entities with their offsets, roles and groups: what the token head learns
    # a retrieval intent's full name (`faq/ask_hours`): `label` is then its base (`faq`), and the
    # response head learns which of the base's responses answers (Rasa's ResponseSelector)
    retrieval: str | None = None


@dataclass
class NLUData:
    examples: list[Example] = field(default_factory=list)
    regexes: dict[str, list[str]] = field(default_factory=dict)
    synonyms: dict[str, str] = field(default_factory=dict)
    lookups: dict[str, list[str]] = field(default_factory=dict)  # lookup tables: name -> elements

    def extend(self, other: "NLUData") -> None:
        self.examples.extend(other.examples)
        for name, patterns in other.regexes.items():
            self.regexes.setdefault(name, []).extend(patterns)
        for name, elements in other.lookups.items():
            self.lookups.setdefault(name, []).extend(elements)
        self.synonyms.update(other.synonyms)


def strip_annotations(text: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """`where is [NW-10234](order_number)` -> ('where is NW-10234', (('order_number', 'NW-10234'),))."""
    plain, found, _ = parse_annotated(text)
    return plain, tuple((str(e["entity"]), str(e["value"])) for e in found)


def _block(value: object) -> list[str]:
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    if not isinstance(value, str):
        return []
    lines = []
    for line in value.splitlines():
        line = line.strip()
        if line.startswith("- "):
            lines.append(line[2:].strip())
        elif line == "-":
            continue
        elif line:
            lines.append(line)
    return [line for line in lines if line]


def _spans(plain: str, found: list[dict[str, object]], synonyms: dict[str, str]) -> tuple[Span, ...]:
    """The annotated spans of an example; an annotation whose value differs from its text is a
    synonym too (`[NYC](city:New York)`: "nyc" -> "New York"), as Rasa's EntitySynonymMapper learns."""
    spans = []
    for e in found:
        start, end = int(e["start"]), int(e["end"])  # type: ignore[call-overload]
        surface = plain[start:end]
        value = str(e.get("value", surface))
        if value != surface:
            synonyms.setdefault(surface.lower(), value)
        spans.append(Span(start, end, str(e["entity"]), value,
                          str(e["role"]) if e.get("role") is not None else None,
                          str(e["group"]) if e.get("group") is not None else None))
    return tuple(spans)


def load_rasa_nlu(path: Path) -> NLUData:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    data = NLUData()
    for item in doc.get("nlu") or []:
        if not isinstance(item, dict):
            continue
        if "intent" in item:
            for raw in _block(item.get("examples")):
                plain, found, _ = parse_annotated(raw)  # one parser for the text, the entities and their offsets
                entities = tuple((str(e["entity"]), str(e["value"])) for e in found)
                data.examples.append(Example(plain, str(item["intent"]), entities, _spans(plain, found, data.synonyms)))
        elif "regex" in item:
            data.regexes.setdefault(str(item["regex"]), []).extend(_block(item.get("examples")))
        elif "synonym" in item:
            for raw in _block(item.get("examples")):
                data.synonyms[raw.lower()] = str(item["synonym"])  # a synonym block wins over an annotation
        elif "lookup" in item:
            data.lookups.setdefault(str(item["lookup"]), []).extend(_block(item.get("examples")))
    return data


def load_csv(path: Path, text_col: str = "text", label_col: str = "label") -> NLUData:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or text_col not in reader.fieldnames or label_col not in reader.fieldnames:
            raise ConfigError(f"{path} needs the columns {text_col!r} and {label_col!r}")
        rows = [Example(r[text_col].strip(), r[label_col].strip()) for r in reader if r[text_col].strip()]
    return NLUData(rows)


def load_jsonl(path: Path) -> NLUData:
    data = NLUData()
    for _, row in read_jsonl(path):
        label = row.get("intent") or row.get("label")
        if row.get("text") and label:
            data.examples.append(Example(str(row["text"]).strip(), str(label)))
    return data


def load_nlu(paths: Iterable[Path]) -> NLUData:
    """Load and merge training files by their suffix."""
    data = NLUData()
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise ConfigError(f"training file {path} does not exist")
        suffix = path.suffix.lower()
        if suffix in (".yml", ".yaml"):
            data.extend(load_rasa_nlu(path))
        elif suffix == ".csv":
            data.extend(load_csv(path))
        elif suffix in (".jsonl", ".json"):
            data.extend(load_jsonl(path))
        else:
            raise ConfigError(f"cannot read {path}: use .yml, .csv or .jsonl")
    return data


def files_hash(paths: Iterable[Path], *extra: str) -> str:
    """A stable hash of the files' bytes and any extra strings (settings that change the model)."""
    digest = hashlib.sha256()
    for path in sorted(Path(p) for p in paths):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    for item in extra:
        digest.update(item.encode())
    return digest.hexdigest()[:16]
