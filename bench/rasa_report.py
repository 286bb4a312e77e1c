"""The report of bench/rasa_side_by_side.py: the versions on each side, the caveats a reader needs,
and the markdown (tables of turns/s and latency, the ratios, the long conversation)."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.turn_latency import TURNS_PER_SENDER

REPO = Path(__file__).resolve().parent.parent


def versions(venv: Path) -> dict[str, str]:
    def ask(py: str, mods: str) -> str:
        code = f"import importlib.metadata as m; print(' '.join(x + '=' + m.version(x) for x in {mods!r}.split()))"
        out = subprocess.run([py, "-c", code], capture_output=True, text=True)
        return out.stdout.strip() or out.stderr.strip()[-200:]

    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    return {"switchboard_commit": git.stdout.strip(), "switchboard_python": platform.python_version(),
            "switchboard_packages": ask(sys.executable, "torch aiohttp"),
            "rasa_python": subprocess.run([str(venv / "bin" / "python"), "-V"], capture_output=True,
                                          text=True).stdout.strip(),
            "rasa_packages": ask(str(venv / "bin" / "python"), "rasa rasa-sdk tensorflow SQLAlchemy")}


CAVEATS = [
    "Rasa runs the shop's intents, entities, rules, the return form and the rasa-sdk actions (order status, "
    "cancel, returns: `rasa run actions` on the shop's actions/ package). It cannot run Switchboard's own parts: "
    "the support-log retrieval (data/support_logs.jsonl: Rasa answers those questions with an intent or its "
    "fallback), the answer generator (off on both sides here), the handoff to a person and the agent console "
    "(switchboard.yml), the sentiment model (data/sentiment.csv), the calibrated out-of-scope threshold "
    "(Rasa: FallbackClassifier at its default 0.3) and the per-reply reason (metadata.reason).",
    "Rasa keeps conversations in its default in-memory tracker store; Switchboard writes every event to SQLite "
    "(and records a reason with every reply). Rasa's REST channel and HTTP API, one process each side, 1 worker.",
    "Rasa is trained with its default config (the shop's config.yml has no pipeline or policies keys, so "
    "Rasa fills in its defaults: DIET, ResponseSelector, TED and UnexpecTED at 100 epochs) unless the report "
    "says otherwise (rasa_training.epochs).",
    "Switchboard runs with handoff off (Rasa has none; otherwise a conversation handed to a person gets no "
    "bot replies, e.g. the long conversation after its first 'can I talk to a person?'), set in the copy's "
    "switchboard.yml after `switchboard train` has skipped every step.",
    "Client, servers (and Rasa's action server) share the machine's cores with whatever else runs on it; "
    "the servers alternate to spread that load, and the ratios matter more than the absolute numbers.",
    "A 'failed_or_empty' turn is a non-200 answer or an empty reply list (e.g. Rasa's action_listen after "
    "an intent with no rule); it still counts as a turn for throughput.",
]


def rasa_training_line(t: dict[str, Any]) -> str:
    first = t.get("first_training")
    line = f"epochs {t['epochs']}; `rasa train` in this run {t['train_seconds']} s"
    if first:
        line += f" (Rasa's cache of an earlier training of the same data and config; the full training took {first['seconds']} s on this machine)"
    return line + "."


def markdown(report: dict[str, Any]) -> str:
    m, s = report["machine"], report["summary"]
    lines = ["# Switchboard and Rasa 3.6.21 side by side (the shop bot, REST)", "",
             f"{report['when']}; {m['cpus']} CPUs ({m['platform']}); {report['rounds']} round(s), servers "
             f"alternating ({' → '.join(r['server'] for r in report['runs'])}), medians over rounds; "
             f"{report['settings']['seconds']} s per level, a new sender every {TURNS_PER_SENDER} turns, "
             "held-out shop messages; client on the same machine.", "",
             "| server | connections | turns/s | p50 ms | p99 ms | turns | failed/empty |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['server']} | {r['connections']} | {r['turns_per_s']} | {r['p50_ms']} | {r['p99_ms']} | "
              f"{r['turns']} | {r['failed_or_empty']} |" for r in s["rows"]]
    lines += ["", "Switchboard / Rasa:", "", "| connections | turns/s ratio | p50 speed-up | p99 speed-up |",
              "|---|---|---|---|"]
    lines += [f"| {r['connections']} | x{r['turns_per_s_ratio']} | x{r['p50_speedup']} | x{r['p99_speedup']} |"
              for r in s["ratios"]]
    lowest = min(r["turns_per_s_ratio"] for r in s["ratios"])
    lines += ["", f"Aim: at least x3 Rasa's turns/s: {'met' if lowest >= 3 else 'not met'} (lowest ratio x{lowest})."]
    n = report["settings"]["long_turns"]
    lines += ["", f"One conversation of {n} turns (one connection):", "",
              f"| server | p50 turns 1-10 ms | p50 turns {n - 9}-{n} ms | growth |", "|---|---|---|---|"]
    lines += [f"| {k} | {v['p50_turns_1_10_ms']} | {v['p50_last_ms']} | x{v['growth']} |" for k, v in s["long"].items()]
    bots = sum(r["reasons"]["bot_events"] for r in report["runs"] if r["reasons"])
    missing = sum(r["reasons"]["without_reason"] for r in report["runs"] if r["reasons"])
    lines += ["", f"Switchboard bot events stored: {bots}; without metadata.reason (route and turn timing): {missing}.",
              "", f"Rasa training: {rasa_training_line(report['rasa_training'])}", "", f"Versions: {report['versions']}", "", "Caveats:", ""]
    lines += [f"- {c}" for c in report["caveats"]]
    return "\n".join(lines) + "\n"
