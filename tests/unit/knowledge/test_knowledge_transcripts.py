"""knowledge/transcripts.py: multi-turn transcripts -> question/answer entries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.errors import ConfigError
from knowledge.transcripts import is_closing, is_fragment, is_small_talk, keep_pair, load_transcripts


def write(path: Path, rows: list) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "text",
    [
        "Hello", "hi there!", "Good morning.", "Thanks.", "Thank you very much.", "Ok, bye.", "Okay.",
        "Confirmed.", "Yes please", "Yes, that is correct.", "That's all.", "No, that is all. Thanks.",
        "No thank you.", "Not right now.", "That works for me.", "Thanks a lot, bye!", "Perfect, thanks",
        "Sounds good!", "Yup, you're correct.", "No. Thank you very much. You've been very helpful.",
        "Thank you so much for your help.", "That is all I need for now. Thank you! Bye!", "",
    ],
)
def test_small_talk(text):
    assert is_small_talk(text)


@pytest.mark.parametrize(
    "text",
    [
        "What's my balance?", "Thanks, what's my balance?", "Ok, I want to transfer some money.",
        "Do you ship to Norway?", "Yes. How many days will that take?", "Hello, my card was stolen",
    ],
)
def test_not_small_talk(text):
    assert not is_small_talk(text)


@pytest.mark.parametrize(
    "text",
    ["In checking.", "To Amir.", "Send $1,630.", "Savings.", "To Diego, please.", "My checking account.",
     "My savings account, please.", "From my checking account.", "Something in Seattle please"],
)
def test_fragments(text):
    assert is_fragment(text)


@pytest.mark.parametrize(
    "text",
    ["What's my balance?", "My card was stolen.", "My card expired.", "My account is locked",
     "Send $1,630 to Amir.", "How many days?", "I would like to check my balance."],
)
def test_not_fragments(text):
    assert not is_fragment(text)


@pytest.mark.parametrize(
    "text",
    ["Have a nice day.", "Anything else?", "Is there anything else I can help you with?", "Have a good one!",
     "Enjoy the rest of your day.", "No problem, have a good day.", "You're welcome. Take care.",
     "I am glad I could help. Have a nice day.", "Can I help you with anything else?", "My pleasure. Goodbye!"],
)
def test_closings(text):
    assert is_closing(text)


@pytest.mark.parametrize(
    "text",
    ["Your transfer is complete. Anything else?", "No.", "Your checking account has $5,118.77.",
     "Would you like to make a transfer?", "Yes, we ship to Norway in 4 days."],
)
def test_not_closings(text):
    assert not is_closing(text)


def test_keep_pair():
    assert keep_pair("What's my balance?", "Your checking account has $5,118.77.")
    assert not keep_pair("Confirmed.", "Your transfer is complete.")
    assert not keep_pair("Can you do anything else for me today?", "Have a nice day.")


SGD_STYLE = [
    {"question": "Ok, bye.", "answer": "Have a nice day.", "conversation_id": "c1", "turn": 7,
     "intent": "CheckBalance"},
    {"question": "What's my balance?", "answer": "In checking or savings?", "conversation_id": "c1", "turn": 0,
     "intent": "CheckBalance", "flow": "Banks_1"},
    {"question": "In checking.", "answer": "Your checking account has $5,118.77.", "conversation_id": "c1", "turn": 1},
    {"question": "Thanks, what's my balance?", "answer": "Your checking account has $3,488.77.",
     "conversation_id": "c1", "turn": "6", "created_at": "2026-01-02T10:00:00Z"},
    {"question": "I need to send money to Amir.", "answer": "How much?", "conversation_id": "c2", "turn": 0},
    {"question": "Confirmed.", "answer": "Your transfer is complete.", "conversation_id": "c2", "turn": 1},
    {"question": "Can I transfer money abroad?", "answer": "  ", "conversation_id": "c2", "turn": 2},
]


def test_turn_pair_records(tmp_path):
    stats: dict[str, int] = {}
    entries = load_transcripts(write(tmp_path / "t.jsonl", SGD_STYLE), stats=stats)
    assert [e.id for e in entries] == ["c1-t0", "c1-t6", "c2-t0"]  # grouped, ordered by turn
    first = entries[0]
    assert (first.question, first.answer, first.intent, first.source) == (
        "What's my balance?", "In checking or savings?", "CheckBalance", "logs")
    assert entries[1].created_at == "2026-01-02T10:00:00Z"
    assert entries[2].intent is None
    assert stats == {"read": 7, "transcripts_pairs": 3, "skipped_small_talk": 3, "skipped_empty": 1}


CONVERSATIONS = [
    {"conversation_id": "conv-9", "intent": "refund", "created_at": "2026-02-01", "turns": [
        {"role": "agent", "text": "Hi! How can I help?"},
        {"role": "customer", "text": "Hello"},
        {"role": "agent", "text": "Hi there, how can I help?"},
        {"role": "customer", "text": "I returned a jacket two weeks ago."},
        {"role": "customer", "text": "When do I get my money back?"},
        {"role": "agent", "text": "Refunds reach your card 5-7 days after we receive the parcel."},
        {"role": "agent", "text": "Yours arrived on Monday."},
        {"role": "system", "text": "customer rated 5"},
        {"role": "user", "text": "Great, thanks!"},
        {"role": "assistant", "text": "Have a nice day."},
        {"role": "user", "text": "Oh, and can I exchange shoes in the store?"},
    ]},
    {"id": "conv-10", "turns": [
        {"role": "User", "text": "Can I change the delivery address of my order?"},
        {"role": "bot", "content": "Yes, until it has shipped: open Orders and choose Edit.", "intent": "x"},
    ]},
]


def test_conversation_records(tmp_path):
    stats: dict[str, int] = {}
    entries = load_transcripts(write(tmp_path / "c.jsonl", CONVERSATIONS), stats=stats)
    assert [(e.id, e.question, e.answer) for e in entries] == [
        ("conv-9-t1", "I returned a jacket two weeks ago. When do I get my money back?",
         "Refunds reach your card 5-7 days after we receive the parcel. Yours arrived on Monday."),
        ("conv-10-t0", "Can I change the delivery address of my order?",
         "Yes, until it has shipped: open Orders and choose Edit."),
    ]
    assert entries[0].intent == "refund" and entries[0].created_at == "2026-02-01"
    assert entries[1].intent is None
    # "Hello" -> greeting and "Great, thanks!" -> closing are skipped; the last question has no answer
    assert stats == {"read": 4, "transcripts_pairs": 2, "skipped_small_talk": 2}


def test_turn_intent_overrides_conversation_intent(tmp_path):
    rows = [{"conversation_id": "k", "intent": "general", "turns": [
        {"role": "customer", "text": "Where is my parcel right now?", "intent": "track_order"},
        {"role": "agent", "text": "It is with the courier and arrives tomorrow."},
    ]}]
    (entry,) = load_transcripts(write(tmp_path / "k.jsonl", rows))
    assert entry.intent == "track_order"


@pytest.mark.parametrize(
    "rows, message",
    [
        (['{"conversation_id": "a", "turn": 0,'], "not valid JSON"),
        ([[1, 2]], "JSON object"),
        ([{"question": "q?", "answer": "a", "turn": 0}], "conversation_id"),
        ([{"question": "q?", "answer": "a", "conversation_id": "a", "turn": "first"}], "integer"),
        ([{"conversation_id": "a", "question": "q", "answer": "a"}], "turns"),
        ([{"conversation_id": "a", "turns": "hello"}], "list"),
        ([{"conversation_id": "a", "turns": [{"role": "robot", "text": "x"}]}], "unknown role"),
        ([{"conversation_id": "a", "turn": 1, "question": "q", "answer": "a"},
          {"conversation_id": "a", "turn": 1, "question": "q2", "answer": "a2"}], "turn 1 twice"),
        ([{"id": "a", "turns": [{"role": "user", "text": "q"}, {"role": "agent", "text": "a"}]}] * 2, "turn 0 twice"),
    ],
)
def test_bad_records(tmp_path, rows, message):
    path = write(tmp_path / "bad.jsonl", rows)
    with pytest.raises(ConfigError, match=message) as info:
        load_transcripts(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_transcripts(tmp_path / "nope.jsonl")
