"""Switchboard and Rasa 3.6.21 side by side: the shop bot over the REST channel, one server at a time.

Switchboard serves the shop (bot/templates/shop) from a temporary copy that holds the already
trained models (`switchboard train` must skip every step: nothing is retrained), on SQLite, with
the generator and the address rate limit off. Rasa serves a temporary project made from the
shop's Rasa files (domain.yml, data/nlu.yml, data/rules.yml, config.yml: Rasa's default pipeline
and policies), trained with `rasa train` in a throwaway virtual environment (never a dependency
of this project), with its default in-memory tracker store and the shop's rasa-sdk actions on
`rasa run actions`.

For each server: turns per second, p50 and p99 at 16 and 32 connections over a fixed duration
(a new sender every few turns, held-out test messages as in bench/turn_throughput.py), then one
conversation of 300 turns (p50 of turns 1-10 against turns 291-300). The servers alternate
(Switchboard, Rasa, Switchboard, Rasa, ...) so the machine's load touches both. On Switchboard
every stored bot event is checked for its metadata.reason. Writes OUT/rasa_side_by_side.json and
OUT/rasa_side_by_side.md; it only measures, nothing here asserts on timings."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench.serving import free_port, logged_process, peak_rss_mb, percentile, write_report  # noqa: E402
from bench.turn_latency import TURNS_PER_SENDER, load_messages  # noqa: E402
from bench.turn_throughput import reasons_recorded  # noqa: E402
from bench.rasa_report import CAVEATS, markdown, versions  # noqa: E402

RASA_VERSION = "3.6.21"
SHOP = REPO / "bot" / "templates" / "shop"
START_LIMIT_S = 300.0
# The shop's files Rasa reads; the rest (support_logs.jsonl, sentiment.csv, switchboard.yml, the
# Switchboard endpoints.yml) are Switchboard's own and left out of the Rasa project.
RASA_FILES = ["domain.yml", "config.yml", "data/nlu.yml", "data/rules.yml"]


# --- projects ------------------------------------------------------------------------------------

def switchboard_cmd() -> list[str]:
    script = Path(sys.executable).with_name("switchboard")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]


def switchboard_env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ, SWITCHBOARD_GENERATOR="none", SWITCHBOARD_RATE_LIMIT="0",
               SWITCHBOARD_DATABASE_URL=f"sqlite+aiosqlite:///{tmp}/bot.db",
               SHOP_DATABASE_URL=f"sqlite+aiosqlite:///{tmp}/shop.db",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    env.pop("SWITCHBOARD_LOCK_STORE_URL", None)
    return env


def switchboard_project(dest: Path, models: Path) -> dict[str, Any]:
    """A copy of the shop with the trained models; `train` must skip every step."""
    shutil.copytree(SHOP, dest, ignore=shutil.ignore_patterns(".switchboard"))
    shutil.copytree(models, dest / ".switchboard" / "models")
    out = subprocess.run([*switchboard_cmd(), "--project", str(dest), "train"], cwd=REPO, env=switchboard_env(dest),
                         capture_output=True, text=True, timeout=900)
    steps = [line for line in out.stdout.splitlines() if ": trained" in line or ": skipped" in line
             or line.startswith("index:")]
    retrained = [line for line in steps if ": trained" in line or line.startswith("index: built")]
    if out.returncode != 0 or retrained:
        raise RuntimeError(f"`switchboard train` on the copy did not skip everything:\n{out.stdout}\n{out.stderr}")
    # Then handoff off (Rasa has none; a serving setting, changed after the check because the routes'
    # calibration hashes switchboard.yml): a conversation handed to a person gets no bot replies, and the long
    # conversation would measure silent turns from its first "can I talk to a person?" on.
    settings = dest / "switchboard.yml"
    text = settings.read_text()
    assert "handoff:\n  enabled: true" in text, "the shop's switchboard.yml no longer reads as expected"
    settings.write_text(text.replace("handoff:\n  enabled: true", "handoff:\n  enabled: false"))
    return {"train_output": steps}


def rasa_bin(venv: Path, name: str = "rasa") -> str:
    return str(venv / "bin" / name)


def rasa_project(dest: Path, venv: Path, epochs: int | None) -> dict[str, Any]:
    """The shop's Rasa files in `dest`, trained with Rasa's default config (cached: a model already
    in dest/models whose inputs are unchanged is kept, as `rasa train` itself decides)."""
    for name in RASA_FILES:
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(SHOP / name, dest / name)
    # Only the REST channel (the shop's Slack/Telegram entries need secrets); the shop's
    # endpoints.yml names Switchboard's SQL tracker store: Rasa keeps its in-memory default.
    (dest / "credentials.yml").write_text("rest:\n")
    config = (dest / "config.yml").read_text()
    if epochs is not None:  # a documented change from the defaults, only when asked for
        config += ("pipeline:\n- name: WhitespaceTokenizer\n- name: RegexFeaturizer\n- name: LexicalSyntacticFeaturizer\n"
                   "- name: CountVectorsFeaturizer\n- name: CountVectorsFeaturizer\n  analyzer: char_wb\n  min_ngram: 1\n"
                   f"  max_ngram: 4\n- name: DIETClassifier\n  epochs: {epochs}\n- name: EntitySynonymMapper\n"
                   f"- name: ResponseSelector\n  epochs: {epochs}\n- name: FallbackClassifier\n  threshold: 0.3\n"
                   "policies:\n- name: MemoizationPolicy\n- name: RulePolicy\n- name: UnexpecTEDIntentPolicy\n"
                   f"  max_history: 5\n  epochs: {epochs}\n- name: TEDPolicy\n  max_history: 5\n  epochs: {epochs}\n"
                   "  constrain_similarities: true\n")
        (dest / "config.yml").write_text(config)
    model, first = dest / "models" / "shop.tar.gz", dest / "first_training.json"
    fresh = not model.exists()
    started = time.perf_counter()
    out = subprocess.run([rasa_bin(venv), "train", "--fixed-model-name", "shop"], cwd=dest, capture_output=True,
                         text=True, timeout=3600, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    if out.returncode != 0 or not (dest / "models" / "shop.tar.gz").exists():
        raise RuntimeError(f"rasa train failed:\n{out.stdout[-4000:]}\n{out.stderr[-4000:]}")
    seconds = round(time.perf_counter() - started, 1)
    if fresh:  # a later `rasa train` reuses Rasa's cache (.rasa/cache) and takes seconds: keep the real one
        first.write_text(json.dumps({"seconds": seconds, "epochs": epochs}))
    return {"train_seconds": seconds, "epochs": epochs or "Rasa default (100)",
            "first_training": json.loads(first.read_text()) if first.exists() else None,
            "train_tail": out.stdout.strip().splitlines()[-3:]}


# --- servers -------------------------------------------------------------------------------------

@contextlib.contextmanager
def switchboard_server(project: Path) -> Iterator[tuple[str, list[subprocess.Popen[bytes]], list[Path]]]:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="sbs-switchboard-") as tmp:
        cmd = [*switchboard_cmd(), "--project", str(project), "run", "--host", "127.0.0.1", "--port", str(port)]
        log = Path(tmp) / "switchboard.log"
        with logged_process(cmd, REPO, switchboard_env(Path(tmp)), log) as proc:
            yield f"http://127.0.0.1:{port}", [proc], [log]


@contextlib.contextmanager
def rasa_server(project: Path, venv: Path) -> Iterator[tuple[str, list[subprocess.Popen[bytes]], list[Path]]]:
    port, actions_port = free_port(), free_port()
    with tempfile.TemporaryDirectory(prefix="sbs-rasa-") as tmp:
        (Path(tmp) / "endpoints.yml").write_text(f"action_endpoint:\n  url: http://127.0.0.1:{actions_port}/webhook\n")
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", SHOP_DATABASE_URL=f"sqlite+aiosqlite:///{tmp}/shop.db",
                   PYTHONPATH=str(REPO))
        actions = [rasa_bin(venv), "run", "actions", "--actions", "actions", "-p", str(actions_port)]
        server = [rasa_bin(venv), "run", "--enable-api", "-p", str(port), "-i", "127.0.0.1",
                  "-m", str(project / "models" / "shop.tar.gz"), "--endpoints", str(Path(tmp) / "endpoints.yml"),
                  "--credentials", str(project / "credentials.yml")]
        logs = [Path(tmp) / "rasa.log", Path(tmp) / "actions.log"]
        with logged_process(actions, REPO, env, logs[1]) as act, logged_process(server, project, env, logs[0]) as srv:
            yield f"http://127.0.0.1:{port}", [srv, act], logs


async def wait_ready(session: aiohttp.ClientSession, base: str, procs: list[subprocess.Popen[bytes]], kind: str) -> float:
    """Until the server answers a turn (its model loaded); returns the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < START_LIMIT_S:
        for proc in procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{kind}: a process exited with code {proc.returncode} before it was ready")
        try:
            async with session.post(f"{base}/webhooks/rest/webhook", json={"sender": f"ready-{uuid.uuid4().hex[:6]}",
                                    "message": "hello"}, timeout=aiohttp.ClientTimeout(total=60)) as resp:
                if resp.status == 200 and await resp.json():
                    return round(time.monotonic() - started, 1)
        except (aiohttp.ClientError, asyncio.TimeoutError, json.JSONDecodeError):
            pass
        await asyncio.sleep(1)
    raise RuntimeError(f"{kind} was not ready within {START_LIMIT_S:.0f} s")


