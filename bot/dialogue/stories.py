"""Read the `stories:` and `rules:` of Rasa YAML files into StoryBlocks (bot/dialogue/story.py).

Each step becomes an event of the tracker's shape; `or:` steps multiply a story into one block
per alternative (" (or 1)", " (or 2)", ... in the order Rasa lists them; several `or:` steps
multiply, up to MAX_VARIANTS per story), and checkpoints are stitched by bot/dialogue/
checkpoints.py: a story ending at a checkpoint is continued by every story starting there.
Inline entity annotations in `user:` text are read by bot/dialogue/annotations.py.

What Rasa's YAMLStoryReader and the stories schema refuse is an error Finding (an unknown step
key, a step that is two things at once, a rule with a checkpoint or a `bot:` step, a rule with
two user turns while RulePolicy's restrict_rules is on); what Rasa skips with a warning is a
warning (a story without steps, an empty action, an `or:` of `user:` texts). Nothing is
dropped without a Finding.

`slot_was_set` with a plain name (`- slot_was_set: [confirmed]`) means "the slot is set": as
Rasa does, a text slot gets the value "filled", a list slot ["filled"], any other type None
(with Rasa's warning when that slot influences the conversation). Without slot types (no domain
given) the slot is taken as a text slot."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping

from bot.dialogue.annotations import listed_entities, parse_annotated
from bot.dialogue.checkpoints import Segment, link
from bot.dialogue.project import check_version
from bot.dialogue.slot_types import SlotType
from bot.dialogue.story import Event, Kind, StoryBlock
from bot.dialogue.yaml_lines import Finding, Level, LinedYaml, read_yaml
from bot.nlu.payload import payload_entities

MAX_VARIANTS = 256  # blocks one story's `or:` steps may make
USER_KEYS = frozenset({"intent", "user", "entities"})
SINGLE_KEYS = ("action", "bot", "active_loop", "slot_was_set", "checkpoint", "or")
STORY_ITEM_KEYS = frozenset({"story", "steps", "metadata"})
RULE_ITEM_KEYS = frozenset({"rule", "steps", "metadata", "condition", "conversation_start", "wait_for_user_input"})
FILLED = "filled"  # Rasa's value for a text slot named without a value


class _Reader:
    def __init__(self, doc: LinedYaml, kind_hint: Kind | None, slots: Mapping[str, SlotType] | None,
                 restrict_rules: bool, path: Path) -> None:
        self.doc, self.slots, self.restrict_rules = doc, slots, restrict_rules
        in_tests = "tests" in path.parts[:-1]
        self.story_kind: Kind = "test" if kind_hint == "test" or (kind_hint is None and in_tests) else "story"
        self.findings: list[Finding] = []
        self.segments: list[Segment] = []

    def problem(self, level: Level, where: str, message: str) -> None:
        self.findings.append(Finding(level, where, message))

    def read(self) -> None:
        data = self.doc.data
        for section, title in (("stories", "story"), ("rules", "rule")):
            items = data.get(section)
            if items is None:
                continue
            if not isinstance(items, list):
                self.problem("error", self.doc.where(self.doc.key_line(data, section)), f"`{section}:` must be a list")
                continue
            for index, item in enumerate(items):
                where = self.doc.where(self.doc.item_line(items, index))
                if not isinstance(item, dict):
                    self.problem("warning", where, f"items under `{section}:` must be mappings; {item!r} is skipped")
                    continue
                self.item(item, title, where)

    def item(self, item: dict[str, Any], title: str, where: str) -> None:
        allowed = RULE_ITEM_KEYS if title == "rule" else STORY_ITEM_KEYS
        for key in item:
            if key not in allowed:
                self.problem("error", self.doc.where(self.doc.key_line(item, key)),
                             f"`{key}` is not a key of a {title} (Rasa's schema allows {', '.join(sorted(allowed))})")
        if title not in item:
            self.problem("warning", where, f"this item under `{title}s:` has no `{title}:` name; it is skipped")
            return
        name = "" if item[title] is None else str(item[title])
        if not name.strip():
            self.problem("warning", where, f"the {title} has an empty name")
        steps = item.get("steps")
        if not steps:
            self.problem("warning", where, f"{title} '{name}' has no steps; it is skipped")
            return
        if not isinstance(steps, list):
            self.problem("error", self.doc.where(self.doc.key_line(item, "steps")),
                         f"`steps` of {title} '{name}' must be a list")
            return
        rule = title == "rule"
        flags: dict[str, bool] = {}
        for key, default in (("conversation_start", False), ("wait_for_user_input", True)):
            value = item.get(key, default) if rule else default
            if not isinstance(value, bool):
                self.problem("error", self.doc.where(self.doc.key_line(item, key)), f"`{key}` must be true or false")
                value = default
            flags[key] = value
        condition: list[tuple[Event, str]] = []
        if rule and item.get("condition") is not None:
            condition = self.condition(item["condition"], name, where)
        story = _Story(self, name, "rule" if rule else self.story_kind, where, tuple(condition), flags)
        for index, step in enumerate(steps):
            story.step(step, self.doc.where(self.doc.item_line(steps, index)))
        story.close()

    def condition(self, raw: Any, name: str, where: str) -> list[tuple[Event, str]]:
        if not isinstance(raw, list):
            self.problem("error", where, f"`condition` of rule '{name}' must be a list")
            return []
        out: list[tuple[Event, str]] = []
        for index, step in enumerate(raw):
            at = self.doc.where(self.doc.item_line(raw, index))
            if isinstance(step, dict) and set(step) == {"active_loop"}:
                out.extend(self.active_loop(step, at))
            elif isinstance(step, dict) and set(step) == {"slot_was_set"}:
                out.extend(self.slot_events(step["slot_was_set"], at))
            else:
                self.problem("error", at, f"a condition of rule '{name}' can only be `active_loop` or `slot_was_set`, "
                             f"not {step!r}")
        return out

    def active_loop(self, step: dict[str, Any], at: str) -> list[tuple[Event, str]]:
        value = step["active_loop"]
        if value is not None and (not isinstance(value, str) or not value):
            self.problem("error", at, f"`active_loop` must be a form name or null, not {value!r}")
            return []
        return [({"event": "active_loop", "name": value}, at)]

    def slot_events(self, raw: Any, at: str) -> list[tuple[Event, str]]:
        if not isinstance(raw, list):
            self.problem("error", at, "`slot_was_set` must be a list such as `- slot_was_set: [- name: value]`")
            return []
        out: list[tuple[Event, str]] = []
        for index, slot in enumerate(raw):
            where = self.doc.where(self.doc.item_line(raw, index)) if self.doc.item_line(raw, index) else at
            if isinstance(slot, dict):
                out.extend(({"event": "slot", "name": str(k), "value": v}, where) for k, v in slot.items())
            elif isinstance(slot, str) and slot:
                out.append(({"event": "slot", "name": slot, "value": self.slot_default(slot, where)}, where))
            else:
                self.problem("warning", where, f"slot {slot!r} must be `name: value` or a name; it is skipped")
        return out

    def slot_default(self, name: str, where: str) -> Any:
        spec = (self.slots or {}).get(name)
        if spec is None or spec.type == "text":
            return FILLED
        if spec.type == "list":
            return [FILLED]
        if spec.influences:
            self.problem("warning", where, f"slot '{name}' is named without a value, but it is a {spec.type} slot: "
                         "give it a value; it is taken as empty, as Rasa takes it")
        return None

    def user_event(self, step: dict[str, Any], at: str, title: str) -> Event | None:
        intent = step.get("intent")
        if intent is not None and not isinstance(intent, str):
            self.problem("error", at, f"`intent` must be a name, not {intent!r}")
            return None
        intent = (intent or "").strip()
        if not intent and "user" not in step:
            self.problem("warning", at, f"a user step needs `intent:` or `user:`; this {title} step is skipped")
            return None
        full = None
        if intent.startswith("/"):
            self.problem("warning", at, f"intent '{intent}' starts with '/', which is not needed; "
                         f"read as '{intent[1:]}'")
            intent = intent[1:]
        if "/" in intent:
            full, intent = intent, intent.split("/", 1)[0]
            if self.story_kind != "test" or title == "rule":
                self.problem("warning", at, f"'{full}' is a full retrieval intent; {title}s use only the base "
                             f"intent '{intent}'")
        text: str | None = None
        if "user" in step:
            raw = step["user"]
            if not isinstance(raw, str) or not raw.strip():
                self.problem("error", at, f"`user` must be the message text, not {raw!r}")
                return None
            text, entities, problems = parse_annotated(raw.strip())
            for message in problems:
                self.problem("error", at, message)
            if text.startswith("/") and not entities:  # a payload's entities are the message's, as Rasa reads them
                entities = payload_entities(text)
            if "entities" in step:
                self.problem("warning", at, "`entities:` is ignored next to `user:`, as Rasa ignores it: annotate "
                             "the text instead, e.g. [Berlin](city)")
        else:
            entities, problems = listed_entities(step.get("entities") or [])
            for message in problems:
                self.problem("error", at, message)
        name = intent or None
        parse: dict[str, Any] = {"intent": {"name": name, "confidence": 1.0} if name else {"name": None},
                                 "entities": entities}
        if full:
            parse["intent"]["full_retrieval_intent_name"] = full
        return {"event": "user", "text": text, "parse_data": parse}

class _Story:
    """The steps of one story or rule, as alternatives (from `or:`) cut into segments at checkpoints."""

    def __init__(self, reader: _Reader, name: str, kind: Kind, source: str,
                 condition: tuple[tuple[Event, str], ...], flags: dict[str, bool]) -> None:
        self.r, self.name, self.kind, self.source = reader, name, kind, source
        self.condition, self.flags = condition, flags
        self.title = "rule" if kind == "rule" else "story"
        self.starts: list[tuple[str, dict[str, Any], str]] = []
        self.ends: list[tuple[str, str]] = []
        self.alts: list[list[tuple[Event, str]]] = [[]]
        self.capped = False
        self.part = 0

    def step(self, step: Any, at: str) -> None:
        r = self.r
        if not isinstance(step, dict):
            r.problem("warning", at, f"{step!r} is not a step (a mapping such as `- action: name`); it is skipped")
            return
        keys = set(step) - {"metadata"}
        if not keys:
            if not step:
                r.problem("warning", at, "an empty step is skipped")
            return
        unknown = sorted(k for k in keys if k not in USER_KEYS and k not in SINGLE_KEYS)
        if unknown:
            r.problem("error", at, f"unknown step key{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
                      f"in {self.title} '{self.name}'; the step is skipped")
            return
        groups = sorted(({"user"} if keys & USER_KEYS else set()) | (keys & set(SINGLE_KEYS)))
        if groups == ["checkpoint", "slot_was_set"]:
            groups = ["checkpoint"]
        if len(groups) > 1:
            user = next(k for k in ("intent", "user", "entities") if k in keys) if "user" in groups else None
            shown = [user if g == "user" else g for g in groups]
            r.problem("error", at, f"a step is one thing, but this one has {' and '.join(map(repr, shown))} in "
                      f"{self.title} '{self.name}'; the step is skipped")
            return
        kind = groups[0]
        if self.kind == "rule" and kind in ("checkpoint", "bot"):
            r.problem("error", at, f"rules cannot have `{kind}` steps (rule '{self.name}'); the step is skipped")
            return
        if kind == "user" and not keys & {"intent", "user"}:
            r.problem("warning", at, f"`entities` without `intent` or `user` in {self.title} '{self.name}'; skipped")
        elif kind == "user":
            event = r.user_event(step, at, self.title)
            if event is not None:
                self.add([(event, at)])
        elif kind == "action":
            name = step["action"]
            if name is None or name == "":
                r.problem("warning", at, f"an action step without a name in {self.title} '{self.name}' is skipped")
            elif not isinstance(name, str):
                r.problem("error", at, f"`action` must be an action name, not {name!r}")
            else:
                self.add([({"event": "action", "name": name}, at)])
        elif kind == "bot":
            text = step["bot"]
            if not isinstance(text, str) or not text:
                r.problem("error", at, f"`bot` must be the bot's text, not {text!r}")
            else:
                self.add([({"event": "action", "name": None, "action_text": text}, at)])
        elif kind == "active_loop":
            self.add(r.active_loop(step, at))
        elif kind == "slot_was_set":
            self.add(r.slot_events(step["slot_was_set"], at))
        elif kind == "or":
            self.or_step(step["or"], at)
        else:
            self.checkpoint(step, at)

    def add(self, events: list[tuple[Event, str]]) -> None:
        if not events:
            return
        if self.ends:
            self.cut()
        for alt in self.alts:
            alt.extend(events)

    def or_step(self, raw: Any, at: str) -> None:
        r = self.r
        if not isinstance(raw, list) or not raw:
            r.problem("error", at, "`or` must list the alternatives, e.g. `- or: [- intent: a, - intent: b]`")
            return
        options: list[tuple[Event, str]] = []
        for index, item in enumerate(raw):
            where = r.doc.where(r.doc.item_line(raw, index))
            if isinstance(item, dict) and "intent" in item and set(item) <= USER_KEYS:
                event = r.user_event(item, where, self.title)
                if event is not None:
                    options.append((event, where))
            elif isinstance(item, dict) and set(item) == {"slot_was_set"}:
                options.extend(r.slot_events(item["slot_was_set"], where))  # each slot is one alternative
            else:
                r.problem("warning", where, f"an `or` holds `intent` or `slot_was_set` alternatives, not {item!r}; "
                          f"the whole `or` step of {self.title} '{self.name}' is skipped, as Rasa skips it")
                return
        if self.ends:
            self.cut()
        grown = [alt + [option] for alt in self.alts for option in options]
        if len(grown) > MAX_VARIANTS:
            if not self.capped:
                r.problem("warning", at, f"{self.title} '{self.name}' makes over {MAX_VARIANTS} variants from its `or` "
                          f"steps; only the first {MAX_VARIANTS} are used")
            self.capped = True
            grown = grown[:MAX_VARIANTS]
        self.alts = grown

    def checkpoint(self, step: dict[str, Any], at: str) -> None:
        r = self.r
        name = step["checkpoint"]
        if not isinstance(name, str) or not name:
            r.problem("error", at, f"`checkpoint` must be a name, not {name!r}")
            return
        conditions: dict[str, Any] = {}
        for slot in step.get("slot_was_set") or []:
            if not isinstance(slot, dict):
                r.problem("warning", at, f"checkpoint '{name}' has an invalid slot {slot!r} (use `name: value`); "
                          "the checkpoint is skipped")
                return
            conditions.update({str(k): v for k, v in slot.items()})
        if any(self.alts):  # after events: it ends this part
            if conditions:
                r.problem("warning", at, f"checkpoint '{name}' ends a part of {self.title} '{self.name}': only a "
                          "checkpoint that starts a story can have slot conditions; they are ignored")
            self.ends.append((name, at))
        else:
            self.starts.append((name, conditions, at))

    def cut(self, last: bool = False) -> None:
        """End the current segment (at the checkpoints in self.ends) and start the next from them."""
        variants = len(self.alts) > 1
        for number, alt in enumerate(self.alts, 1):
            if not alt and not self.ends:
                continue
            self.r.segments.append(Segment(
                name=self.name, kind=self.kind, source=self.source,
                variant=number if variants else None, starts=tuple(self.starts), ends=tuple(self.ends),
                events=tuple(e for e, _ in alt), step_sources=tuple(s for _, s in alt),
                condition=tuple(e for e, _ in self.condition),
                conversation_start=self.flags["conversation_start"],
                wait_for_user_input=self.flags["wait_for_user_input"],
            ))
        if not last:
            self.starts = [(name, {}, at) for name, at in self.ends]
            self.ends, self.alts, self.part = [], [[]], self.part + 1

    def close(self) -> None:
        if not any(self.alts) and not self.ends:
            if self.part == 0:
                self.r.problem("warning", self.source, f"{self.title} '{self.name}' has no events; it is skipped")
            return
        if self.kind == "rule" and self.r.restrict_rules:
            for alt in self.alts:
                turns = sum(e["event"] == "user" for e, _ in (*self.condition, *alt))
                if turns > 1:
                    self.r.problem("error", self.source, f"rule '{self.name}' has {turns} user turns; Rasa's "
                                   "RulePolicy allows one per rule (restrict_rules): write a story for this")
                    break
        self.cut(last=True)


def read_segments(path: Path, kind_hint: Kind | None = None, *, root: Path | None = None,
                  slots: Mapping[str, SlotType] | None = None, restrict_rules: bool = True,
                  ) -> tuple[list[Segment], list[Finding]]:
    """The story and rule parts of one file, before checkpoints are stitched."""
    findings: list[Finding] = []
    doc = read_yaml(path, root, findings)
    if doc is None or doc.data is None:
        return [], findings
    if not isinstance(doc.data, dict):
        return [], [*findings, Finding("error", doc.label, "a story or rule file must be a YAML mapping")]
    if not check_version(doc, findings):
        return [], findings
    reader = _Reader(doc, kind_hint, slots, restrict_rules, path)
    reader.read()
    return reader.segments, [*findings, *reader.findings]


def read_blocks(path: Path, kind_hint: Kind | None = None, *, root: Path | None = None,
                slots: Mapping[str, SlotType] | None = None, restrict_rules: bool = True,
                ) -> tuple[list[StoryBlock], list[Finding]]:
    """The StoryBlocks of one file's `stories:` and `rules:`. `kind_hint` names what `stories:` holds:
    "story", or "test" for test stories (None: "test" for files under a `tests/` folder); `rules:`
    are always rules. Checkpoints are stitched within the file (read_files stitches across files).
    `root` makes the sources relative; `slots` gives the slot types plain `slot_was_set` names need."""
    return read_files([path], kind_hint, root=root, slots=slots, restrict_rules=restrict_rules)


def read_files(paths: Iterable[Path], kind_hint: Kind | None = None, *, root: Path | None = None,
               slots: Mapping[str, SlotType] | None = None, restrict_rules: bool = True,
               ) -> tuple[list[StoryBlock], list[Finding]]:
    """read_blocks over several files, their checkpoints stitched together as Rasa's story graph does."""
    segments: list[Segment] = []
    findings: list[Finding] = []
    for path in paths:
        more, found = read_segments(path, kind_hint, root=root, slots=slots, restrict_rules=restrict_rules)
        segments.extend(more)
        findings.extend(found)
    blocks, found = link(segments)
    return blocks, [*findings, *found]
