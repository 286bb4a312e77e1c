"""Train a bot project: the NLU model and the knowledge index, each skipped when its data
hash is unchanged. Artifacts land in <project>/.switchboard/models/."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from typing import TYPE_CHECKING, Callable

from bot.nlu.encoder import Encoder
from bot.settings import Settings
from training.data import Example, files_hash, load_csv, load_nlu

if TYPE_CHECKING:
    import numpy as np

    from bot.nlu.pipeline import NLUPipeline
    from knowledge.index import KnowledgeBase
    from training.foreign import ForeignText
    from training.incremental import Incremental

log = logging.getLogger(__name__)
NLU_RECIPE = "transformer-1:lp-ft:min-epochs:logs-class:foreign-text:crf-patterns:shapes"
HYBRID_WEIGHTS = (1.0, 0.9, 0.85, 0.8, 0.7)  # weight of the cosine against normalised BM25
CALIBRATION_SAMPLE = 3000


@dataclass
class StepReport:
    name: str
    trained: bool
    data_hash: str
    detail: str


def project_files(settings: Settings) -> dict[str, list[Path]]:
    data = settings.data_dir
    nlu = sorted(p for p in data.glob("nlu*.yml")) + sorted(data.glob("nlu/*.yml"))
    logs = sorted(p for p in data.glob("support_logs*") if p.suffix in (".jsonl", ".csv"))
    sentiment = [p for p in [data / "sentiment.csv"] if p.exists()]
    return {"nlu": nlu, "logs": logs, "sentiment": sentiment}


def foreign_inputs(settings: Settings) -> list[Path]:
    """The files the foreign text comes from: the shipped corpus and the project's own."""
    from training.foreign import CORPUS_DIR, project_files as own_files

    excluded = set(settings.calibration.exclude_topics)
    return [p for p in sorted(CORPUS_DIR.glob("*.txt")) if p.stem not in excluded] + own_files(settings.data_dir)


def load_project_foreign(settings: Settings, encoder: Encoder) -> "ForeignText":
    from knowledge.ingest import load_logs
    from training.foreign import load_foreign

    files = project_files(settings)
    own = [e.text for e in load_nlu(files["nlu"]).examples] if files["nlu"] else []
    own += [e.question for e in load_logs(files["logs"])] if files["logs"] else []
    return load_foreign(own, encoder, data_dir=settings.data_dir, exclude_topics=settings.calibration.exclude_topics)


def nlu_examples(settings: Settings, foreign: "ForeignText") -> tuple[list[Example], list[Example]]:
    """The NLU model's training examples and its dev slice, exactly as train_nlu draws them."""
    from knowledge.ingest import load_logs
    from training.finetune import stratified_split
    from training.nlu import intent_examples

    files = project_files(settings)
    config = settings.fine_tune_config()
    questions = [e.question for e in load_logs(files["logs"])] if files["logs"] else []
    examples = intent_examples(load_nlu(files["nlu"]), questions, foreign.train, config.seed)
    return examples, stratified_split(examples, config.dev_fraction, config.seed)[1]


def project_pipeline(settings: Settings) -> "NLUPipeline":
    """What the project's config.yml asks of the NLU model (Rasa's default pipeline without one)."""
    from bot.dialogue.config import read_config
    from bot.nlu.pipeline import nlu_pipeline

    return nlu_pipeline(read_config(settings.project))


