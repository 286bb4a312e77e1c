"""Train the NLU model and write its versioned artifact (what bot/nlu/transformer.py loads).

Steps: gather examples (out-of-scope labels become `nlu_fallback`), hold out a stratified dev
slice of train, fine-tune (training/finetune.py), fit the TF-IDF ensemble partners on train
and their mixing weights on the dev slice, fit the temperature and the out-of-scope threshold
on the dev slice (training/calibration.py), then write the artifact atomically."""

from __future__ import annotations

import json
import platform
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from bot.artifacts import staged_dir
from bot.domain import FALLBACK_INTENT, KNOWLEDGE_LABEL
from bot.errors import ConfigError
from bot.nlu.encoder import ENCODER_NAME
from bot.nlu.tfidf import TfidfModel
from bot.nlu.transformer import FORMAT_VERSION, MAX_LENGTH, log_softmax, mix, read_meta, softmax
from training.calibration import OOS_LABELS, calibrate_oos, fit_temperature
from bot.nlu.patterns import PatternFeatures
from bot.nlu.pipeline import NLUPipeline
from bot.nlu.tagging import edge_words, entity_shapes
from training.data import Example, NLUData
from training.finetune import FineTuneConfig, fine_tune, stratified_split
from training.incremental import Incremental, check_recipe

MAX_KNOWLEDGE_EXAMPLES = 400
MAX_FOREIGN_EXAMPLES = 4000  # a safety cap; training/foreign.py keeps 1,200 of the shipped corpus
ENSEMBLE_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
SENTIMENT_LABELS = ("negative", "neutral", "positive")
NO_SENTIMENT = (
    "no sentiment data: the model has no sentiment head, so /model/parse and the tracker report "
    "sentiment as null and no conversation is escalated for its sentiment"
)


@dataclass
class NLUTrainResult:
    model_dir: Path
    data_hash: str
    metrics: dict[str, Any]
    seconds: float
    warnings: list[str]


def intent_examples(nlu: NLUData, knowledge_questions: Sequence[str] = (), foreign: Sequence[str] = (),
                    seed: int = 13) -> list[Example]:
    """The intent examples, out-of-scope labels renamed `nlu_fallback`; up to 400 questions the
    support logs answer, as their own class (`_support_logs`: no intent, the logs' business);
    and foreign messages (training/foreign.py) as `nlu_fallback`, so the model learns what is
    none of the bot's business, not only what its intents look like."""
    examples = [labelled(e) for e in nlu.examples if e.text.strip()]
    if any(e.label == KNOWLEDGE_LABEL for e in examples):
        raise ConfigError(f"{KNOWLEDGE_LABEL!r} is reserved for the support logs' questions; rename that intent")
    rng = random.Random(seed)
    picked = list(dict.fromkeys(q for q in knowledge_questions if q.strip()))
    if len(picked) > MAX_KNOWLEDGE_EXAMPLES:
        picked = rng.sample(picked, MAX_KNOWLEDGE_EXAMPLES)
    if len(picked) >= 2:  # one question alone cannot make a class worth learning
        examples += [Example(q, KNOWLEDGE_LABEL) for q in picked]
    outside = list(foreign)
    if len(outside) > MAX_FOREIGN_EXAMPLES:
        outside = rng.sample(outside, MAX_FOREIGN_EXAMPLES)
    examples += [Example(t, FALLBACK_INTENT) for t in outside]
    intents = {e.label for e in examples if e.label not in (FALLBACK_INTENT, KNOWLEDGE_LABEL)}
    if len(intents) < 2:
        raise ConfigError(f"NLU training needs at least 2 intents with examples, found {len(intents)}")
    return examples


def labelled(example: Example) -> Example:
    """Out-of-scope labels become `nlu_fallback`; a retrieval intent (`faq/ask_hours`) is learned
    as its base intent (`faq`), its full name kept for the response head (`out_of_scope/other`
    counts as out of scope: nlu_fallback, with its response)."""
    label, retrieval = example.label, None
    if "/" in label:
        retrieval, label = label, label.split("/", 1)[0]
    if label.lower() in OOS_LABELS:
        label = FALLBACK_INTENT
    return Example(example.text, label, example.entities, example.spans, retrieval)


