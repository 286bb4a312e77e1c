"""The foreign text a bot learns and is calibrated on (training/foreign.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import ConfigError
from training.foreign import CALIBRATION_TOPICS, CORPUS_DIR, in_calibration, load_foreign, read_lines, shipped_topics


def test_the_shipped_corpus_has_its_training_and_calibration_topics() -> None:
    topics = shipped_topics()
    assert CALIBRATION_TOPICS <= set(topics) and len(set(topics) - CALIBRATION_TOPICS) >= 10
    for topic in topics:
        lines = read_lines(CORPUS_DIR / f"{topic}.txt")
        assert len(lines) >= 70, topic
        assert (CORPUS_DIR / f"{topic}.txt").read_text(encoding="utf-8").startswith("# "), topic  # says what it is
    everything = [line.lower() for topic in topics for line in read_lines(CORPUS_DIR / f"{topic}.txt")]
    assert len(everything) == len(set(everything))  # no message twice, across files either


def test_calibration_topics_are_held_out_whole_and_never_trained(tmp_path: Path) -> None:
    text = load_foreign([], None)
    calibration = {line for t in CALIBRATION_TOPICS for line in read_lines(CORPUS_DIR / f"{t}.txt")}
    assert set(text.calibration) == calibration
    assert not calibration & set(text.train)
    assert text.summary()["calibration"] == len(calibration)


def test_a_project_adds_its_own_and_leaves_out_its_own_business(tmp_path: Path) -> None:
    (tmp_path / "out_of_scope.txt").write_text("# ours\n" + "\n".join(f"question {i} about llamas" for i in range(60)),
                                               encoding="utf-8")
    text = load_foreign([], None, data_dir=tmp_path, exclude_topics=["banking", "banking_cards"])
    assert text.project == 60 and "banking" not in text.topics and "banking_cards" not in text.topics
    ours = [t for t in text.train + text.calibration if "llamas" in t]
    assert len(ours) == 60 and 0 < sum(in_calibration(t) for t in ours) < 60  # split by a stable hash
    assert all((t in text.calibration) == in_calibration(t) for t in ours)
    with pytest.raises(ConfigError, match="unknown topics"):
        load_foreign([], None, exclude_topics=["knitting"])


def test_messages_close_to_the_bots_own_data_are_dropped(encoder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    banking = [line for line in read_lines(CORPUS_DIR / "banking.txt") if len(line.split()) >= 6][:5]
    trivia = read_lines(CORPUS_DIR / "knowledge_trivia.txt")[:20]
    (tmp_path / "banking.txt").write_text("\n".join(banking), encoding="utf-8")
    (tmp_path / "knowledge_trivia.txt").write_text("\n".join(trivia), encoding="utf-8")
    own = [f"{line.rstrip('?!. ')}, please" for line in banking]  # a bank's bot: its own questions, reworded
    text = load_foreign(own + banking[:1], encoder, corpus=tmp_path)
    assert set(text.train) == set(trivia) and text.topics == {"knowledge_trivia": len(trivia)}
    assert not set(banking) & set(text.train + text.calibration)  # neither the copy nor the near ones are used
    assert set(banking[1:]) <= set(text.dropped_near_own_data)
    assert not set(text.dropped_near_own_data) & set(text.train + text.calibration)
    assert text.summary()["dropped_near_own_data"] == len(text.dropped_near_own_data)


def test_hard_negatives_are_taught_whole_and_the_sample_fills_the_rest() -> None:
    from training.foreign import WHOLE_TOPICS

    whole = {line for t in WHOLE_TOPICS for line in read_lines(CORPUS_DIR / f"{t}.txt")}
    text = load_foreign([], None, max_train=len(whole) + 50)
    assert whole <= set(text.train)
    assert len(text.train) == len(whole) + 50  # the other training topics: a hash sample of 50
    assert len(load_foreign([], None, max_train=10).train) == len(whole)  # never cut below the whole topics
