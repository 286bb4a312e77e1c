"""Turns per second under load: the real server over its REST channel at 1, 8 and 32 connections,
one worker on SQLite, and one and two workers (`switchboard run --workers 2`) on PostgreSQL with
Redis locks (the same store for both, so that the rows show what a second worker adds).

Each connection sends held-out test messages one after another (a new conversation every 5 turns,
so sessions start as they do in real traffic). With `--baseline-tree DIR` the same runs are made
with the server started from another source tree (e.g. a checkout of main), alternating tree by
tree in rounds, so the machine's drift touches both; the report gives the ratios. After each run
every stored bot event is checked for its `metadata.reason` (route and timings): a faster turn
must still record why it answered. Writes OUT/turn_throughput.json and OUT/turn_throughput.md;
it only measures, nothing here asserts on timings."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import platform
import socket
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
from bench.serving import free_port, fresh_postgres, logged_process, peak_rss_mb, percentile, wait_healthy, write_report  # noqa: E402
from bench.turn_latency import TURNS_PER_SENDER, load_messages  # noqa: E402

POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
REDIS = "redis://127.0.0.1:6379/0"
LEVEL_LIMIT_S = 300.0


@contextlib.contextmanager
def server(tree: Path, project: str, workers: int, database_url: str,
           redis_url: str | None) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`python -m bot.cli run` from `tree` on a free loopback port; yields its base URL."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="switchboard-throughput-") as tmp:
        env = dict(os.environ, SWITCHBOARD_DATABASE_URL=database_url, SWITCHBOARD_GENERATOR="none",
                   SWITCHBOARD_RATE_LIMIT="0",  # the load comes from one address
                   SHOP_DATABASE_URL=f"sqlite+aiosqlite:///{tmp}/shop.db", PYTHONPATH=str(tree))
        env.pop("SWITCHBOARD_LOCK_STORE_URL", None)
        if redis_url:
            env["SWITCHBOARD_LOCK_STORE_URL"] = redis_url
        cmd = [sys.executable, "-m", "bot.cli", "--project", project, "run", "--host", "127.0.0.1",
               "--port", str(port), "--workers", str(workers)]
        with logged_process(cmd, tree, env, Path(tmp) / "server.log", stop_timeout=20) as proc:
            yield f"http://127.0.0.1:{port}", proc


async def level(session: aiohttp.ClientSession, base: str, messages: list[tuple[str, str]], connections: int,
                turns: int, tag: str) -> dict[str, Any]:
    """`turns` turns over `connections` connections, each sending one message at a time."""
    per = max(1, turns // connections)
    latencies: list[float] = []
    senders: set[str] = set()

    async def connection(c: int) -> None:
        for i in range(per):
            _, text = messages[(c * per + i) % len(messages)]
            sender = f"{tag}-c{connections}-{c}-{i // TURNS_PER_SENDER}"
            senders.add(sender)
            t0 = time.perf_counter()
            async with session.post(f"{base}/webhooks/rest/webhook", json={"sender": sender, "message": text}) as resp:
                await resp.read()
                resp.raise_for_status()
            latencies.append((time.perf_counter() - t0) * 1000)

    started = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(connection(c) for c in range(connections))), LEVEL_LIMIT_S)
    wall = time.perf_counter() - started
    return {"connections": connections, "turns": len(latencies), "seconds": round(wall, 2),
            "turns_per_s": round(len(latencies) / wall, 2),
            **{f"p{q}_ms": round(percentile(latencies, q), 2) for q in (50, 95)},
            "senders": sorted(senders)}


async def reasons_recorded(session: aiohttp.ClientSession, base: str, senders: list[str]) -> dict[str, int]:
    """How many bot events the trackers hold, and how many lack a reason (route and timings)."""
    bots = missing = 0
    for sender in senders:
        async with session.get(f"{base}/conversations/{sender}/tracker") as resp:
            resp.raise_for_status()
            events = (await resp.json()).get("events") or []
        for event in events:
            if event.get("event") != "bot":
                continue
            bots += 1
            reason = (event.get("metadata") or {}).get("reason") or {}
            if not reason.get("route") or "turn" not in (reason.get("timings_ms") or {}):
                missing += 1
    return {"bot_events": bots, "without_reason": missing}


async def all_workers_ready(session: aiohttp.ClientSession, base: str, workers: int) -> None:
    """Until /health has answered ready from `workers` different processes (a worker still loading
    its models answers turns 503)."""
    ready: set[int] = set()
    deadline = time.monotonic() + 180
    while len(ready) < workers and time.monotonic() < deadline:
        async with session.get(f"{base}/health", headers={"Connection": "close"}) as resp:
            body = await resp.json() if resp.status == 200 else {}
        if body.get("status") == "ok":
            ready.add(int(body["pid"]))
        await asyncio.sleep(0.05)


async def drive(base: str, proc: subprocess.Popen[bytes], args: argparse.Namespace, tag: str) -> dict[str, Any]:
    messages = load_messages(Path(args.project) / "tests")
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120), connector=connector) as session:
        await wait_healthy(session, base, proc)
        await all_workers_ready(session, base, args.current_workers)
        await level(session, base, messages, 4, args.warmup, f"{tag}-warm")  # models, pools, caches
        levels = []
        for connections in args.connections:
            turns = args.turns if connections == 1 else args.turns * 2
            levels.append(await level(session, base, messages, connections, turns, tag))
        senders = [s for lv in levels for s in lv.pop("senders")]
        checked = await reasons_recorded(session, base, senders)
    return {"levels": levels, "reasons": checked, "server_peak_rss_mb": peak_rss_mb(proc.pid)}


def reachable(url: str) -> bool:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    try:
        with socket.create_connection((parsed.host or "127.0.0.1", parsed.port or 5432), timeout=1):
            return True
    except OSError:
        return False


def run_one(tree: Path, workers: int, store: str, args: argparse.Namespace) -> dict[str, Any]:
    tag = f"tp-{uuid.uuid4().hex[:8]}"
    with contextlib.ExitStack() as stack:
        if store == "sqlite":
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="switchboard-throughput-db-"))
            url, redis = f"sqlite+aiosqlite:///{tmp}/bot.db", None
        else:
            url, redis = stack.enter_context(fresh_postgres(args.postgres_url)), args.redis_url
        base, proc = stack.enter_context(server(tree, args.project, workers, url, redis))
        args.current_workers = workers
        result = asyncio.run(drive(base, proc, args, tag))
    return {"tree": str(tree), "workers": workers, "store": store, **result}


def summarize(runs: list[dict[str, Any]], trees: dict[str, Path]) -> list[dict[str, Any]]:
    """One row per (tree, store, workers, connections): medians over the rounds."""
    rows = []
    for name, tree in trees.items():
        for store, workers in sorted({(r["store"], r["workers"]) for r in runs}, key=lambda sw: (sw[0] != "sqlite", sw)):
            mine = [r for r in runs if r["tree"] == str(tree) and r["workers"] == workers and r["store"] == store]
            for i, lv in enumerate(mine[0]["levels"] if mine else []):
                same = [r["levels"][i] for r in mine]
                rows.append({"tree": name, "store": store, "workers": workers, "connections": lv["connections"],
                             "rounds": len(same), "turns": sum(s["turns"] for s in same),
                             **{k: round(statistics.median(s[k] for s in same), 2)
                                for k in ("turns_per_s", "p50_ms", "p95_ms")}})
    return rows


def ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """after / before for each (workers, connections): throughput up, latency down."""
    out = []
    for after in (r for r in rows if r["tree"] == "this"):
        before = next((r for r in rows if r["tree"] == "baseline" and r["workers"] == after["workers"]
                       and r["store"] == after["store"] and r["connections"] == after["connections"]), None)
        if before:
            out.append({"store": after["store"], "workers": after["workers"], "connections": after["connections"],
                        "turns_per_s_ratio": round(after["turns_per_s"] / before["turns_per_s"], 2),
                        "p50_speedup": round(before["p50_ms"] / after["p50_ms"], 2)})
    return out


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = ["# Switchboard turns per second under load", "",
             f"{report['when']}, {m['cpus']} CPUs, Python {m['python']}; REST channel, generator off; "
             f"{report['rounds']} round(s), medians; stores: SQLite (one worker), PostgreSQL with Redis locks; "
             "client on the same machine.", "",
             "| tree | store | workers | connections | turns/s | p50 ms | p95 ms |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['tree']} | {r['store']} | {r['workers']} | {r['connections']} | {r['turns_per_s']} | "
              f"{r['p50_ms']} | {r['p95_ms']} |" for r in report["rows"]]
    if report["ratios"]:
        lines += ["", "This tree against the baseline (" + report["trees"].get("baseline", "") + "):", "",
                  "| store | workers | connections | turns/s ratio | p50 speed-up |", "|---|---|---|---|---|"]
        lines += [f"| {r['store']} | {r['workers']} | {r['connections']} | x{r['turns_per_s_ratio']} | "
                  f"x{r['p50_speedup']} |" for r in report["ratios"]]
    missing = sum(r["reasons"]["without_reason"] for r in report["runs"])
    bots = sum(r["reasons"]["bot_events"] for r in report["runs"])
    lines += ["", f"Bot events stored: {bots}; without a reason (route and turn timing): {missing}."]
    if report.get("skipped"):
        lines += ["", f"Not measured: {report['skipped']}."]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", default="bot/templates/shop")
    parser.add_argument("--out", default="bench/results")
    parser.add_argument("--tree", default=str(REPO), help="the source tree measured (default: this one)")
    parser.add_argument("--baseline-tree", default=None, help="a second tree measured alongside (e.g. main)")
    parser.add_argument("--setups", default="1/sqlite,1/postgres,2/postgres",
                        help="workers/store pairs; postgres: PostgreSQL with Redis locks (needed for 2+ workers)")
    parser.add_argument("--connections", default="1,8,32")
    parser.add_argument("--turns", type=int, default=150, help="turns at 1 connection (twice this above)")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--postgres-url", default=os.environ.get("SWITCHBOARD_TEST_POSTGRES_URL", POSTGRES))
    parser.add_argument("--redis-url", default=REDIS)
    args = parser.parse_args()
    project = Path(args.project)
    args.project = str((project if project.exists() or project.is_absolute() else REPO / project).resolve())
    args.connections = [int(c) for c in args.connections.split(",")]
    trees = {"this": Path(args.tree).resolve()}
    if args.baseline_tree:
        trees["baseline"] = Path(args.baseline_tree).resolve()
    setups = [(int(w), store) for w, _, store in (s.partition("/") for s in args.setups.split(","))]
    if any(store not in ("sqlite", "postgres") or (store == "sqlite" and w != 1) for w, store in setups):
        parser.error("--setups: WORKERS/sqlite (one worker) or WORKERS/postgres")
    skipped = None
    if any(store == "postgres" for _, store in setups) and not (reachable(args.postgres_url)
                                                                 and reachable(args.redis_url)):
        skipped = f"PostgreSQL ({args.postgres_url}) and Redis ({args.redis_url}) are not reachable"
        print(skipped, file=sys.stderr)
        setups = [(w, store) for w, store in setups if store == "sqlite"]
    runs = []
    for round_ in range(args.rounds):
        for workers, store in setups:
            order = list(trees.items()) if round_ % 2 == 0 else list(reversed(trees.items()))
            for name, tree in order:
                print(f"round {round_ + 1}: {name}, {workers} worker(s) on {store}", flush=True)
                runs.append(run_one(tree, workers, store, args))
    rows = summarize(runs, trees)
    report = {"rows": rows, "ratios": ratios(rows), "runs": runs, "rounds": args.rounds, "skipped": skipped,
              "trees": {k: str(v) for k, v in trees.items()},
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "platform": platform.platform()},
              "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    write_report(args.out, "turn_throughput", report, markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
