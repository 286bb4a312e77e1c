"""Logs that share an answer are scored as one group."""

from __future__ import annotations

from knowledge.base import Hit
from knowledge.grouping import by_answer


def hit(i: str, answer: str, score: float) -> Hit:
    return Hit(i, f"question {i}", answer, score)


def test_a_group_scores_the_mean_of_its_two_best_and_keeps_its_best_hit() -> None:
    hits = [hit("a", "A", 0.8), hit("b", "B", 0.75), hit("a2", "A", 0.6), hit("a3", "A", 0.5), hit("c", "C", 0.4)]
    grouped = by_answer(hits, 3)
    assert [h.id for h in grouped] == ["a", "b", "c"]  # the order of each group's best hit
    assert grouped[0].score == (0.8 + 0.6) / 2
    assert grouped[1].score == 0.75 and grouped[2].score == 0.4  # alone among the hits: its own score


def test_k_limits_the_answers_not_the_hits() -> None:
    hits = [hit("a", "A", 0.9), hit("a2", "A ", 0.85), hit("b", "B", 0.5)]
    assert [h.id for h in by_answer(hits, 1)] == ["a"]
    assert len(by_answer(hits, 5)) == 2  # "A " and "A" are one answer
    assert by_answer([], 3) == []
