"""Rasa's two-stage fallback (bot/dialogue/two_stage.py) through the real engine and rules, on
SQLite, with an NLU that answers as told: an unclear message is offered back as its likeliest
intent; Yes clarifies it, No asks to rephrase, two unclear messages in a row or a second No give
up with the fallback."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import AsyncIterator, Sequence

import pytest

from bot.dialogue.model import DialogueModel
from bot.domain import Domain
from bot.engine import Engine, UserMessage
from bot.nlu.base import Prediction
from bot.storage.memory_lock import InMemoryLockStore
from bot.storage.sql import SQLTrackerStore
from tests.unit.dialogue.test_executor import Server

DOMAIN = """
version: "3.1"
intents: [greet, check_balance]
responses:
  utter_greet: [{text: "Hi!"}]
  utter_balance: [{text: "Your balance is 10."}]
  utter_default: [{text: "Sorry, I could not follow. A colleague will help."}]
  utter_ask_rephrase: [{text: "Could you say that another way?"}]
"""
RULES = """
version: "3.1"
rules:
- rule: greet
  steps: [{intent: greet}, {action: utter_greet}]
- rule: balance
  steps: [{intent: check_balance}, {action: utter_balance}]
- rule: two-stage fallback
  steps:
  - intent: nlu_fallback
  - action: action_two_stage_fallback
  - active_loop: action_two_stage_fallback
"""
CLEAR = {"hello": ("greet", 0.97), "what's my balance": ("check_balance", 0.95)}
UNCLEAR = {"balanse plz?": ("check_balance", 0.41), "hrm": ("greet", 0.2), "hi balance": ("greet", 0.5)}


class ScriptedNLU:
    """The NLU's answers for the texts these tests send (the dialogue is under test here)."""

    def predict(self, texts: Sequence[str], contexts: Sequence[Sequence[str]] | None = None) -> list[Prediction]:
        out = []
        for text in texts:
            intent, confidence = {**CLEAR, **UNCLEAR}[text]
            other = "greet" if intent != "greet" else "check_balance"
            out.append(Prediction(text, intent, confidence, ((intent, confidence), (other, (1 - confidence) / 2))))
        return out


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[Engine]:
    (tmp_path / "data").mkdir()
    (tmp_path / "domain.yml").write_text(textwrap.dedent(DOMAIN))
    (tmp_path / "data" / "rules.yml").write_text(textwrap.dedent(RULES))
    domain = Domain.load(tmp_path)
    store = SQLTrackerStore(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    await store.start()
    engine = Engine(domain=domain, classifier=ScriptedNLU(), dialogue=DialogueModel.load(tmp_path, domain),
                    store=store, locks=InMemoryLockStore(), actions=Server(), history_window=100, nlu_threshold=0.6)
    yield engine
    await engine.batcher.close()
    await store.close()


async def _say(bot: Engine, text: str, cid: str = "c1") -> list[dict[str, object]]:
    return (await bot.handle(UserMessage(text, cid))).replies


async def _loop(bot: Engine, cid: str = "c1") -> str | None:
    return (await bot.store.load(cid, window=100)).state.active_loop


async def test_an_unclear_message_is_offered_back_and_a_yes_answers_it(bot: Engine) -> None:
    (asked,) = await _say(bot, "balanse plz?")
    assert asked["text"] == "Did you mean 'check_balance'?"
    assert asked["buttons"] == [{"title": "Yes", "payload": "/check_balance"},
                                {"title": "No", "payload": "/out_of_scope"}]
    assert await _loop(bot) == "action_two_stage_fallback"
    assert [r["text"] for r in await _say(bot, "/check_balance")] == ["Your balance is 10."]
    assert await _loop(bot) is None
    tracker = await bot.store.load("c1", window=100)
    reason = [e for e in tracker.recent_events if e["event"] == "bot"][-1]["metadata"]["reason"]
    assert reason["policy"] == "RulePolicy" and "balance" in reason["source"]
    # the clarified message stands in the first one's place: the bot answers what follows normally
    assert [r["text"] for r in await _say(bot, "hello")] == ["Hi!"]


async def test_a_no_asks_to_rephrase_and_a_clear_rephrasing_is_answered(bot: Engine) -> None:
    await _say(bot, "balanse plz?")
    assert [r["text"] for r in await _say(bot, "/out_of_scope")] == ["Could you say that another way?"]
    assert await _loop(bot) == "action_two_stage_fallback"
    assert [r["text"] for r in await _say(bot, "what's my balance")] == ["Your balance is 10."]
    assert await _loop(bot) is None


async def test_two_unclear_messages_in_a_row_give_up_with_the_fallback(bot: Engine) -> None:
    await _say(bot, "balanse plz?")
    assert [r["text"] for r in await _say(bot, "hrm")] == ["Sorry, I could not follow. A colleague will help."]
    assert await _loop(bot) is None
    assert [r["text"] for r in await _say(bot, "hello")] == ["Hi!"]


async def test_a_second_no_gives_up(bot: Engine) -> None:
    await _say(bot, "balanse plz?")
    await _say(bot, "/out_of_scope")
    (again,) = await _say(bot, "hrm")  # the rephrasing is unclear too: affirm its likeliest intent
    assert again["text"] == "Did you mean 'greet'?"
    assert [r["text"] for r in await _say(bot, "/out_of_scope")] == [
        "Sorry, I could not follow. A colleague will help."]
    assert await _loop(bot) is None


async def test_config_ymls_ambiguity_threshold_makes_a_close_call_unclear(bot: Engine) -> None:
    """FallbackClassifier's ambiguity_threshold: the top intent less than it ahead of the runner-up."""
    bot.nlu_threshold, bot.nlu_ambiguity = 0.3, 0.3  # 0.5 against 0.25: confident enough, too close
    (asked,) = await _say(bot, "hi balance")
    assert asked["text"] == "Did you mean 'greet'?"
    bot.nlu_ambiguity = 0.2
    assert [r["text"] for r in await _say(bot, "hi balance", "c2")] == ["Hi!"]
