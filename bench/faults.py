"""The fault bench: conversations over REST against `switchboard run --workers 2` on PostgreSQL and
Redis, with a fault in the middle of the run, and what the customers lost.

Everything is on loopback and private: a PostgreSQL cluster and a redis-server of the bench's own
(bench/private_servers.py), the trained project's models, the bot on a free port. Scenarios:
- `worker_kill`: a worker is killed with SIGKILL (the supervisor starts a new one);
- `postgres_restart`: PostgreSQL is stopped (`-m fast`: clients disconnected) and started again;
- `redis_restart`: redis-server is killed and started again after 5 s (empty: locks lost).
Each scenario starts a fresh bot on a fresh database. `--conversations` run at once, each sending
`--messages` messages one after another; the fault comes once 40 % of all messages are answered.
The client retries as a channel does: a connection error, a timeout or any 5xx is sent again
with the same message id (`metadata.message_id` in the REST body), after Retry-After when the
server gives one (else 0.5 s, doubling, at most 5 s); a message is abandoned after 180 s.

Per scenario: acknowledged (answered 200), lost (acknowledged but not in the tracker), duplicated
replies (bot replies stored for a message id beyond its first answered turn), client errors by
kind, the longest outage a message saw (its first failed attempt to its answer), and the recovery
time (the fault over, e.g. the database accepting again, until the last failed attempt).
Writes OUT/faults.json and OUT/faults.md. Nothing is asserted here; tests/integration/test_faults.py
runs it small in CI and asserts."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench.serving import write_report  # noqa: E402
from bench.private_servers import PrivatePostgres, PrivateRedis, free_port  # noqa: E402

SCENARIOS = ("worker_kill", "postgres_restart", "redis_restart")
MESSAGES = [  # answered by an intent, a form or a support log: every one gets a bot reply
    "hello", "where is my order NW-10002?", "how long does shipping take?", "do you sell gift cards?",
    "what payment methods do you accept?", "what are your opening hours?", "thanks",
    "can I change my delivery address?", "how do I reset my password?", "do you ship internationally?",
    "are you a bot?", "what is your returns policy?", "where is my order NW-10001?", "thank you!",
    "how much is express shipping?", "can I pay with PayPal?", "hi there", "when will my refund arrive?",
    "do you have a physical store?", "great, thanks",
]
REDIS_DOWN_S = 5.0
READY_LIMIT_S = 300.0
GIVE_UP_S = 180.0
REQUEST_TIMEOUT_S = 60.0
FAULT_AT = 0.4


@dataclass
class Attempt:
    started: float
    ended: float
    outcome: str  # ok, 503, 500, 5xx, 4xx, connection, timeout


@dataclass
class Sent:
    conversation: str
    message_id: str
    text: str
    attempts: list[Attempt] = field(default_factory=list)
    acked_at: float | None = None


class Bot:
    """`switchboard run --workers N` as a subprocess, its output in a log file."""

    def __init__(self, project: Path, database_url: str, redis_url: str, workers: int, tmp: Path) -> None:
        self.port, self.workers, self.log = free_port(), workers, tmp / "bot.log"
        env = {**os.environ, "SWITCHBOARD_DATABASE_URL": database_url, "SWITCHBOARD_LOCK_STORE_URL": redis_url,
               "SWITCHBOARD_GENERATOR": "none", "SWITCHBOARD_TORCH_THREADS": "1",
               "SWITCHBOARD_RATE_LIMIT": "0",  # the load comes from one address
               "SHOP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'shop.db'}", "PYTHONPATH": str(REPO)}
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "--project", str(project), "run", "--port", str(self.port),
                 "--workers", str(workers)], env=env, stdout=out, stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{self.port}"

    def pids(self) -> list[int]:
        pid = self.process.pid
        try:
            return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except FileNotFoundError:
            return []

    async def ready(self, http: aiohttp.ClientSession) -> set[int]:
        """Until every worker has answered /health with 200."""
        seen: set[int] = set()
        deadline = time.monotonic() + READY_LIMIT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the bot exited ({self.process.returncode}): see {self.log}")
            try:
                async with http.get(self.base + "/health") as r:
                    if r.status == 200:
                        seen.add((await r.json())["pid"])
            except aiohttp.ClientError:
                pass
            if len(seen) >= self.workers and seen <= set(self.pids()):
                return seen
            await asyncio.sleep(0.1)
        raise RuntimeError(f"the workers were not ready within {READY_LIMIT_S:.0f}s: see {self.log}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait()


async def send(http: aiohttp.ClientSession, base: str, sent: Sent) -> None:
    """One message until it is answered 200 (or abandoned), retried as a channel retries."""
    body = {"sender": sent.conversation, "message": sent.text, "metadata": {"message_id": sent.message_id}}
    pause, first = 0.5, time.time()
    while time.time() - first < GIVE_UP_S:
        started, retry_after = time.time(), None
        try:
            async with http.post(base + "/webhooks/rest/webhook", json=body,
                                 timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)) as r:
                await r.read()
                status = r.status
                retry_after = r.headers.get("Retry-After")
            outcome = "ok" if status == 200 else str(status) if status in (500, 503) else \
                "5xx" if status >= 500 else "4xx"
        except asyncio.TimeoutError:
            outcome = "timeout"
        except aiohttp.ClientError:
            outcome = "connection"
        sent.attempts.append(Attempt(started, time.time(), outcome))
        if outcome == "ok":
            sent.acked_at = time.time()
            return
        if outcome == "4xx":  # the request itself is wrong: a channel would not send it again
            return
        await asyncio.sleep(float(retry_after) if retry_after and retry_after.isdigit() else pause)
        pause = min(pause * 2, 5.0)


async def converse(http: aiohttp.ClientSession, base: str, conversation: str, count: int, offset: int,
                   log: list[Sent]) -> None:
    for i in range(count):
        sent = Sent(conversation, uuid.uuid4().hex, MESSAGES[(offset + i) % len(MESSAGES)])
        log.append(sent)
        await send(http, base, sent)


async def inject(name: str, bot: Bot, pg: PrivatePostgres, redis: PrivateRedis) -> tuple[float, float]:
    """The fault; returns (when it began, when the component was back), unix times."""
    began = time.time()
    if name == "worker_kill":
        victim, others = bot.pids()[0], set(bot.pids()[1:])
        os.kill(victim, signal.SIGKILL)
        while time.time() - began < READY_LIMIT_S:  # back: the victim's successor is ready (the supervisor's log)
            fresh = [p for p in bot.pids() if p != victim and p not in others]
            if fresh and f"ready (pid {fresh[0]})" in bot.log.read_text(errors="replace"):
                return began, time.time()
            await asyncio.sleep(0.1)
        raise RuntimeError(f"no worker replaced the killed one within {READY_LIMIT_S:.0f}s: see {bot.log}")
    if name == "postgres_restart":
        await asyncio.to_thread(pg.restart)
    elif name == "redis_restart":
        await asyncio.to_thread(redis.restart, REDIS_DOWN_S)
    else:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
    return began, time.time()


async def dedupes(http: aiohttp.ClientSession, base: str) -> bool:
    """Whether the bot answers a message id only once (the delivery work's unique message ids)."""
    cid, body = f"probe-{uuid.uuid4().hex[:8]}", {"message": "hello", "metadata": {"message_id": uuid.uuid4().hex}}
    for _ in range(2):
        async with http.post(base + "/webhooks/rest/webhook", json={**body, "sender": cid}) as r:
            await r.read()
    async with http.get(f"{base}/conversations/{cid}/tracker?include_events=ALL") as r:
        events = (await r.json())["events"]
    return sum(e["event"] == "user" for e in events) == 1


async def run_scenario(name: str, project: Path, pg: PrivatePostgres, redis: PrivateRedis, *,
                       conversations: int, messages: int, workers: int = 2) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"switchboard-faults-{name}-") as tmp:
        database = pg.create_database(f"faults_{name}_{uuid.uuid4().hex[:6]}")
        bot = Bot(project, database, redis.url(), workers, Path(tmp))
        try:
            connector = aiohttp.TCPConnector(force_close=True, limit=0)  # a new connection per request
            async with aiohttp.ClientSession(connector=connector) as http:
                await bot.ready(http)
                dedupe = await dedupes(http, bot.base)
                log: list[Sent] = []
                total, started = conversations * messages, time.time()
                talks = [asyncio.create_task(converse(http, bot.base, f"{name}-{c}-{uuid.uuid4().hex[:6]}",
                                                      messages, c, log)) for c in range(conversations)]
                while sum(s.acked_at is not None for s in log) < FAULT_AT * total and not all(t.done() for t in talks):
                    await asyncio.sleep(0.05)
                began, back = await inject(name, bot, pg, redis)
                await asyncio.gather(*talks)
                elapsed = time.time() - started
                trackers = {}
                for cid in sorted({s.conversation for s in log}):
                    async with http.get(f"{bot.base}/conversations/{cid}/tracker?include_events=ALL") as r:
                        trackers[cid] = (await r.json())["events"]
        finally:
            status = bot.stop()
        report = summarize(log, trackers, began, back)
        report.update(seconds=round(elapsed, 1), fault_began_after_s=round(began - started, 1),
                      fault_lasted_s=round(back - began, 1), dedupe_by_message_id=dedupe, bot_exit_status=status)
        return report


