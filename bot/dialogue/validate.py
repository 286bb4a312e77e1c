"""`rasa data validate` for a whole project, every message with its file and line.

validate_project loads config.yml, the domain (merged), the data files and the test stories,
then runs Rasa's validator checks: each action, response, form, intent and slot that stories,
rules and test stories name is defined; domain intents that no story or rule uses, or that have
no NLU examples; NLU intents missing from the domain; `utter_` actions without a response and
responses no story or rule uses; repeated story and rule names; Rasa 2 constructs in the domain.

Rules that contradict each other are found here in one simple form: two rules with the same
`condition` and `conversation_start` whose steps agree up to an action and then name different
actions (a rule that waits for the user predicts action_listen after its last step). Rasa's full
contradiction check, rules against stories through the trained RulePolicy, is done later with the
dialogue policies, not here."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from bot.dialogue.checkpoints import Segment, link
from bot.dialogue.config import ProjectConfig
from bot.dialogue.project import (
    DomainData, Finding, conversation_tests, data_files, find_domain, item_name, load_domain, read_config, read_yaml,
)
from bot.dialogue.slot_types import slot_types
from bot.dialogue.stories import read_segments
from bot.dialogue.story import Event, Kind, StoryBlock
from bot.domain import DEFAULT_INTENTS

DEFAULT_ACTIONS = frozenset({
    "action_listen", "action_restart", "action_session_start", "action_default_fallback", "action_deactivate_loop",
    "action_revert_fallback_events", "action_default_ask_affirmation", "action_default_ask_rephrase",
    "action_two_stage_fallback", "action_back", "action_unlikely_intent", "action_extract_slots",
})
KNOWLEDGE_SLOTS = ("knowledge_base_listed_objects", "knowledge_base_last_object", "knowledge_base_last_object_type")
# responses Rasa's default actions utter themselves (so no story needs to name them)
# said by Rasa's default actions, or by Switchboard itself (handoff, the console, the generator)
IMPLICIT_RESPONSES = frozenset({
    "utter_default", "utter_ask_rephrase", "utter_restart", "utter_back",
    "utter_handoff", "utter_agent_joined", "utter_handed_back", "utter_conversation_closed",
    "utter_no_grounded_answer", "utter_generator_unavailable",
})


@dataclass(frozen=True)
class Report:
    project: Path
    findings: tuple[Finding, ...]
    stories: int  # as written (`- story:` items), and the blocks they make after `or:` and checkpoints
    rules: int
    test_stories: int
    story_blocks: int
    rule_blocks: int
    test_blocks: int
    domain_files: int
    data_files: int  # YAML files under data/
    other_files: int = 0  # the other files there (CSV, JSONL, ...)
    blocks: tuple[StoryBlock, ...] = field(default=(), repr=False)  # training stories and rules
    tests: tuple[StoryBlock, ...] = field(default=(), repr=False)
    config: ProjectConfig | None = field(default=None, repr=False)

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.level == "error")

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.level == "warning")

    @property
    def ok(self) -> bool:
        return not self.errors

    def lines(self) -> list[str]:
        """`error data/rules.yml:12: rule 'x' names action 'y', which the domain does not define`, errors first."""
        return [f.line() for f in (*self.errors, *self.warnings)]


@dataclass
class _Nlu:
    intents: dict[str, str] = field(default_factory=dict)  # base intent -> first "file:line"
    retrieval: set[str] = field(default_factory=set)


def _read_nlu(paths: Iterable[Path], project: Path, findings: list[Finding]) -> _Nlu:
    nlu = _Nlu()
    for path in paths:
        doc = read_yaml(path, project, findings)
        items = doc.data.get("nlu") if doc is not None and isinstance(doc.data, dict) else None
        if doc is None or items is None:
            continue
        if not isinstance(items, list):
            findings.append(Finding("error", doc.where(doc.key_line(doc.data, "nlu")), "`nlu:` must be a list"))
            continue
        for index, item in enumerate(items):
            where = doc.where(doc.item_line(items, index))
            kinds = [k for k in ("intent", "synonym", "regex", "lookup") if isinstance(item, dict) and k in item]
            if len(kinds) != 1:
                findings.append(Finding("warning", where, "an `nlu:` item needs exactly one of intent, synonym, "
                                        f"regex, lookup; {item!r:.60} is ignored"))
                continue
            if kinds[0] == "intent":
                name = str(item["intent"])
                base = name.split("/", 1)[0]
                nlu.intents.setdefault(base, where)
                if "/" in name:
                    nlu.retrieval.add(base)
    return nlu


class _Names:
    """What the domain defines, Rasa's defaults included."""

    def __init__(self, dom: DomainData, nlu: _Nlu) -> None:
        data = dom.data
        self.intents = {item_name(i) for i in data.get("intents") or []} | DEFAULT_INTENTS
        self.entities = {item_name(e) for e in data.get("entities") or []}
        self.forms = {str(f) for f in data.get("forms") or {}}
        self.responses = {str(r) for r in data.get("responses") or {}}
        self.bases = {r.split("/", 1)[0] for r in self.responses} | {f"utter_{i}" for i in nlu.retrieval}
        self.listed = [item_name(a) for a in data.get("actions") or []]
        self.actions = set(self.listed) | self.bases | self.forms | DEFAULT_ACTIONS
        self.slots = {str(s) for s in data.get("slots") or {}} | {"session_started_metadata"}
        if self.forms:
            self.slots.add("requested_slot")
        if "action_query_knowledge_base" in self.actions:
            self.slots.update(KNOWLEDGE_SLOTS)


