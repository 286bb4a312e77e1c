"""Turn latency of the real Switchboard server over its REST channel, at concurrency 1.

Starts `python -m bot.cli --project DIR run` on loopback with throwaway SQLite databases, sends
held-out test messages one after another, and writes OUT/turn_latency.json and OUT/turn_latency.md.
It only measures: nothing here asserts on timings."""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import itertools
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench.serving import free_port, logged_process, peak_rss_mb, percentile, wait_healthy, write_report  # noqa: E402,F401
from training.data import load_nlu  # noqa: E402

TURNS_PER_SENDER = 5
RUN_LIMIT_S = 600.0


def load_messages(tests: Path) -> list[tuple[str, str]]:
    """(source, text) pairs, interleaved: intent example, log question, out-of-scope line, ..."""
    intents = [ex.text for ex in load_nlu([tests / "held_out.yml"]).examples]
    with (tests / "held_out_logs.csv").open(newline="", encoding="utf-8") as fh:
        logs = [row["text"] for row in csv.DictReader(fh) if row.get("text")]
    oos = [line.strip() for line in (tests / "out_of_scope.txt").read_text(encoding="utf-8").splitlines()]
    sources = [("intent", intents), ("log", logs), ("out_of_scope", [t for t in oos if t])]
    mixed = itertools.zip_longest(*[[(name, text) for text in texts] for name, texts in sources])
    return [pair for group in mixed for pair in group if pair is not None]


async def drive(args: argparse.Namespace, base: str, server: subprocess.Popen[bytes]) -> dict[str, Any]:
    messages = load_messages(Path(args.project) / "tests")
    run_id = f"bench-{os.getpid()}-{int(time.time())}"
    turns: list[dict[str, Any]] = []  # measured turns only
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:  # one session: keep-alive
        await wait_healthy(session, base, server)
        for i in range(args.warmup + args.turns):
            source, text = messages[i % len(messages)]
            sender = f"{run_id}-{i // TURNS_PER_SENDER}"
            t0 = time.perf_counter()
            async with session.post(f"{base}/webhooks/rest/webhook", json={"sender": sender, "message": text}) as resp:
                await resp.read()
                resp.raise_for_status()
            if i >= args.warmup:
                turns.append({"sender": sender, "source": source, "ms": (time.perf_counter() - t0) * 1000})
        # after the timed loop: read each sender's tracker for the route and server-side turn time
        for sender, group in itertools.groupby(turns, key=lambda t: t["sender"]):
            async with session.get(f"{base}/conversations/{sender}/tracker") as resp:
                events: list[dict[str, Any]] = []
                if resp.status == 200:
                    events = (await resp.json()).get("events") or []
            reasons: list[dict[str, Any] | None] = []
            for event in events:
                if event.get("event") == "user":
                    reasons.append(None)
                elif event.get("event") == "bot" and reasons and reasons[-1] is None:
                    reasons[-1] = (event.get("metadata") or {}).get("reason") or {}
            mine = list(group)
            for turn, reason in zip(mine, reasons[-len(mine):]):  # warmup turns may share the first sender
                turn["route"] = (reason or {}).get("route") or "none"
                turn["server_ms"] = ((reason or {}).get("timings_ms") or {}).get("turn")
    return {"turns": turns, "server_peak_rss_mb": peak_rss_mb(server.pid)}


def summarize(args: argparse.Namespace, raw: dict[str, Any]) -> dict[str, Any]:
    turns: list[dict[str, Any]] = raw["turns"]
    ms = [t["ms"] for t in turns]

    def p50_by(key: str) -> dict[str, float]:
        groups: dict[str, list[float]] = {}
        for t in turns:
            groups.setdefault(str(t.get(key)), []).append(t["ms"])
        return {k: round(statistics.median(v), 2) for k, v in sorted(groups.items())}

    server_ms = [t["server_ms"] for t in turns if t.get("server_ms") is not None]
    return {
        "turns": len(turns),
        "warmup": args.warmup,
        "concurrency": 1,
        **{f"p{q}_ms": round(percentile(ms, q), 2) for q in (50, 90, 99)},
        "mean_ms": round(statistics.fmean(ms), 2),
        "max_ms": round(max(ms), 2),
        "by_route": p50_by("route"),
        "by_route_turns": {k: sum(1 for t in turns if t.get("route") == k) for k in p50_by("route")},
        "by_source": p50_by("source"),
        "server_turn_p50_ms": round(statistics.median(server_ms), 2) if server_ms else None,
        "server_peak_rss_mb": raw["server_peak_rss_mb"],
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


def markdown(s: dict[str, Any]) -> str:
    rows = [("turns (concurrency 1)", s["turns"]), ("p50 ms", s["p50_ms"]), ("p90 ms", s["p90_ms"]),
            ("p99 ms", s["p99_ms"]), ("mean ms", s["mean_ms"]), ("server-side turn p50 ms", s["server_turn_p50_ms"]),
            ("server peak RSS MB", s["server_peak_rss_mb"])]
    rows += [(f"p50 ms, route {k} ({s['by_route_turns'][k]} turns)", v) for k, v in s["by_route"].items()]
    rows += [(f"p50 ms, {k} messages", v) for k, v in s["by_source"].items()]
    lines = ["# Switchboard turn latency", "", f"{s['when']}, {s['machine']['cpus']} CPUs, "
             f"Python {s['machine']['python']}", "", "| metric | value |", "|---|---|"]
    return "\n".join(lines + [f"| {k} | {v} |" for k, v in rows]) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag, default in (("--project", "bot/templates/shop"), ("--out", "bench/results")):
        parser.add_argument(flag, default=default)
    for flag, number in (("--turns", 200), ("--warmup", 10)):
        parser.add_argument(flag, type=int, default=number)
    parser.add_argument("--port", type=int, default=None, help="default: a free port")
    parser.add_argument("--database-url", default=None, help="the tracker store (default: a fresh SQLite file)")
    parser.add_argument("--tree", default=str(REPO), help="the source tree the server runs from (default: this one)")
    args = parser.parse_args()
    tree = Path(args.tree).resolve()
    project = Path(args.project)
    args.project = str((project if project.exists() or project.is_absolute() else REPO / project).resolve())
    port = args.port or free_port()
    with tempfile.TemporaryDirectory(prefix="switchboard-bench-") as tmp:
        env = dict(os.environ,
                   SWITCHBOARD_DATABASE_URL=args.database_url or f"sqlite+aiosqlite:///{tmp}/bot.db",
                   SHOP_DATABASE_URL=f"sqlite+aiosqlite:///{tmp}/shop.db",
                   SWITCHBOARD_RATE_LIMIT="0",  # back-to-back turns from one address
                   PYTHONPATH=str(tree))
        cmd = [sys.executable, "-m", "bot.cli", "--project", args.project, "run", "--host", "127.0.0.1",
               "--port", str(port)]
        with logged_process(cmd, tree, env, Path(tmp) / "server.log", stop_timeout=10) as server:
            raw = asyncio.run(asyncio.wait_for(drive(args, f"http://127.0.0.1:{port}", server), RUN_LIMIT_S))
    summary = summarize(args, raw)
    write_report(args.out, "turn_latency", summary, markdown(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
