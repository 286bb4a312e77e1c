"""The agent console under load: how fast a customer's message reaches every open console (live
updates over SSE, this worker's hub against Redis pub/sub), how the queue API grows with the
queue, and what the page weighs.

Starts `python -m bot.cli --project DIR run` on loopback with a throwaway SQLite database, adds
an agent with `switchboard agents add`, and writes OUT/console.json and OUT/console.md. It only
measures: nothing here asserts on timings."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gzip
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench.serving import free_port, percentile  # noqa: E402

STATIC = REPO / "bot" / "console" / "static"
PASSWORD = "bench password 1"
MESSAGES = 30
CONSOLES = (1, 10, 50)
QUEUE_SIZES = (10, 100, 1000)
QUEUE_READS = 30
REDIS = "redis://127.0.0.1:6379/15"


def redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


class Bot:
    """The bot as a subprocess on a fresh database, with one agent."""

    def __init__(self, project: Path, workdir: Path, redis: bool) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        db = workdir / f"console-{'redis' if redis else 'local'}.db"
        self.env = {**os.environ, "SWITCHBOARD_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
                    "SWITCHBOARD_GENERATOR": "none", "SWITCHBOARD_API_TOKEN": "",
                    "SWITCHBOARD_RATE_LIMIT": "0"}  # the load comes from one address
        if redis:
            self.env["SWITCHBOARD_LOCK_STORE_URL"] = REDIS
        cli = [sys.executable, "-m", "bot.cli", "--project", str(project)]
        subprocess.run([*cli, "agents", "add", "bench", "--admin"], input=PASSWORD + "\n", text=True,
                       env=self.env, check=True, capture_output=True, cwd=REPO)
        self.proc = subprocess.Popen([*cli, "run", "--port", str(self.port)], env=self.env, cwd=REPO,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    async def ready(self, http: aiohttp.ClientSession) -> None:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                async with http.get(f"{self.base}/health") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.5)
        raise RuntimeError("the bot did not become healthy within 180 s")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


async def login(http: aiohttp.ClientSession, base: str) -> str:
    async with http.post(f"{base}/console/api/login", json={"name": "bench", "password": PASSWORD}) as r:
        r.raise_for_status()
        return str((await r.json())["csrf"])


async def listen(http: aiohttp.ClientSession, base: str, arrivals: dict[str, list[float]],
                 connected: asyncio.Event, counter: list[int], total: int) -> None:
    async with http.get(f"{base}/console/api/live", timeout=aiohttp.ClientTimeout(total=None)) as r:
        counter[0] += 1
        if counter[0] == total:
            connected.set()
        async for raw in r.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("data: "):
                update = json.loads(line[6:])
                for item in update.get("items", []):
                    if item.get("kind") == "customer" and item.get("text", "").startswith("bench "):
                        arrivals.setdefault(item["text"], []).append(time.perf_counter())


async def live_latency(bot: Bot, consoles: int) -> dict[str, Any]:
    """Messages to a conversation that waits for a person (stored, not answered): from sending
    each until the last of `consoles` open consoles has it."""
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        await login(http, bot.base)
        sender = f"live-{consoles}-{time.time_ns()}"
        await http.post(f"{bot.base}/webhooks/rest/webhook", json={"sender": sender, "message": "/ask_human"})
        arrivals: dict[str, list[float]] = {}
        connected, counter = asyncio.Event(), [0]
        streams = [asyncio.create_task(listen(http, bot.base, arrivals, connected, counter, consoles))
                   for _ in range(consoles)]
        await asyncio.wait_for(connected.wait(), 60)
        await asyncio.sleep(0.2)
        last, rest = [], []
        for i in range(MESSAGES):
            text = f"bench {consoles} message {i}"
            started = time.perf_counter()
            async with http.post(f"{bot.base}/webhooks/rest/webhook", json={"sender": sender, "message": text}) as r:
                await r.read()
            rest.append((time.perf_counter() - started) * 1000)
            deadline = time.monotonic() + 30
            while len(arrivals.get(text, [])) < consoles and time.monotonic() < deadline:
                await asyncio.sleep(0.001)
            got = arrivals.get(text, [])
            if len(got) == consoles:
                last.append((max(got) - started) * 1000)
        for task in streams:
            task.cancel()
        await asyncio.gather(*streams, return_exceptions=True)
    return {"consoles": consoles, "messages": MESSAGES, "delivered_to_all": len(last),
            "last_console_p50_ms": round(percentile(last, 50), 2) if last else None,
            "last_console_p95_ms": round(percentile(last, 95), 2) if last else None,
            "rest_round_trip_p50_ms": round(percentile(rest, 50), 2)}


async def queue_reads(bot: Bot) -> list[dict[str, Any]]:
    """GET /console/api/queue with 10, 100, 1000 conversations waiting."""
    out = []
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        await login(http, bot.base)
        present = 0
        for size in QUEUE_SIZES:
            while present < size:
                event = {"event": "handoff", "status": "pending", "trigger": "bench"}
                async with http.post(f"{bot.base}/conversations/queue-{present}/tracker/events", json=event) as r:
                    r.raise_for_status()
                present += 1
            times, body = [], b""
            for _ in range(QUEUE_READS):
                started = time.perf_counter()
                async with http.get(f"{bot.base}/console/api/queue") as r:
                    body = await r.read()
                times.append((time.perf_counter() - started) * 1000)
            waiting = len(json.loads(body)["conversations"])
            out.append({"queued": size, "returned": waiting, "p50_ms": round(percentile(times, 50), 2),
                        "p95_ms": round(percentile(times, 95), 2), "bytes": len(body)})
    return out


def page_weight() -> dict[str, Any]:
    files = sorted(p for p in STATIC.iterdir() if p.is_file())
    raw = sum(p.stat().st_size for p in files)
    zipped = sum(len(gzip.compress(p.read_bytes())) for p in files)
    return {"files": [p.name for p in files], "bytes": raw, "gzip_bytes": zipped}


async def run(project: Path) -> dict[str, Any]:
    modes = ["local"] + (["redis"] if redis_up() else [])
    results: dict[str, Any] = {"live": [], "queue": None, "page": page_weight(), "modes": modes}
    with tempfile.TemporaryDirectory() as tmp:
        for mode in modes:
            bot = Bot(project, Path(tmp), redis=mode == "redis")
            try:
                async with aiohttp.ClientSession() as http:
                    await bot.ready(http)
                for consoles in CONSOLES:
                    results["live"].append({"hub": mode, **await live_latency(bot, consoles)})
                if mode == "local":
                    results["queue"] = await queue_reads(bot)
            finally:
                bot.stop()
    return results


def report(results: dict[str, Any], out: Path) -> None:
    meta = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "cpus": os.cpu_count(),
            "python": platform.python_version()}
    out.mkdir(parents=True, exist_ok=True)
    (out / "console.json").write_text(json.dumps({**meta, **results}, indent=2) + "\n")
    lines = ["# Agent console", "", f"{meta['date']}, {meta['cpus']} CPUs, Python {meta['python']}", "",
             "## A customer's message reaching every open console (SSE)", "",
             f"{MESSAGES} messages to a conversation waiting for a person; from sending each until the last "
             "console has it. The REST round trip is the same request's own answer.", "",
             "| hub | consoles | delivered to all | last console p50 ms | p95 ms | REST round trip p50 ms |",
             "|---|---|---|---|---|---|"]
    for row in results["live"]:
        lines.append(f"| {row['hub']} | {row['consoles']} | {row['delivered_to_all']}/{row['messages']} | "
                     f"{row['last_console_p50_ms']} | {row['last_console_p95_ms']} | {row['rest_round_trip_p50_ms']} |")
    lines += ["", "## GET /console/api/queue (SQLite)", "", "| conversations waiting | p50 ms | p95 ms | bytes |",
              "|---|---|---|---|"]
    for row in results["queue"] or []:
        lines.append(f"| {row['queued']} | {row['p50_ms']} | {row['p95_ms']} | {row['bytes']} |")
    page = results["page"]
    lines += ["", "## The page", "", f"{len(page['files'])} files ({', '.join(page['files'])}), "
              f"{page['bytes'] / 1024:.1f} KiB, {page['gzip_bytes'] / 1024:.1f} KiB gzipped; no build step, "
              "no third-party code.", ""]
    (out / "console.md").write_text("\n".join(lines))
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--project", type=Path, default=REPO / "bot" / "templates" / "shop")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args()
    report(asyncio.run(run(args.project.resolve())), args.out)


if __name__ == "__main__":
    main()
