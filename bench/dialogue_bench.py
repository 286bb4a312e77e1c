"""The dialogue engine: the learned policy's training time, the policies' prediction time per
turn, held-out story accuracy of memoization alone against memoization + the learned policy, and
the shop's REST turn before and after the dialogue engine (issue 13), side by side in one run.

- training and prediction: financial-demo (../shared/data/rasa-examples), its stories and its
  48 test stories replayed teacher forced (gold intents and entities: only the policies count);
- held-out stories: k folds over each example's stories (financial-demo, moodbot, rasa-init),
  several seeds, rules always in training (training/dialogue_eval.py);
- REST turns: bench/turn_latency.py against the server of this tree and of the baseline commit
  (a git worktree, given this tree's trained shop models so that only the engine differs),
  alternated over several rounds; the p50 of each round, then the median of the rounds.
Writes OUT/dialogue.json and OUT/dialogue.md. It only measures."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench.serving import write_report  # noqa: E402

SHARED = Path(os.environ.get("SWITCHBOARD_SHARED_DATA", REPO.parent / "shared" / "data"))
EXAMPLES = SHARED / "rasa-examples"
SHOP = Path("bot") / "templates" / "shop"
BASELINE = "2f110e8"  # main before the dialogue engine (issue 13)
WORKTREES = Path(tempfile.gettempdir()) / "switchboard-bench"
HELD_OUT = ("financial-demo", "moodbot", "rasa-init-3.6.21")


def _model(project: Path):  # type: ignore[no-untyped-def]
    from bot.dialogue.model import DialogueModel
    from bot.domain import Domain

    return DialogueModel.load(project, Domain.load(project))


def training_and_prediction(rounds: int) -> dict[str, Any]:
    from bot.dialogue.model import DialogueModel, load_test_stories
    from training.dialogue_eval import _strip, prediction_latency
    from training.dialogue_policy import PolicyTraining, train_policy

    project = EXAMPLES / "financial-demo"
    model = _model(project)
    seconds, weights = [], None
    for _ in range(rounds):
        started = time.perf_counter()
        weights = train_policy(model.stories, model.featurizer, _strip(model), 5, PolicyTraining())
        seconds.append(time.perf_counter() - started)
    assert weights is not None
    tests, _ = load_test_stories(project, model.domain)
    learned = DialogueModel.build(model.domain, model.rules, model.stories, model.config, learned=weights)
    return {"project": "financial-demo", "stories": len(model.stories), "rules": len(model.rules),
            "samples": weights.meta["samples"], "training_seconds_median": round(statistics.median(seconds), 2),
            "training_seconds": [round(s, 2) for s in seconds], "test_stories": len(tests),
            "prediction_rules_and_memoization": prediction_latency(model, tests),
            "prediction_with_learned": prediction_latency(learned, tests)}


def held_out_stories(folds: int, seeds: int) -> dict[str, Any]:
    from training.dialogue_eval import held_out
    from training.dialogue_policy import PolicyTraining

    out: dict[str, Any] = {}
    for name in HELD_OUT:
        model = _model(EXAMPLES / name)
        runs = [held_out(model, folds=min(folds, len(model.stories)), seed=seed,
                         options=PolicyTraining(seed=seed)) for seed in range(seeds)]
        summary: dict[str, Any] = {"stories": len(model.stories), "folds": runs[0]["folds"], "seeds": seeds}
        for key in ("memoization", "memoization_and_learned"):
            summary[key] = {metric: round(statistics.fmean(r[key][metric] for r in runs), 4)
                            for metric in ("action_accuracy", "story_accuracy")}
            summary[key]["actions"] = runs[0][key]["actions"]
        summary["misses"] = runs[0]["memoization_and_learned"]["misses"]
        out[name] = summary
    return out


def worktree(rev: str) -> Path:
    path = WORKTREES / rev
    if not (path / ".git").exists():
        WORKTREES.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "--force", str(path), rev], check=True)
    return path


def rest_turns(baseline: str, rounds: int, turns: int) -> dict[str, Any]:
    models = REPO / SHOP / ".switchboard" / "models"
    if not (models / "nlu").is_dir():
        raise SystemExit(f"train the shop first (make train): {models} has no NLU model")
    before = worktree(baseline)
    target = before / SHOP / ".switchboard" / "models"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(models, target)
    trees = {"before": before, "after": REPO}
    p50: dict[str, list[float]] = {k: [] for k in trees}
    server: dict[str, list[float]] = {k: [] for k in trees}
    with tempfile.TemporaryDirectory(prefix="switchboard-dialogue-bench-") as tmp:
        for i in range(rounds):
            for name, tree in trees.items():
                out = Path(tmp) / f"{name}-{i}"
                subprocess.run([sys.executable, str(REPO / "bench" / "turn_latency.py"), "--tree", str(tree),
                                "--project", str(tree / SHOP), "--out", str(out), "--turns", str(turns)],
                               check=True, stdout=subprocess.DEVNULL)
                result = json.loads((out / "turn_latency.json").read_text())
                p50[name].append(result["p50_ms"])
                server[name].append(result["server_turn_p50_ms"])
    summary = {name: {"rest_p50_ms": round(statistics.median(p50[name]), 2), "rounds_p50_ms": p50[name],
                      "server_turn_p50_ms": round(statistics.median(server[name]), 2)} for name in trees}
    ratio = summary["after"]["rest_p50_ms"] / summary["before"]["rest_p50_ms"]
    return {"baseline": baseline, "rounds": rounds, "turns_per_round": turns, **summary,
            "after_over_before": round(ratio, 3)}


def markdown(r: dict[str, Any]) -> str:
    t = r["training"]
    lines = ["# Dialogue engine", "", f"{r['when']}, {r['machine']}.", "",
             f"## financial-demo: {t['stories']} stories, {t['rules']} rules, {t['samples']} training samples", "",
             "| metric | value |", "|---|---|",
             f"| learned policy training, median of {len(t['training_seconds'])} (s) | {t['training_seconds_median']} |"]
    for key, label in (("prediction_rules_and_memoization", "rules + memoization"),
                       ("prediction_with_learned", "rules + memoization + learned")):
        p = t[key]
        lines.append(f"| prediction per turn, {label}: p50 / p95 (ms, {p['predictions']} predictions over "
                     f"{t['test_stories']} test stories) | {p['p50_ms']} / {p['p95_ms']} |")
    lines += ["", "## Held-out stories (teacher forced, rules always trained)", "",
              "| assistant | stories | folds x seeds | actions | memoization: action / story accuracy | "
              "memoization + learned: action / story accuracy |", "|---|---|---|---|---|---|"]
    for name, h in r["held_out"].items():
        m, ml = h["memoization"], h["memoization_and_learned"]
        lines.append(f"| {name} | {h['stories']} | {h['folds']} x {h['seeds']} | {m['actions']} | "
                     f"{m['action_accuracy']:.1%} / {m['story_accuracy']:.1%} | "
                     f"{ml['action_accuracy']:.1%} / {ml['story_accuracy']:.1%} |")
    if "rest" in r:
        s = r["rest"]
        lines += ["", f"## The shop's REST turn, before (`{s['baseline']}`) and after, {s['rounds']} alternated "
                      f"rounds of {s['turns_per_round']} turns", "", "| tree | REST p50 ms (median of rounds) | "
                      "rounds | server-side turn p50 ms |", "|---|---|---|---|"]
        for name in ("before", "after"):
            lines.append(f"| {name} | {s[name]['rest_p50_ms']} | {s[name]['rounds_p50_ms']} | "
                         f"{s[name]['server_turn_p50_ms']} |")
        lines += ["", f"after / before: {s['after_over_before']:.3f}"]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench/results")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3, help="alternated REST rounds per tree")
    parser.add_argument("--turns", type=int, default=150)
    parser.add_argument("--baseline", default=BASELINE)
    parser.add_argument("--skip-rest", action="store_true")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    result: dict[str, Any] = {
        "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} CPUs, Python {platform.python_version()}",
        "training": training_and_prediction(3), "held_out": held_out_stories(args.folds, args.seeds)}
    if not args.skip_rest:
        result["rest"] = rest_turns(args.baseline, args.rounds, args.turns)
    write_report(args.out, "dialogue", result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
