"""Entity metrics of `evaluate nlu` (training/entity_metrics.py): exact span and type."""

from __future__ import annotations

from training.entity_metrics import entity_report, markdown


def city(start: int, end: int, role: str | None = None) -> dict:
    return {"start": start, "end": end, "entity": "city", "role": role}


def test_exact_spans_and_labels_count_and_every_miss_is_named() -> None:
    gold = [[city(0, 5, "from"), city(9, 14, "to")], [{"start": 3, "end": 6, "entity": "drink"}], []]
    predicted = [[city(0, 5, "from"), city(9, 14, "from")],  # the right span, the wrong role
                 [{"start": 3, "end": 7, "entity": "drink"}],  # one character too long: wrong
                 [{"start": 0, "end": 2, "entity": "drink"}]]  # invented
    report = entity_report(gold, predicted)
    assert report["entities"] == 3 and report["predicted"] == 4
    assert report["micro"] == {"precision": 0.25, "recall": 0.3333, "f1": 0.2857}
    assert report["per_entity"]["city role=from"] == {"precision": 0.5, "recall": 1.0, "f1": 0.6667, "support": 1}
    assert report["per_entity"]["city role=to"]["support"] == 1 and report["per_entity"]["city role=to"]["f1"] == 0.0
    assert round(report["macro_f1"], 4) == round(0.6667 / 3, 4)
    pairs = {(p["gold"], p["predicted"]): p["count"] for p in report["confused_pairs"]}
    assert pairs == {("city role=to", "city role=from"): 1, ("drink", "(none)"): 1, ("(none)", "drink"): 2}
    assert any("micro precision 0.2500" in line for line in markdown(report))


def test_nothing_to_find_and_nothing_found() -> None:
    report = entity_report([[], []], [[], []])
    assert report["micro"]["f1"] == 0.0 and report["entities"] == 0 and report["per_entity"] == {}