# --- load ----------------------------------------------------------------------------------------

async def turn(session: aiohttp.ClientSession, base: str, sender: str, text: str) -> tuple[float, bool]:
    t0 = time.perf_counter()
    async with session.post(f"{base}/webhooks/rest/webhook", json={"sender": sender, "message": text}) as resp:
        body = await resp.read()
        ok = resp.status == 200
    ms = (time.perf_counter() - t0) * 1000
    if ok:
        try:
            ok = bool(json.loads(body))  # a turn with no reply at all counts as failed
        except json.JSONDecodeError:
            ok = False
    return ms, ok


async def level(session: aiohttp.ClientSession, base: str, messages: list[tuple[str, str]], connections: int,
                seconds: float, tag: str) -> dict[str, Any]:
    """`connections` connections, each sending one message at a time for `seconds` (a turn under way
    at the deadline is finished and counted); a new sender every TURNS_PER_SENDER turns."""
    latencies: list[float] = []
    failed = 0
    senders: set[str] = set()
    deadline = time.perf_counter() + seconds

    async def connection(c: int) -> None:
        nonlocal failed
        i = 0
        while time.perf_counter() < deadline:
            _, text = messages[(c * 97 + i) % len(messages)]
            sender = f"{tag}-c{connections}-{c}-{i // TURNS_PER_SENDER}"
            senders.add(sender)
            ms, ok = await turn(session, base, sender, text)
            latencies.append(ms)
            failed += not ok
            i += 1

    started = time.perf_counter()
    await asyncio.gather(*(connection(c) for c in range(connections)))
    wall = time.perf_counter() - started
    return {"connections": connections, "turns": len(latencies), "failed_or_empty": failed,
            "seconds": round(wall, 2), "turns_per_s": round(len(latencies) / wall, 2),
            **{f"p{q}_ms": round(percentile(latencies, q), 2) for q in (50, 99)}, "senders": sorted(senders)}


