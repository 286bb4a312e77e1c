"""The knowledge index at 100,000 entries: embedding and build time, search latency, HNSW recall.

Entries: Bitext qa_pairs + SGD banking pairs (train, dev, test), repeated with distinct ids and a
light deterministic paraphrase (seeded per entry: synonyms from a small table, politeness phrases
added or removed, casing and punctuation changed, and a distinct order / customer number so every
question text is distinct). 500 held-out queries are paraphrased the same way with numbers that are
not in the index. The questions are embedded with the bot's Encoder (batch 128; timed apart: it is
the expensive part), the index is built with the automatic kind (HNSW from 20,000 entries), and:
- search latency p50/p95 of single queries on precomputed vectors (FAISS alone, and through
  KnowledgeBase.search_vectors), and end to end with encoding (KnowledgeBase.search);
- recall@5 of the HNSW index against exact IndexFlatIP search on the same vectors;
- the process's peak RSS (getrusage maxrss) after building;
- a 5,000-question sample embedded with 1 and with 2 torch threads, side by side.
Writes OUT/knowledge_scale.json and OUT/knowledge_scale.md. Measures only; asserts nothing."""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from knowledge.base import Entry  # noqa: E402

DATA = Path(os.environ.get("SWITCHBOARD_SHARED_DATA", REPO.parent / "shared" / "data"))
HELD_OUT = 500
SAMPLE = 5000
TARGETS = {"build_seconds": 300.0, "search_ms_p50": 2.0, "recall_at_5": 0.95}
SYNONYMS = {
    "order": "purchase", "purchase": "order", "cancel": "call off", "help": "assist", "want": "would like",
    "need": "have to", "refund": "reimbursement", "account": "profile", "check": "look at", "problem": "issue",
    "issue": "problem", "address": "location", "money": "funds", "send": "transfer", "transfer": "send",
    "balance": "available balance", "change": "modify", "modify": "change",
    "get": "obtain", "know": "find out", "delivery": "shipping", "shipping": "delivery", "invoice": "bill",
    "bill": "invoice", "agent": "representative", "show": "tell", "see": "view", "can": "could",
}
OPENERS = ["", "", "hi, ", "hello, ", "hey, ", "good morning, ", "excuse me, ", "sorry to bother you, "]
CLOSERS = ["", "", " please", ", thanks", ", thank you", " thanks a lot", " asap"]
NUMBERS = [" (order #{n})", " - customer no. C{n}", " ref {n}", " [account {n}]", " for order NW-{n}"]
POLITE = re.compile(r"^(hi|hello|hey)[,!]?\s+|\s*,?\s*(please|thanks|thank you)[.!?]?$", re.IGNORECASE)


def base_pairs() -> list[tuple[str, str, str | None]]:
    rows = []
    files = [DATA / "bitext" / "qa_pairs.jsonl"]
    files += [DATA / "sgd_banking" / f"{split}.jsonl" for split in ("train", "dev", "test")]
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                rows.append((row["question"].strip(), row["answer"].strip(), row.get("intent")))
    return rows


def paraphrase(question: str, rng: random.Random, number: int) -> str:
    text = POLITE.sub("", question).strip() or question
    words = text.split()
    for i, word in enumerate(words):
        key = word.lower().strip("?.!,")
        if key in SYNONYMS and rng.random() < 0.35:
            words[i] = word.lower().replace(key, SYNONYMS[key])
    text = " ".join(words).rstrip("?.! ")
    text = rng.choice(OPENERS) + text + rng.choice(NUMBERS).format(n=number) + rng.choice(CLOSERS)
    style = rng.random()
    text = text.lower() if style < 0.4 else text[:1].upper() + text[1:] if style < 0.8 else text
    return text + rng.choice(["?", "", ".", "?", "!"])


def make_entries(n: int, seed: int) -> tuple[list[Entry], list[str]]:
    pairs = base_pairs()
    entries = []
    for i in range(n):
        question, answer, intent = pairs[i % len(pairs)]
        text = paraphrase(question, random.Random(seed * 1_000_003 + i), 10_000_000 + i)
        entries.append(Entry(f"scale-{i}", text, answer, intent))
    picker = random.Random(seed - 1)
    queries = [paraphrase(pairs[picker.randrange(len(pairs))][0], random.Random(-seed - j), 90_000_000 + j)
               for j in range(HELD_OUT)]
    return entries, queries


