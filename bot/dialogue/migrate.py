"""Convert a Rasa 2.x project (domain and training data) to Rasa 3.x, as `rasa data migrate` does.

Domain rules as in Rasa 3.6's migration: a form's `required_slots: {slot: [mappings]}` move to the
slot's `mappings:` with `conditions: [{active_loop: <form>, requested_slot: <slot>}]`, without
requested_slot for from_entity and from_trigger_intent (those fill the slot while the form is
active); a mapping several forms share is kept once with a condition per form; forms keep
`required_slots` as a list of names (and `ignored_intents`). A slot named like an entity with
`auto_fill` true (the Rasa 2 default) gets an unconditioned from_entity mapping, as Rasa 2 filled
it; `auto_fill` goes; a slot left without mappings gets `[{type: custom}]`; version becomes "3.1".

Beyond Rasa: Rasa 2 slot class names (`rasa.shared.core.slots.TextSlot`) become short types
(`text`; `unfeaturized` -> `any`, not influencing the conversation), a missing `version` is added,
entities with roles (`- city: {roles: ...}`) count for auto-fill, a slot with Rasa 3 mappings of
its own that a form also maps the Rasa 2 way is an error (Rasa merges them), and data files get
version "3.1" (Rasa leaves them; it reads "2.0" ones with a warning). YAML is read with YAML 1.2
booleans, as Rasa reads it: `value: yes` stays the string "yes".
"""

from __future__ import annotations

import copy
import os
import re
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from bot.errors import ConfigError

MIGRATE_HINT = "run `switchboard data migrate` to convert it to Rasa 3 (as `rasa data migrate` does)"
RASA3_VERSION = "3.1"
ALREADY_3X = "already Rasa 3"
BACKUP_DIR = Path(".switchboard") / "migrate-backup"

_SLOT_MODULES = ("rasa.shared.core.slots.", "rasa.core.slots.")
_SLOT_CLASSES = {"TextSlot": "text", "FloatSlot": "float", "BooleanSlot": "bool", "CategoricalSlot": "categorical"}
_SLOT_CLASSES |= {"ListSlot": "list", "AnySlot": "any", "UnfeaturizedSlot": "unfeaturized"}
# Mapping types that Rasa's migration conditions on the active form only, not on the requested slot.
_FORM_WIDE_TYPES = frozenset({"from_entity", "from_trigger_intent"})
_VERSION_LINE = re.compile(r"""^(version:[ \t]*)(["']?)2(?:\.\d+)?\2(?=[ \t]*(?:#.*)?$)""", re.MULTILINE)
_BOOL = "tag:yaml.org,2002:bool"


@dataclass(frozen=True)
class MigrationReport:
    files_written: tuple[Path, ...]
    notes: tuple[str, ...]
    already_3x: bool
    backup: Path | None = None  # where the originals were copied (in-place migrations only)


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 booleans (only true/false), as Rasa reads its files."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _BOOL]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


class _Dumper(yaml.SafeDumper):
    """safe_dump, with multi-line strings as `|` blocks."""


_Dumper.add_representer(
    str, lambda d, s: d.represent_scalar("tag:yaml.org,2002:str", s, style="|" if "\n" in s else None)
)


def _load(text: str, file: str | Path) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file} is not valid YAML: {exc}") from exc


def _dump(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=4096)


def _is_2x_version(value: Any) -> bool:
    text = "" if value is None or isinstance(value, bool) else str(value).strip().strip("'\"")
    return text == "2" or text.startswith("2.")


def _short_type(type_name: Any) -> str | None:
    """The Rasa 3 spelling of a Rasa 2 slot type, or None when the type needs no change."""
    short = type_name if type_name == "unfeaturized" else None
    for module in _SLOT_MODULES:
        if isinstance(type_name, str) and type_name.startswith(module):
            short = _SLOT_CLASSES.get(type_name[len(module) :], short)
    return "any" if short == "unfeaturized" else short


def _form_mappings(form: Any) -> dict[Any, Any] | None:
    """A form's Rasa 2 slot mappings ({slot: [mapping, ...]}), or None for a Rasa 3 form."""
    if not isinstance(form, dict):
        return None
    if "required_slots" in form:
        required = form["required_slots"]
        return required if isinstance(required, dict) else None
    legacy = {key: value for key, value in form.items() if key != "ignored_intents"}  # Rasa 2.0: no required_slots
    return legacy or None


