"""The engine's action loop on a small Rasa project, with the real SQLite store and in-process
rasa-sdk actions. Messages are payloads (`/intent{...}`), so no NLU model is needed: a
classifier that is never to be called stands in for it."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any, AsyncIterator, Sequence

import pytest

from bot.actions.in_process import InProcessActionRunner
from bot.dialogue.model import DialogueModel
from bot.domain import Domain
from bot.engine import Engine, UserMessage
from bot.nlu.base import Prediction
from bot.storage.memory_lock import InMemoryLockStore
from bot.storage.sql import SQLTrackerStore

DOMAIN = """
version: "3.1"
intents: [greet, ask_joke, order_status, inform, loop_forever, restart]
entities: [order_number]
session_config:
  session_expiration_time: 60
  carry_over_slots_to_new_session: true
slots:
  order_number:
    type: text
    mappings: [{type: from_entity, entity: order_number}]
responses:
  utter_greet: [{text: "Hi!"}]
  utter_joke: [{text: "Why did the parcel blush? It saw the address label."}]
  utter_a: [{text: "a"}]
  utter_b: [{text: "b"}]
  utter_order: [{text: "Order {order_number} is on its way."}]
  utter_restart: [{text: "Starting over."}]
actions: [action_joke_then_followup]
"""
RULES = """
version: "3.1"
rules:
- rule: greet
  steps: [{intent: greet}, {action: utter_greet}]
- rule: joke via a followup
  steps: [{intent: ask_joke}, {action: action_joke_then_followup}]
- rule: order
  steps: [{intent: order_status}, {action: utter_order}]
- rule: a
  steps: [{intent: loop_forever}, {action: utter_a}]
  wait_for_user_input: false
- rule: a then b
  steps: [{action: utter_a}, {action: utter_b}]
  wait_for_user_input: false
- rule: b then a
  steps: [{action: utter_b}, {action: utter_a}]
  wait_for_user_input: false
"""
ACTIONS = """
from rasa_sdk import Action
from rasa_sdk.events import FollowupAction


class JokeThenFollowup(Action):
    def name(self):
        return "action_joke_then_followup"

    def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(text="Here is one.")
        return [FollowupAction("utter_joke")]
