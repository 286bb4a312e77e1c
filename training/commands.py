"""`switchboard train nlu` and `switchboard evaluate nlu` (bot/cli.py parses the arguments)."""

from __future__ import annotations

import argparse
import json
import os
import random
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from bot.errors import ConfigError
from training.data import Example, NLUData, files_hash, load_csv, load_nlu
from training.finetune import FineTuneConfig


def _config(args: argparse.Namespace) -> FineTuneConfig:
    config = FineTuneConfig(threads=int(os.environ.get("SWITCHBOARD_TRAIN_THREADS") or min(4, os.cpu_count() or 1)))
    overrides = {k: getattr(args, k) for k in ("epochs", "threads", "seed") if getattr(args, k, None) is not None}
    return replace(config, **overrides)


def _paths(values: list[str] | None, what: str) -> list[Path]:
    paths = [Path(v) for v in values or []]
    for path in paths:
        if not path.is_file():
            raise ConfigError(f"{what} file {path} does not exist")
    return paths


def train_nlu_command(args: argparse.Namespace) -> int:
    from training.nlu import stored_hash, train_nlu

    if not args.data or not args.out:
        raise ConfigError("train nlu needs --data FILE... and --out DIR")
    data = _paths(args.data, "training")
    sentiment = _paths([args.sentiment] if args.sentiment else [], "sentiment")
    config = _config(args)
    out = Path(args.out)
    recipe = json.dumps({**config.as_dict(), "keep": args.keep, "threads": None}, sort_keys=True)
    data_hash = files_hash(data + sentiment, "transformer-1", recipe)
    if not args.force and stored_hash(out) == data_hash:
        print(f"nlu: skipped (unchanged data: kept the model in {out}) [data {data_hash}]")
        return 0
    from training.incremental import requested

    incremental = requested(args.finetune, args.epoch_fraction, out)
    result = train_nlu(load_nlu(data), out, data_hash=data_hash,
                       sentiment=load_csv(sentiment[0]) if sentiment else None, config=config, keep=args.keep,
                       incremental=incremental)
    for warning in result.warnings:
        print(f"warning: {warning}")
    m = result.metrics
    calibration = json.loads((out / "meta.json").read_text())["calibration"]
    print(json.dumps({
        "model": str(out), "seconds": round(result.seconds, 1), "best_epoch": m["best_epoch"],
        "dev_intent_accuracy": m.get("dev_intent_accuracy"), "dev_sentiment_macro_f1": m.get("dev_sentiment_macro_f1"),
        "temperature": calibration["temperature"], "oos_threshold": calibration["oos_threshold"],
        "oos_method": calibration["method"], "data_hash": data_hash, "epochs": m["epochs"],
    }, indent=2))
    return 0


def evaluate_nlu_command(args: argparse.Namespace) -> int:
    from training.evaluate_nlu import evaluate_model, load_examples, summary_markdown, write_report

    if not args.data or not args.out:
        raise ConfigError("evaluate nlu needs --data TEST and --out DIR (and --model DIR or --cross-validation K)")
    data = load_examples(_paths([args.data], "test"))
    oos = load_examples(_paths([args.oos], "out-of-scope")) if args.oos else []
    sentiment = load_csv(_paths([args.sentiment], "sentiment")[0]).examples if args.sentiment else []
    out = Path(args.out)
    if args.cross_validation:
        report = cross_validate(data, sentiment, args.cross_validation, _config(args), out)
        (out / "report.json").write_text(json.dumps(report, indent=2))
        (out / "summary.md").write_text(summary_markdown(report, f"{args.cross_validation}-fold cross-validation"))
        print(json.dumps({k: v for k, v in report.items() if k not in ("folds", "per_intent")}, indent=2))
        return 0
    if not args.model:
        raise ConfigError("evaluate nlu needs --model DIR (or --cross-validation K)")
    from bot.nlu.transformer import TransformerClassifier

    model = TransformerClassifier(Path(args.model), threads=int(os.environ.get("SWITCHBOARD_TORCH_THREADS", "1")))
    report, predicted = evaluate_model(model, data, oos=oos, sentiment=sentiment)
    report["model"] = str(args.model)
    write_report(report, out, [e.label for e in data], predicted, f"NLU evaluation of {args.model}")
    print(json.dumps({k: v for k, v in report.items() if k not in ("per_intent", "oos_curve", "confused_pairs")}, indent=2))
    return 0