def summarize(log: list[Sent], trackers: dict[str, list[dict[str, Any]]], began: float, back: float) -> dict[str, Any]:
    stored: dict[str, int] = {}  # message id -> turns stored with at least one bot reply
    users: dict[str, int] = {}
    for events in trackers.values():
        current: str | None = None
        turn, replied = -1, set[int]()
        for i, event in enumerate(events):
            if event["event"] == "user":
                current = (event.get("metadata") or {}).get("message_id")
                users[current] = users.get(current, 0) + 1
                turn = i
            elif event["event"] == "bot" and current is not None and turn not in replied:
                replied.add(turn)
                stored[current] = stored.get(current, 0) + 1
    acked = [s for s in log if s.acked_at is not None]
    errors: dict[str, int] = {}
    for s in log:
        for a in s.attempts:
            if a.outcome != "ok":
                errors[a.outcome] = errors.get(a.outcome, 0) + 1
    failures = [a for s in log for a in s.attempts if a.outcome != "ok"]
    waits = [s.acked_at - next(a.started for a in s.attempts if a.outcome != "ok")
             for s in acked if s.acked_at is not None and any(a.outcome != "ok" for a in s.attempts)]
    return {
        "messages": len(log), "acknowledged": len(acked), "abandoned": len(log) - len(acked),
        "lost": sum(users.get(s.message_id, 0) == 0 for s in acked),
        "duplicated_replies": sum(max(0, stored.get(s.message_id, 0) - 1) for s in log),
        "duplicated_messages": sum(max(0, users.get(s.message_id, 0) - 1) for s in log),
        "client_errors": dict(sorted(errors.items())), "server_errors_500": errors.get("500", 0),
        "acknowledged_after_fault_began": sum(s.acked_at > began for s in acked if s.acked_at is not None),
        # an answered request's own time, for scale: the machine is loaded by the run itself
        "median_answer_s": round(statistics.median([a.ended - a.started for s in acked for a in s.attempts
                                                    if a.outcome == "ok"]), 2) if acked else 0.0,
        "messages_that_failed_once": len(waits),
        "median_outage_s": round(statistics.median(waits), 2) if waits else 0.0,
        "longest_outage_s": round(max(waits, default=0.0), 2),
        # requests sent once the component was back and still failed: how long service took to resume
        "failed_after_back": sum(a.started >= back for a in failures),
        "recovery_s": round(max([a.ended - back for a in failures if a.started >= back], default=0.0), 2),
    }