def train_nlu_step(settings: Settings, foreign: "Callable[[], ForeignText]", *, force: bool = False,
                   progress: bool = True, incremental: "Incremental | None" = None) -> StepReport:
    """The NLU model, trained (or fine-tuned from `incremental`'s model) unless its data hash is unchanged."""
    from knowledge.ingest import load_logs
    from training.foreign import MAX_TRAIN
    from training.nlu import MAX_FOREIGN_EXAMPLES, MAX_KNOWLEDGE_EXAMPLES, stored_hash, train_nlu

    files = project_files(settings)
    if not files["nlu"]:
        raise FileNotFoundError(f"no NLU data: expected {settings.data_dir}/nlu.yml")
    config = settings.fine_tune_config()
    pipeline = project_pipeline(settings)
    inputs = files["nlu"] + files["logs"] + files["sentiment"] + foreign_inputs(settings)
    data_hash = files_hash(inputs, NLU_RECIPE, json.dumps(config.as_dict(), sort_keys=True),
                           json.dumps(pipeline.as_dict(), sort_keys=True),
                           f"{MAX_KNOWLEDGE_EXAMPLES}:{MAX_FOREIGN_EXAMPLES}:{MAX_TRAIN}")
    if not force and stored_hash(settings.nlu_model_dir) == data_hash:
        return StepReport("nlu", False, data_hash, "unchanged data: kept the trained model")
    nlu = load_nlu(files["nlu"])
    questions = [e.question for e in load_logs(files["logs"])] if files["logs"] else []
    sentiment = load_csv(files["sentiment"][0]) if files["sentiment"] else None
    outside = foreign()
    result = train_nlu(nlu, settings.nlu_model_dir, data_hash=data_hash, sentiment=sentiment,
                       knowledge_questions=questions, foreign=outside.train, config=config, progress=progress,
                       pipeline=pipeline, incremental=incremental)
    for warning in result.warnings:
        log.warning("%s", warning)
    m = result.metrics
    detail = (f"{m['examples']} examples ({m['foreign_examples']} foreign), {m['intents']} intents, "
              f"best epoch {m['best_epoch']}")
    if incremental is not None:
        detail = f"fine-tuned from {incremental.base} for {m['epochs']} epoch(s): {detail}"
    if "dev_intent_accuracy" in m:
        detail += f", dev accuracy {m['dev_intent_accuracy']:.3f}"
    return StepReport("nlu", True, data_hash, f"{detail} in {result.seconds:.0f}s")


def build_index_step(
    settings: Settings, encoder: Encoder, *, logs: list[Path] | None = None, out: Path | None = None,
    force: bool = False,
) -> StepReport:
    from knowledge.dedup import drop_near
    from knowledge.index import FORMAT_VERSION, KnowledgeBase, stored_hash
    from knowledge.ingest import ingest

    paths = logs if logs is not None else project_files(settings)["logs"]
    out_dir = out or settings.knowledge_dir
    data_hash = files_hash(paths, FORMAT_VERSION, encoder.name)
    if not force and stored_hash(out_dir) == data_hash:
        return StepReport("index", False, data_hash, "unchanged logs: kept the index")
    result = ingest(paths)
    vectors, embedded = embed_questions([e.question for e in result.entries], encoder, previous=out_dir)
    entries, vectors, near = drop_near(result.entries, vectors)
    stats = {**result.stats, "near_duplicates": near, "questions_embedded": embedded}
    index = KnowledgeBase.build(entries, encoder, data_hash=data_hash, vectors=vectors, stats=stats)
    calibrated = calibrate(index, vectors)
    if calibrated is not None:
        index.manifest["threshold"], index.manifest["hybrid_weight"] = calibrated
        index.manifest["threshold_method"] = (
            "leave-one-out on the indexed entries: hybrid weight by same-intent@1, then the lowest "
            "threshold with wrong answers <= 2 %"
        )
    index.save(out_dir)
    dropped = f"{stats.get('exact_duplicates', 0)} exact and {near} near duplicates dropped"
    return StepReport("index", True, data_hash, f"{len(entries)} entries indexed ({index.manifest['kind']}), {dropped}")