def timed(fn: Callable[[int], object], count: int) -> dict[str, float]:
    fn(0)
    samples = []
    for i in range(count):
        started = time.perf_counter()
        fn(i)
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {"p50": round(statistics.median(samples), 3), "p95": round(samples[int(0.95 * len(samples))], 3),
            "mean": round(statistics.fmean(samples), 3)}


def thread_sample(encoder: Any, texts: list[str]) -> dict[str, Any]:
    """Embed the same texts with 1 and then 2 torch threads (one model, threads switched in between)."""
    import torch

    result: dict[str, Any] = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        started = time.perf_counter()
        encoder.encode(texts)
        seconds = time.perf_counter() - started
        result["size"] = len(texts)
        result[f"threads_{threads}"] = {"seconds": round(seconds, 2), "per_second": round(len(texts) / seconds, 1)}
        print(f"  {len(texts)} questions with {threads} thread(s): {seconds:.1f} s", flush=True)
    return result


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def markdown(r: dict[str, Any]) -> str:
    t, s = r["targets"], r["threads_sample"]
    lines = [
        f"# Knowledge index at {r['entries']:,} entries ({r['kind']})", "",
        f"{r['machine']}; encoder {r['encoder']}, {r['threads']} torch thread(s), batch {r['batch_size']}.", "",
        "| measure | value | target |", "|---|---|---|",
        f"| embed {r['entries']:,} questions | {r['embed_seconds']:.1f} s ({r['embed_per_second']:.0f}/s) | |",
        f"| index build ({r['kind']}, vectors given) | {r['index_seconds']:.1f} s | |",
        f"| build total (embed + index) | {r['build_seconds']:.1f} s | <= {t['build_seconds']:.0f} s "
        f"{'met' if r['build_seconds'] <= t['build_seconds'] else 'MISSED'} |",
        f"| search p50 / p95, FAISS only | {r['faiss_ms']['p50']:.3f} / {r['faiss_ms']['p95']:.3f} ms | |",
        f"| search p50 / p95, KnowledgeBase.search_vectors | {r['search_ms']['p50']:.3f} / {r['search_ms']['p95']:.3f}"
        f" ms | p50 <= {t['search_ms_p50']} ms {'met' if r['search_ms']['p50'] <= t['search_ms_p50'] else 'MISSED'} |",
        f"| end to end (encode + search) p50 / p95 | {r['end_to_end_ms']['p50']:.2f} / "
        f"{r['end_to_end_ms']['p95']:.2f} ms | |",
        f"| recall@5, HNSW vs exact | {r['recall_at_5']:.4f} | >= {t['recall_at_5']} "
        f"{'met' if r['recall_at_5'] >= t['recall_at_5'] else 'MISSED'} |",
        f"| peak RSS after build | {r['peak_rss_mb_after_build']:.0f} MB | |",
        f"| re-index after {r['incremental_rebuild']['changed_questions']:,} changed questions "
        f"(reusing the saved vectors) | {r['incremental_rebuild']['rebuild_seconds']:.1f} s | |", "",
        f"Embedding a {r['threads_sample']['size']:,}-question sample: 1 thread {s['threads_1']['seconds']} s "
        f"({s['threads_1']['per_second']}/s), 2 threads {s['threads_2']['seconds']} s "
        f"({s['threads_2']['per_second']}/s).",
        f"Latencies over {r['queries']} held-out queries, one at a time. Run at {r['time']}.",
    ]
    return "\n".join(lines) + "\n"


