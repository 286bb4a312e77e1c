"""`switchboard train nlu` / `evaluate nlu` on a small data set, end to end with the real model:
the artifact, skipping on unchanged data, reproducibility, out-of-scope and bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

CLI = [sys.executable, "-m", "bot.cli"]
INTENTS = {
    "greet": ["hi", "hello there", "good morning", "hey", "hello", "hi there", "good evening", "hey there",
              "morning!", "hello bot"],
    "track_order": ["where is my order", "track my parcel", "has my package shipped", "where is my delivery",
                    "order status please", "when will my order arrive", "track order 123", "is my parcel on its way",
                    "my order has not arrived", "delivery status"],
    "refund": ["I want a refund", "give me my money back", "refund my purchase", "how do I get a refund",
               "can I be refunded", "return and refund", "I want to be reimbursed", "money back please",
               "refund request", "I need a refund for my order"],
}
SENTIMENT = [("this is great, thanks!", "positive"), ("love it", "positive"), ("wonderful service", "positive"),
             ("thank you so much", "positive"), ("awesome", "positive"), ("perfect, cheers", "positive"),
             ("this is terrible", "negative"), ("I am furious", "negative"), ("worst shop ever", "negative"),
             ("you are useless", "negative"), ("awful experience", "negative"), ("I hate this", "negative"),
             ("what time is it", "neutral"), ("I have a question", "neutral"), ("ok", "neutral"),
             ("my order number is 5", "neutral"), ("tell me about shipping", "neutral"), ("fine", "neutral")]


def run(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "SWITCHBOARD_TRAIN_THREADS": os.environ.get("SWITCHBOARD_TRAIN_THREADS", "2")}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("nlu-data")
    lines = ['version: "3.1"', "nlu:"]
    for intent, examples in INTENTS.items():
        lines += [f"- intent: {intent}", "  examples: |"] + [f"    - {e}" for e in examples]
    lines += ["- regex: order_id", "  examples: |", "    - \\d{3}", "- synonym: parcel", "  examples: |",
              "    - package", "- lookup: city", "  examples: |", "    - Paris"]
    (root / "nlu.yml").write_text("\n".join(lines) + "\n")
    (root / "sentiment.csv").write_text("text,label\n" + "\n".join(f'"{t}",{label}' for t, label in SENTIMENT) + "\n")
    (root / "test.csv").write_text("text,label\nhello!,greet\nwhere's my parcel,track_order\nI'd like a refund,refund\n")
    (root / "oos.txt").write_text("who won the football world cup in 1998\nwhat is the capital of mongolia\n")
    return root


@pytest.fixture(scope="module")
def model(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("nlu-model") / "model"
    result = run("train", "nlu", "--data", str(data / "nlu.yml"), "--sentiment", str(data / "sentiment.csv"),
                 "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    assert '"oos_threshold"' in result.stdout
    return out


def test_the_artifact_is_complete_and_versioned(model: Path) -> None:
    meta = json.loads((model / "meta.json").read_text())
    assert meta["format"] == "transformer-1"
    assert meta["intents"] == ["greet", "refund", "track_order"]
    assert meta["sentiments"] == ["negative", "neutral", "positive"]
    assert meta["regexes"] == {"order_id": ["\\d{3}"]}
    assert meta["synonyms"] == {"package": "parcel"}
    assert len(meta["data_hash"]) == 16
    calibration = meta["calibration"]
    assert calibration["temperature"] > 0 and 0.0 <= calibration["oos_threshold"] <= 1.0
    assert calibration["method"] == "held-out intents"
    for key in ("history", "best_epoch", "dev_intent_accuracy", "fine_tune_seconds"):
        assert key in meta["metrics"]
    assert meta["settings"]["seed"] == 13 and "learning_rate" in meta["settings"]
    assert {"torch", "transformers"} <= set(meta["versions"])
    assert (model / "heads.pt").is_file()
    assert (model / "encoder" / "config.json").is_file() and (model / "encoder" / "tokenizer.json").is_file()
    assert not list(model.parent.glob(".model-*")), "a temporary build directory was left behind"


def test_unchanged_data_skips_training(data: Path, model: Path) -> None:
    before = (model / "meta.json").stat().st_mtime_ns
    result = run("train", "nlu", "--data", str(data / "nlu.yml"), "--sentiment", str(data / "sentiment.csv"),
                 "--out", str(model))
    assert result.returncode == 0 and "skipped" in result.stdout
    assert (model / "meta.json").stat().st_mtime_ns == before


def test_the_model_classifies_and_scores_sentiment(model: Path) -> None:
    from bot.nlu.transformer import TransformerClassifier

    classifier = TransformerClassifier(model)
    greet, track, refund, angry = classifier.predict(
        ["hello!", "where is my package", "please refund me", "this is the worst, I am furious"])
    assert (greet.intent, track.intent, refund.intent) == ("greet", "track_order", "refund")
    assert angry.sentiment is not None and angry.sentiment.label == "negative"
    assert abs(sum(c for _, c in greet.ranking) - 1.0) < 1e-4
    assert track.entities == () and refund.embedding is None
    # without a config.yml the pipeline is Rasa's default: regexes are features, not an extractor,
    # and these examples annotate no entity, so none is predicted
    assert classifier.predict(["track order 123"])[0].entities == ()


def test_evaluate_nlu_writes_the_report(data: Path, model: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    result = run("evaluate", "nlu", "--model", str(model), "--data", str(data / "test.csv"),
                 "--oos", str(data / "oos.txt"), "--sentiment", str(data / "sentiment.csv"), "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    for key in ("accuracy", "macro_f1", "per_intent", "in_scope_accuracy", "oos_recall", "sentiment_accuracy",
                "sentiment_macro_f1", "latency_ms_p50", "latency_ms_p95"):
        assert key in report, key
    assert report["accuracy"] == 1.0
    assert set(report["per_intent"]) == {"greet", "track_order", "refund"}
    assert report["oos_examples"] == 2
    assert (out / "confusion_matrix.png").stat().st_size > 1000
    assert "accuracy" in (out / "summary.md").read_text()


def test_training_is_reproducible(data: Path, model: Path, tmp_path: Path) -> None:
    """The same data, seed and thread count give the same weights."""
    from bot.nlu.transformer import TransformerClassifier

    again = tmp_path / "again"
    result = run("train", "nlu", "--data", str(data / "nlu.yml"), "--sentiment", str(data / "sentiment.csv"),
                 "--out", str(again), "--force")
    assert result.returncode == 0, result.stderr[-2000:]
    texts = ["hello", "refund please", "where is it", "I am so angry"]
    first, second = TransformerClassifier(model).logits(texts), TransformerClassifier(again).logits(texts)
    np.testing.assert_allclose(first[0], second[0], atol=1e-5)
    assert first[1] is not None and second[1] is not None
    np.testing.assert_allclose(first[1], second[1], atol=1e-5)


def test_bad_input_is_refused_clearly(data: Path, tmp_path: Path) -> None:
    missing = run("train", "nlu", "--data", str(tmp_path / "nope.yml"), "--out", str(tmp_path / "m"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    one = tmp_path / "one.csv"
    one.write_text("text,label\nhello,greet\nhi,greet\n")
    single = run("train", "nlu", "--data", str(one), "--out", str(tmp_path / "m"))
    assert single.returncode == 2 and "at least 2 intents" in single.stderr
    bad = tmp_path / "bad_sentiment.csv"
    bad.write_text("text,label\ngreat,happy\nbad,sad\n")
    wrong = run("train", "nlu", "--data", str(data / "nlu.yml"), "--sentiment", str(bad), "--out", str(tmp_path / "m"))
    assert wrong.returncode == 2 and "negative/neutral/positive" in wrong.stderr
    no_model = run("evaluate", "nlu", "--data", str(data / "test.csv"), "--out", str(tmp_path / "e"))
    assert no_model.returncode == 2 and "--model" in no_model.stderr
    assert not (tmp_path / "m").exists()


def test_without_sentiment_data_the_bot_says_what_it_reports(data: Path, tmp_path: Path) -> None:
    from bot.nlu.transformer import TransformerClassifier

    out = tmp_path / "nosent"
    result = run("train", "nlu", "--data", str(data / "nlu.yml"), "--out", str(out), "--epochs", "1")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "sentiment as null" in result.stdout
    prediction = TransformerClassifier(out).predict(["hello"])[0]
    assert prediction.sentiment is None
    assert prediction.parse_data()["sentiment"] is None


def test_cross_validation_trains_and_tests_on_each_fold(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "cv"
    result = run("evaluate", "nlu", "--data", str(data / "nlu.yml"), "--cross-validation", "2", "--epochs", "1",
                 "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    assert report["cross_validation"] == 2 and report["examples"] == 30
    assert [f["examples"] for f in report["folds"]] == [15, 15]
    assert report["accuracy"] > 0.6
    assert (out / "confusion_matrix.png").is_file() and (out / "summary.md").is_file()


def _with_refund_examples(data: Path, target: Path, extra: str = "") -> Path:
    text = (data / "nlu.yml").read_text()
    more = text.replace("    - I need a refund for my order\n",
                        "    - I need a refund for my order\n    - please reverse the charge\n"
                        "    - I'd like my money returned\n") + extra
    assert more != text
    target.write_text(more)
    return target


def test_finetuning_goes_on_from_the_trained_model(data: Path, model: Path, tmp_path: Path) -> None:
    import torch

    from bot.nlu.transformer import TransformerClassifier

    more = _with_refund_examples(data, tmp_path / "nlu.yml")
    out = tmp_path / "tuned"
    result = run("train", "nlu", "--data", str(more), "--sentiment", str(data / "sentiment.csv"), "--out", str(out),
                 "--finetune", str(model), "--epoch-fraction", "0.3")
    assert result.returncode == 0, result.stderr[-3000:]
    base, tuned = (json.loads((m / "meta.json").read_text()) for m in (model, out))
    assert tuned["finetuned_from"] == {"base_data_hash": base["data_hash"], "base_created": base["created"],
                                       "epoch_fraction": 0.3}
    assert tuned["metrics"]["epochs"] == round(0.3 * base["metrics"]["epochs"]) < base["metrics"]["epochs"]
    assert tuned["intents"] == base["intents"] and tuned["data_hash"] != base["data_hash"]
    # it started from the model's weights: a fresh start's intent head (a linear probe) would be far from them
    head = "intent_head.weight"
    before, after = (torch.load(m / "heads.pt", weights_only=True)[head] for m in (model, out))
    assert float((after - before).norm() / before.norm()) < 0.2
    predicted = TransformerClassifier(out).predict(["hello!", "where's my parcel", "I'd like a refund"])
    assert [p.intent for p in predicted] == ["greet", "track_order", "refund"]


def test_finetuning_refuses_a_new_intent_and_keeps_the_model(data: Path, model: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "model"
    shutil.copytree(model, copy)
    before = (copy / "meta.json").read_text()
    more = _with_refund_examples(data, tmp_path / "nlu.yml",
                                 "- intent: goodbye\n  examples: |\n    - bye\n    - see you\n    - goodbye\n")
    result = run("train", "nlu", "--data", str(more), "--sentiment", str(data / "sentiment.csv"), "--out", str(copy),
                 "--finetune")  # no directory: the model in --out
    assert result.returncode != 0
    assert "intents the model does not know: goodbye" in result.stderr and "Traceback" not in result.stderr
    assert (copy / "meta.json").read_text() == before
