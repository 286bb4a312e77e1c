"""Turn latency through each channel, side by side, at concurrency 1: REST, socket.io over
WebSocket and over long polling (python-socketio client), Telegram and Slack webhooks (against
the local fake platform APIs in tests/fakes, so their numbers include one API call per reply).

Runs the real app in process on a trained project, sends the same held-out messages through
each channel in turn and times each turn from the client's side until the turn's (first) reply
is there. Writes OUT/channel_latency.json and OUT/channel_latency.md. It only measures."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import hmac
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Awaitable, Callable

import aiohttp

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench.serving import free_port, percentile  # noqa: E402
from bench.turn_latency import load_messages  # noqa: E402
from tests.fakes.slack_api import FakeSlack  # noqa: E402
from tests.fakes.telegram_api import FakeTelegram  # noqa: E402

TG_TOKEN, TG_SECRET = "123:bench", "bench-secret"
SLACK_TOKEN, SLACK_SECRET = "xoxb-bench", "bench-signing-secret"
Turn = Callable[[str, str], Awaitable[None]]


async def rest(base: str, http: aiohttp.ClientSession) -> Turn:
    async def turn(sender: str, text: str) -> None:
        async with http.post(f"{base}/webhooks/rest/webhook", json={"sender": sender, "message": text}) as r:
            assert r.status == 200, await r.text()
            await r.json()

    return turn


async def socketio_turns(base: str, transport: str, clients: list[Any]) -> Turn:
    import socketio

    client = socketio.AsyncClient(reconnection=False)
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    confirmed: asyncio.Queue[str] = asyncio.Queue()
    client.on("bot_uttered", inbox.put)
    client.on("session_confirm", confirmed.put)
    await client.connect(base, socketio_path="socket.io", transports=[transport])
    clients.append(client)
    sessions: dict[str, str] = {}

    async def turn(sender: str, text: str) -> None:
        if sender not in sessions:
            await client.emit("session_request", {"session_id": f"{transport}-{sender}"})
            sessions[sender] = await confirmed.get()
        while not inbox.empty():  # replies beyond the first of the previous turn
            inbox.get_nowait()
        await client.emit("user_uttered", {"message": text, "session_id": sessions[sender]})
        await asyncio.wait_for(inbox.get(), 120)

    return turn


async def telegram(base: str, http: aiohttp.ClientSession) -> Turn:
    ids = iter(range(1, 10**9))

    async def turn(sender: str, text: str) -> None:
        chat = int(hashlib.sha1(sender.encode()).hexdigest()[:8], 16)
        update = {"update_id": next(ids), "message": {"message_id": next(ids), "date": int(time.time()),
                  "chat": {"id": chat, "type": "private"}, "from": {"id": chat, "is_bot": False, "first_name": "B"},
                  "text": text}}
        async with http.post(f"{base}/webhooks/telegram/webhook", json=update,
                             headers={"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}) as r:
            assert r.status == 200, await r.text()

    return turn


async def slack(base: str, http: aiohttp.ClientSession) -> Turn:
    seq = iter(range(1, 10**9))

    async def turn(sender: str, text: str) -> None:
        n = next(seq)
        body = json.dumps({"type": "event_callback", "team_id": "T1", "event_id": f"Ev{n}", "event": {
            "type": "message", "channel_type": "im", "channel": "D1", "user": f"U{sender}", "text": text,
            "ts": f"{int(time.time())}.{n:06d}"}}).encode()
        ts = str(int(time.time()))
        sig = hmac.new(SLACK_SECRET.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={sig}"}
        async with http.post(f"{base}/webhooks/slack/webhook", data=body, headers=headers) as r:
            assert r.status == 200, await r.text()

    return turn


async def measure(project: Path, turns: int, out: Path) -> dict[str, Any]:
    from aiohttp import web

    from bot.app import create_app
    from bot.settings import load_settings

    tg, sl = FakeTelegram(TG_TOKEN), FakeSlack(SLACK_TOKEN)
    await tg.start(free_port())
    await sl.start(free_port())
    channels = {"rest": {}, "socketio": {},
                "telegram": {"access_token": TG_TOKEN, "secret_token": TG_SECRET, "base_url": f"{tg.base}/bot"},
                "slack": {"slack_token": SLACK_TOKEN, "slack_signing_secret": SLACK_SECRET, "base_url": sl.api_url}}
    tmp = Path(tempfile.mkdtemp(prefix="channel-bench-"))
    os.environ.setdefault("SHOP_DATABASE_URL", f"sqlite+aiosqlite:///{tmp / 'shop.db'}")
    settings = load_settings(project, database_url=f"sqlite+aiosqlite:///{tmp / 'bot.db'}", channels=channels,
                             rate_limit=0)  # back-to-back turns from one address
    runner = web.AppRunner(create_app(settings, wait_for_models=True), shutdown_timeout=2.0)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    base = f"http://127.0.0.1:{port}"
    messages = [text for _, text in load_messages(project / "tests")][:turns]
    clients: list[Any] = []
    results: dict[str, Any] = {}
    try:
        async with aiohttp.ClientSession() as http:
            makers: dict[str, Callable[[], Awaitable[Turn]]] = {
                "rest": lambda: rest(base, http),
                "socketio_websocket": lambda: socketio_turns(base, "websocket", clients),
                "socketio_polling": lambda: socketio_turns(base, "polling", clients),
                "telegram_webhook": lambda: telegram(base, http),
                "slack_events": lambda: slack(base, http),
            }
            for name, make in makers.items():
                turn = await make()
                await turn("warmup", "hello")
                times = []
                for i, text in enumerate(messages):
                    started = time.perf_counter()
                    await turn(f"s{i // 5}", text)
                    times.append((time.perf_counter() - started) * 1000)
                results[name] = {"turns": len(times), "median_ms": round(statistics.median(times), 1),
                                 "p95_ms": round(percentile(times, 95), 1), "mean_ms": round(statistics.mean(times), 1)}
                print(name, results[name], flush=True)
    finally:
        for client in clients:
            await client.eio.disconnect(abort=True)
        await runner.cleanup()
        await tg.stop()
        await sl.stop()
    rest_median = results["rest"]["median_ms"]
    for row in results.values():
        row["median_vs_rest"] = round(row["median_ms"] / rest_median, 2)
    report = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "machine": platform.platform(),
              "cpus": os.cpu_count(), "project": str(project), "channels": results,
              "note": "concurrency 1, client and server in one process; telegram/slack include one call to a "
                      "local fake platform API per reply"}
    out.mkdir(parents=True, exist_ok=True)
    (out / "channel_latency.json").write_text(json.dumps(report, indent=2))
    lines = ["| channel | turns | median ms | p95 ms | median vs REST |", "|---|---|---|---|---|"]
    lines += [f"| {name} | {r['turns']} | {r['median_ms']} | {r['p95_ms']} | {r['median_vs_rest']} |"
              for name, r in results.items()]
    (out / "channel_latency.md").write_text("\n".join(lines) + "\n")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=REPO / "bot" / "templates" / "shop", help="a trained project")
    parser.add_argument("--turns", type=int, default=60)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args()
    asyncio.run(measure(args.project.resolve(), args.turns, args.out))


if __name__ == "__main__":
    main()
