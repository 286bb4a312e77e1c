"""The `switchboard` command as a user runs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from bot.cli import main
from bot.settings import load_settings
from tests.conftest import train_isolated

CLI = [sys.executable, "-m", "bot.cli"]


def run(*args: str, cwd: Path | None = None, stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, *args], cwd=cwd, input=stdin, capture_output=True, text=True, timeout=timeout, env=os.environ.copy()
    )


def test_import_bot_does_not_import_torch() -> None:
    code = (
        "import sys, bot, bot.app, bot.cli, bot.engine, bot.runtime, bot.supervisor, bot.worker, knowledge.index, "
        "training.project\n"
        "heavy = sorted(m for m in ('torch', 'sentence_transformers', 'transformers', 'faiss', 'sklearn') "
        "if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_help_explains_every_command() -> None:
    top = run("--help")
    assert top.returncode == 0
    for command in ("init", "train", "index", "run", "shell", "evaluate", "run-actions"):
        assert command in top.stdout
        sub = run(command, "--help")
        assert sub.returncode == 0 and "usage" in sub.stdout


def test_init_writes_the_template_and_refuses_a_non_empty_dir(tmp_path: Path) -> None:
    target = tmp_path / "mybot"
    assert run("init", str(target)).returncode == 0
    for name in ("domain.yml", "config.yml", "credentials.yml", "endpoints.yml", "switchboard.yml",
                 "data/nlu.yml", "data/rules.yml", "data/support_logs.jsonl"):
        assert (target / name).is_file(), name
    assert not (target / ".switchboard").exists()
    again = run("init", str(target))
    assert again.returncode == 2 and "not empty" in again.stderr


def test_commands_outside_a_project_fail_clearly(tmp_path: Path) -> None:
    result = run("train", cwd=tmp_path)
    assert result.returncode == 2 and "no domain.yml" in result.stderr


def test_run_refuses_a_public_address_without_a_token(trained_project: Path) -> None:
    env_token = os.environ.pop("SWITCHBOARD_API_TOKEN", None)
    try:
        result = run("--project", str(trained_project), "run", "--host", "0.0.0.0", "--port", "5999", timeout=60)
    finally:
        if env_token is not None:
            os.environ["SWITCHBOARD_API_TOKEN"] = env_token
    assert result.returncode == 2 and "API token" in result.stderr


def test_train_skips_unchanged_data_and_retrains_what_changed(trained_project: Path, tmp_path: Path) -> None:
    project = tmp_path / "bot"
    shutil.copytree(trained_project, project)
    steps = train_isolated(project)  # fine-tuning in a child process: its memory goes with it
    assert [step.name for step in steps] == ["nlu", "retrieval encoder", "retrieval map", "index", "dialogue", "routes"]
    assert [step.trained for step in steps] == [False] * 6
    with (project / "data" / "nlu.yml").open("a", encoding="utf-8") as fh:
        fh.write("- intent: thanks\n  examples: |\n    - cheers mate, much obliged\n")
    config = project / "switchboard.yml"  # one epoch: this test is about what is retrained, not how well
    config.write_text(config.read_text().replace("    seed: 13\n", "    seed: 13\n    epochs: 1\n    max_epochs: 1\n    min_steps: 1\n"))
    nlu, encoder, retrieval_map, index, _, routes = train_isolated(project)
    assert nlu.trained and not encoder.trained
    # one encoder: a new NLU model needs a new map onto the retrieval space, and the logs embedded again
    assert retrieval_map.trained and index.trained
    assert routes.trained and "held-out foreign messages" in routes.detail  # a new model is calibrated again


def test_test_nlu_is_evaluate_nlu_under_rasas_name(trained_project: Path, tmp_path: Path) -> None:
    out = tmp_path / "nlu"
    assert main(["test", "nlu", "--project", str(trained_project), "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["examples"] > 50 and report["accuracy"] > 0.8  # tests/held_out.yml by default
    assert (out / "summary.md").exists()


def test_shell_chats_in_the_terminal(trained_project: Path) -> None:
    result = run("--project", str(trained_project), "shell", stdin="hello\nwhere is NW-10002?\n/stop\n")
    assert result.returncode == 0, result.stderr
    assert "bot> " in result.stdout and "Northwind" in result.stdout
    assert "NW-10002 has shipped" in result.stdout


def test_index_ingests_sgd_banking_transcripts(trained_project: Path, tmp_path: Path, shared_data: Path) -> None:
    out = tmp_path / "sgd-index"
    result = run("--project", str(trained_project), "index", "--logs",
                 str(shared_data / "sgd_banking" / "dev.jsonl"), "--out", str(out), timeout=300)
    assert result.returncode == 0, result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["count"] > 1000 and manifest["ingest"]["skipped_small_talk"] > 0
    assert manifest["count"] == sum(1 for _ in (out / "entries.jsonl").open())


def test_index_calibrates_on_labelled_logs_and_evaluate_retrieval_reports(
    trained_project: Path, tmp_path: Path, shared_data: Path
) -> None:
    rows = (shared_data / "bitext" / "qa_pairs.jsonl").read_text(encoding="utf-8").splitlines()
    logs = tmp_path / "bitext_sample.jsonl"
    logs.write_text("\n".join(rows[::12]) + "\n", encoding="utf-8")  # ~375 pairs, every intent
    out = tmp_path / "bitext-index"
    result = run("--project", str(trained_project), "index", "--logs", str(logs), "--out", str(out), timeout=300)
    assert result.returncode == 0, result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert 0.0 < manifest["threshold"] < 1.0 and "leave-one-out" in manifest["threshold_method"]

    test_csv = tmp_path / "test.csv"
    test_rows = (shared_data / "bitext" / "test.csv").read_text(encoding="utf-8").splitlines()
    test_csv.write_text("\n".join(test_rows[:121]) + "\n", encoding="utf-8")
    report_dir = tmp_path / "report"
    result = run("--project", str(trained_project), "evaluate", "retrieval", "--index", str(out),
                 "--data", str(test_csv), "--out", str(report_dir), timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads((report_dir / "report.json").read_text())
    for key in ("same_intent_at_1", "same_intent_at_5", "mrr", "threshold", "answered_rate", "wrong_rate",
                "latency_ms_p50"):
        assert key in report
    assert report["threshold"] == manifest["threshold"]  # the index's calibrated threshold by default
    assert 0.8 < report["same_intent_at_1"] <= report["same_intent_at_5"] <= 1.0
    assert (report_dir / "threshold_sweep.png").stat().st_size > 1000


def test_reindex_embeds_only_new_questions(trained_project: Path, tmp_path: Path) -> None:
    project = tmp_path / "bot"
    shutil.copytree(trained_project, project)
    settings = load_settings(project)
    from bot.nlu.projection import ProjectedEncoder, query_encoder
    from training.project import build_index_step

    encoder = query_encoder(settings)  # the one the project's index was built with
    assert isinstance(encoder, ProjectedEncoder)  # one encoder: the NLU model's pass, mapped
    # a prediction carries the same vector, so retrieval needs no second pass
    (prediction,) = encoder.classifier.predict(["do you sell gift cards?"])
    assert prediction.embedding is not None
    assert float(prediction.embedding @ encoder.encode(["do you sell gift cards?"])[0]) > 0.999
    with (project / "data" / "support_logs.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"id": "log-new", "question": "Do you deliver on public holidays?",
                             "answer": "No, but parcels move again the next working day."}) + "\n")
    step = build_index_step(settings, encoder)
    manifest = json.loads((settings.knowledge_dir / "manifest.json").read_text())
    assert step.trained and manifest["ingest"]["questions_embedded"] == 1
    assert manifest["count"] == manifest["ingest"]["kept"]
    fresh = build_index_step(settings, encoder, out=tmp_path / "from-scratch")
    assert fresh.trained
    scratch = json.loads((tmp_path / "from-scratch" / "manifest.json").read_text())
    assert scratch["ingest"]["questions_embedded"] == manifest["count"]  # same content, all embedded
    from knowledge.index import KnowledgeBase

    reused = KnowledgeBase.load(settings.knowledge_dir, encoder).vectors_by_question()
    embedded = KnowledgeBase.load(tmp_path / "from-scratch", encoder).vectors_by_question()
    assert reused.keys() == embedded.keys()
    assert all(np.allclose(reused[q], embedded[q], atol=1e-5) for q in reused)
