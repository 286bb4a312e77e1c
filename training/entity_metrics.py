"""Entity extraction against annotations: exact span and type, as `rasa test nlu` counts a hit.

A predicted entity is right when its start, end and label (entity, with role and group when
either side has them) equal a gold one. Per label: precision, recall, F1, support; micro (all
entities pooled) and macro (mean over the gold labels) overall; and the most confused pairs:
a gold span found with another label, missed (`(none)` predicted) or invented (`(none)` gold)."""

from __future__ import annotations

from collections import Counter
from typing import Any, Iterable, Sequence

NONE = "(none)"


def _label(entity: dict[str, Any]) -> str:
    parts = [str(entity.get("entity"))]
    if entity.get("role"):
        parts.append(f"role={entity['role']}")
    if entity.get("group"):
        parts.append(f"group={entity['group']}")
    return " ".join(parts)


def _prf(right: int, found: int, wanted: int) -> dict[str, float]:
    p = right / found if found else 0.0
    r = right / wanted if wanted else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(2 * p * r / (p + r), 4) if p + r else 0.0}


def entity_report(gold: Sequence[Iterable[dict[str, Any]]], predicted: Sequence[Iterable[dict[str, Any]]],
                  top: int = 10) -> dict[str, Any]:
    """`gold` and `predicted`: per message, its entities (dicts with start, end, entity, role?, group?)."""
    right: Counter[str] = Counter()
    found: Counter[str] = Counter()
    wanted: Counter[str] = Counter()
    confused: Counter[tuple[str, str]] = Counter()
    for gold_entities, predicted_entities in zip(gold, predicted):
        g = {(int(e["start"]), int(e["end"])): _label(e) for e in gold_entities}
        p = {(int(e["start"]), int(e["end"])): _label(e) for e in predicted_entities}
        wanted.update(g.values())
        found.update(p.values())
        for span, label in g.items():
            if p.get(span) == label:
                right[label] += 1
            else:
                confused[(label, p.get(span, NONE))] += 1
        confused.update((NONE, label) for span, label in p.items() if span not in g)
    labels = sorted(set(wanted) | set(found))
    per_label = {label: {**_prf(right[label], found[label], wanted[label]), "support": wanted[label]}
                 for label in labels}
    gold_labels = [label for label in labels if wanted[label]]
    macro = (sum(per_label[label]["f1"] for label in gold_labels) / len(gold_labels)) if gold_labels else 0.0
    return {
        "entities": sum(wanted.values()), "predicted": sum(found.values()),
        "micro": _prf(sum(right.values()), sum(found.values()), sum(wanted.values())),
        "macro_f1": round(macro, 4),
        "per_entity": per_label,
        "confused_pairs": [{"gold": g, "predicted": q, "count": n} for (g, q), n in confused.most_common(top)],
    }


def markdown(report: dict[str, Any]) -> list[str]:
    micro = report["micro"]
    lines = ["", f"Entities ({report['entities']} annotated, {report['predicted']} predicted; exact span and type): "
             f"micro precision {micro['precision']:.4f}, recall {micro['recall']:.4f}, F1 {micro['f1']:.4f}; "
             f"macro F1 {report['macro_f1']:.4f}", "", "| entity | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    lines += [f"| {name} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} | {v['support']} |"
              for name, v in report["per_entity"].items()]
    if report["confused_pairs"]:
        lines += ["", "Most confused entities (gold -> predicted on the same span; (none): missed or invented):", "",
                  "| gold | predicted | count |", "|---|---|---|"]
        lines += [f"| {p['gold']} | {p['predicted']} | {p['count']} |" for p in report["confused_pairs"]]
    return lines