def check_sentiment(sentiment: NLUData) -> list[Example]:
    examples = [Example(e.text, e.label.lower()) for e in sentiment.examples if e.text.strip()]
    unknown = sorted({e.label for e in examples} - set(SENTIMENT_LABELS))
    if unknown:
        raise ConfigError(f"sentiment labels must be negative/neutral/positive, found {unknown}")
    if len({e.label for e in examples}) < 2:
        raise ConfigError("the sentiment data needs examples of at least 2 labels")
    return examples


def expected_calibration_error(probabilities: np.ndarray, correct: np.ndarray, bins: int = 15) -> float:
    confidence = probabilities.max(axis=1)
    edges = np.linspace(0.0, 1.0, bins + 1)
    error = 0.0
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            error += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(error)


def train_nlu(
    nlu: NLUData,
    out_dir: Path,
    *,
    data_hash: str,
    sentiment: NLUData | None = None,
    knowledge_questions: Sequence[str] = (),
    foreign: Sequence[str] = (),
    config: FineTuneConfig = FineTuneConfig(),
    keep: float = 0.97,
    progress: bool = True,
    pipeline: NLUPipeline = NLUPipeline(),
    incremental: Incremental | None = None,
) -> NLUTrainResult:
    """Train (or with `incremental`, fine-tune: training/incremental.py) the NLU model and write it to `out_dir`."""
    started = time.perf_counter()
    warnings: list[str] = []
    settings = {**config.as_dict(), "keep": keep, "max_length": MAX_LENGTH}
    base = None
    if incremental is not None:  # refused before any training when the model cannot take the new data
        base = incremental.meta()
        check_recipe(base, settings, pipeline.as_dict())
    examples = intent_examples(nlu, knowledge_questions, foreign, config.seed)
    if not pipeline.entity_recognition:  # DIETClassifier's entity_recognition: false
        examples = [Example(e.text, e.label, e.entities) for e in examples]
    train, dev = stratified_split(examples, config.dev_fraction, config.seed)
    s_train: list[Example] = []
    s_dev: list[Example] = []
    if sentiment is not None and sentiment.examples:
        s_train, s_dev = stratified_split(check_sentiment(sentiment), config.dev_fraction, config.seed)
    else:
        warnings.append(NO_SENTIMENT)
    patterns = PatternFeatures(nlu.regexes, nlu.lookups, pipeline.regex_features) \
        if pipeline.regex_features is not None else None
    ft = fine_tune(train, dev, sentiment_train=s_train, sentiment_dev=s_dev, config=config, progress=progress,
                   patterns=patterns, intent_split=pipeline.intent_split_symbol, incremental=incremental)

    metrics: dict[str, Any] = {
        "examples": len(examples), "train_examples": len(train), "dev_examples": len(dev),
        "intents": len([label for label in ft.labels if label not in (FALLBACK_INTENT, KNOWLEDGE_LABEL)]),
        "knowledge_examples": sum(e.label == KNOWLEDGE_LABEL for e in examples),
        "foreign_examples": sum(e.label == FALLBACK_INTENT for e in examples),
        "sentiment_examples": len(s_train) + len(s_dev), "history": ft.history, "best_epoch": ft.best_epoch,
        "entity_examples": sum(bool(e.spans) for e in examples), "entity_tags": len(ft.tags),
        "fine_tune_seconds": round(ft.seconds, 1), "epochs": ft.epochs,
    }
    calibration: dict[str, Any] = {"temperature": 1.0, "oos_threshold": 0.0, "method": "none"}
    from bot.nlu.network import batch_logits

    # the dev slice's logits, computed once for the ensemble weights and the calibration
    dev_intent, _ = batch_logits(ft.net, ft.tokenizer, [e.text for e in dev], max_length=MAX_LENGTH)
    _, dev_sentiment = batch_logits(ft.net, ft.tokenizer, [e.text for e in s_dev], max_length=MAX_LENGTH)
    partners, ensemble, logits = _ensemble(ft, train, dev, dev_intent, s_train, s_dev, dev_sentiment, metrics)
    if dev:
        targets = np.array([ft.labels.index(e.label) for e in dev])
        temperature = fit_temperature(logits, targets)
        correct = logits.argmax(1) == targets
        oos = calibrate_oos(logits, ft.labels, [e.label for e in dev], temperature=temperature, keep=keep,
                            seed=config.seed)
        calibration = {"temperature": temperature, "oos_threshold": oos.threshold, **asdict(oos)}
        del calibration["threshold"]
        metrics.update(
            dev_intent_accuracy=float(correct.mean()),
            dev_ece_before=expected_calibration_error(softmax(logits), correct),
            dev_ece_after=expected_calibration_error(softmax(logits, temperature), correct),
        )
        best = next((h for h in ft.history if h["epoch"] == ft.best_epoch), {})
        if ft.tags and any(e.spans for e in dev):
            from training.entity_training import entity_f1

            metrics["dev_entity_f1"] = entity_f1(ft, dev, MAX_LENGTH, edges=edge_words((e.text, e.spans) for e in train))
        if "sentiment_macro_f1" in best:
            metrics["dev_sentiment_macro_f1"] = best["sentiment_macro_f1"]
    else:
        warnings.append("too few examples for a dev slice: confidence is uncalibrated and no out-of-scope threshold is set")

    # the weights and the calibration were chosen with partners that never saw the dev slice;
    # the partners shipped are refitted on all of the data (about +0.2 points on BANKING77)
    for kind, fit_on, labels in (("intent", train + dev, ft.labels), ("sentiment", s_train + s_dev, ft.sentiments)):
        if f"tfidf_{kind}" in partners:
            partners[f"tfidf_{kind}"] = TfidfModel.fit([e.text for e in fit_on], [e.label for e in fit_on],
                                                       label_order=labels)
    metrics["train_seconds"] = round(time.perf_counter() - started, 1)  # everything but writing the files
    meta = {
        "format": FORMAT_VERSION,
        "base_model": ENCODER_NAME,
        "intents": ft.labels,
        "sentiments": ft.sentiments,
        "sentiment_note": None if ft.sentiments else NO_SENTIMENT,
        "ensemble": ensemble,
        "calibration": calibration,
        "foreign": {"train": sum(e.label == FALLBACK_INTENT for e in examples)},  # trained on foreign text: nlu_fallback means "foreign"
        "entity_tags": ft.tags,  # the token head's BILOU tags; [] when the data annotates no entity
        "entity_decoder": "crf" if ft.net.entity_crf is not None else "softmax",
        # words the annotations keep outside each label's spans, stripped from predicted spans' edges
        "entity_edges": edge_words((e.text, e.spans) for e in examples if e.spans) if ft.tags else {},
        # labels whose annotated spans all match a regex named like the entity: spans fit its match
        "entity_shapes": entity_shapes(((e.text, e.spans) for e in examples if e.spans), nlu.regexes)
        if ft.tags and pipeline.uses_regexes else {},
        # the entity labels each intent's examples annotate: entity families (bot/nlu/entity_context.py)
        "entity_labels_by_intent": _labels_by_intent(examples) if ft.tags else {},
        "entity_features": ft.net.tagging.features,  # pattern features the entity head reads (bot/nlu/patterns.py)
        "retrieval_intents": ft.responses,  # the response head's labels: retrieval intents' full names
        "intent_parts": ft.intent_parts,  # multi-intent labels' intents (the composed intent head); [] without
        "pipeline": pipeline.as_dict(),  # what config.yml asked (bot/nlu/pipeline.py)
        "regexes": nlu.regexes,
        "lookups": nlu.lookups,
        "synonyms": nlu.synonyms,
        "data_hash": data_hash,
        "settings": settings,
        # a fine-tuned model (`train --finetune`): the model it started from, and its share of the epochs
        "finetuned_from": {"base_data_hash": base.get("data_hash"), "base_created": base.get("created"),
                           "epoch_fraction": incremental.epoch_fraction} if base and incremental else None,
        "metrics": metrics,
        "versions": _versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    _write(out_dir, ft, meta, partners)
    return NLUTrainResult(out_dir, data_hash, metrics, time.perf_counter() - started, warnings)


def _labels_by_intent(examples: list[Example]) -> dict[str, list[str]]:
    found: dict[str, set[str]] = {}
    for e in examples:
        if e.spans:
            found.setdefault(e.label, set()).update(s.label for s in e.spans)
    return {intent: sorted(labels) for intent, labels in sorted(found.items())}


def _versions() -> dict[str, str]:
    import torch
    import transformers

    return {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__}


def _ensemble(ft: Any, train: list[Example], dev: list[Example], dev_intent: np.ndarray, s_train: list[Example],
              s_dev: list[Example], dev_sentiment: np.ndarray | None, metrics: dict[str, Any],
              ) -> tuple[dict[str, TfidfModel], dict[str, float], np.ndarray]:
    """Fit the TF-IDF partners on train and pick each mixing weight on the dev slice: the best
    dev accuracy (sentiment: macro-F1), ties to the lower log-loss. Weight 0 drops a partner.
    Returns the partners, the weights and the dev slice's mixed intent scores."""
    partners: dict[str, TfidfModel] = {}
    ensemble = {"intent_weight": 0.0, "sentiment_weight": 0.0}
    mixed_intent = dev_intent
    jobs = [("intent", train, dev, ft.labels, dev_intent)]
    if ft.sentiments and s_dev and dev_sentiment is not None:
        jobs.append(("sentiment", s_train, s_dev, ft.sentiments, dev_sentiment))
    for kind, fit_on, check_on, labels, raw in jobs:
        if not check_on or len({e.label for e in fit_on}) < 2:
            continue
        partner = TfidfModel.fit([e.text for e in fit_on], [e.label for e in fit_on], label_order=labels)
        partner_lp = partner.log_proba([e.text for e in check_on])
        targets = np.array([labels.index(e.label) for e in check_on])
        table = []
        for weight in ENSEMBLE_WEIGHTS:
            mixed = mix(raw, partner_lp, weight)
            predicted = mixed.argmax(1)
            quality = (float(np.mean(predicted == targets)) if kind == "intent"
                       else _macro_f1(targets, predicted))
            log_loss = float(-log_softmax(mixed)[np.arange(len(targets)), targets].mean())
            table.append({"weight": weight, "quality": quality, "log_loss": log_loss})
        best = max(table, key=lambda row: (round(row["quality"], 4), -row["log_loss"]))
        metrics[f"ensemble_{kind}"] = table
        ensemble[f"{kind}_weight"] = float(best["weight"])
        if best["weight"] > 0:
            partners[f"tfidf_{kind}"] = partner
            if kind == "intent":
                mixed_intent = mix(raw, partner_lp, best["weight"])
    return partners, ensemble, mixed_intent


def _macro_f1(targets: np.ndarray, predicted: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(targets, predicted, average="macro", zero_division=0))


def _write(out_dir: Path, ft: Any, meta: dict[str, Any], partners: dict[str, TfidfModel]) -> None:
    """Write to a temporary sibling, then swap it in: a reader never sees half a model."""
    with staged_dir(out_dir) as tmp:
        ft.net.save(tmp, ft.tokenizer)
        for name, partner in partners.items():
            partner.save(tmp, name)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2))


def stored_hash(model_dir: Path) -> str | None:
    try:
        return str(read_meta(model_dir).get("data_hash"))
    except (ConfigError, OSError, ValueError):
        return None