def _what(block: StoryBlock) -> str:
    return f"{'test story' if block.kind == 'test' else block.kind} '{block.name}'"


def _check_block(block: StoryBlock, names: _Names, out: list[Finding]) -> None:
    sources = list(block.step_sources) + [block.source] * (len(block.events) - len(block.step_sources))
    pairs = [(e, block.source) for e in block.condition] + list(zip(block.events, sources))
    for event, at in pairs:
        kind = event.get("event")
        if kind == "user":
            parse = event.get("parse_data") or {}
            intent = (parse.get("intent") or {}).get("name")
            if intent and intent not in names.intents:
                out.append(Finding("error", at, f"{_what(block)} uses intent '{intent}', which the domain "
                                   "does not list"))
            for entity in parse.get("entities") or []:
                if entity.get("entity") not in names.entities:
                    out.append(Finding("warning", at, f"{_what(block)} uses entity '{entity.get('entity')}', which "
                                       "the domain does not list"))
        elif kind == "action" and event.get("name"):
            name = event["name"]
            if name.startswith("utter_") and name not in names.bases:
                listed = " is listed under actions but" if name in names.listed else ""
                out.append(Finding("error", at, f"{_what(block)} names response '{name}', which{listed} has no "
                                   "response in the domain"))
            elif name not in names.actions:
                out.append(Finding("error", at, f"{_what(block)} names action '{name}', which the domain "
                                   "does not define"))
        elif kind == "active_loop" and event.get("name") and event["name"] not in names.forms | names.actions:
            out.append(Finding("error", at, f"{_what(block)} uses form '{event['name']}', which the domain "
                               "does not define"))
        elif kind == "slot" and event.get("name") not in names.slots:
            out.append(Finding("error", at, f"{_what(block)} sets slot '{event.get('name')}', which the domain does "
                               "not define"))


def _fact(event: Event) -> tuple[str, str, str]:
    return (event["event"], str(event.get("name")), json.dumps(event.get("value"), sort_keys=True, default=str))


