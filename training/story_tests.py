"""`switchboard test`: a project's test stories through the real NLU model and dialogue policies.

As `rasa test` does it: each story is replayed with teacher forcing. Before every action of the
story the policies predict the next action from the story so far, and the story's own action is
then applied whatever was predicted; every user turn with text goes through the NLU model and its
intent (and entities) must match the story's. A story passes when every prediction matches.
When the policies predict an active form where the story does something else, the form's
rejection is emulated and the policies asked again, as Rasa does, so that unhappy paths can be
tested. As in Rasa, no action runs (their effects are the story's `slot_was_set` steps), unless
endpoints.yml names an action server: then the story's actions also run on it, each story a
conversation of its own (training/story_actions.py), and an action that fails fails its story."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Generator, Sequence

import yaml

from bot.dialogue.model import DialogueModel
from bot.dialogue.states import ACTION_LISTEN
from bot.dialogue.story import Event, StoryBlock
from bot.nlu.base import Prediction
from bot.nlu.entity_context import context_intents

if TYPE_CHECKING:
    from bot.settings import Settings

# classify a message in the context of the conversation's earlier intents (Engine.predict_now)
Parse = Callable[[str, Sequence[str]], Prediction]


@dataclass(frozen=True)
class Check:
    kind: str  # "action" | "intent" | "entities" | "action_run" (an action that failed on the server)
    expected: str
    predicted: str
    source: str  # file:line of the step
    policy: str = ""
    confidence: float = 0.0

    @property
    def ok(self) -> bool:
        return self.expected == self.predicted


@dataclass(frozen=True)
class ActionRun:
    """One action a replay ran (on the project's action server)."""

    name: str
    source: str
    ms: float
    error: str | None = None


@dataclass
class StoryResult:
    name: str
    source: str
    checks: list[Check] = field(default_factory=list)
    runs: list[ActionRun] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]


def _entities_key(entities: Sequence[dict[str, Any]]) -> str:
    """What a story's annotation and the parse must agree on; a Duckling entity by its text, as
    `rasa test` compares it (the annotation holds the words, Duckling the parsed value)."""
    return json.dumps(sorted([e.get("entity"), str(e.get("text") if e.get("extractor") == "DucklingEntityExtractor"
                                                    else e.get("value")), e.get("role"), e.get("group")]
                             for e in entities), default=str)


@dataclass(frozen=True)
class Request:
    """What a replay that runs actions asks for: `name` run after `events` (the story so far),
    or with EXTRACT the slots filled from the user message that ends `events`."""

    name: str
    events: list[Event]


@dataclass(frozen=True)
class Acted:
    events: list[Event] = field(default_factory=list)  # to apply after the story's own action event
    error: str | None = None  # the action failed (the server answered an error, or none answered)
    ms: float = 0.0


EXTRACT = "action_extract_slots"
SESSION_START = "action_session_start"
Replay = Generator[Request, Acted, StoryResult]


def run_story(block: StoryBlock, events: Sequence[Event], *, parse: Parse,
              model: DialogueModel, forms: frozenset[str]) -> StoryResult:
    """Replay one test story (`events`: its training events, bot/dialogue/states.training_events)
    as `rasa test` does: no action runs."""
    replay = replay_story(block, events, parse=parse, model=model, forms=forms, acting=False)
    try:
        next(replay)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    raise RuntimeError("a replay without actions asked to run one")


