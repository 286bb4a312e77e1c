"""knowledge/ingest.py: transcript detection and the cleaning pipeline (`ingest`)."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from bot.errors import ConfigError
from knowledge.ingest import IngestResult, ingest, is_transcript, load_logs
from knowledge.transcripts import is_closing, is_fragment, is_small_talk


def jsonl(path: Path, rows: list) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def test_is_transcript():
    assert is_transcript({"turns": []})
    assert is_transcript({"conversation_id": "c", "turn": 0, "question": "q", "answer": "a"})
    assert not is_transcript({"conversation_id": "bitext-0", "question": "q", "answer": "a"})
    assert not is_transcript({"question": "q", "answer": "a", "turn": 3})


def test_load_logs_detects_transcripts(tmp_path):
    qa = jsonl(tmp_path / "qa.jsonl", [{"id": "q1", "question": "Gift wrap?", "answer": "Yes, for 3 EUR."}])
    pairs = jsonl(tmp_path / "pairs.jsonl", [
        {"question": "How do I reset my password?", "answer": "Use 'Forgot password' on the login page.",
         "conversation_id": "c1", "turn": 0},
        {"question": "Thanks!", "answer": "You're welcome.", "conversation_id": "c1", "turn": 1},
    ])
    convs = jsonl(tmp_path / "convs.jsonl", [{"id": "c2", "turns": [
        {"role": "user", "text": "Do you ship to Norway?"}, {"role": "agent", "text": "Yes, in 4 days."}]}])
    entries = load_logs([qa, pairs, convs])
    assert [x.id for x in entries] == ["q1", "c1-t0", "c2-t0"]
    assert all(x.source == "logs" for x in entries)


def test_load_logs_created_at(tmp_path):
    path = tmp_path / "logs.csv"
    path.write_text("id,question,answer,created_at\na,Where are you?,Hamburg.,2026-01-02T03:04:05Z\nb,Open?,Yes.,\n")
    assert [x.created_at for x in load_logs([path])] == ["2026-01-02T03:04:05Z", None]
    j = jsonl(tmp_path / "logs.jsonl", [{"question": "q", "answer": "a", "created_at": "2025-05-05"}])
    assert load_logs([j])[0].created_at == "2025-05-05"


def test_transcript_ids_clash_with_other_files(tmp_path):
    a = jsonl(tmp_path / "a.jsonl", [{"id": "c1-t0", "question": "Gift wrap?", "answer": "Yes."}])
    b = jsonl(tmp_path / "b.jsonl", [{"question": "Do you ship to Norway?", "answer": "Yes, in 4 days.",
                                      "conversation_id": "c1", "turn": 0}])
    with pytest.raises(ConfigError, match="unique; repeated: c1-t0"):
        ingest([a, b])
    with pytest.raises(ConfigError, match="unique"):
        load_logs([b, b])


def test_ingest_pipeline(tmp_path):
    qa = jsonl(tmp_path / "qa.jsonl", [
        {"id": "1", "question": "Can  I  pay\u00a0by invoice?", "answer": "Yes,\twith Klarna.\n\n\n\nAsk us.",
         "created_at": "2025-01-01"},
        {"id": "2", "question": "can i pay by INVOICE?", "answer": "Yes, with Klarna.\n\nAsk us.",
         "created_at": "2026-01-01"},
        {"id": "3", "question": "My e-mail is ann@example.com, call +44 20 7946 0958",
         "answer": "We will call you on {{Phone Number}}. Card 4111 1111 1111 1111 is on file."},
    ])
    pairs = jsonl(tmp_path / "pairs.jsonl", [
        {"question": "What's my balance?", "answer": "Checking or savings?", "conversation_id": "c", "turn": 0},
        {"question": "Savings.", "answer": "You have $1,630.00.", "conversation_id": "c", "turn": 1},
        {"question": "Thanks, bye.", "answer": "Have a nice day.", "conversation_id": "c", "turn": 2},
        {"question": "What's my balance?", "answer": "", "conversation_id": "c", "turn": 3},
    ])
    result = ingest([qa, pairs])
    assert isinstance(result, IngestResult)
    assert [x.id for x in result.entries] == ["2", "3", "c-t0"]
    assert result.entries[0].question == "can i pay by INVOICE?"
    third = result.entries[1]
    assert third.question == "My e-mail is {{EMAIL}}, call {{PHONE}}"
    assert third.answer == "We will call you on {{Phone Number}}. Card {{CARD_NUMBER}} is on file."
    assert result.stats == {
        "read": 7, "transcripts_pairs": 1, "skipped_small_talk": 2, "skipped_empty": 1,
        "exact_duplicates": 1, "kept": 3, "redacted": {"email": 1, "phone": 1, "card": 1},
    }


def test_ingest_drops_entries_empty_after_cleaning(tmp_path):
    qa = jsonl(tmp_path / "qa.jsonl", [{"id": "1", "question": "\u200b", "answer": "Yes."},
                                       {"id": "2", "question": "Open?", "answer": "Yes."}])
    result = ingest([qa])
    assert [x.id for x in result.entries] == ["2"]
    assert result.stats["skipped_empty"] == 1


def test_ingest_template_logs():
    path = Path(__file__).resolve().parents[3] / "bot" / "templates" / "shop" / "data" / "support_logs.jsonl"
    result = ingest([path])
    assert result.stats["kept"] == len(result.entries) >= 80
    assert result.stats["read"] == len(load_logs([path]))


def test_ingest_sgd_banking(shared_data):
    result = ingest([shared_data / "sgd_banking" / "train.jsonl"])
    assert len(result.entries) > 1000
    assert result.stats["transcripts_pairs"] > 1000 and result.stats["skipped_small_talk"] > 1000
    for entry in result.entries:
        assert entry.question.strip() and entry.answer.strip()
        assert not (is_small_talk(entry.question) or is_fragment(entry.question) or is_closing(entry.answer)), entry
        assert entry.id.startswith(entry.id.rsplit("-t", 1)[0]) and entry.source == "logs"
    assert len({x.id for x in result.entries}) == len(result.entries)
    by_id = {x.id: x for x in result.entries}
    assert by_id["sgd-32_00011-t0"].question == "What's my balance?"
    assert by_id["sgd-32_00011-t0"].intent == "CheckBalance"
    assert "sgd-32_00011-t1" not in by_id  # "In checking."
    assert "sgd-32_00011-t5" not in by_id  # "Confirmed."


def test_ingest_bitext_keeps_placeholders(shared_data):
    path = shared_data / "bitext" / "qa_pairs.jsonl"
    raw = {x.id: x for x in load_logs([path])}
    result = ingest([path])
    assert len(result.entries) > 4000
    with_placeholders = [x for x in result.entries if "{{" in x.answer]
    assert len(with_placeholders) > 1000
    for entry in result.entries:
        for field in ("question", "answer"):
            original = Counter(re.findall(r"\{\{[^{}]*\}\}", getattr(raw[entry.id], field)))
            cleaned = Counter(re.findall(r"\{\{[^{}]*\}\}", getattr(entry, field)))
            assert not original - cleaned, (entry.id, field)  # every placeholder kept, verbatim
    assert any("{{Order Number}}" in x.answer for x in result.entries)
    # purchase ids in questions are order ids, not phone or card numbers
    assert any("113542617735902" in x.question for x in result.entries)
    assert result.stats["redacted"]["phone"] == result.stats["redacted"]["card"] == 0