async def long_conversation(session: aiohttp.ClientSession, base: str, messages: list[tuple[str, str]], turns: int,
                            tag: str) -> dict[str, Any]:
    sender = f"{tag}-long"
    latencies: list[float] = []
    failed = 0
    empty_examples: list[str] = []
    for i in range(turns):
        text = messages[i % len(messages)][1]
        ms, ok = await turn(session, base, sender, text)
        latencies.append(ms)
        failed += not ok
        if not ok and len(empty_examples) < 5:
            empty_examples.append(f"turn {i + 1}: {text}")
    first, last = latencies[:10], latencies[-10:]
    p50_first, p50_last = statistics.median(first), statistics.median(last)
    return {"turns": turns, "failed_or_empty": failed, "failed_examples": empty_examples, "p50_turns_1_10_ms": round(p50_first, 2),
            f"p50_turns_{turns - 9}_{turns}_ms": round(p50_last, 2), "p50_last_ms": round(p50_last, 2),
            "growth": round(p50_last / p50_first, 2),
            "p50_by_50": [round(statistics.median(latencies[j:j + 50]), 2) for j in range(0, turns, 50)],
            "sender": sender}


async def drive(kind: str, base: str, procs: list[subprocess.Popen[bytes]], args: argparse.Namespace) -> dict[str, Any]:
    messages = load_messages(SHOP / "tests")
    tag = f"{kind[:2]}-{uuid.uuid4().hex[:8]}"
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300), connector=connector) as session:
        ready_s = await wait_ready(session, base, procs, kind)
        await level(session, base, messages, 4, args.warmup_seconds, f"{tag}-warm")
        levels = [await level(session, base, messages, c, args.seconds, tag) for c in args.connections]
        long = await long_conversation(session, base, messages, args.long_turns, tag)
        senders = [s for lv in levels for s in lv.pop("senders")] + [long["sender"]]
        reasons = await reasons_recorded(session, base, senders) if kind == "switchboard" else None
    rss = {p.pid: peak_rss_mb(p.pid) for p in procs}
    return {"server": kind, "ready_seconds": ready_s, "levels": levels, "long": long, "reasons": reasons,
            "peak_rss_mb": list(rss.values())}


