"""Entity extraction on ../shared/data/sgd_entities (SGD user turns, 10 services; see its
PROVENANCE.md): Switchboard's fine-tuned model against a CRF baseline, side by side in one run.

- Switchboard: `train_nlu` on the train split (intent = the row's intent, spans from its entities;
  the airline train split as sentiment data, as `switchboard train` would have it), served as the
  bot serves it (`TransformerClassifier`, int8, one torch thread), entities from `predict`; once for
  each turn alone, and once with its conversation: the intents predicted for the earlier turns of
  its dialogue (test rows carry dialogue ids and turn numbers) as `predict`'s context, which
  chooses the entity family (bot/nlu/entity_context.py), at several priors `stay`.
- CRF: sklearn-crfsuite with the features of Rasa's old CRFEntityExtractor (per token: lowercased
  word, 2-3 character prefixes and suffixes, title/upper/digit, word shape, position; the same for
  the previous and next token), BILOU labels, on a regex tokenizer with character offsets.

Measures, on the test split: micro precision/recall/F1 and macro F1 over the test's entity types
(exact span and type), the same micro F1 without the types train never annotates, per-type P/R/F1,
the 10 most frequent confusions (gold -> predicted type on the same span; `(none)` for a missed or
spurious span), span checks (predicted value != text slice, a boundary inside a word, a span that
starts or ends on space or punctuation, a wrong boundary on the right type), training wall time,
and for Switchboard the whole parse (`predict` of one message: intent, entities and sentiment)
p50/p95 over 200 single test messages. Measures only; nothing asserts on the numbers.

    python bench/entity_bench.py --out bench/results [--max-train 2000] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see bench/nlu_bench.py

from bot.nlu.entity_context import FLOOR, STAY  # noqa: E402
from bot.nlu.tagging import Span  # noqa: E402
from training.data import Example, NLUData, load_csv  # noqa: E402
from nlu_bench import latency_ms  # noqa: E402  (bench/ is on sys.path when a bench script runs)

SpanKey = tuple[int, int, str]  # (start, end, entity)
NONE = "(none)"
# (stay, floor, with the conversation): the defaults on the turn alone, then a grid with the conversation
FAMILY_RUNS = [(STAY, FLOOR, False)] + [(stay, floor, True) for stay in (0.5, 0.9, 0.97) for floor in (0.0, 0.05, 0.2)]
TOKEN = re.compile(r"\w+|[^\w\s]")


def load(path: Path) -> list[Example]:
    examples = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        spans = tuple(Span(e["start"], e["end"], e["entity"], e["value"]) for e in row["entities"])
        examples.append(Example(row["text"], row["intent"], tuple((s.entity, s.value) for s in spans), spans))
    return examples


def earlier_turns(path: Path) -> list[list[int]]:
    """For each row, the rows of the same dialogue with a lower turn number, in turn order: what
    a live conversation has seen before this message."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    by_dialogue: dict[str, list[tuple[int, int]]] = {}
    for i, row in enumerate(rows):
        by_dialogue.setdefault(row["dialogue_id"], []).append((row["turn"], i))
    return [[j for turn, j in sorted(by_dialogue[row["dialogue_id"]]) if turn < row["turn"]] for row in rows]


# --- CRF baseline ---------------------------------------------------------------------------

def tokens(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in TOKEN.finditer(text)]


def shape(word: str) -> str:
    """Paris -> Xx, 1990 -> d, B2 -> Xd (runs of one kind collapsed)."""
    mapped = "".join("d" if c.isdigit() else "X" if c.isupper() else "x" if c.isalpha() else c for c in word)
    return re.sub(r"(.)\1+", r"\1", mapped)


def word_features(word: str, prefix: str) -> dict[str, Any]:
    return {f"{prefix}low": word.lower(), f"{prefix}pre2": word[:2].lower(), f"{prefix}pre3": word[:3].lower(),
            f"{prefix}suf2": word[-2:].lower(), f"{prefix}suf3": word[-3:].lower(), f"{prefix}title": word.istitle(),
            f"{prefix}upper": word.isupper(), f"{prefix}digit": word.isdigit(), f"{prefix}shape": shape(word)}


