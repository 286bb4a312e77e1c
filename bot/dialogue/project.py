"""The files of a Rasa 3 project as Rasa's importers see them: the domain (one file or a `domain/`
directory, merged), the data files under `data/` by their top-level keys, the test stories under
`tests/`, and `config.yml` (read_config, from bot/dialogue/config.py). Every problem becomes a
Finding with the file and line it is about, paths relative to the project; nothing here prints or
raises for a user's mistake (load_domain_dict raises ConfigError for callers that want the dict or
nothing)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from bot.dialogue.config import Component, ProjectConfig, Support, read_config
from bot.dialogue.yaml_lines import Finding, Level, LinedYaml, read_yaml, relative
from bot.errors import ConfigError

YAML_SUFFIXES = (".yml", ".yaml")
LATEST_FORMAT = (3, 1, 0)  # Rasa 3.6 reads training data format 3.1
DATA_SECTIONS = ("nlu", "rules", "stories", "responses")
DOMAIN_LISTS = ("intents", "entities", "actions")
DOMAIN_DICTS = ("slots", "responses", "forms")
DOMAIN_KEYS = frozenset({*DOMAIN_LISTS, *DOMAIN_DICTS, "e2e_actions", "session_config", "config", "version"})
DEFAULT_SESSION_CONFIG = {"session_expiration_time": 60, "carry_over_slots_to_new_session": True}


def check_version(doc: LinedYaml, findings: list[Finding]) -> bool:
    """Rasa's `version:` rules: an older format is read (warning), a newer one is skipped."""
    data = doc.data
    if not isinstance(data, dict) or "version" not in data or data["version"] in (None, ""):
        return True
    value = data["version"]
    where = doc.where(doc.key_line(data, "version"))
    if not isinstance(value, str):
        findings.append(Finding("warning", where, f"`version` should be a string such as \"3.1\", not {value!r}; "
                                "the file is read as format 3.1"))
        return True
    try:
        parsed = tuple(int(p) for p in value.strip("\"' ").split("."))
        parsed = (parsed + (0, 0, 0))[:3]
    except ValueError:
        findings.append(Finding("warning", where, f"`version: {value}` is not a version; the file is read as 3.1"))
        return True
    if parsed > LATEST_FORMAT:
        findings.append(Finding("warning", where, f"format version {value} is newer than 3.1, which Rasa 3.6 and "
                                "Switchboard read; the file is skipped, as Rasa skips it"))
        return False
    if parsed < LATEST_FORMAT:
        findings.append(Finding("warning", where, f"format version {value} is older than 3.1; the file is read as "
                                "3.1 (Rasa 3 does the same), so Rasa 2 constructs in it may not work"))
    return True


def _yaml_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in YAML_SUFFIXES)


def find_domain(project: Path) -> list[Path]:
    """`domain.yml` (or `domain.yaml`), else every YAML file under `domain/`, sorted."""
    for name in ("domain.yml", "domain.yaml"):
        if (project / name).is_file():
            return [project / name]
    folder = project / "domain"
    return _yaml_files(folder) if folder.is_dir() else []


@dataclass(frozen=True)
class DomainData:
    """The merged domain dict, where each of its names is defined, and what merging found."""

    data: dict[str, Any]
    sources: dict[tuple[str, str], str]  # ("intents", "greet") -> "domain.yml:7"
    files: tuple[str, ...]
    findings: tuple[Finding, ...]


def item_name(item: Any) -> str:
    """`- greet` or `- greet: {use_entities: [...]}` -> "greet"."""
    if isinstance(item, dict) and item:
        return str(next(iter(item)))
    return str(item)


