"""A project that declares Rasa's `out_of_scope` intent gets it for foreign text (and its rules
answer), as its Rasa users expect; an unclear message stays nlu_fallback, and a project without
that intent keeps nlu_fallback for both."""

from __future__ import annotations

from typing import Sequence

from bot.dialogue.model import DialogueModel
from bot.domain import Domain
from bot.engine import Engine
from bot.nlu.base import Prediction
from bot.storage.memory_lock import InMemoryLockStore
from tests.unit.dialogue.test_executor import Server

SAID = {
    # the model's foreign class on top
    "order me a pizza": Prediction("order me a pizza", "nlu_fallback", 0.97,
                                   (("nlu_fallback", 0.97), ("greet", 0.02)), foreign=0.95, knowledge=0.01),
    # unclear: no class is sure, the foreign one is not on top
    "hm balance greet": Prediction("hm balance greet", "nlu_fallback", 0.6,
                                   (("nlu_fallback", 0.6), ("greet", 0.4), ("check_balance", 0.35)),
                                   foreign=0.2, knowledge=0.05),
    # a question for the support logs
    "do you ship to Norway": Prediction("do you ship to Norway", "nlu_fallback", 0.9,
                                        (("nlu_fallback", 0.9), ("greet", 0.05)), foreign=0.1, knowledge=0.85,
                                        for_logs=True),
}


class Scripted:
    def predict(self, texts: Sequence[str], contexts: Sequence[Sequence[str]] | None = None) -> list[Prediction]:
        return [SAID[t] for t in texts]


def _engine(intents: list[str]) -> Engine:
    domain = Domain.from_dict({"version": "3.1", "intents": intents})
    return Engine(domain=domain, classifier=Scripted(), dialogue=DialogueModel.build(domain, [], []),
                  store=None, locks=InMemoryLockStore(), actions=Server(), history_window=10)  # type: ignore[arg-type]


def test_foreign_text_is_the_projects_own_out_of_scope_intent() -> None:
    engine = _engine(["greet", "check_balance", "out_of_scope"])
    pizza = engine.predict_now("order me a pizza")
    assert (pizza.intent, pizza.confidence) == ("out_of_scope", 0.95)
    assert pizza.ranking[0] == ("out_of_scope", 0.95) and "nlu_fallback" not in dict(pizza.ranking)
    assert engine.predict_now("hm balance greet").intent == "nlu_fallback"
    assert engine.predict_now("do you ship to Norway").intent == "nlu_fallback"


def test_without_the_intent_foreign_text_stays_nlu_fallback() -> None:
    engine = _engine(["greet", "check_balance"])
    assert engine.predict_now("order me a pizza").intent == "nlu_fallback"