def is_2x_domain(data: Any) -> bool:
    """True when the domain uses Rasa 2 constructs: a 2.x version, slot mappings inside forms
    (so the slots they fill have none of their own), `auto_fill`, or Rasa 2 slot type names."""
    if not isinstance(data, dict):
        return False
    forms, slots = data.get("forms"), data.get("slots")
    return (
        _is_2x_version(data.get("version"))
        or (isinstance(forms, dict) and any(_form_mappings(form) is not None for form in forms.values()))
        or isinstance(slots, dict)
        and any(
            isinstance(spec, dict) and ("auto_fill" in spec or _short_type(spec.get("type")) is not None)
            for spec in slots.values()
        )
    )


def _entity_names(entities: Any) -> list[str]:
    names: list[str] = []
    for entity in entities if isinstance(entities, list) else []:
        if isinstance(entity, dict):  # `- city: {roles: [from, to]}`
            names.extend(str(key) for key in entity)
        else:
            names.append(str(entity))
    return names


def _section(doc: dict[str, Any], key: str, file: str) -> dict[Any, Any]:
    value = doc.get(key)
    if value is not None and not isinstance(value, dict):
        raise ConfigError(f"{file}: `{key}:` must be a mapping of names, not {type(value).__name__}")
    return value or {}


def _move_form_mappings(spec: dict[str, Any], mappings: list[dict[str, Any]], form: str, slot: str) -> None:
    """Add a form's mappings for `slot` to the slot, conditioned on the form; a mapping that another
    form already moved there gets this form's condition added instead of a second copy."""
    if not spec.get("mappings"):
        spec["mappings"] = []
    current: list[dict[str, Any]] = spec["mappings"]
    taken: set[int] = set()  # each mapping of the slot absorbs at most one of this form's mappings
    for mapping in mappings:
        condition: dict[str, Any] = {"active_loop": form}
        if mapping.get("type") not in _FORM_WIDE_TYPES:
            condition["requested_slot"] = slot
        bare = copy.deepcopy(mapping)
        for index, existing in enumerate(current):
            if index not in taken and {k: v for k, v in existing.items() if k != "conditions"} == bare:
                existing["conditions"] = [*(existing.get("conditions") or []), condition]
                taken.add(index)
                break
        else:
            current.append({**bare, "conditions": [condition]})
            taken.add(len(current) - 1)


def _migrate_forms(
    slots: dict[Any, dict[str, Any]], forms: dict[Any, Any], files: dict[tuple[str, Any], str], notes: list[str]
) -> tuple[dict[Any, Any], dict[Any, Any]]:
    """Move the forms' Rasa 2 mappings onto the slots (in place); returns the new forms and the
    slots that only a form names, {slot: form}."""
    own_mappings = {name for name, spec in slots.items() if spec.get("mappings")}
    new_forms: dict[Any, Any] = {}
    undeclared: dict[Any, Any] = {}
    for form_name, form in forms.items():
        legacy = _form_mappings(form)
        if legacy is None:
            new_forms[form_name] = form
            continue
        file = files["forms", form_name]
        for slot_name, mappings in legacy.items():
            mappings = [] if mappings is None else [mappings] if isinstance(mappings, dict) else mappings
            if not isinstance(mappings, list) or not all(isinstance(m, dict) for m in mappings):
                raise ConfigError(
                    f"{file}: form {form_name!r} maps slot {slot_name!r} with something other than a list "
                    "of mappings such as `- type: from_entity`"
                )
            if mappings and slot_name in own_mappings:
                slot_file = files["slots", slot_name]
                raise ConfigError(
                    f"{slot_file}: slot {slot_name!r} has Rasa 3 `mappings:` of its own and Rasa 2 mappings in "
                    f"form {form_name!r}{'' if slot_file == file else f' ({file})'}; keep one of the two (Rasa 3 "
                    "puts them under the slot, with `conditions: [{active_loop: ...}]`)"
                )
            if slot_name not in slots:
                undeclared[slot_name], slots[slot_name], files["slots", slot_name] = form_name, {}, file
                notes.append(
                    f"{file}: form {form_name!r} requires slot {slot_name!r}, which `slots:` does not "
                    "declare; it was added with its mappings but has no type: add one"
                )
            _move_form_mappings(slots[slot_name], mappings, str(form_name), str(slot_name))
            if mappings:
                notes.append(
                    f"{file}: slot {slot_name!r}: {len(mappings)} mapping(s) moved from form {form_name!r} "
                    f"to the slot, with the condition active_loop: {form_name}"
                )
        new_forms[form_name] = {"required_slots": [str(name) for name in legacy]}
        if isinstance(form, dict) and form.get("ignored_intents"):
            new_forms[form_name]["ignored_intents"] = form["ignored_intents"]
        notes.append(f"{file}: form {form_name!r}: required_slots is now a list of slot names")
    return new_forms, undeclared


