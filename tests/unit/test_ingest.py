"""knowledge/ingest.py: support logs (JSONL or CSV) -> entries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.errors import ConfigError
from knowledge.base import Entry
from knowledge.ingest import load_logs

TEMPLATE_LOGS = Path(__file__).resolve().parents[2] / "bot" / "templates" / "shop" / "data" / "support_logs.jsonl"


def jsonl(path: Path, rows: list) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def test_jsonl(tmp_path):
    path = jsonl(
        tmp_path / "logs.jsonl",
        [
            {"id": "a1", "question": " Do you ship to Norway? ", "answer": " Yes, in 4 days. ", "intent": "shipping",
             "tags": ["shipping", " norway "]},
            "",
            {"question": "Gift wrap?", "answer": "Yes, for 3 EUR.", "tags": "gifts; wrapping, extras"},
        ],
    )
    entries = load_logs([path])
    assert entries[0] == Entry(
        id="a1", question="Do you ship to Norway?", answer="Yes, in 4 days.", intent="shipping", tags=("shipping", "norway")
    )
    assert entries[1].id == "logs-3"  # no id: file stem and line number
    assert entries[1].intent is None
    assert entries[1].tags == ("gifts", "wrapping", "extras")


def test_csv(tmp_path):
    path = tmp_path / "support_logs.csv"
    path.write_text(
        "id,question,answer,intent,tags\n"
        "c1,Can I pay by invoice?,\"Yes, with Klarna.\",payment,\"payment;invoice\"\n"
        ",Do you have a shop in Berlin?,\"No, only online.\",,\n",
        encoding="utf-8",
    )
    entries = load_logs([path])
    assert entries[0] == Entry("c1", "Can I pay by invoice?", "Yes, with Klarna.", "payment", ("payment", "invoice"))
    assert entries[1].id == "support_logs-3"
    assert entries[1].answer == "No, only online."
    assert entries[1].intent is None
    assert entries[1].tags == ()


def test_csv_empty_intent_and_tags(tmp_path):
    path = tmp_path / "logs.csv"
    path.write_text("question,answer,intent,tags\nWhere are you?,Hamburg.,,\n", encoding="utf-8")
    (entry,) = load_logs([path])
    assert entry == Entry("logs-2", "Where are you?", "Hamburg.", None, ())


def test_missing_answer_names_file_and_line_jsonl(tmp_path):
    path = jsonl(
        tmp_path / "logs.jsonl",
        [{"id": "1", "question": "q", "answer": "a"}, {"id": "2", "question": "q2", "answer": "   "}],
    )
    with pytest.raises(ConfigError, match="question and answer") as info:
        load_logs([path])
    assert f"{path}:2" in str(info.value)


def test_missing_answer_names_file_and_line_csv(tmp_path):
    path = tmp_path / "logs.csv"
    path.write_text("id,question,answer\n1,q1,a1\n2,q2,a2\n3,q3,\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_logs([path])
    assert f"{path}:4" in str(info.value)


def test_missing_question(tmp_path):
    path = jsonl(tmp_path / "logs.jsonl", [{"id": "1", "answer": "a"}])
    with pytest.raises(ConfigError, match=r"logs\.jsonl:1"):
        load_logs([path])


def test_bad_json_line(tmp_path):
    path = jsonl(tmp_path / "logs.jsonl", [{"id": "1", "question": "q", "answer": "a"}, '{"id": "2", "question": '])
    with pytest.raises(ConfigError, match="not valid JSON") as info:
        load_logs([path])
    assert f"{path}:2" in str(info.value)


def test_duplicate_ids_within_a_file(tmp_path):
    path = jsonl(
        tmp_path / "logs.jsonl",
        [
            {"id": "dup-1", "question": "q1", "answer": "a1"},
            {"id": "ok", "question": "q2", "answer": "a2"},
            {"id": "dup-1", "question": "q3", "answer": "a3"},
        ],
    )
    with pytest.raises(ConfigError, match="dup-1") as info:
        load_logs([path])
    assert "ok" not in str(info.value).split("repeated:")[1]


def test_duplicate_ids_across_files(tmp_path):
    a = jsonl(tmp_path / "a.jsonl", [{"id": "x", "question": "q1", "answer": "a1"}])
    b = tmp_path / "b.csv"
    b.write_text("id,question,answer\nx,q2,a2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="unique"):
        load_logs([a, b])
    assert len(load_logs([a])) == 1


def test_several_files_keep_order(tmp_path):
    a = jsonl(tmp_path / "a.jsonl", [{"id": "a", "question": "q1", "answer": "a1"}])
    b = tmp_path / "b.csv"
    b.write_text("id,question,answer\nb,q2,a2\n", encoding="utf-8")
    assert [e.id for e in load_logs([b, a])] == ["b", "a"]


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_logs([tmp_path / "nope.jsonl"])


def test_template_logs():
    entries = load_logs([TEMPLATE_LOGS])
    assert len(entries) >= 80
    assert len({e.id for e in entries}) == len(entries)
    assert all(e.question and e.answer for e in entries)
    first = entries[0]
    assert first.id == "log-001"
    assert first.question == "Do you sell gift cards?"
    assert first.intent == "gift_cards"
    assert first.tags == ("gift cards",)