def embed_questions(questions: list[str], encoder: Encoder, *, previous: Path) -> tuple["np.ndarray", int]:
    """Vectors for `questions`: each distinct text embedded once, and texts that the previous
    build at `previous` already embedded (same encoder) reused, so a re-index after a small
    change costs seconds, not the full embedding pass. Returns the vectors and how many texts
    were embedded this time."""
    import numpy as np

    from bot.errors import ConfigError
    from knowledge.index import KnowledgeBase

    known: dict[str, np.ndarray] = {}
    try:
        old = KnowledgeBase.load(previous, encoder)
        if old.manifest.get("encoder") == encoder.name:
            known = old.vectors_by_question()
    except (ConfigError, OSError, ValueError):
        pass  # no usable previous build: embed everything
    todo = sorted({q for q in questions if q not in known})
    if todo:
        known.update(zip(todo, encoder.encode(todo, progress=len(todo) > 5000)))
    dim = len(next(iter(known.values()))) if known else 384
    vectors = np.stack([known[q] for q in questions]) if questions else np.zeros((0, dim), np.float32)
    return vectors.astype(np.float32), len(todo)


def calibrate(index: "KnowledgeBase", vectors: "np.ndarray") -> tuple[float, float | None] | None:
    """Retrieval settings from the logs themselves, when they carry intents that repeat: each
    entry asks the index (itself left out) and its top hit is right when the intents match.
    Picks the hybrid weight (1.0 = dense only) with the best same-intent@1, then the lowest
    threshold with <= 2 % wrong answers. Logs whose intents are one-off topics: None."""
    from collections import Counter

    import numpy as np

    from training.evaluate_retrieval import _top, leave_one_out_hits, lowest_threshold, rankings_of

    entries = index.entries
    counts = Counter(e.intent for e in entries if e.intent)
    if len(entries) < 50 or sum(n for n in counts.values() if n > 1) < 0.8 * len(entries):
        return None
    picked = np.random.default_rng(13).permutation(len(entries))[:CALIBRATION_SAMPLE]
    sample = [entries[i] for i in picked]
    questions, intents, ids = [e.question for e in sample], [e.intent or "" for e in sample], [e.id for e in sample]
    best: tuple[float, float, float | None] | None = None  # (same@1, threshold, weight)
    for weight in HYBRID_WEIGHTS:
        index.hybrid_weight = weight
        hits = leave_one_out_hits(index, vectors[picked], ids, questions, 5)
        scores, correct = _top(rankings_of(hits), intents)
        same = float(np.mean(correct))
        if best is None or same > best[0] + 0.001:  # prefer the simpler (dense-heavier) weight on ties
            best = (same, lowest_threshold(scores, correct), weight)
    assert best is not None
    index.hybrid_weight = best[2] if best[2] != 1.0 else None
    return best[1], index.hybrid_weight


def train_project(settings: Settings, *, force: bool = False, progress: bool = True,
                  incremental: "Incremental | None" = None) -> list[StepReport]:
    """The NLU model, the retrieval encoder and the map onto it, the knowledge index, the learned dialogue policy, then the routes' calibration
    (each step skipped when its inputs are unchanged; the foreign text is read when a step needs it)."""
    encoder = Encoder(threads=settings.torch_threads)
    cache: list["ForeignText"] = []

    def foreign() -> "ForeignText":
        if not cache:
            cache.append(load_project_foreign(settings, encoder))
        return cache[0]

    from training.dialogue_policy import train_dialogue_step
    from training.retrieval_encoder import retrieval_encoder_step
    from training.retrieval_map import retrieval_map_step
    from training.routes import calibrate_step

    nlu = train_nlu_step(settings, foreign, force=force, progress=progress, incremental=incremental)
    tuned, retrieval = retrieval_encoder_step(settings, force=force)
    # one encoder: the NLU model's vector, mapped onto the retrieval encoder's space, serves retrieval
    mapped, query_encoder = retrieval_map_step(settings, retrieval, foreign, force=force)
    index = build_index_step(settings, query_encoder, force=force)
    dialogue = train_dialogue_step(settings, force=force)
    return [nlu, tuned, mapped, index, dialogue, calibrate_step(settings, query_encoder, foreign, force=force)]