def _finish_slots(
    slots: dict[Any, dict[str, Any]], entities: list[str], files: dict[tuple[str, Any], str], notes: list[str]
) -> None:
    """Auto-fill, custom mappings and type names, in place."""
    auto_fill_removed: dict[str, list[str]] = {}
    for name, spec in slots.items():
        file = files["slots", name]
        entity_mapping, mappings = {"type": "from_entity", "entity": name}, spec.get("mappings") or []
        if name in entities and spec.get("auto_fill", True) is True and entity_mapping not in mappings:
            spec["mappings"] = [*mappings, entity_mapping]
            notes.append(f"{file}: slot {name!r}: auto-fill from entity {name!r} is now a from_entity mapping")
        if "auto_fill" in spec:
            del spec["auto_fill"]
            auto_fill_removed.setdefault(file, []).append(str(name))
        if not spec.get("mappings"):
            spec["mappings"] = [{"type": "custom"}]
            notes.append(
                f"{file}: slot {name!r} has no mapping: a custom mapping was added (only an action sets it); "
                "please double-check this is correct"
            )
        short = _short_type(spec.get("type"))
        if short:
            if spec["type"] == "unfeaturized" or spec["type"].endswith(".UnfeaturizedSlot"):
                spec.setdefault("influence_conversation", False)
            notes.append(f"{file}: slot {name!r}: type {spec['type']} -> {short}")
            spec["type"] = short
    for file, names in auto_fill_removed.items():
        notes.append(f"{file}: auto_fill removed from slot(s) {', '.join(names)} (Rasa 3 has no auto-fill)")


