"""Storage and delivery on the three SQL backends, side by side in one run: what storing a turn
costs with its message id, replies and outbox rows against the events alone; how long finding a
message id takes in a long conversation; how fast the outbox drains with one and with three
dispatchers (each its own engine: three workers) into an output that takes 2 ms per message,
and whether any message went out twice.

    python bench/delivery_bench.py --out bench/results

SQLite in a temporary file; PostgreSQL (127.0.0.1:5432) and MariaDB (127.0.0.1:3306) in a database
created for the run and dropped after it (a backend that is not running is left out). Writes
OUT/delivery.json and OUT/delivery.md. It only measures: nothing here asserts on timings."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import delete

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bot.channels.dispatch import Dispatcher  # noqa: E402
from bot.storage.base import Outgoing  # noqa: E402
from bot.storage.memory_lock import InMemoryLockStore  # noqa: E402
from bot.storage.outbox import OutboxStore  # noqa: E402
from bot.storage.schema import outbox  # noqa: E402
from bot.storage.sql import SQLTrackerStore  # noqa: E402
from tests.conftest import port_open  # noqa: E402

APPENDS = 200
LONG = 5000
CONVERSATIONS, PER_CONVERSATION = 60, 10
SEND_MS = 2.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def turn(i: int, *, with_id: bool) -> list[dict[str, Any]]:
    now = time.time()
    user: dict[str, Any] = {"event": "user", "timestamp": now, "text": f"where is my order {i}?",
                            "parse_data": {"intent": {"name": "order_status", "confidence": 0.93}, "entities": []},
                            "input_channel": "telegram", "metadata": {}}
    if with_id:
        user["message_id"] = uuid.uuid4().hex
    return [user, {"event": "action", "timestamp": now, "name": "action_order_status", "policy": "RulePolicy"},
            {"event": "slot", "timestamp": now, "name": "order_number", "value": f"NW-{i}"},
            {"event": "bot", "timestamp": now, "text": "Your order has shipped.", "metadata": {"reason": {}}},
            {"event": "bot", "timestamp": now, "text": "Anything else?", "metadata": {"reason": {}}},
            {"event": "action", "timestamp": now, "name": "action_listen"}]


async def appends(store: SQLTrackerStore) -> dict[str, Any]:
    plain, full = [], []
    for i in range(APPENDS):  # alternated, so that drift on a busy machine hits both alike
        for with_id, times in ((False, plain), (True, full)):
            events = turn(i, with_id=with_id)
            extra: dict[str, Any] = {}
            if with_id:
                replies = [{"text": "Your order has shipped."}, {"text": "Anything else?"}]
                extra = {"replies": replies, "outbox": [Outgoing("telegram", r) for r in replies]}
            started = time.perf_counter()
            await store.append(f"bench-{'full' if with_id else 'plain'}-{i % 20}", events, **extra)
            times.append((time.perf_counter() - started) * 1000)
    async with store.engine.begin() as conn:  # these outbox rows are not for the drain below
        await conn.execute(delete(outbox))
    return {"events_only_p50_ms": round(statistics.median(plain), 2), "events_only_p95_ms": round(percentile(plain, .95), 2),
            "with_id_replies_outbox_p50_ms": round(statistics.median(full), 2),
            "with_id_replies_outbox_p95_ms": round(percentile(full, .95), 2)}


async def lookup(store: SQLTrackerStore) -> dict[str, Any]:
    first = turn(0, with_id=True)
    await store.append("bench-long", first, replies=[{"text": "Your order has shipped."}])
    for start in range(0, LONG, 500):
        await store.append("bench-long", [{"event": "bot", "timestamp": time.time(), "text": str(i)}
                                          for i in range(start, start + 500)])
    times = []
    for _ in range(100):
        started = time.perf_counter()
        found = await store.handled("bench-long", first[0]["message_id"])
        times.append((time.perf_counter() - started) * 1000)
        assert found is not None
    return {"events_after_it": LONG, "handled_p50_ms": round(statistics.median(times), 3)}


class Output:
    name = "telegram"

    def __init__(self) -> None:
        self.received: list[str] = []

    async def send(self, recipient_id: str, message: dict[str, Any], *, skip: int = 0,
                   delivery_id: str | None = None) -> None:
        await asyncio.sleep(SEND_MS / 1000)
        self.received.append(message["text"])


async def drain(url: str, workers: int) -> dict[str, Any]:
    stores = [SQLTrackerStore(url) for _ in range(workers)]
    try:
        for c in range(CONVERSATIONS):
            outgoing = [Outgoing("telegram", {"text": f"{workers}-{c}-{m}"}) for m in range(PER_CONVERSATION)]
            await stores[0].append(f"drain-{workers}-{c}", [{"event": "bot", "timestamp": time.time(), "text": "x"}],
                                   outbox=outgoing)
        output = Output()
        dispatchers = [Dispatcher(OutboxStore(s.engine), InMemoryLockStore(), {"telegram": output}) for s in stores]
        started = time.perf_counter()
        while True:
            tried = await asyncio.gather(*(d.poll_once() for d in dispatchers))
            if sum(tried) == 0:
                break
        seconds = time.perf_counter() - started
    finally:
        await asyncio.gather(*(s.close() for s in stores))
    total = CONVERSATIONS * PER_CONVERSATION
    return {"workers": workers, "messages": total, "delivered": len(set(output.received)),
            "sent_twice": len(output.received) - len(set(output.received)), "seconds": round(seconds, 2),
            "messages_per_second": round(total / seconds, 1)}


async def server_database(kind: str) -> tuple[str, Any] | None:
    """A fresh database on a running server, and how to drop it; None when the server is not there."""
    name = f"switchboard_bench_{uuid.uuid4().hex[:8]}"
    if kind == "postgresql" and port_open("127.0.0.1", 5432):
        import asyncpg

        async def run(sql: str) -> None:
            conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/test")
            try:
                await conn.execute(sql)
            finally:
                await conn.close()

        await run(f'CREATE DATABASE "{name}"')
        return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}", lambda: run(f'DROP DATABASE "{name}" WITH (FORCE)')
    if kind == "mariadb" and port_open("127.0.0.1", 3306):
        import asyncmy

        async def run_my(sql: str) -> None:
            conn = await asyncmy.connect(host="127.0.0.1", port=3306, user="root", password="")
            try:
                async with conn.cursor() as cursor:
                    await cursor.execute(sql)
            finally:
                conn.close()

        await run_my(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        return f"mysql+asyncmy://root@127.0.0.1:3306/{name}?charset=utf8mb4", lambda: run_my(f"DROP DATABASE `{name}`")
    return None


async def backend(kind: str, url: str) -> dict[str, Any]:
    store = SQLTrackerStore(url)
    await store.start()
    try:
        result = {"backend": kind, "append": await appends(store), "lookup": await lookup(store)}
    finally:
        await store.close()
    result["drain"] = [await drain(url, 1), await drain(url, 3)]
    return result


async def main(out: Path) -> None:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        results.append(await backend("sqlite", f"sqlite+aiosqlite:///{tmp}/bench.db"))
    for kind in ("postgresql", "mariadb"):
        made = await server_database(kind)
        if made is None:
            print(f"{kind}: not running, left out", file=sys.stderr)
            continue
        url, drop = made
        try:
            results.append(await backend(kind, url))
        finally:
            await drop()
    report = {"time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "cpus": os.cpu_count(),
              "python": platform.python_version(), "appends": APPENDS, "send_ms": SEND_MS, "results": results}
    out.mkdir(parents=True, exist_ok=True)
    (out / "delivery.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "delivery.md").write_text(markdown(report))
    print(markdown(report))


def markdown(report: dict[str, Any]) -> str:
    lines = ["# Storage and delivery", "", f"{report['time']}, {report['cpus']} CPUs, Python {report['python']}; "
             "a busy shared machine: compare rows of one run, not runs.", "",
             f"## Storing a turn ({report['appends']} appends of 6 events, alternated)", "",
             "| backend | events only p50 ms | p95 | + message id, replies, 2 outbox rows p50 ms | p95 |",
             "|---|---|---|---|---|"]
    for r in report["results"]:
        a = r["append"]
        lines.append(f"| {r['backend']} | {a['events_only_p50_ms']} | {a['events_only_p95_ms']} | "
                     f"{a['with_id_replies_outbox_p50_ms']} | {a['with_id_replies_outbox_p95_ms']} |")
    lines += ["", "## Finding a message id (a redelivery) in a long conversation", "",
              "| backend | events after the message | handled() p50 ms |", "|---|---|---|"]
    for r in report["results"]:
        lines.append(f"| {r['backend']} | {r['lookup']['events_after_it']} | {r['lookup']['handled_p50_ms']} |")
    lines += ["", f"## Draining the outbox ({CONVERSATIONS} conversations x {PER_CONVERSATION} messages, "
              f"{report['send_ms']} ms per send)", "",
              "| backend | dispatchers | delivered | sent twice | seconds | messages/s |", "|---|---|---|---|---|---|"]
    for r in report["results"]:
        for d in r["drain"]:
            lines.append(f"| {r['backend']} | {d['workers']} | {d['delivered']}/{d['messages']} | {d['sent_twice']} | "
                         f"{d['seconds']} | {d['messages_per_second']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    asyncio.run(main(parser.parse_args().out))
