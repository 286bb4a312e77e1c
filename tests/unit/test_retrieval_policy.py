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


def placed(vector: np.ndarray, *, for_logs: bool, intent: str = "nlu_fallback") -> Prediction:
    """A prediction of a model trained with the support-log class and foreign text."""
    return Prediction("q", intent, 0.9, ((intent, 0.9),), embedding=vector, foreign=0.0 if for_logs else 0.9,
                      knowledge=0.9 if for_logs else 0.0, for_logs=for_logs)


def test_a_message_the_model_places_with_the_logs_gets_the_looser_threshold() -> None:
    policy = RetrievalPolicy(kb(), threshold=0.7, threshold_foreign=0.95, k=2)
    near = unit(1, 0.5, 0)  # cosine 0.89 with the gift-card question
    claimed = policy.decide(Tracker("c", State(), []), placed(near, for_logs=True))
    assert claimed is not None and claimed.route == "retrieval" and claimed.details["threshold"] == 0.7
    unclaimed = policy.decide(Tracker("c", State(), []), placed(near, for_logs=False))
    assert unclaimed is not None and unclaimed.route == "fallback" and unclaimed.details["threshold"] == 0.95
    # a model without the support-log class has one threshold
    assert policy.threshold_for(prediction(near)) == 0.7


def test_a_log_much_closer_than_the_intents_own_examples_answers_instead() -> None:
    from bot.routes import IntentBank

    bank = IntentBank(["payment_methods"], np.stack([unit(0, 0, 1)]))
    policy = RetrievalPolicy(kb(), threshold=0.7, k=2, intents=bank, log_margin=0.2)
    tracker = Tracker("c", State(), [])
    # close to the gift-card log (0.97), far from the intent's example (0.24): the log answers
    decision = policy.decide(tracker, placed(unit(1, 0, 0.25), for_logs=False, intent="payment_methods"),
                       intent_answers=True)
    assert decision is not None and decision.route == "retrieval" and decision.answer == "Yes, from 10 EUR."
    assert decision.details["over_intent"]["intent"] == "payment_methods"
    # as close to the intent's example as to the log: the intent keeps it (None: the rules decide)
    assert policy.decide(tracker, placed(unit(1, 0, 1), for_logs=False, intent="payment_methods"),
                       intent_answers=True) is None
    # without a calibrated margin the intent always keeps it
    plain = RetrievalPolicy(kb(), threshold=0.7, k=2)
    assert plain.decide(tracker, placed(unit(1, 0, 0.25), for_logs=False, intent="payment_methods"),
                       intent_answers=True) is None


def test_the_margin_compares_the_closest_past_question_with_the_closest_intent_example() -> None:
    """Like against like: a near-exact past question whose sibling (same answer) is far away
    still beats the intent, though the answer's group score is only middling."""
    from bot.routes import IntentBank

    express = "Yes, express delivery costs 9.95 EUR."
    entries = [Entry("x-b", "do you have an express shipping option", express),
               Entry("x-d", "how fast is express delivery to the UK", express),
               Entry("gift", "do you sell gift cards", "Yes, from 10 EUR.")]
    vectors = np.stack([unit(1, 0, 0, 0), unit(0, 1, 0, 0), unit(0, 0, 1, 0)])
    base = KnowledgeBase.build(entries, encoder=None, data_hash="t", vectors=vectors)  # type: ignore[arg-type]
    bank = IntentBank(["shipping_times"], np.stack([unit(0, 0, 0, 1)]))
    policy = RetrievalPolicy(base, threshold=0.55, k=2, intents=bank, log_margin=0.4)
    # cosines: 0.91 with x-b, 0.27 with x-d (group 0.59), 0.32 with the intent's example
    decision = policy.decide(Tracker("c", State(), []), placed(unit(1, 0.3, 0, 0.35), for_logs=False,
                                                              intent="shipping_times"), intent_answers=True)
    assert decision is not None and decision.route == "retrieval" and decision.answer == express
    over = decision.details["over_intent"]
    assert over["log_similarity"] - over["intent_similarity"] >= 0.4 > decision.hits[0].score - over["intent_similarity"]