def _migrate_docs(docs: list[tuple[str, dict[str, Any]]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Migrate a domain of one or more files, [(file name, content)], as one domain; each slot and
    form stays in the file that declares it (a slot only a form names goes to the form's file)."""
    sections: dict[str, dict[Any, Any]] = {"slots": {}, "forms": {}}
    files: dict[tuple[str, Any], str] = {}
    entities: list[str] = []
    for file, doc in docs:
        for key, target in sections.items():
            for name, value in _section(doc, key, file).items():
                if (key, name) in files:
                    raise ConfigError(f"{file}: {key[:-1]} {name!r} is declared again (first in {files[key, name]})")
                if key == "slots" and not isinstance(value, (dict, type(None))):
                    raise ConfigError(f"{file}: slot {name!r} must be a mapping such as `type: text`")
                target[name] = copy.deepcopy({} if value is None and key == "slots" else value)
                files[key, name] = file
        entities.extend(_entity_names(doc.get("entities")))
    slots, notes = sections["slots"], list[str]()
    new_forms, undeclared = _migrate_forms(slots, sections["forms"], files, notes)
    _finish_slots(slots, entities, files, notes)

    results: list[dict[str, Any]] = []
    version_notes: list[str] = []
    for file, doc in docs:
        extra = {name: slots[name] for name, form in undeclared.items() if files["forms", form] == file}
        new: dict[str, Any] = {} if "version" in doc else {"version": RASA3_VERSION}
        for key, value in doc.items():
            if key == "slots":
                value, extra = {name: slots[name] for name in (value or {})} | extra, {}
            elif key == "forms":
                value = {name: new_forms[name] for name in (value or {})}
            new[key] = RASA3_VERSION if key == "version" else copy.deepcopy(value)
        if extra:
            new["slots"] = extra
        results.append(new)
        if "version" not in doc:
            version_notes.append(f"{file}: version {RASA3_VERSION!r} added")
        elif str(doc["version"]) != RASA3_VERSION:
            version_notes.append(f"{file}: version {doc['version']!r} -> {RASA3_VERSION!r}")
    return results, version_notes + notes


def migrate_domain(data: dict[str, Any], *, file: str | Path = "domain.yml") -> tuple[dict[str, Any], list[str]]:
    """The Rasa 3 form of a Rasa 2 domain and notes of what changed; a domain that is not 2.x
    (see is_2x_domain) comes back unchanged with an "already Rasa 3" note."""
    if not isinstance(data, dict):
        raise ConfigError(f"{file} must hold a mapping at the top level")
    if not is_2x_domain(data):
        return copy.deepcopy(data), [f"{file}: {ALREADY_3X}, nothing to change"]
    (new,), notes = _migrate_docs([(str(file), data)])
    return new, notes


def migrate_data_file(data: dict[str, Any], *, file: str | Path = "data file") -> tuple[dict[str, Any], list[str]]:
    """An NLU, stories or rules file: only a 2.x version changes (to "3.1"); the training data
    format is the same in Rasa 3, and `rasa data migrate` does not touch these files at all."""
    if not isinstance(data, dict):
        raise ConfigError(f"{file} must hold a mapping at the top level")
    new = copy.deepcopy(data)
    if not _is_2x_version(data.get("version")):
        return new, []
    new["version"] = RASA3_VERSION
    return new, [f"{file}: version {data['version']!r} -> {RASA3_VERSION!r}"]


def _yaml_files(folder: Path) -> list[Path]:
    found = folder.rglob("*") if folder.is_dir() else ()
    return sorted(path for path in found if path.is_file() and path.suffix in (".yml", ".yaml"))


def _domain_files(project: Path) -> list[Path]:
    for name in ("domain.yml", "domain.yaml"):
        if (project / name).is_file():
            return [project / name]
    if files := _yaml_files(project / "domain"):
        return files
    raise ConfigError(f"{project}: no domain.yml (or domain/ folder of YAML files) to migrate")


def _read(text: str, name: str) -> dict[str, Any]:
    data = _load(text, name)
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{name} must hold a mapping at the top level")
    return data or {}


def _data_text(original: str, migrated: dict[str, Any], name: str) -> str:
    """A migrated data file: its version line edited when that suffices (comments and layout stay)."""
    edited, count = _VERSION_LINE.subn(lambda match: f'{match[1]}"{RASA3_VERSION}"', original)
    return edited if count == 1 and _load(edited, name) == migrated else _dump(migrated)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.migrate-{os.getpid()}")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def _backup(project: Path, files: list[Path]) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    folder, attempt = project / BACKUP_DIR / stamp, 1
    while True:
        try:
            folder.mkdir(parents=True)
            break
        except FileExistsError:  # another migration this second
            attempt += 1
            folder = folder.with_name(f"{stamp}-{attempt}")
    for path in files:
        (folder / path.relative_to(project)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, folder / path.relative_to(project))
    return folder


def migrate_project(project: Path, out: Path | None = None) -> MigrationReport:
    """Migrate the project's domain (domain.yml or domain/) and every YAML file under data/.

    With `out`, the migrated files (and copies of those needing no change) are written there under
    the same relative paths, overwriting what is there, and the project is not touched. Without it
    the project is migrated in place, after its originals are copied to
    .switchboard/migrate-backup/<timestamp>/. A project with nothing to migrate is left as it is.
    Every file is read and migrated before anything is written, so an error writes nothing."""
    project = Path(project)
    domain_paths, data_paths = _domain_files(project), _yaml_files(project / "data")
    names = {path: path.relative_to(project).as_posix() for path in domain_paths + data_paths}
    texts = {path: path.read_text(encoding="utf-8") for path in names}
    originals = {path: _read(texts[path], names[path]) for path in names}

    notes: list[str] = []
    output: dict[Path, str] = {}
    docs = [(names[path], originals[path]) for path in domain_paths]
    if any(is_2x_domain(doc) for _, doc in docs):
        new_docs, notes = _migrate_docs(docs)
        for path, new in zip(domain_paths, new_docs):
            output[path] = _dump(new)
            if re.search(r"^\s*#", texts[path], re.MULTILINE):
                notes.append(f"{names[path]}: its comments are not kept in the migrated file")
    for path in data_paths:
        new, data_notes = migrate_data_file(originals[path], file=names[path])
        if data_notes:
            notes += data_notes
            output[path] = _data_text(texts[path], new, names[path])
    if not output:
        return MigrationReport((), (f"{ALREADY_3X}: nothing to migrate in {project}",), True)

    target = project if out is None else Path(out)
    in_place = target.resolve() == project.resolve()
    backup = _backup(project, list(names)) if in_place else None
    if backup:
        notes.append(f"the original files were copied to {backup}")
    written: list[Path] = []
    for path in names:
        destination = target / path.relative_to(project)
        if path in output:
            _write(destination, output[path])
        elif in_place:
            continue
        else:
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination)
        written.append(destination)
    return MigrationReport(tuple(written), tuple(notes), False, backup)