def _contradictions(rules: Sequence[StoryBlock], out: list[Finding]) -> None:
    """Two rules that agree on their conditions and steps up to an action, then name different ones."""
    seen: dict[tuple[Any, ...], tuple[str, StoryBlock]] = {}
    reported: set[tuple[str, str]] = set()
    for rule in rules:
        base = (rule.conversation_start, frozenset(_fact(e) for e in rule.condition))
        tokens: list[Any] = []
        facts: set[tuple[str, str, str]] = set()
        predictions: list[tuple[tuple[Any, ...], str, str]] = []
        for index, event in enumerate(rule.events):
            kind = event.get("event")
            if kind == "user":
                parse = event.get("parse_data") or {}
                entities = tuple(sorted(str(e.get("entity")) for e in parse.get("entities") or []))
                intent = (parse.get("intent") or {}).get("name")
                tokens += [frozenset(facts), ("user", intent, event.get("text"), entities)]
                facts = set()
            elif kind == "action":
                action = event.get("name") or f"bot: {event.get('action_text')}"
                at = rule.step_sources[index] if index < len(rule.step_sources) else rule.source
                if tokens or rule.conversation_start:  # a rule's opening action is a condition, not a prediction
                    predictions.append(((base, *tokens, frozenset(facts)), action, at))
                tokens += [frozenset(facts), ("action", action)]
                facts = set()
            else:
                facts.add(_fact(event))
        if rule.wait_for_user_input and rule.events and rule.events[-1].get("event") != "user":
            predictions.append(((base, *tokens, frozenset(facts)), "action_listen", rule.source))
        for key, action, at in predictions:
            if key not in seen:
                seen[key] = (action, rule)
                continue
            other_action, other = seen[key]
            pair = (other.source + other.name, rule.source + rule.name)
            if other_action != action and pair not in reported:
                reported.add(pair)
                out.append(Finding("error", at, f"rule '{rule.name}' contradicts rule '{other.name}' ({other.source}): "
                                   f"after the same steps one predicts '{other_action}', the other '{action}'"))


def _check_domain(dom: DomainData, names: _Names, nlu: _Nlu, used: set[str], intents_used: set[str],
                  out: list[Finding]) -> None:
    src = dom.sources
    for intent in dict.fromkeys(item_name(i) for i in dom.data.get("intents") or []):
        if intent in DEFAULT_INTENTS:
            continue
        at = src.get(("intents", intent), "domain")
        if intent not in intents_used:
            out.append(Finding("warning", at, f"intent '{intent}' is not used in any story or rule"))
        if intent not in nlu.intents:
            out.append(Finding("warning", at, f"intent '{intent}' is listed in the domain, but no NLU data has "
                               "examples of it"))
    for intent, at in nlu.intents.items():
        if intent not in names.intents:
            out.append(Finding("warning", at, f"the NLU data has examples of intent '{intent}', which the domain "
                               "does not list"))
    for action in names.listed:
        if action.startswith("utter_") and action not in names.bases:
            out.append(Finding("warning", src.get(("actions", action), "domain"),
                               f"'{action}' is listed under actions, but the domain has no response of that name"))
    slots = dom.data.get("slots") or {}
    for response in dom.data.get("responses") or {}:
        base = response.split("/", 1)[0]
        asks = base.startswith("utter_ask_") and any(base.endswith(f"_{s}") or base == f"utter_ask_{s}" for s in slots)
        if base not in used and base not in IMPLICIT_RESPONSES and not asks:
            out.append(Finding("warning", src.get(("responses", response), "domain"),
                               f"response '{response}' is not used in any story or rule"))
    for intent in dom.data.get("intents") or []:
        props = intent.get(item_name(intent)) if isinstance(intent, dict) else None
        if isinstance(props, dict) and "triggers" in props:
            out.append(Finding("error", src.get(("intents", item_name(intent)), "domain"),
                               f"intent '{item_name(intent)}' uses MappingPolicy's `triggers`, which Rasa 3 removed: "
                               "write a rule instead"))
    for name, spec in slots.items():
        at = src.get(("slots", str(name)), "domain")
        if isinstance(spec, dict) and "auto_fill" in spec:
            out.append(Finding("warning", at, f"slot '{name}' has Rasa 2's `auto_fill`, which Rasa 3 removed; "
                               "give the slot `mappings:` instead"))
        elif isinstance(spec, dict) and not spec.get("mappings"):
            out.append(Finding("warning", at, f"slot '{name}' has no `mappings:`, so no message fills it (Rasa 3 "
                               "fills only through mappings or custom actions)"))
    for form, spec in (dom.data.get("forms") or {}).items():
        required = (spec or {}).get("required_slots") if isinstance(spec, dict) else None
        at = src.get(("forms", str(form)), "domain")
        if isinstance(required, dict):
            out.append(Finding("warning", at, f"form '{form}' maps its slots under `required_slots` (Rasa 2); Rasa 3 "
                               "lists slot names there and keeps the mappings on the slots"))
        for slot in required or []:
            if str(slot) not in names.slots:
                out.append(Finding("error", at, f"form '{form}' requires slot '{slot}', which the domain "
                                   "does not define"))