def folds(examples: list[Example], k: int, seed: int) -> list[list[Example]]:
    """Stratified folds: each label's examples dealt round-robin after a seeded shuffle."""
    rng = random.Random(seed)
    buckets: list[list[Example]] = [[] for _ in range(k)]
    by_label: dict[str, list[Example]] = {}
    for e in examples:
        by_label.setdefault(e.label, []).append(e)
    offset = 0
    for label in sorted(by_label):
        group = by_label[label][:]
        rng.shuffle(group)
        for i, e in enumerate(group):
            buckets[(offset + i) % k].append(e)
        offset += len(group)
    return buckets


def cross_validate(data: list[Example], sentiment: list[Example], k: int, config: FineTuneConfig, out: Path) -> dict[str, Any]:
    """Train on k-1 folds, test on the last, k times; pooled predictions give the metrics."""
    import tempfile

    from bot.nlu.transformer import TransformerClassifier
    from training.evaluate_nlu import confused_pairs, intent_report, plot_confusion
    from training.nlu import train_nlu

    if k < 2:
        raise ConfigError("--cross-validation needs K >= 2")
    intent_folds, sentiment_folds = folds(data, k, config.seed), folds(sentiment, k, config.seed) if sentiment else []
    gold: list[str] = []
    predicted: list[str] = []
    s_gold: list[str] = []
    s_pred: list[str] = []
    per_fold = []
    for i in range(k):
        train = [e for j, fold in enumerate(intent_folds) if j != i for e in fold]
        s_train = [e for j, fold in enumerate(sentiment_folds) if j != i for e in fold]
        with tempfile.TemporaryDirectory() as tmp:
            train_nlu(NLUData(train), Path(tmp) / "model", data_hash=f"cv-{i}",
                      sentiment=NLUData(s_train) if s_train else None, config=config, progress=False)
            model = TransformerClassifier(Path(tmp) / "model", threads=config.threads)
            test = intent_folds[i]
            logits, _ = model.logits([e.text for e in test])
            fold_pred = [model.labels[j] for j in logits.argmax(1)]
            gold += [e.label for e in test]
            predicted += fold_pred
            per_fold.append({"fold": i + 1, "examples": len(test),
                             "accuracy": float(np.mean([g.label == q for g, q in zip(test, fold_pred)]))})
            if sentiment_folds and model.sentiments:
                s_test = sentiment_folds[i]
                _, s_logits = model.logits([e.text for e in s_test])
                assert s_logits is not None
                s_gold += [e.label.lower() for e in s_test]
                s_pred += [model.sentiments[j] for j in s_logits.argmax(1)]
    report: dict[str, Any] = {"cross_validation": k, "examples": len(data), **intent_report(gold, predicted)}
    accuracies = [f["accuracy"] for f in per_fold]
    report.update(accuracy_std=float(np.std(accuracies)), folds=per_fold, confused_pairs=confused_pairs(gold, predicted))
    if s_gold:
        from sklearn.metrics import f1_score

        report["sentiment_accuracy"] = float(np.mean([g == q for g, q in zip(s_gold, s_pred)]))
        report["sentiment_macro_f1"] = float(f1_score(s_gold, s_pred, average="macro", zero_division=0))
    out.mkdir(parents=True, exist_ok=True)
    plot_confusion(gold, predicted, out / "confusion_matrix.png")
    return report