class _Merger:
    def __init__(self) -> None:
        self.data: dict[str, Any] = {key: [] for key in (*DOMAIN_LISTS, "e2e_actions")}
        self.data.update({key: {} for key in DOMAIN_DICTS})
        self.sources: dict[tuple[str, str], str] = {}
        self.set_by: dict[str, str] = {}
        self.findings: list[Finding] = []

    def warn(self, source: str, message: str, level: Level = "warning") -> None:
        self.findings.append(Finding(level, source, message))

    def add_file(self, doc: LinedYaml, override: bool = False, keys: Iterable[str] = DOMAIN_KEYS) -> None:
        raw = doc.data
        for key in raw:
            if key not in keys:
                continue
            value = raw[key]
            where = doc.where(doc.key_line(raw, key))
            if value is None or key == "version":
                continue
            if key in DOMAIN_LISTS or key == "e2e_actions":
                self._add_list(doc, key, value, where)
            elif key in DOMAIN_DICTS:
                self._add_dict(doc, key, value, where, override)
            else:
                self._add_single(doc, key, value, where)

    def _add_list(self, doc: LinedYaml, key: str, value: Any, where: str) -> None:
        if not isinstance(value, list):
            self.warn(where, f"`{key}` must be a list; it is ignored", "error")
            return
        in_file: set[str] = set()
        for index, item in enumerate(value):
            name = item_name(item)
            at = doc.where(doc.item_line(value, index))
            if not isinstance(item, (str, dict)) or not name:
                self.warn(at, f"`{key}` holds {item!r}, which is not a name", "error")
                continue
            if name in in_file:
                self.warn(at, f"{key[:-1]} '{name}' is listed twice in {doc.label}; Rasa refuses a domain "
                          "with duplicates", "error")
                continue
            in_file.add(name)
            first = self.sources.get((key, name))
            if first is not None:
                self.warn(at, f"{key[:-1]} '{name}' is also defined at {first}; the first definition is used")
                continue
            self.sources[(key, name)] = at
            self.data[key].append(item)

    def _add_dict(self, doc: LinedYaml, key: str, value: Any, where: str, override: bool) -> None:
        if not isinstance(value, dict):
            self.warn(where, f"`{key}` must be a mapping; it is ignored", "error")
            return
        singular = {"slots": "slot", "responses": "response", "forms": "form"}[key]
        for name, spec in value.items():
            at = doc.where(doc.key_line(value, name))
            first = self.sources.get((key, str(name)))
            if first is not None:
                used = at if override else first
                self.warn(at, f"{singular} '{name}' is also defined at {first}; the one at {used} is used")
                if not override:
                    continue
            self.sources[(key, str(name))] = at
            self.data[key][str(name)] = spec

    def _add_single(self, doc: LinedYaml, key: str, value: Any, where: str) -> None:
        if key not in self.set_by:
            if key == "session_config" and value == DEFAULT_SESSION_CONFIG:
                self.data.setdefault(key, value)  # Rasa lets a later file's non-default one win
                return
            self.set_by[key] = where
            self.data[key] = value
        elif value != self.data.get(key):
            self.warn(where, f"`{key}` is also set at {self.set_by[key]}; that one is used")


def load_domain(paths: Sequence[Path], *, root: Path | None = None,
                data_responses: Sequence[Path] = ()) -> DomainData:
    """Merge domain files as Rasa does: the lists (intents, entities, actions) and mappings
    (slots, responses, forms) are joined, the first file's definition winning a repeated name (a
    warning naming both places); session_config and config come from the first file that sets
    them. `responses:` of data files (`data_responses`) are merged last and win over the domain's,
    as Rasa's ResponsesSyncImporter lets them."""
    merger = _Merger()
    labels: list[str] = []
    for path in paths:
        doc = read_yaml(path, root, merger.findings)
        labels.append(relative(path, root))
        if doc is None or doc.data is None:
            continue
        if not isinstance(doc.data, dict):
            merger.warn(doc.label, "a domain file must be a YAML mapping (intents:, slots:, ...)", "error")
            continue
        if not check_version(doc, merger.findings):
            continue
        unknown = [k for k in doc.data if k not in DOMAIN_KEYS]
        for key in unknown:
            merger.warn(doc.where(doc.key_line(doc.data, key)), f"`{key}` is not a domain key; it is ignored")
        if not any(k in DOMAIN_KEYS and k != "version" for k in doc.data):
            merger.warn(doc.label, "the file has none of the domain keys; it is skipped")
            continue
        merger.add_file(doc)
    for path in data_responses:
        doc = read_yaml(path, root, merger.findings)
        if doc is not None and isinstance(doc.data, dict):
            merger.add_file(doc, override=True, keys=("responses",))
    merger.data.setdefault("session_config", dict(DEFAULT_SESSION_CONFIG))
    return DomainData(merger.data, merger.sources, tuple(labels), tuple(merger.findings))


