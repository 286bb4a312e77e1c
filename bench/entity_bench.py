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
p50/p95 over 200 single test messages. Measures only; nothing asserts on the numbers. The scoring
and the markdown report: bench/entity_report.py.

    python bench/entity_bench.py --out bench/results [--max-train 2000] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import sys
import time
from pathlib import Path
from typing import Any, Sequence

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see bench/nlu_bench.py

from bot.nlu.entity_context import FLOOR, STAY  # noqa: E402
from bot.nlu.tagging import Span  # noqa: E402
from training.data import Example, NLUData, load_csv  # noqa: E402
from entity_report import SpanKey, markdown, score, span_checks  # noqa: E402  (bench/ is on sys.path)
from nlu_bench import latency_ms  # noqa: E402

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
    model.context_floor = None  # `nlu.entity_families: off`: the head alone types each turn, as Rasa's DIET
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
    # a ceiling for any typing by families: strict, each turn told its own true intent
    model.context_stay, model.context_floor = 0.9999, 0.0
    extra["ceiling_run"] = [{(d["start"], d["end"], d["entity"]) for d in p.entities}
                            for p in model.predict(texts, [[e.label] for e in test])]
    model.context_stay, model.context_floor = STAY, FLOOR
    context_of = dict(zip(texts, contexts))
    timed = latency_ms(lambda t: model.predict([t], [context_of[t]]), singles)
    extra.update(family_runs=runs, context_parse_ms=(timed["latency_ms_p50"], timed["latency_ms_p95"]))
    return [{(d["start"], d["end"], d["entity"]) for d in r} for r in raw], seconds, extra, raw


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
                (runs[(STAY, FLOOR, True)], {"parse_ms_p50": p50, "parse_ms_p95": p95}),
            f"Switchboard, with the conversation, strict (stay {STAY}, floor 0)": (runs[(STAY, 0.0, True)], {}),
            "Ceiling of the families: strict, each turn told its true intent": (extra.pop("ceiling_run"), {})}
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
