"""Scoring and the markdown report of bench/entity_bench.py: exact span-and-type precision, recall
and F1 (micro, macro, per type), the confusions, span sanity checks, and entity.md."""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any

from training.data import Example

SpanKey = tuple[int, int, str]  # (start, end, entity)
NONE = "(none)"


# --- scoring --------------------------------------------------------------------------------

def prf(right: int, found: int, wanted: int) -> dict[str, float]:
    p, r = right / found if found else 0.0, right / wanted if wanted else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(2 * p * r / (p + r) if p + r else 0.0, 4),
            "support": wanted}


def score(test: list[Example], predicted: list[set[SpanKey]], train_types: set[str]) -> dict[str, Any]:
    right, found, wanted, confusions = Counter[str](), Counter[str](), Counter[str](), Counter[str]()
    boundary = 0
    span_right = span_found = span_wanted = wrong_type = 0
    for example, got in zip(test, predicted):
        gold = {(s.start, s.end, s.entity) for s in example.spans}
        wanted.update(t for _, _, t in gold)
        found.update(t for _, _, t in got)
        right.update(t for _, _, t in gold & got)
        by_span = {(a, b): t for a, b, t in got}
        gold_spans = {(a, b) for a, b, _ in gold}
        span_right += len(gold_spans & set(by_span))
        span_found, span_wanted = span_found + len(by_span), span_wanted + len(gold_spans)
        wrong_type += sum((a, b) in by_span and by_span[(a, b)] != t for a, b, t in gold)
        for a, b, t in gold - got:
            confusions[f"{t} -> {by_span.get((a, b), NONE)}"] += 1
            boundary += any(p == t and (pa, pb) != (a, b) and pa < b and a < pb for pa, pb, p in got)
        confusions.update(f"{NONE} -> {t}" for a, b, t in got - gold if (a, b) not in gold_spans)
    types = sorted(wanted)
    per_type = {t: prf(right[t], found[t], wanted[t]) for t in sorted(set(wanted) | set(found))}
    seen = [t for t in types if t in train_types]
    return {
        **{f"micro_{k}" if k != "support" else k: v for k, v in prf(sum(right.values()), sum(found.values()), sum(wanted.values())).items()},
        "macro_f1": round(statistics.mean(per_type[t]["f1"] for t in types), 4),
        "micro_f1_seen_types": prf(sum(right[t] for t in seen), sum(found.values()), sum(wanted[t] for t in seen))["f1"],
        "span_f1_type_ignored": prf(span_right, span_found, span_wanted)["f1"],
        "right_span_wrong_type": wrong_type,
        "boundary_errors": boundary,
        "per_type": per_type,
        "top_confusions": confusions.most_common(10),
    }


def span_checks(test: list[Example], raw: list[list[dict[str, Any]]]) -> dict[str, Any]:
    """Predicted entities whose offsets disagree with the text: value != slice, a boundary inside a
    word, or a span starting/ending on space or punctuation (up to 5 examples of each)."""
    counts: Counter[str] = Counter()
    examples: dict[str, list[Any]] = {}
    for example, items in zip(test, raw):
        t = example.text
        for d in items:
            a, b = d["start"], d["end"]
            problems = {"value_not_slice": d.get("value") != t[a:b],
                        "inside_word": (0 < a < len(t) and t[a - 1].isalnum() and t[a].isalnum())
                        or (0 < b < len(t) and t[b].isalnum() and t[b - 1].isalnum()),
                        "edge_not_alnum": b <= a or not t[a].isalnum() or not t[b - 1].isalnum()}
            for problem in (k for k, v in problems.items() if v):
                counts[problem] += 1
                if len(examples.setdefault(problem, [])) < 5:
                    examples[problem].append({"text": t, "start": a, "end": b, "slice": t[a:b], "value": d.get("value")})
    return {"predicted": sum(map(len, raw)), **counts, "examples": examples}