def sentence_features(text: str, pieces: list[tuple[int, int]]) -> list[dict[str, Any]]:
    words = [text[a:b] for a, b in pieces]
    out = []
    for i, word in enumerate(words):
        features: dict[str, Any] = {"bias": 1.0, "BOS": i == 0, "EOS": i == len(words) - 1, **word_features(word, "")}
        if i > 0:
            features.update(word_features(words[i - 1], "-1:"))
        if i + 1 < len(words):
            features.update(word_features(words[i + 1], "+1:"))
        out.append(features)
    return out


def bilou(pieces: list[tuple[int, int]], spans: Sequence[Span]) -> list[str]:
    labels = ["O"] * len(pieces)
    for span in spans:
        inside = [i for i, (a, b) in enumerate(pieces) if a < span.end and b > span.start]
        if len(inside) == 1:
            labels[inside[0]] = f"U-{span.entity}"
        elif inside:
            labels[inside[0]] = f"B-{span.entity}"
            labels[inside[-1]] = f"L-{span.entity}"
            for i in inside[1:-1]:
                labels[i] = f"I-{span.entity}"
    return labels


def spans_of(pieces: list[tuple[int, int]], labels: Sequence[str]) -> set[SpanKey]:
    """Greedy and lenient BILOU decoding (an I- or L- without its B- starts a span)."""
    found: set[SpanKey] = set()
    current: list[Any] | None = None
    for (a, b), label in zip(pieces, labels):
        prefix, _, entity = label.partition("-")
        if current is not None and current[2] == entity and prefix in ("I", "L"):
            current[1] = b
        else:
            if current is not None:
                found.add(tuple(current))  # type: ignore[arg-type]
            current = [a, b, entity] if label != "O" else None
        if current is not None and prefix in ("L", "U"):
            found.add(tuple(current))  # type: ignore[arg-type]
            current = None
    if current is not None:
        found.add(tuple(current))  # type: ignore[arg-type]
    return found


def crf_baseline(train: list[Example], test: list[Example]) -> tuple[list[set[SpanKey]], float, dict[str, Any]]:
    import sklearn_crfsuite

    started = time.perf_counter()
    pieces = [tokens(e.text) for e in train]
    crf = sklearn_crfsuite.CRF(algorithm="lbfgs", c1=0.1, c2=0.1, max_iterations=50)  # Rasa's defaults
    crf.fit([sentence_features(e.text, p) for e, p in zip(train, pieces)], [bilou(p, e.spans) for e, p in zip(train, pieces)])
    seconds = time.perf_counter() - started
    test_pieces = [tokens(e.text) for e in test]
    labels = crf.predict([sentence_features(e.text, p) for e, p in zip(test, test_pieces)])
    aligned = sum(any(a == s.start for a, _ in p) and any(b == s.end for _, b in p)
                  for e, p in zip(test, test_pieces) for s in e.spans)
    extra = {"tokenizer": TOKEN.pattern, "features": "Rasa CRFEntityExtractor-like, window 1",
             "c1": 0.1, "c2": 0.1, "max_iterations": 50,
             "test_spans_on_token_boundaries": round(aligned / max(1, sum(len(e.spans) for e in test)), 4)}
    return [spans_of(p, y) for p, y in zip(test_pieces, labels)], seconds, extra


# --- Switchboard ----------------------------------------------------------------------------