"""


class NoNLU:
    """Every message here is a payload: the classifier must never be asked."""

    def predict(self, texts: Sequence[str], contexts: Sequence[Sequence[str]] | None = None) -> list[Prediction]:
        raise AssertionError(f"the NLU model was asked about {texts}")


@pytest.fixture
async def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Engine]:
    (tmp_path / "data").mkdir()
    (tmp_path / "domain.yml").write_text(textwrap.dedent(DOMAIN))
    (tmp_path / "data" / "rules.yml").write_text(textwrap.dedent(RULES))
    package = tmp_path / "engine_test_actions"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "jokes.py").write_text(ACTIONS)
    monkeypatch.syspath_prepend(str(tmp_path))
    domain = Domain.load(tmp_path)
    store = SQLTrackerStore(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    actions = InProcessActionRunner("engine_test_actions", timeout=5)
    await store.start()
    await actions.start()
    engine = Engine(domain=domain, classifier=NoNLU(), dialogue=DialogueModel.load(tmp_path, domain), store=store,
                    locks=InMemoryLockStore(), actions=actions, history_window=100)
    yield engine
    await engine.batcher.close()
    await actions.close()
    await store.close()


async def say(engine: Engine, text: str, sender: str = "c1") -> list[str]:
    result = await engine.handle(UserMessage(text, sender))
    return [str(r.get("text")) for r in result.replies]


async def events(engine: Engine, sender: str = "c1") -> list[dict[str, Any]]:
    tracker = await engine.store.load(sender, window=1000)
    return tracker.recent_events


async def test_a_rule_answers_and_every_action_records_its_policy(engine: Engine) -> None:
    assert await say(engine, "/greet") == ["Hi!"]
    stored = await events(engine)
    names = [e["name"] for e in stored if e["event"] == "action"]
    assert names == ["action_session_start", "action_listen", "utter_greet", "action_listen"]
    reason = next(e for e in stored if e["event"] == "bot")["metadata"]["reason"]
    assert (reason["route"], reason["action"], reason["policy"]) == ("rules", "utter_greet", "RulePolicy")
    assert "rule 'greet'" in reason["source"]


async def test_slots_fill_and_render(engine: Engine) -> None:
    assert await say(engine, '/order_status{"order_number": "NW-10001"}') == ["Order NW-10001 is on its way."]


async def test_a_followup_action_runs_next(engine: Engine) -> None:
    replies = await say(engine, "/ask_joke")
    assert replies == ["Here is one.", "Why did the parcel blush? It saw the address label."]
    names = [e["name"] for e in await events(engine) if e["event"] == "action"]
    assert names[-3:] == ["action_joke_then_followup", "utter_joke", "action_listen"]


async def test_rules_that_never_listen_are_stopped(engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    replies = await say(engine, "/loop_forever")
    assert len(replies) == engine.dialogue.max_predictions and replies[:3] == ["a", "b", "a"]
    assert "without listening" in caplog.text
    assert (await events(engine))[-1]["name"] == "action_listen"  # the conversation can go on


async def test_restart_and_an_expired_session(engine: Engine) -> None:
    await say(engine, '/order_status{"order_number": "NW-10001"}')
    assert await say(engine, "/restart") == ["Starting over."]
    tracker = await engine.store.load("c1", window=1000)
    assert tracker.state.slots.get("order_number") is None
    await say(engine, '/order_status{"order_number": "NW-10002"}', "c2")
    tracker = await engine.store.load("c2", window=1000)
    two_hours_ago = (tracker.state.latest_event_time or 0) - 2 * 3600  # longer than the 60-minute session
    engine.store.begin_turn = _aged(engine.store.begin_turn, "c2", two_hours_ago)  # type: ignore[method-assign]
    assert await say(engine, "/greet", "c2") == ["Hi!"]
    stored = await events(engine, "c2")
    starts = [i for i, e in enumerate(stored) if e["event"] == "session_started"]
    assert len(starts) == 2
    carried = [e for e in stored[starts[1]:] if e["event"] == "slot"]
    assert carried[0]["name"] == "order_number" and carried[0]["value"] == "NW-10002"


def _aged(begin_turn: Any, sender: str, last: float) -> Any:
    """The store's own begin_turn, with the conversation's last event moved back in time."""
    async def aged(conversation_id: str, *args: Any, **kwargs: Any) -> Any:
        handled, tracker = await begin_turn(conversation_id, *args, **kwargs)
        if conversation_id == sender and tracker is not None:
            tracker.state.latest_event_time = last
        return handled, tracker
    return aged


async def test_events_are_stored_in_time_order(engine: Engine) -> None:
    await say(engine, "/ask_joke")
    await say(engine, '/order_status{"order_number": "NW-10001"}')
    stamps = [e["timestamp"] for e in await events(engine)]
    assert stamps == sorted(stamps)


async def test_back_takes_the_last_message_and_its_slots_back(engine: Engine) -> None:
    await say(engine, '/order_status{"order_number": "NW-10001"}')
    assert (await engine.store.load("c1", window=100)).state.slots["order_number"] == "NW-10001"
    await say(engine, '/order_status{"order_number": "NW-10009"}')
    await say(engine, "/back")  # action_back: this message and the one before are taken back
    tracker = await engine.store.load("c1", window=100)
    assert tracker.state.slots["order_number"] == "NW-10001"
    assert await say(engine, "/order_status") == ["Order NW-10001 is on its way."]


class RecordingNLU:
    """Says `greet` to everything, and records the context each message came with."""

    def __init__(self) -> None:
        self.contexts: list[tuple[str, ...]] = []

    def predict(self, texts: Sequence[str], contexts: Sequence[Sequence[str]] | None = None) -> list[Prediction]:
        self.contexts += [tuple(c) for c in contexts or [()] * len(texts)]
        return [Prediction(t, "greet", 0.99, (("greet", 0.99),)) for t in texts]


async def test_the_classifier_hears_the_conversations_earlier_intents(engine: Engine) -> None:
    nlu = RecordingNLU()
    engine.batcher.classifier = nlu
    await say(engine, '/order_status{"order_number": "NW-10001"}')
    await say(engine, "hello there")
    await say(engine, "hi again")
    await say(engine, "hello", sender="c2")  # another conversation: its own context
    assert nlu.contexts == [("order_status",), ("order_status", "greet"), ()]