def markdown(report: dict[str, Any]) -> str:
    models = report["models"]
    names = list(models)
    lines = ["# Entities: Switchboard's token head against a CRF baseline", "",
             f"Data: `{report['data']}` ({report['train_rows']} train rows, {report['test_rows']} test rows, "
             f"{report['test_entities']} test entities). Machine: {report['machine']}; training threads {report['threads']}. "
             f"Command: `{report['command']}`.", "",
             "Exact span and type. Macro F1 averages the test's entity types; `seen types` leaves out the "
             f"test types train never annotates ({', '.join(report['unseen_test_types']) or 'none'}). Boundary "
             "errors: gold spans missed with the right type predicted on an overlapping span. In the confusions, "
             "`(none) -> X` is a prediction on no gold span (fragments of a gold span included).", "",
             f"What one turn alone cannot tell: SGD's entity types belong to one service each (check_in_date to the "
             f"hotels, visit_date to homes...), and a turn such as \"March 3rd, please\" names no service; the dialogue "
             f"before it does. The Switchboard rows read each turn alone, then with its intents' entity families, then "
             f"with its dialogue's earlier turns (below). {report.get('unseen_intent_type_pairs', '?')} of "
             f"the {report['test_entities']} test entities carry an (intent, type) pair train never shows. `span F1, "
             "type ignored` scores the spans alone, so its gap to micro F1 is what the types cost.", "",
             "| model | micro P | micro R | micro F1 | macro F1 | micro F1, seen types | span F1, type ignored | right span, wrong type | boundary errors | training (s) | parse p50 / p95 (ms) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, m in models.items():
        latency = f"{m['parse_ms_p50']} / {m['parse_ms_p95']}" if "parse_ms_p50" in m else "-"
        lines.append(f"| {name} | {m['micro_precision']:.4f} | {m['micro_recall']:.4f} | {m['micro_f1']:.4f} | "
                     f"{m['macro_f1']:.4f} | {m['micro_f1_seen_types']:.4f} | {m.get('span_f1_type_ignored', 0):.4f} | "
                     f"{m.get('right_span_wrong_type', '-')} | {m['boundary_errors']} | {m['train_seconds']} | {latency} |")
    sb = models[names[0]]
    lines += ["", f"Switchboard: fine-tuning {sb['fine_tune_seconds']} s of the {sb['train_seconds']} s, best epoch "
              f"{sb['best_epoch']}, {sb['entity_tags']} tags, dev entity F1 {sb['dev_entity_f1']}; intent accuracy "
              f"{sb['intent_accuracy']} (not a clean benchmark here, see PROVENANCE.md); served {sb['served']}. "
              "Parse: one `predict` of one message (intent, entities, sentiment).", "",
              "## Per type (F1, precision / recall)", "",
              "| type | support | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for t in sorted(set().union(*(m["per_type"] for m in models.values()))):
        cells = []
        for m in models.values():
            row = m["per_type"].get(t, {"f1": 0.0, "precision": 0.0, "recall": 0.0, "support": 0})
            cells.append(f"{row['f1']:.3f} ({row['precision']:.2f} / {row['recall']:.2f})")
        support = next(m["per_type"][t]["support"] for m in models.values() if t in m["per_type"])
        lines.append(f"| {t} | {support} | " + " | ".join(cells) + " |")
    for name, m in models.items():
        lines += ["", f"## Most frequent confusions: {name}", "", "| gold -> predicted | count |", "|---|---|"]
        lines += [f"| {pair} | {n} |" for pair, n in m["top_confusions"]]
    for key, how in (("by_service", "each turn alone"), ("by_service_context", "with the conversation")):
        by = report.get(key)
        if by:
            lines += ["", f"Switchboard ({how}) by whether its best intent names the turn's service (SGD intents are "
                      f"`Service.Intent`): right service: {by['right']['entities']} entities, micro F1 "
                      f"{by['right']['micro_f1']:.4f} (spans alone {by['right']['span_f1_type_ignored']:.4f}); wrong "
                      f"service: {by['wrong']['entities']} entities, micro F1 {by['wrong']['micro_f1']:.4f} (spans alone "
                      f"{by['wrong']['span_f1_type_ignored']:.4f})."]
    if report.get("family_grid"):
        lines += ["", "Entity families (bot/nlu/entity_context.py; "
                  f"{sb.get('families', '?')} learned from train: intents that share an entity type are one family). "
                  "`each turn alone`: the head types every span by itself, as Rasa's DIET does. `the turn's intents`: "
                  "the turn's intent probabilities, summed per family, weigh each family's types. `with the "
                  "conversation`: also the intents predicted for the dialogue's earlier test rows (what a live "
                  "conversation's tracker holds), with the prior `stay` that a turn keeps its conversation's family; "
                  "another family's types are weighed down to at least `floor` (0: masked). `strict` "
                  "(`nlu.entity_families: strict`): floor 0, and a span whose own type is masked takes another type "
                  "only if the head gives it at least a tenth of its own type's probability; else the span is dropped. "
                  "`Ceiling of the families`: strict, with each turn's own true intent as its conversation; no typing "
                  "by families does better with this head. Micro F1 over the grid (floor 0 is strict): "
                  + ", ".join(f"{k}: {v:.4f}" for k, v in report["family_grid"].items()) + "."]
    checks = report["span_checks"]
    lines += ["", f"Span checks on Switchboard's {checks['predicted']} predicted entities: value not the text slice "
              f"{checks.get('value_not_slice', 0)}, boundary inside a word {checks.get('inside_word', 0)}, starts or ends "
              f"on space/punctuation {checks.get('edge_not_alnum', 0)} (examples in entity.json).",
              "", f"Peak RSS of this benchmark process: {report['peak_rss_mb']} MB.", ""]
    return "\n".join(lines)