def switchboard(train: list[Example], test: list[Example], sentiment: list[Example], model_dir: Path,
                threads: int, before: list[list[int]], reuse: bool = False,
                ) -> tuple[list[set[SpanKey]], float, dict[str, Any], list[list[dict[str, Any]]]]:
    from bot.domain import FALLBACK_INTENT
    from bot.nlu.transformer import TransformerClassifier, read_meta
    from training.finetune import FineTuneConfig
    from training.nlu import train_nlu

    if reuse and (model_dir / "meta.json").exists():  # timed when it was trained
        m = read_meta(model_dir)["metrics"]
        seconds = m["train_seconds"]
    else:
        started = time.perf_counter()
        m = train_nlu(NLUData(list(train)), model_dir, data_hash="entity-bench", progress=False,
                      sentiment=NLUData(list(sentiment)) if sentiment else None,
                      config=FineTuneConfig(threads=threads)).metrics
        seconds = time.perf_counter() - started
    model = TransformerClassifier(model_dir, threads=1, quantize="int8")
    texts = [e.text for e in test]
    model.context_floor = 1.0  # no family bias: the head alone types each turn, as before families
    predictions = model.predict(texts)
    raw = [[dict(d) for d in p.entities] for p in predictions]
    extra = {"fine_tune_seconds": m.get("fine_tune_seconds"), "best_epoch": m.get("best_epoch"),
             "entity_tags": m.get("entity_tags"), "dev_entity_f1": round(m.get("dev_entity_f1") or 0.0, 4),
             "intent_accuracy": round(sum(p.intent == e.label for p, e in zip(predictions, test)) / len(test), 4),
             "served": "int8, 1 torch thread"}
    singles = random.Random(13).sample(texts, min(200, len(test)))
    for text in singles[:10]:  # warm-up
        model.predict([text])
    timed = latency_ms(lambda t: model.predict([t]), singles)  # bench/nlu_bench.py's
    extra.update(parse_ms_p50=timed["latency_ms_p50"], parse_ms_p95=timed["latency_ms_p95"])
    # SGD's intents are `Service.Intent`: the service of the best intent, out of scope or not
    extra["predicted_services"] = [next((i for i, _ in p.ranking if i != FALLBACK_INTENT), "").split(".")[0]
                                   for p in predictions]
    # entity families (bot/nlu/entity_context.py): the turn's intents alone, then with the intents
    # predicted for its dialogue's earlier turns; the intents themselves do not change
    contexts = [[predictions[j].intent for j in rows] for rows in before]
    extra["families"] = len(model.families.labels)
    runs: dict[tuple[float, float, bool], list[set[SpanKey]]] = {}
    for stay, floor, with_context in FAMILY_RUNS:
        model.context_stay, model.context_floor = stay, floor
        runs[(stay, floor, with_context)] = [{(d["start"], d["end"], d["entity"]) for d in p.entities}
                                             for p in model.predict(texts, contexts if with_context else None)]
    model.context_stay, model.context_floor = STAY, FLOOR
    context_of = dict(zip(texts, contexts))
    timed = latency_ms(lambda t: model.predict([t], [context_of[t]]), singles)
    extra.update(family_runs=runs, context_parse_ms=(timed["latency_ms_p50"], timed["latency_ms_p95"]))
    return [{(d["start"], d["end"], d["entity"]) for d in r} for r in raw], seconds, extra, raw


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
                  "another family's types are weighed down to at least `floor` (0: masked). Micro F1 over the grid: "
                  + ", ".join(f"{k}: {v:.4f}" for k, v in report["family_grid"].items()) + "."]
    checks = report["span_checks"]
    lines += ["", f"Span checks on Switchboard's {checks['predicted']} predicted entities: value not the text slice "
              f"{checks.get('value_not_slice', 0)}, boundary inside a word {checks.get('inside_word', 0)}, starts or ends "
              f"on space/punctuation {checks.get('edge_not_alnum', 0)} (examples in entity.json).",
              "", f"Peak RSS of this benchmark process: {report['peak_rss_mb']} MB.", ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "sgd_entities"))
    parser.add_argument("--sentiment", default=str(REPO.parent / "shared" / "data" / "airline_sentiment" / "train.csv"),
                        help="sentiment CSV for the sentiment head ('' for none)")
    parser.add_argument("--out", default=str(REPO / "bench" / "results"))
    parser.add_argument("--max-train", type=int, help="a seeded sample of this many train rows (and sentiment rows)")
    parser.add_argument("--threads", type=int, default=min(4, os.cpu_count() or 1))
    parser.add_argument("--reuse-model", action="store_true",
                        help="score the model already in OUT/.models/entity (its training time from its meta.json)")
    args = parser.parse_args()
    data, out = Path(args.data), Path(args.out)
    if not (data / "train.jsonl").exists():
        print(f"no sgd_entities under {data}", file=sys.stderr)
        return 2
    train, test = load(data / "train.jsonl"), load(data / "test.jsonl")
    sentiment = load_csv(Path(args.sentiment)).examples if args.sentiment else []
    if args.max_train:
        train = random.Random(13).sample(train, min(args.max_train, len(train)))
        sentiment = random.Random(13).sample(sentiment, min(args.max_train, len(sentiment)))
    train_types = {s.entity for e in train for s in e.spans}
    pairs = {(e.label, s.entity) for e in train for s in e.spans}
    report: dict[str, Any] = {
        "data": str(data), "train_rows": len(train), "test_rows": len(test), "sentiment_rows": len(sentiment),
        "test_entities": sum(len(e.spans) for e in test), "machine": f"{os.cpu_count()} cores", "threads": args.threads,
        "command": "python bench/entity_bench.py " + " ".join(sys.argv[1:]), "seed": 13,
        "unseen_test_types": sorted({s.entity for e in test for s in e.spans} - train_types),
        "unseen_intent_type_pairs": sum((e.label, s.entity) not in pairs for e in test for s in e.spans), "models": {}}
    print(f"switchboard: train_nlu on {len(train)} rows", flush=True)
    predicted, seconds, extra, raw = switchboard(train, test, sentiment, out / ".models" / "entity", args.threads,
                                              earlier_turns(data / "test.jsonl"), reuse=args.reuse_model)
    services, runs = extra.pop("predicted_services"), extra.pop("family_runs")
    p50, p95 = extra.pop("context_parse_ms")
    ours = {"Switchboard, each turn alone": (predicted, extra),
            "Switchboard, the turn's intents weigh the families": (runs[(STAY, FLOOR, False)], {}),
            f"Switchboard, with the conversation (stay {STAY}, floor {FLOOR})":
                (runs[(STAY, FLOOR, True)], {"parse_ms_p50": p50, "parse_ms_p95": p95})}
    for name, (got, more) in ours.items():
        report["models"][name] = {**score(test, got, train_types), "train_seconds": round(seconds, 1), **more}
    report["family_grid"] = {f"stay {stay}, floor {floor}": score(test, got, train_types)["micro_f1"]
                             for (stay, floor, with_context), got in runs.items() if with_context}
    report["span_checks"] = span_checks(test, raw)
    for key, got in (("by_service", predicted), ("by_service_context", runs[(STAY, FLOOR, True)])):
        for side, keep in (("right", True), ("wrong", False)):
            rows = [i for i, e in enumerate(test) if (services[i] == e.label.split(".")[0]) == keep]
            part = score([test[i] for i in rows], [got[i] for i in rows], train_types)
            report.setdefault(key, {})[side] = {"turns": len(rows), "entities": part["support"], "micro_f1": part["micro_f1"],
                                                "span_f1_type_ignored": part["span_f1_type_ignored"]}
    print("CRF baseline", flush=True)
    predicted, seconds, extra = crf_baseline(train, test)
    report["models"]["CRF (sklearn-crfsuite, Rasa-style features)"] = {
        **score(test, predicted, train_types), "train_seconds": round(seconds, 1), **extra}
    report["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    out.mkdir(parents=True, exist_ok=True)
    (out / "entity.json").write_text(json.dumps(report, indent=2))
    (out / "entity.md").write_text(markdown(report))
    for name, m in report["models"].items():
        print(f"{name}: micro F1 {m['micro_f1']} macro F1 {m['macro_f1']} train {m['train_seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