def run_one(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    ctx = switchboard_server(args.sb_project) if kind == "switchboard" else rasa_server(args.rasa_project, args.rasa_venv)
    with ctx as (base, procs, logs):
        result = asyncio.run(drive(kind, base, procs, args))
        errors = [f"{log.name}: {line.strip()[:300]}" for log in logs
                  for line in log.read_text(errors="replace").splitlines() if "ERROR" in line or "Traceback" in line]
    return {**result, "log_errors": len(errors), "log_error_examples": errors[:5]}


# --- report --------------------------------------------------------------------------------------

def summarize(runs: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    rows, long = [], {}
    for kind in ("switchboard", "rasa"):
        mine = [r for r in runs if r["server"] == kind]
        for i, c in enumerate(args.connections):
            same = [r["levels"][i] for r in mine]
            rows.append({"server": kind, "connections": c, "rounds": len(same),
                         "turns": sum(s["turns"] for s in same),
                         "failed_or_empty": sum(s["failed_or_empty"] for s in same),
                         **{k: round(statistics.median(s[k] for s in same), 2)
                            for k in ("turns_per_s", "p50_ms", "p99_ms")}})
        long[kind] = {k: round(statistics.median(r["long"][k] for r in mine), 2)
                      for k in ("p50_turns_1_10_ms", "p50_last_ms", "growth")}
    ratios = []
    for c in args.connections:
        sb = next(r for r in rows if r["server"] == "switchboard" and r["connections"] == c)
        ra = next(r for r in rows if r["server"] == "rasa" and r["connections"] == c)
        ratios.append({"connections": c, "turns_per_s_ratio": round(sb["turns_per_s"] / ra["turns_per_s"], 2),
                       "p50_speedup": round(ra["p50_ms"] / sb["p50_ms"], 2),
                       "p99_speedup": round(ra["p99_ms"] / sb["p99_ms"], 2)})
    return {"rows": rows, "long": long, "ratios": ratios}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench/results")
    parser.add_argument("--rasa-venv", default="/tmp/rasa-venv")
    parser.add_argument("--rasa-project", default="/tmp/rasa-shop-bench",
                        help="where the Rasa project is made and trained (kept: `rasa train` skips an unchanged model)")
    parser.add_argument("--rasa-epochs", type=int, default=None, help="override Rasa's default 100 epochs (documented)")
    parser.add_argument("--models", default=str(Path(os.environ.get("SWITCHBOARD_MODELS", "/work/main/bot/templates/shop/.switchboard/models"))),
                        help="the shop's trained Switchboard models (copied, never retrained)")
    parser.add_argument("--connections", default="16,32")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup-seconds", type=float, default=5.0)
    parser.add_argument("--long-turns", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    args.connections = [int(c) for c in args.connections.split(",")]
    args.rasa_venv = Path(args.rasa_venv)
    args.rasa_project = Path(args.rasa_project)
    args.rasa_project.mkdir(parents=True, exist_ok=True)
    models = Path(args.models)
    if not models.is_absolute() and not models.exists():
        models = REPO / models
    with tempfile.TemporaryDirectory(prefix="sbs-shop-") as tmp:
        args.sb_project = Path(tmp) / "shop"
        print("switchboard: copying the shop and its trained models", flush=True)
        sb_setup = switchboard_project(args.sb_project, models)
        print("\n".join(sb_setup["train_output"]), flush=True)
        print("rasa: training (default config)", flush=True)
        rasa_training = rasa_project(args.rasa_project, args.rasa_venv, args.rasa_epochs)
        print(rasa_training, flush=True)
        runs = []
        for round_ in range(args.rounds):
            for kind in ("switchboard", "rasa"):
                print(f"round {round_ + 1}: {kind}", flush=True)
                runs.append(run_one(kind, args))
                print(json.dumps({k: runs[-1][k] for k in ("levels", "long", "reasons")}), flush=True)
    report = {"summary": summarize(runs, args), "runs": runs, "rounds": args.rounds,
              "settings": {"seconds": args.seconds, "warmup_seconds": args.warmup_seconds,
                           "connections": args.connections, "long_turns": args.long_turns,
                           "turns_per_sender": TURNS_PER_SENDER,
                           "switchboard": "1 worker, SQLite, SWITCHBOARD_GENERATOR=none, SWITCHBOARD_RATE_LIMIT=0, "
                                          "rasa-sdk actions in process",
                           "rasa": "rasa run --enable-api, in-memory tracker store, rasa run actions"},
              "switchboard_setup": sb_setup, "rasa_training": rasa_training, "versions": versions(args.rasa_venv),
              "caveats": CAVEATS,
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                          "load_average_at_end": os.getloadavg()},
              "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    write_report(args.out, "rasa_side_by_side", report, markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