def _duplicates(segments: Sequence[Segment], out: list[Finding]) -> None:
    first: dict[tuple[str, str], str] = {}
    for seg in segments:
        kind = "rule" if seg.kind == "rule" else seg.kind
        key = (kind, seg.name)
        if key in first and first[key] != seg.source:
            title = "test story" if kind == "test" else kind
            out.append(Finding("warning", seg.source,
                               f"{title} '{seg.name}' has the same name as the {title} at {first[key]}"))
        first.setdefault(key, seg.source)


def _unique(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    return tuple(dict.fromkeys(findings))


def validate_project(project: Path) -> Report:
    """Load a Rasa 3 project and check it as `rasa data validate` does; see the module docstring."""
    project = Path(project)
    out: list[Finding] = []
    config = read_config(project)
    out += config.findings
    domain_paths = find_domain(project)
    if not domain_paths:
        out.append(Finding("error", "domain.yml", "the project has no domain.yml (or domain/ folder)"))
    data, tests = data_files(project), conversation_tests(project)
    out += data.findings + tests.findings
    dom = load_domain(domain_paths, root=project, data_responses=data.responses)
    out += dom.findings
    slots = slot_types(dom.data)
    restrict = config.rule_policy.restrict_rules if config.rule_policy else True

    def segments_of(paths: Iterable[Path], kind: Kind) -> list[Segment]:
        segs: list[Segment] = []
        for path in paths:
            more, found = read_segments(path, kind, root=project, slots=slots, restrict_rules=restrict)
            segs += more
            out.extend(found)
        return segs

    story_paths = sorted(set(data.stories) | set(data.rules))
    training = segments_of(story_paths, "story")
    testing = segments_of([f.path for f in tests.files], "test")
    blocks, found = link(training)
    out += found
    test_blocks, found = link(testing)
    out += found
    nlu = _read_nlu(data.nlu, project, out)
    names = _Names(dom, nlu)
    for block in (*blocks, *test_blocks):
        _check_block(block, names, out)
    rules = [b for b in blocks if b.kind == "rule"]
    _contradictions(rules, out)
    _duplicates([*training, *testing], out)
    used = {e["name"] for b in blocks for e in b.events if e.get("event") == "action" and e.get("name")}
    intents_used = {(e.get("parse_data") or {}).get("intent", {}).get("name") for b in blocks for e in b.events
                    if e.get("event") == "user"}
    _check_domain(dom, names, nlu, used, {i for i in intents_used if i}, out)
    if rules and config.rule_policy is None:
        out.append(Finding("warning", config.source, "the project has rules, but config.yml has no RulePolicy, "
                           "which is what follows them"))
    if config.rule_policy is not None and config.rule_policy.core_fallback_action_name not in names.actions:
        rule_policy = config.component("RulePolicy")
        out.append(Finding("error", rule_policy.source if rule_policy else config.source,
                           f"RulePolicy's core_fallback_action_name '{config.rule_policy.core_fallback_action_name}' "
                           "is not an action of the domain"))

    def written(segs: Sequence[Segment], kind: str) -> int:
        return len({s.source for s in segs if s.kind == kind})

    return Report(
        project=project, findings=_unique(out),
        stories=written(training, "story"), rules=written(training, "rule"), test_stories=written(testing, "test"),
        story_blocks=sum(b.kind == "story" for b in blocks), rule_blocks=len(rules), test_blocks=len(test_blocks),
        domain_files=len(domain_paths), data_files=len(data.files), other_files=len(data.other),
        blocks=tuple(blocks), tests=tuple(test_blocks), config=config,
    )