def markdown(report: dict[str, Any]) -> str:
    s = report["settings"]
    lines = [
        "# Fault bench", "",
        f"{report['time']}, {report['machine']}. `switchboard run --workers {s['workers']}` on a private PostgreSQL "
        f"and Redis, {s['conversations']} conversations x {s['messages']} messages over REST, retried with the "
        "same message id; the fault comes once 40 % of the messages are answered. Measured, not asserted.", "",
        "| scenario | acknowledged | lost | duplicated replies | client errors | 500s | median answer s | "
        "messages that failed | median / longest outage s | failed after back | recovery s | fault lasted s | "
        "run s | dedupe by id |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in report["scenarios"].items():
        errors = ", ".join(f"{k}: {v}" for k, v in r["client_errors"].items()) or "none"
        lines.append(f"| {name} | {r['acknowledged']} of {r['messages']} | {r['lost']} | {r['duplicated_replies']} | "
                     f"{errors} | {r['server_errors_500']} | {r['median_answer_s']} | "
                     f"{r['messages_that_failed_once']} | "
                     f"{r['median_outage_s']} / {r['longest_outage_s']} | {r['failed_after_back']} | "
                     f"{r['recovery_s']} | {r['fault_lasted_s']} | {r['seconds']} | "
                     f"{'yes' if r['dedupe_by_message_id'] else 'no'} |")
    lines += ["", "Lost: answered 200 but not in the tracker. Duplicated replies: bot replies stored for a message "
              "id beyond its first answered turn (a retry of a turn that was stored although its answer never came "
              "back; the bot drops such a retry only where it deduplicates REST message ids). Outage: how long a "
              "message that failed at least once waited from its first failed attempt to its answer (retries "
              "after Retry-After, and the answer's own time on a loaded machine, included). Failed after back: "
              "attempts sent once the component was back (the worker's successor ready, the server accepting "
              "again) that still failed; recovery: from that moment to the end of the last of them.", ""]
    return "\n".join(lines)


async def bench(project: Path, scenarios: list[str], conversations: int, messages: int, workers: int) -> dict[str, Any]:
    pg, redis = PrivatePostgres(), PrivateRedis()
    pg.start()
    redis.start()
    try:
        results = {}
        for name in scenarios:
            print(f"{name}: {conversations} conversations x {messages} messages ...", flush=True)
            results[name] = await run_scenario(name, project, pg, redis, conversations=conversations,
                                               messages=messages, workers=workers)
            print(json.dumps(results[name]), flush=True)
    finally:
        redis.close()
        pg.close()
    return {"time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": f"{os.cpu_count()} CPUs, Python {platform.python_version()}",
            "settings": {"conversations": conversations, "messages": messages, "workers": workers,
                         "redis_down_s": REDIS_DOWN_S, "fault_at": FAULT_AT}, "scenarios": results}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", default=str(REPO / "bot" / "templates" / "shop"), help="a trained bot project")
    parser.add_argument("--out", default=str(REPO / "bench" / "results"))
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--conversations", type=int, default=50)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    # stopped from outside: clean up (the bot, the private servers) as after Ctrl-C
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    report = asyncio.run(bench(Path(args.project).resolve(), args.scenarios, args.conversations, args.messages,
                               args.workers))
    write_report(args.out, "faults", report, markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
