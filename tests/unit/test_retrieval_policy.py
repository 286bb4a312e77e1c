"""The retrieval policy over a real (tiny) FAISS knowledge base with hand-made vectors."""

from __future__ import annotations

import numpy as np

from bot.nlu.base import Prediction
from bot.policies.retrieval import RetrievalPolicy, fill_placeholders
from bot.tracker import State, Tracker
from knowledge.base import Entry
from knowledge.index import KnowledgeBase


def unit(*values: float) -> np.ndarray:
    v = np.array(values, dtype=np.float32)
    return v / np.linalg.norm(v)


def kb() -> KnowledgeBase:
    entries = [
        Entry("gift", "do you sell gift cards", "Yes, from 10 EUR."),
        Entry("track", "where is my parcel", "Order {{Order Number}} is on its way with {{Carrier}}."),
    ]
    vectors = np.stack([unit(1, 0, 0), unit(0, 1, 0)])
    return KnowledgeBase.build(entries, encoder=None, data_hash="t", vectors=vectors)  # type: ignore[arg-type]


def prediction(vector: np.ndarray) -> Prediction:
    return Prediction("q", "nlu_fallback", 0.9, (("nlu_fallback", 0.9),), embedding=vector)


def test_answers_above_the_threshold_and_records_hits() -> None:
    policy = RetrievalPolicy(kb(), threshold=0.8, k=2)
    decision = policy.decide(Tracker("c", State(), []), prediction(unit(1, 0.1, 0)))
    assert decision is not None and decision.route == "retrieval"
    assert decision.answer == "Yes, from 10 EUR."
    assert [h.id for h in decision.hits] == ["gift", "track"]
    assert decision.details["threshold"] == 0.8


def test_falls_back_below_the_threshold_but_keeps_the_hits_as_context() -> None:
    policy = RetrievalPolicy(kb(), threshold=0.8, k=2)
    decision = policy.decide(Tracker("c", State(), []), prediction(unit(1, 1, 1)))
    assert decision is not None and decision.route == "fallback" and decision.answer is None
    assert len(decision.hits) == 2 and decision.hits[0].score < 0.8


def test_placeholders_are_filled_from_slots_and_the_rest_flagged() -> None:
    policy = RetrievalPolicy(kb(), threshold=0.8, k=1)
    tracker = Tracker("c", State(slots={"order_number": "NW-10002"}), [])
    decision = policy.decide(tracker, prediction(unit(0, 1, 0)))
    assert decision is not None
    assert decision.answer == "Order NW-10002 is on its way with {{Carrier}}."
    assert decision.details["unfilled_placeholders"] == ["Carrier"]


def test_fill_placeholders_leaves_text_without_placeholders_alone() -> None:
    assert fill_placeholders("No placeholders here.", {"x": 1}) == ("No placeholders here.", [])
    assert fill_placeholders("{{ Customer Name }}!", {"customer_name": "Ada"}) == ("Ada!", [])


def test_deleted_entries_are_never_returned() -> None:
    base = kb()
    base.remove(["gift"])
    hits = base.search("", 2, vector=unit(1, 0, 0))
    assert [h.id for h in hits] == ["track"]
    base.add([Entry("gift2", "gift cards?", "Gift cards: yes.")], np.stack([unit(1, 0, 0)]))
    assert base.search("", 1, vector=unit(1, 0, 0))[0].id == "gift2"
    assert len(base) == 2
