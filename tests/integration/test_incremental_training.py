"""`switchboard train --finetune` on a whole project (Rasa's incremental training): the shop, trained
once, gets a new order-status example and goes on training from its model for a tenth of the epochs;
the steps after the NLU model follow it, and the bot still understands its customers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

NEW_EXAMPLE = "    - any news on the parcel for order [NW-10777](order_number)?\n"


def _with_new_example(project: Path) -> None:
    nlu = project / "data" / "nlu.yml"
    text = nlu.read_text()
    at = text.index("examples: |\n", text.index("- intent: order_status")) + len("examples: |\n")
    nlu.write_text(text[:at] + NEW_EXAMPLE + text[at:])


def test_a_project_is_finetuned_from_its_model(trained_project: Path, tmp_path: Path) -> None:
    from bot.nlu.transformer import TransformerClassifier

    project = tmp_path / "shop"
    shutil.copytree(trained_project, project)
    model = project / ".switchboard" / "models" / "nlu"
    base = json.loads((model / "meta.json").read_text())
    _with_new_example(project)
    env = {**os.environ, "SWITCHBOARD_TRAIN_THREADS": os.environ.get("SWITCHBOARD_TRAIN_THREADS", "2")}
    result = subprocess.run([sys.executable, "-m", "bot.cli", "--project", str(project), "train", "--finetune",
                             "--epoch-fraction", "0.1"], capture_output=True, text=True, timeout=900, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    steps = {line.split(":", 1)[0]: line for line in result.stdout.splitlines() if ": " in line}
    assert f"fine-tuned from {model} for 1 epoch(s)" in steps["nlu"]
    assert steps["retrieval map"].startswith("retrieval map: trained")  # it reads the NLU model's vectors
    assert steps["routes"].startswith("routes: trained")
    tuned = json.loads((model / "meta.json").read_text())
    assert tuned["finetuned_from"]["base_data_hash"] == base["data_hash"] != tuned["data_hash"]
    assert tuned["metrics"]["epochs"] == 1 < base["metrics"]["epochs"]
    (prediction,) = TransformerClassifier(model, quantize="int8").predict(["where is my order NW-10001?"])
    assert prediction.intent == "order_status"
    assert [(e["entity"], e["value"]) for e in prediction.entities] == [("order_number", "NW-10001")]