def incremental_rebuild(kb: Any, encoder: Any, *, changed: int) -> dict[str, Any]:
    """Save the build, change `changed` questions, and rebuild the way `switchboard index`
    does (training.project.embed_questions reuses the saved vectors): the re-index cost."""
    import tempfile

    from knowledge.index import KnowledgeBase
    from training.project import embed_questions

    with tempfile.TemporaryDirectory(prefix="sb-scale-") as tmp:
        started = time.perf_counter()
        kb.save(Path(tmp) / "index")
        save_s = time.perf_counter() - started
        questions = [e.question for e in kb.entries]
        for i in range(0, len(questions), max(1, len(questions) // changed)):
            questions[i] = questions[i] + " (asked again)"
        started = time.perf_counter()
        vectors, embedded = embed_questions(questions, encoder, previous=Path(tmp) / "index")
        embed_s = time.perf_counter() - started
        started = time.perf_counter()
        KnowledgeBase.build(kb.entries, encoder, data_hash="rebuild", vectors=vectors)
        index_s = time.perf_counter() - started
    return {"changed_questions": embedded, "save_seconds": round(save_s, 2),
            "load_and_embed_seconds": round(embed_s, 2), "index_seconds": round(index_s, 2),
            "rebuild_seconds": round(embed_s + index_s, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--out", default=str(REPO / "bench" / "results"))
    parser.add_argument("--threads", type=int, default=2, help="torch threads for the full embedding")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--batch", type=int, default=128, help="encoder batch size")
    args = parser.parse_args()
    import faiss
    import torch

    from bot.nlu.encoder import ENCODER_NAME, Encoder
    from knowledge.index import KnowledgeBase

    batch = args.batch
    entries, queries = make_entries(args.n, args.seed)
    questions = [e.question for e in entries]
    assert len(set(questions)) == len(questions), "paraphrased questions must be distinct"
    print(f"{len(entries):,} entries from {len(base_pairs()):,} base pairs; e.g. {questions[0]!r}, {queries[0]!r}")
    encoder = Encoder(threads=args.threads, batch_size=batch)
    encoder.warm_up()
    sample = thread_sample(encoder, questions[:: max(1, len(questions) // SAMPLE)][:SAMPLE])
    torch.set_num_threads(args.threads)

    started = time.perf_counter()
    vectors = encoder.encode(questions, progress=True)
    embed_s = time.perf_counter() - started
    print(f"embedded {len(questions):,} in {embed_s:.1f} s", flush=True)
    started = time.perf_counter()
    kb = KnowledgeBase.build(entries, encoder, data_hash=f"scale-{args.n}-{args.seed}", vectors=vectors)
    index_s = time.perf_counter() - started
    rss = peak_rss_mb()
    print(f"{kb.manifest['kind']} index built in {index_s:.1f} s; peak RSS {rss:.0f} MB", flush=True)

    query_vectors = encoder.encode(queries)
    faiss_ms = timed(lambda i: kb.index.search(query_vectors[i:i + 1], 5), len(queries))
    search_ms = timed(lambda i: kb.search_vectors(query_vectors[i:i + 1], 5), len(queries))
    end_to_end_ms = timed(lambda i: kb.search(queries[i], 5), len(queries))
    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    _, truth = exact.search(query_vectors, 5)
    _, found = kb.index.search(query_vectors, 5)
    recall = float(np.mean([len(set(t) & set(f)) / 5 for t, f in zip(truth, found)]))
    rebuild = incremental_rebuild(kb, encoder, changed=len(entries) // 100)
    report = {
        "entries": len(entries), "queries": len(queries), "kind": kb.manifest["kind"], "encoder": ENCODER_NAME,
        "threads": args.threads, "batch_size": batch, "embed_seconds": round(embed_s, 2),
        "embed_per_second": round(len(questions) / embed_s, 1), "index_seconds": round(index_s, 2),
        "build_seconds": round(embed_s + index_s, 2), "faiss_ms": faiss_ms, "search_ms": search_ms,
        "end_to_end_ms": end_to_end_ms, "recall_at_5": round(recall, 4), "peak_rss_mb_after_build": rss,
        "incremental_rebuild": rebuild,
        "threads_sample": sample, "targets": TARGETS, "faiss_omp_threads": faiss.omp_get_max_threads(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "knowledge_scale.json").write_text(json.dumps(report, indent=2))
    (out / "knowledge_scale.md").write_text(markdown(report))
    print(markdown(report))
    print(f"incremental rebuild: {json.dumps(rebuild)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
