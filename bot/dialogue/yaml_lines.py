"""YAML with line numbers: plain dicts, lists and scalars, plus the 1-based line of every mapping,
list, list item and mapping key, so each message about a Rasa file can say `data/rules.yml:12`.

Values are read the way Rasa reads its training data (ruamel, YAML 1.2), not PyYAML's YAML 1.1:
only `true`/`false` are booleans (`yes`, `no`, `on`, `off` stay strings: Rasa's slot mapping
`value: yes` is the string "yes"), `012` is the integer 12, and a mapping that repeats a key is an
error. Timestamps stay strings, so every value is a str, int, float, bool or None."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import BaseResolver

from bot.errors import ConfigError


Level = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    """One problem found in a project: `source` is "file:line" (or "file"), relative to the project."""

    level: Level
    source: str
    message: str

    def line(self) -> str:
        return f"{self.level} {self.source}: {self.message}"


class YamlFileError(ConfigError):
    """A file that is not valid YAML (or repeats a key); `source` is "file:line"."""

    def __init__(self, source: str, problem: str) -> None:
        super().__init__(f"{source}: {problem}")
        self.source = source
        self.problem = problem


class _Resolver12(BaseResolver):
    """The YAML 1.2 core schema's implicit types (bool, int, float, null) and merge keys."""


_Resolver12.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Resolver12.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789")
)
_Resolver12.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)
_Resolver12.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""])
_Resolver12.add_implicit_resolver("tag:yaml.org,2002:merge", re.compile(r"^<<$"), ["<"])


class _Loader(
    yaml.reader.Reader,
    yaml.scanner.Scanner,
    yaml.parser.Parser,
    yaml.composer.Composer,
    yaml.constructor.SafeConstructor,
    _Resolver12,
):
    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        yaml.constructor.SafeConstructor.__init__(self)
        _Resolver12.__init__(self)
        self.made: list[tuple[Node, Any]] = []

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        obj = super().construct_object(node, deep)
        if isinstance(obj, (dict, list)):
            self.made.append((node, obj))
        return obj

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:  # type: ignore[override]
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if isinstance(key_node, ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                key = (key_node.tag, key_node.value)
                line = key_node.start_mark.line + 1
                if key in seen:
                    raise _DuplicateKey(key_node.value, seen[key], line)
                seen[key] = line
        return super().construct_mapping(node, deep)

    def construct_yaml_int(self, node: ScalarNode) -> int:  # type: ignore[override]
        text = str(self.construct_scalar(node))
        if text.startswith(("0o", "0x")):
            return int(text, 0)
        return int(text, 10)


_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", yaml.constructor.SafeConstructor.construct_yaml_str)


class _DuplicateKey(Exception):
    def __init__(self, key: str, first: int, again: int) -> None:
        super().__init__(key)
        self.key, self.first, self.again = key, first, again


@dataclass(frozen=True)
class LinedYaml:
    """One parsed YAML document and where each of its containers, items and keys starts.

    `label` is the file name every `where()` starts with (e.g. "data/rules.yml"). Lines are looked
    up by the identity of the dicts and lists in `data`, which this object keeps alive; a copy of
    a container has no line."""

    label: str
    data: Any
    _lines: dict[int, int] = field(default_factory=dict, repr=False)
    _item_lines: dict[int, tuple[int, ...]] = field(default_factory=dict, repr=False)
    _key_lines: dict[int, dict[Any, int]] = field(default_factory=dict, repr=False)
    _keep: tuple[Any, ...] = field(default=(), repr=False)

    def line(self, obj: Any) -> int | None:
        """The line where mapping or list `obj` (an object inside `data`) starts."""
        return self._lines.get(id(obj))

    def item_line(self, seq: Any, index: int) -> int | None:
        """The line of item `index` of list `seq`, scalar items included."""
        lines = self._item_lines.get(id(seq))
        if lines is None or not 0 <= index < len(lines):
            return None
        return lines[index]

    def key_line(self, mapping: Any, key: Any) -> int | None:
        """The line of `key` in mapping `mapping`."""
        return self._key_lines.get(id(mapping), {}).get(key)

    def where(self, line: int | None = None) -> str:
        """The location "label:line", or just the label when the line is unknown."""
        return f"{self.label}:{line}" if line else self.label

    def at(self, obj: Any) -> str:
        """The location "label:line" of a mapping or list inside `data`."""
        return self.where(self.line(obj))


def loads(text: str, label: str) -> LinedYaml:
    """Parse one YAML document; raise YamlFileError ("label:line: problem") when it is invalid."""
    loader = _Loader(text)
    try:
        data = loader.get_single_data()
    except _DuplicateKey as dup:
        raise YamlFileError(
            f"{label}:{dup.again}", f"the key {dup.key!r} is repeated (first at line {dup.first})"
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = " ".join(p for p in (exc.context, exc.problem) if p) or str(exc)
        raise YamlFileError(f"{label}:{line}" if line else label, f"not valid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise YamlFileError(label, f"not valid YAML: {exc}") from None
    finally:
        loader.dispose()
    lines: dict[int, int] = {}
    item_lines: dict[int, tuple[int, ...]] = {}
    key_lines: dict[int, dict[Any, int]] = {}
    keep = []
    key_loader = _Loader("")
    for node, obj in loader.made:
        keep.append(obj)
        lines.setdefault(id(obj), node.start_mark.line + 1)
        if isinstance(node, SequenceNode):
            item_lines[id(obj)] = tuple(item.start_mark.line + 1 for item in node.value)
        elif isinstance(node, MappingNode):
            where = key_lines.setdefault(id(obj), {})
            for key_node, _ in node.value:
                if isinstance(key_node, ScalarNode):
                    key = key_loader.construct_object(key_node)
                    where.setdefault(key, key_node.start_mark.line + 1)
    return LinedYaml(label, data, lines, item_lines, key_lines, tuple(keep))


def load(path: Path, label: str | None = None) -> LinedYaml:
    """Read and parse a YAML file; `label` (default: the path) starts every location."""
    name = label if label is not None else str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise YamlFileError(name, f"not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise YamlFileError(name, f"cannot be read: {exc.strerror or exc}") from None
    return loads(text, name)


def relative(path: Path, root: Path | None) -> str:
    """`path` as messages name it: relative to `root` when it lies inside it."""
    if root is not None:
        try:
            return path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            pass
    return str(path)


def read_yaml(path: Path, root: Path | None, findings: list[Finding]) -> LinedYaml | None:
    """The file parsed with lines (labelled relative to `root`), or None after adding an error."""
    try:
        return load(path, relative(path, root))
    except YamlFileError as exc:
        findings.append(Finding("error", exc.source, exc.problem))
        return None
