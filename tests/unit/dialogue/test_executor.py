"""bot/dialogue/executor.py and the action loop: a default action or a form that the domain also
lists under `actions:` is the project's own custom action (Rasa's action_for_name_or_text), as
financial-demo's action_session_start and action_restart are; after action_session_start (a
FollowupAction may ask for it, as financial-demo's action_restart does) the bot waits for the user."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path
from typing import Any, AsyncIterator, Sequence

import pytest

from bot.actions.base import ActionResult
from bot.dialogue.conversation import conversation
from bot.dialogue.executor import Context, Executor
from bot.dialogue.model import DialogueModel
from bot.domain import Domain
from bot.engine import Engine, UserMessage
from bot.nlu.base import Prediction
from bot.storage.memory_lock import InMemoryLockStore
from bot.storage.sql import SQLTrackerStore
from bot.tracker import State
from tests.unit.dialogue.policy_helpers import FEATURIZER

DOMAIN = """
version: "3.1"
intents: [greet, start_over]
slots:
  currency: {type: any, mappings: [{type: custom}]}
  amount: {type: any, mappings: [{type: custom}]}
forms:
  pay_form: {required_slots: [amount]}
responses:
  utter_greet: [{text: "Hi!"}]
  utter_welcome: [{text: "Welcome!"}]
  utter_ask_amount: [{text: "How much?"}]
actions: [action_session_start, action_restart, action_start_over, pay_form]
"""
RULES = """
version: "3.1"
rules:
- rule: greet
  steps: [{intent: greet}, {action: utter_greet}]
- rule: start over
  steps: [{intent: start_over}, {action: action_start_over}]
- rule: a new conversation is welcomed
  conversation_start: true
  steps: [{action: utter_welcome}]
  wait_for_user_input: false
"""
LISTEN = {"event": "action", "name": "action_listen", "policy": None, "confidence": None, "timestamp": None}
# what financial-demo's actions return (rasa-sdk's event dicts)
SERVER: dict[str, list[dict[str, Any]]] = {
    "action_session_start": [{"event": "session_started", "timestamp": None},
                             {"event": "slot", "name": "currency", "value": "$", "timestamp": None}, LISTEN],
    "action_start_over": [{"event": "followup", "name": "action_session_start", "timestamp": None}],
    "pay_form": [{"event": "slot", "name": "amount", "value": 5, "timestamp": None}],
}


class Server:
    """An action server that answers as financial-demo's does, and remembers what it ran."""

    def __init__(self) -> None:
        self.ran: list[str] = []

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def run(self, name: str, tracker: dict[str, Any], domain: dict[str, Any]) -> ActionResult:
        self.ran.append(name)
        return ActionResult([dict(e) for e in SERVER[name]])


def _domain(text: str = DOMAIN) -> Domain:
    import yaml

    return Domain.from_dict(yaml.safe_load(textwrap.dedent(text)))


def _run(domain: Domain, name: str) -> tuple[Server, list[dict[str, Any]]]:
    server = Server()
    ctx = Context("c1", State(), [], [], conversation([], FEATURIZER))
    outcome = asyncio.run(Executor(domain, server).run(name, ctx))
    assert outcome.error is None
    return server, outcome.events


def test_a_listed_session_start_runs_on_the_server_without_its_closing_listen() -> None:
    server, events = _run(_domain(), "action_session_start")
    assert server.ran == ["action_session_start"]
    assert [e["event"] for e in events] == ["session_started", "slot"]  # the engine adds the listen
    assert events[1]["value"] == "$"


def test_a_listed_form_name_is_the_projects_own_action() -> None:
    server, events = _run(_domain(), "pay_form")
    assert server.ran == ["pay_form"] and events[0]["name"] == "amount"


def test_an_unlisted_default_action_and_form_stay_built_in() -> None:
    domain = _domain(DOMAIN.replace("actions: [action_session_start, action_restart, action_start_over, pay_form]", "actions: []"))
    server, events = _run(domain, "action_session_start")
    assert server.ran == [] and [e["event"] for e in events] == ["session_started"]
    server, events = _run(domain, "pay_form")
    assert server.ran == [] and {"event": "active_loop", "name": "pay_form"} in events


class NoNLU:
    def predict(self, texts: Sequence[str], contexts: Sequence[Sequence[str]] | None = None) -> list[Prediction]:
        raise AssertionError(f"the NLU model was asked about {texts}")


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[tuple[Engine, Server]]:
    (tmp_path / "data").mkdir()
    (tmp_path / "domain.yml").write_text(textwrap.dedent(DOMAIN))
    (tmp_path / "data" / "rules.yml").write_text(textwrap.dedent(RULES))
    domain = Domain.load(tmp_path)
    store = SQLTrackerStore(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    await store.start()
    server = Server()
    engine = Engine(domain=domain, classifier=NoNLU(), dialogue=DialogueModel.load(tmp_path, domain), store=store,
                    locks=InMemoryLockStore(), actions=server, history_window=100)
    yield engine, server
    await engine.batcher.close()
    await store.close()


async def test_a_followup_session_start_runs_on_the_server_then_the_bot_waits_for_the_user(
        engine: tuple[Engine, Server]) -> None:
    bot, server = engine
    assert [r["text"] for r in (await bot.handle(UserMessage("/greet", "c1"))).replies] == ["Hi!"]
    result = await bot.handle(UserMessage("/start_over", "c1"))
    assert server.ran == ["action_session_start", "action_start_over", "action_session_start"]
    assert result.replies == []  # no conversation-start rule after it: Rasa predicts nothing after a session start
    actions = [e["name"] for e in result.events if e["event"] == "action"]
    assert actions == ["action_start_over", "action_session_start", "action_listen"]
    tracker = await bot.store.load("c1", window=100)
    assert tracker.state.slots["currency"] == "$"


class Careless(Server):
    """An action server whose answer holds what no store keeps: a NaN, a NUL, a lone surrogate."""

    async def run(self, name: str, tracker: dict[str, Any], domain: dict[str, Any]) -> ActionResult:
        self.ran.append(name)
        return ActionResult(
            [{"event": "slot", "name": "amount", "value": float("nan"), "timestamp": None},
             {"event": "slot", "name": "currency", "value": "\ud800", "timestamp": None},
             {"event": "slot", "name": "amount", "value": 7, "timestamp": None}],
            [{"text": "bad\x00text"}, {"text": "Done."}])


def test_what_an_action_returns_that_no_store_keeps_is_dropped_loudly(caplog) -> None:
    ctx = Context("c1", State(), [], [], conversation([], FEATURIZER))
    outcome = asyncio.run(Executor(_domain(), Careless()).run("pay_form", ctx))
    assert outcome.error is None
    assert [(e["name"], e["value"]) for e in outcome.events] == [("amount", 7)]
    assert [m["text"] for m in outcome.messages] == ["Done."]
    assert caplog.text.count("dropped") == 3 and "NaN" in caplog.text
