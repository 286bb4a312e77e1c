"""The console's pure parts: passwords, the login limiter, the transcript, the NLU export."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import events as ev
from bot.console import auth
from bot.console.commands import render_nlu
from bot.console.transcript import approved_id, items, queue_item
from bot.errors import BadRequest, TooManyRequests
from bot.tracker import State, apply
from training.data import load_rasa_nlu


def test_passwords_are_argon2id_hashes_that_verify_only_the_right_password():
    stored = auth.hash_password("correct horse battery")
    assert stored.startswith("$argon2id$") and "correct" not in stored
    assert auth.verify_password(stored, "correct horse battery")
    assert not auth.verify_password(stored, "correct horse batterz")
    assert not auth.verify_password("not a hash", "x")


def test_names_and_passwords_are_checked():
    assert auth.check_name("ann.lee@shop") == "ann.lee@shop"
    for bad in ("", "a b", "x" * 65, None, "<script>"):
        with pytest.raises(BadRequest):
            auth.check_name(bad)
    with pytest.raises(BadRequest, match="10 to"):
        auth.check_password("short")


def test_the_login_limiter_counts_failures_per_address_and_per_name():
    limiter = auth.LoginLimiter(attempts=3, window=60)
    for _ in range(3):
        limiter.check("1.2.3.4", "ann")
        limiter.failed("1.2.3.4", "ann")
    with pytest.raises(TooManyRequests) as caught:
        limiter.check("1.2.3.4", "bob")  # the address is blocked, whatever the name
    assert 1 <= caught.value.retry_after <= 61
    with pytest.raises(TooManyRequests):
        limiter.check("5.6.7.8", "ann")  # and the name is blocked from any address
    limiter.check("5.6.7.8", "bob")


def test_the_limiter_forgets_failures_after_its_window(monkeypatch: pytest.MonkeyPatch):
    now = [1000.0]
    monkeypatch.setattr(auth.time, "monotonic", lambda: now[0])
    limiter = auth.LoginLimiter(attempts=1, window=60)
    limiter.failed("a", "ann")
    with pytest.raises(TooManyRequests):
        limiter.check("a", "ann")
    now[0] += 61
    limiter.check("a", "ann")


def test_transcript_items_carry_the_bots_reasons_and_the_agents_replies():
    user = ev.user("<script>alert(1)</script> where is my parcel?",
                   {"intent": {"name": "order_status", "confidence": 0.91},
                    "sentiment": {"label": "negative", "confidence": 0.8}}, input_channel="socketio")
    reason = {"route": "retrieval", "intent": "order_status", "retrieval": [{"id": "log-1", "score": 0.83}]}
    reply = ev.agent_uttered("It ships today.", agent="ann")
    shown = items([user, ev.bot("Here you go", metadata={"reason": reason}), ev.action("action_listen"),
                   ev.handoff("pending", trigger="customer_request"), reply],
                  corrections={user["message_id"]: "shipping_times"},
                  approved=lambda entry: entry == approved_id(reply["metadata"]["message_id"]),
                  question_of=lambda entry: "Where is my parcel?" if entry == "log-1" else None)
    assert [i["kind"] for i in shown] == ["customer", "bot", "status", "agent"]
    customer, bot, status, agent = shown
    assert customer["text"].startswith("<script>")  # kept as it was; the console shows it as text
    assert customer["intent"] == "order_status" and customer["corrected_intent"] == "shipping_times"
    assert bot["reason"]["retrieval"] == [{"id": "log-1", "score": 0.83, "question": "Where is my parcel?"}]
    assert status == {"kind": "status", "at": status["at"], "status": "pending", "trigger": "customer_request",
                      "agent": None}
    assert agent["agent"] == "ann" and agent["approved_entry"] == approved_id(reply["metadata"]["message_id"])


def test_queue_items_only_for_conversations_with_a_person():
    assert queue_item("c", State()) is None
    user = ev.user("help", {"intent": {"name": "ask_human"}, "sentiment": {"label": "negative", "confidence": 0.9}},
                   input_channel="telegram")
    state = apply(State(), [user, {"event": "handoff", "timestamp": 100.0, "status": "pending",
                                   "trigger": "customer_request"}])
    row = queue_item("c", state, now=160.0)
    assert row == {"id": "c", "channel": "telegram", "status": "pending", "trigger": "customer_request",
                   "agent": None, "since": 100.0, "waiting_seconds": 60.0, "last_message": "help",
                   "last_sentiment": {"label": "negative", "confidence": 0.9}}


def test_exported_corrections_are_rasa_nlu_that_training_reads(tmp_path: Path):
    document = render_nlu({"refund_status": ["where's my money: refund #4?", "refund - still nothing"],
                           "shipping_times": ["how long to Oslo?"]})
    path = tmp_path / "nlu.yml"
    path.write_text(document)
    data = load_rasa_nlu(path)
    assert sorted((e.text, e.label) for e in data.examples) == sorted([
        ("where's my money: refund #4?", "refund_status"), ("refund - still nothing", "refund_status"),
        ("how long to Oslo?", "shipping_times")])


def test_the_login_address_behind_trusted_proxies():
    assert auth.client_address("10.0.0.5", "1.2.3.4", ()) == "10.0.0.5"  # no trusted proxy: the peer
    assert auth.client_address("10.0.0.5", "1.2.3.4", ("10.0.0.5",)) == "1.2.3.4"
    # a client cannot dodge the limit by sending its own X-Forwarded-For: the proxy appends the real hop
    assert auth.client_address("10.0.0.5", "6.6.6.6, 1.2.3.4", ("10.0.0.5",)) == "1.2.3.4"
    assert auth.client_address("10.0.0.5", "1.2.3.4, 10.0.0.9", ("10.0.0.5", "10.0.0.9")) == "1.2.3.4"
    assert auth.client_address("10.0.0.5", None, ("10.0.0.5",)) == "10.0.0.5"
    assert auth.client_address("9.9.9.9", "1.2.3.4", ("10.0.0.5",)) == "9.9.9.9"  # not from the proxy
