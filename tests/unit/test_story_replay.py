"""training/story_tests.replay_story: a test story replayed teacher forced; with `acting` its
session start, actions and slot extraction are asked of an actor (the action server's side) and
what they return is what the next predictions see."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any, Sequence

from bot.dialogue.model import DialogueModel, load_test_stories
from bot.dialogue.states import training_events
from bot.domain import Domain
from bot.nlu.base import Prediction
from training.story_tests import EXTRACT, Acted, Request, StoryResult, replay_story, run_story

DOMAIN = """
version: "3.1"
intents: [ask, affirm]
responses:
  utter_ok: [{text: "ok"}]
actions: [action_show]
"""
RULES = """
version: "3.1"
rules:
- rule: show
  steps: [{intent: ask}, {action: action_show}]
"""
TESTS = """
version: "3.1"
stories:
- story: the action's followup answers
  steps:
  - intent: ask
    user: show me
  - action: action_show
  - action: utter_ok
"""


def _load(tmp_path: Path) -> tuple[DialogueModel, Any]:
    (tmp_path / "data").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "domain.yml").write_text(textwrap.dedent(DOMAIN))
    (tmp_path / "data" / "rules.yml").write_text(textwrap.dedent(RULES))
    (tmp_path / "tests" / "test_stories.yml").write_text(textwrap.dedent(TESTS))
    domain = Domain.load(tmp_path)
    model = DialogueModel.load(tmp_path, domain)
    (block,), findings = load_test_stories(tmp_path, domain)
    assert not [f for f in findings if f.level == "error"]
    return model, block


def parse(text: str, context: Sequence[str] = ()) -> Prediction:
    return Prediction(text, "ask", 1.0, ())


def _act(model: DialogueModel, block: Any, answers: dict[str, Acted]) -> tuple[StoryResult, list[Request]]:
    asked: list[Request] = []
    replay = replay_story(block, training_events(block, model.featurizer), parse=parse, model=model,
                          forms=frozenset(), acting=True)
    try:
        request = next(replay)
        while True:
            asked.append(request)
            request = replay.send(answers.get(request.name, Acted()))
    except StopIteration as done:
        return done.value, asked


def test_an_actions_followup_is_what_comes_next(tmp_path: Path) -> None:
    model, block = _load(tmp_path)
    followup = Acted([{"event": "followup", "name": "utter_ok"}])
    result, asked = _act(model, block, {"action_show": followup,
                                        "action_session_start": Acted([{"event": "session_started"}])})
    assert [r.name for r in asked] == ["action_session_start", EXTRACT, "action_show", "utter_ok"]
    assert asked[2].events[-1]["event"] == "user"  # run before its own action event, as the loop runs it
    assert result.passed, result.failures
    assert [(c.expected, c.policy) for c in result.checks if c.kind == "action"][1] == ("utter_ok", "FollowupAction")
    assert [run.name for run in result.runs] == ["action_session_start", "action_show", "utter_ok"]
    # as `rasa test` replays it (no action runs), the rule's listen after action_show is predicted instead
    plain = run_story(block, training_events(block, model.featurizer), parse=parse, model=model, forms=frozenset())
    assert [(c.expected, c.predicted) for c in plain.failures] == [("utter_ok", "action_listen")]


def test_an_action_that_fails_on_the_server_fails_its_story(tmp_path: Path) -> None:
    model, block = _load(tmp_path)
    result, _ = _act(model, block, {"action_show": Acted(error="action 'action_show' failed on the server (500)"),
                                    "utter_ok": Acted()})
    (failure, *_) = result.failures
    assert (failure.kind, failure.expected) == ("action_run", "action_show")
    assert "500" in failure.predicted and not result.passed