def replay_story(block: StoryBlock, events: Sequence[Event], *, parse: Parse,
                 model: DialogueModel, forms: frozenset[str], acting: bool) -> Replay:
    """The replay, teacher forced. With `acting` it also asks (yields a Request) for the session's
    start, for each of the story's actions to be run (before its action event is applied; the
    answer's events follow it, then the story's own steps) and for the slots each user message
    fills; a FollowupAction an action returned is then the prediction, as in a conversation."""
    result = StoryResult(block.name, block.source)
    sources = {id(e): where for e, where in zip(block.events, block.step_sources)}
    where = block.source
    partial: list[Event] = []
    if acting:
        done = yield Request(SESSION_START, [])
        partial += [{"event": "action", "name": SESSION_START}, *_ran(result, SESSION_START, where, done)]
    for i, event in enumerate(events):
        kind = event.get("event")
        where = sources.get(id(event), where)  # implicit events (listen, entity slots) keep the last step's
        if kind == "action":
            expected = event.get("name") or event.get("action_text") or ""
            if not (i == 0 and expected == ACTION_LISTEN):
                check, policy_events = _predict(partial, expected, where, model, forms, followup=acting)
                result.checks.append(check)
                if acting and check.ok:
                    partial += policy_events  # e.g. the rules' loop_interrupted, as the action loop applies them
            if acting and expected != ACTION_LISTEN and event.get("name"):
                done = yield Request(expected, list(partial))
                partial.append(event)
                partial += _ran(result, expected, where, done)
                continue
        elif kind == "user" and event.get("text"):
            gold = event.get("parse_data") or {}
            predicted = parse(str(event["text"]), context_intents(partial))  # the story so far, as a tracker has it
            intent = (gold.get("intent") or {}).get("name") or ""
            got = predicted.intent
            full = (gold.get("intent") or {}).get("full_retrieval_intent_name")
            if full:  # a test step with `intent: faq/ask_hours`: the response selector's choice counts, as in rasa test
                intent = str(full)
                got = predicted.parse_data()["intent"].get("full_retrieval_intent_name") or got
            result.checks.append(Check("intent", intent, got, where, "nlu", round(predicted.confidence, 4)))
            gold_entities, got = gold.get("entities") or [], list(predicted.entities)
            if gold_entities or got:
                result.checks.append(Check("entities", _entities_key(gold_entities), _entities_key(got), where, "nlu"))
        partial.append(event)
        if acting and kind == "user":
            partial += (yield Request(EXTRACT, list(partial))).events
    return result


def _ran(result: StoryResult, name: str, where: str, done: Acted) -> list[Event]:
    result.runs.append(ActionRun(name, where, done.ms, done.error))
    if done.error is not None:
        result.checks.append(Check("action_run", name, f"failed: {done.error}", where, "action server"))
    return done.events


def _predict(partial: list[Event], expected: str, where: str, model: DialogueModel, forms: frozenset[str], *,
             followup: bool = False) -> tuple[Check, tuple[Event, ...]]:
    best, _, conv = model.predict(partial)
    if followup and conv.followup:  # an action's FollowupAction runs without a prediction
        return Check("action", expected, conv.followup, where, "FollowupAction", 1.0), ()
    if best.action != expected and conv.active_loop and best.action == conv.active_loop and best.action in forms:
        partial.append({"event": "action_execution_rejected", "name": conv.active_loop})
        best, _, _ = model.predict(partial)
    return Check("action", expected, best.action or "", where, best.policy, round(best.confidence, 4)), best.events


# -- reports ----------------------------------------------------------------------------------

def action_report(results: Sequence[StoryResult]) -> dict[str, Any]:
    """Rasa's story_report.json: per action precision, recall, F1 and support, and the averages."""
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    for r in results:
        for c in r.checks:
            if c.kind != "action":
                continue
            if c.ok:
                tp[c.expected] += 1
            else:
                fn[c.expected] += 1
                fp[c.predicted] += 1
    report: dict[str, Any] = {}
    for name in sorted(set(tp) | set(fn) | set(fp)):
        p = tp[name] / (tp[name] + fp[name]) if tp[name] + fp[name] else 0.0
        rc = tp[name] / (tp[name] + fn[name]) if tp[name] + fn[name] else 0.0
        f1 = 2 * p * rc / (p + rc) if p + rc else 0.0
        report[name] = {"precision": round(p, 4), "recall": round(rc, 4), "f1-score": round(f1, 4),
                        "support": tp[name] + fn[name]}
    total = sum(tp.values()) + sum(fn.values())
    report["accuracy"] = round(sum(tp.values()) / total, 4) if total else 0.0
    supported = [v for k, v in report.items() if isinstance(v, dict) and v["support"]]
    for avg in ("macro avg", "weighted avg"):
        weights = [1 if avg == "macro avg" else v["support"] for v in supported]
        norm = sum(weights) or 1
        report[avg] = {m: round(sum(w * v[m] for w, v in zip(weights, supported)) / norm, 4)
                       for m in ("precision", "recall", "f1-score")}
        report[avg]["support"] = total
    return report