def load_domain_dict(paths: Sequence[Path], *, root: Path | None = None,
                     data_responses: Sequence[Path] = ()) -> dict[str, Any]:
    """The merged domain dict (see load_domain); raises ConfigError at the first error."""
    merged = load_domain(paths, root=root, data_responses=data_responses)
    for finding in merged.findings:
        if finding.level == "error":
            raise ConfigError(f"{finding.source}: {finding.message}")
    return merged.data


@dataclass(frozen=True)
class DataFile:
    path: Path
    label: str  # relative to the project
    sections: frozenset[str]  # of DATA_SECTIONS


@dataclass(frozen=True)
class DataFiles:
    """The files under `data/`: YAML ones by the sections they hold, and the others."""

    files: tuple[DataFile, ...]
    other: tuple[Path, ...]  # CSV, JSONL, text ...: read by Switchboard's own loaders
    findings: tuple[Finding, ...] = field(default=())

    def having(self, section: str) -> tuple[Path, ...]:
        return tuple(f.path for f in self.files if section in f.sections)

    @property
    def nlu(self) -> tuple[Path, ...]:
        return self.having("nlu")

    @property
    def rules(self) -> tuple[Path, ...]:
        return self.having("rules")

    @property
    def stories(self) -> tuple[Path, ...]:
        return self.having("stories")

    @property
    def responses(self) -> tuple[Path, ...]:
        return self.having("responses")


def _classify(paths: Iterable[Path], root: Path, findings: list[Finding], known: Sequence[str],
              warn_unknown: bool = True) -> list[DataFile]:
    out = []
    for path in paths:
        doc = read_yaml(path, root, findings)
        sections: set[str] = set()
        if doc is not None and doc.data is not None:
            if not isinstance(doc.data, dict):
                findings.append(Finding("error", doc.label, "a data file must be a YAML mapping (nlu:, stories:, ...)"))
            elif check_version(doc, findings):
                for key in doc.data:
                    if key in known:
                        sections.add(str(key))
                    elif key != "version" and warn_unknown:
                        findings.append(Finding("warning", doc.where(doc.key_line(doc.data, key)),
                                                f"top-level key `{key}` is none of {', '.join(known)}; it is ignored"))
        out.append(DataFile(path, relative(path, root), frozenset(sections)))
    return out


def data_files(project: Path) -> DataFiles:
    """Every file under `data/`, recursively and sorted; YAML files are read and classified by
    their top-level keys (nlu, rules, stories, responses)."""
    folder = project / "data"
    if not folder.is_dir():
        return DataFiles((), ())
    everything = sorted(p for p in folder.rglob("*") if p.is_file())
    yaml_files = [p for p in everything if p.suffix.lower() in YAML_SUFFIXES]
    findings: list[Finding] = []
    files = _classify(yaml_files, project, findings, DATA_SECTIONS)
    other = tuple(p for p in everything if p.suffix.lower() not in YAML_SUFFIXES)
    return DataFiles(tuple(files), other, tuple(findings))


def conversation_tests(project: Path) -> DataFiles:
    """Rasa's test stories: the YAML files under `tests/` whose name starts with `test_` and that
    hold `stories:` or `rules:` (Rasa's is_test_stories_file). Everything else there is the
    user's own (Python tests, JSON fixtures): `other`."""
    folder = project / "tests"
    if not folder.is_dir():
        return DataFiles((), ())
    everything = sorted(p for p in folder.rglob("*") if p.is_file())
    candidates = [p for p in everything if p.suffix.lower() in YAML_SUFFIXES and p.name.startswith("test_")]
    findings: list[Finding] = []
    classified = _classify(candidates, project, findings, ("stories", "rules"), warn_unknown=False)
    files = tuple(f for f in classified if f.sections)
    chosen = {f.path for f in files}
    return DataFiles(files, tuple(p for p in everything if p not in chosen), tuple(findings))


__all__ = [
    "Component", "DataFile", "DataFiles", "DomainData", "Finding", "Level", "ProjectConfig", "Support",
    "check_version", "data_files", "find_domain", "item_name", "load_domain", "load_domain_dict", "read_config",
    "read_yaml", "relative", "conversation_tests",
]