def failed_stories_yaml(results: Sequence[StoryResult]) -> str:
    """The failed stories in Rasa's test-story format, which Rasa and Switchboard read back: each
    wrong step followed by a `# predicted: ...` comment, as Rasa writes it; where the story is
    (`source`), and what else went wrong (entities, actions that failed), under its `metadata`."""
    lines = ['version: "3.1"', "stories:"]
    for r in results:
        if r.passed:
            continue
        metadata: dict[str, Any] = {"source": r.source}
        entity_failures = [c for c in r.failures if c.kind == "entities"]
        if entity_failures:
            metadata["entity_mismatches"] = [{"at": c.source, "expected": c.expected, "predicted": c.predicted}
                                             for c in entity_failures]
        action_errors = [c for c in r.failures if c.kind == "action_run"]
        if action_errors:
            metadata["action_errors"] = [{"at": c.source, "action": c.expected, "error": c.predicted}
                                         for c in action_errors]
        header = yaml.safe_dump([{"story": r.name, "metadata": metadata}], sort_keys=False, allow_unicode=True,
                                width=1000)
        lines += header.rstrip("\n").splitlines()
        lines.append("  steps:")
        for c in r.checks:
            if c.kind not in ("action", "intent") or (c.ok and c.expected == ACTION_LISTEN):
                continue  # as Rasa writes stories: a listen shows only where it was mispredicted
            value = yaml.safe_dump(c.expected, allow_unicode=True).removesuffix("\n...\n").strip()
            step = f"  - {c.kind}: {value}"
            if not c.ok:
                step += f"  # predicted: {c.predicted} ({c.policy} {c.confidence:.2f}) at {c.source}".replace("\n", " ")
            lines.append(step)
    return "\n".join(lines) + "\n"


def actions_run(results: Sequence[StoryResult]) -> dict[str, dict[str, Any]]:
    """Per action the replays ran: how often, how many failed, the mean time (ms)."""
    out: dict[str, dict[str, Any]] = {}
    for run in (run for r in results for run in r.runs):
        entry = out.setdefault(run.name, {"runs": 0, "errors": 0, "ms": 0.0})
        entry["runs"] += 1
        entry["errors"] += run.error is not None
        entry["ms"] += run.ms
    for entry in out.values():
        entry["ms"] = round(entry["ms"] / entry["runs"], 2)
    return dict(sorted(out.items()))


def write_results(results: Sequence[StoryResult], out: Path) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    report = action_report(results)
    passed = sum(r.passed for r in results)
    summary = {"stories": len(results), "passed": passed, "failed": len(results) - passed,
               "failed_stories": [{"story": r.name, "source": r.source,
                                   "failures": [asdict(c) for c in r.failures]} for r in results if not r.passed]}
    if any(r.runs for r in results):
        summary["actions_run"] = actions_run(results)
    (out / "story_report.json").write_text(json.dumps({**report, "conversation_summary": summary}, indent=2) + "\n")
    (out / "failed_test_stories.yml").write_text(failed_stories_yaml(results))
    return summary


def run_test_stories(settings: "Settings", *, stories: Sequence[Path] | None = None, out: Path) -> dict[str, Any]:
    """Load the trained bot (in a throwaway database), replay the test stories, write the reports.
    With an action server in endpoints.yml, the stories' actions run on it (training/story_actions.py)."""
    import asyncio
    import dataclasses
    import tempfile

    from bot.dialogue.model import load_test_stories, slot_types_of
    from bot.dialogue.states import training_events
    from bot.dialogue.stories import read_files
    from bot.errors import ConfigError
    from bot.runtime import Runtime

    acting = settings.action_endpoint is not None

    async def run(database: str) -> list[StoryResult]:
        runtime = Runtime.create(dataclasses.replace(settings, database_url=database, lock_store_url=None,
                                                     generator=None))
        await runtime.start()
        try:
            engine = runtime.require_engine()
            model = runtime.dialogue
            if stories:
                blocks, findings = read_files(stories, "test", root=settings.project, slots=slot_types_of(runtime.domain))
            else:
                blocks, findings = load_test_stories(settings.project, runtime.domain)
            errors = [f.line() for f in findings if f.level == "error"]
            if errors:
                raise ConfigError("the test stories cannot be read:\n" + "\n".join(errors))
            if not blocks:
                raise ConfigError(f"no test stories in {settings.project / 'tests'} (test_*.yml with `stories:`)")
            forms = frozenset(runtime.domain.forms)
            if not acting:
                return [run_story(b, training_events(b, model.featurizer), parse=engine.predict_now, model=model,
                                  forms=forms) for b in blocks]
            from training.story_actions import act_story, new_test_customer

            customer = new_test_customer()
            return [await act_story(b, training_events(b, model.featurizer), parse=engine.predict_now, model=model,
                                    forms=forms, engine=engine, conversation_id=customer) for b in blocks]
        finally:
            await runtime.close()

    with tempfile.TemporaryDirectory(prefix="switchboard-test-") as tmp:
        results = asyncio.run(run(f"sqlite+aiosqlite:///{Path(tmp) / 'test.db'}"))
    summary = write_results(results, out)
    summary["out"] = str(out)
    return summary
