"""`switchboard run --workers N` as an operator runs it: N processes behind one port, each with
its own models, on one PostgreSQL and one Redis; a worker killed with SIGKILL is replaced while
the other keeps serving (the new one takes connections only once its models are loaded, so no
client sees it load); SIGTERM stops them all cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from bench.private_servers import PrivateRedis, free_port, port_open

WEBHOOK = "/webhooks/rest/webhook"


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def start(project: Path, port: int, env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    """The supervisor, its output (and its workers') into `log`: a pipe nobody reads would fill up."""
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "bot.cli", "--project", str(project), "run", "--port",
                                 str(port), *args], env=env, stdout=out, stderr=subprocess.STDOUT)


def worker_env(database_url: str, redis_url: str | None, tmp: Path) -> dict[str, str]:
    env = {**os.environ, "SWITCHBOARD_DATABASE_URL": database_url, "SWITCHBOARD_TORCH_THREADS": "1",
           "SWITCHBOARD_GENERATOR": "none", "SHOP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'shop.db'}"}
    env.pop("SWITCHBOARD_LOCK_STORE_URL", None)
    if redis_url:
        env["SWITCHBOARD_LOCK_STORE_URL"] = redis_url
    return env


async def health(http: aiohttp.ClientSession, base: str) -> tuple[int, dict[str, Any]]:
    try:
        async with http.get(base + "/health") as r:
            return r.status, await r.json()
    except aiohttp.ClientError:
        return 0, {}


async def serving_pids(http: aiohttp.ClientSession, base: str, want: set[int], tries: int = 1500) -> set[int]:
    """Ask /health on fresh connections until every pid of `want` has answered 200 (bounded)."""
    seen: set[int] = set()
    for _ in range(tries):
        status, body = await health(http, base)
        if status == 200:
            seen.add(body["pid"])
            if want <= seen:
                return seen
        await asyncio.sleep(0.05 if status == 200 else 0.2)
    raise AssertionError(f"workers {sorted(want - seen)} never answered; saw {sorted(seen)}")


async def test_two_workers_on_one_port_survive_a_sigkill_and_stop_on_sigterm(
        trained_project: Path, postgres_url: str, private_redis: PrivateRedis, tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "run.log"
    supervisor = start(trained_project, port, worker_env(postgres_url, private_redis.url(), tmp_path), log,
                       "--workers", "2")
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
            for _ in range(600):
                workers = children(supervisor.pid)
                if len(workers) == 2:
                    break
                await asyncio.sleep(0.1)
            assert len(workers) == 2, workers
            assert await serving_pids(http, base, set(workers)) == set(workers)  # both accept on the one port

            sender = f"w-{uuid.uuid4().hex[:8]}"
            answered: list[str] = []

            async def say(text: str) -> None:
                async with http.post(base + WEBHOOK, json={"sender": sender, "message": text}) as r:
                    assert r.status == 200, (r.status, await r.text())
                    answered.append(text)

            await say("hello")
            victim, survivor = workers
            os.kill(victim, signal.SIGKILL)
            replaced: list[int] = []
            for i in range(600):  # the survivor answers everything while the victim's successor loads
                await say(f"thanks, message {i}")
                replaced = [p for p in children(supervisor.pid) if p not in workers]
                if replaced:
                    status, body = await health(http, base)
                    assert status == 200
                    if body["pid"] == replaced[0]:
                        break
                await asyncio.sleep(0.05)
            assert replaced and not alive(victim) and alive(survivor)
            assert await serving_pids(http, base, {replaced[0], survivor}) == {replaced[0], survivor}
            async with http.get(f"{base}/conversations/{sender}/tracker?include_events=ALL") as r:
                events = (await r.json())["events"]
            assert [e["text"] for e in events if e["event"] == "user"] == answered

        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(60) == 0
        assert not any(alive(pid) for pid in (survivor, replaced[0]))
        assert not port_open(port)
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait(30)
    output = log.read_text()
    assert "worker 0 started" in output and "was killed by SIGKILL; restarting it" in output, output[-3000:]
    assert "accepting once its models are loaded" in output


def test_several_workers_need_a_shared_lock_store(trained_project: Path, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "bot.cli", "--project", str(trained_project), "run", "--port",
                           str(free_port()), "--workers", "2"], capture_output=True, text=True, timeout=60,
                          env=worker_env(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", None, tmp_path))
    assert done.returncode == 2 and "SWITCHBOARD_LOCK_STORE_URL" in done.stderr


def test_a_busy_port_is_a_clear_error(trained_project: Path, tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "bot.cli", "--project", str(trained_project), "run", "--port",
                               str(port)], capture_output=True, text=True, timeout=60,
                              env=worker_env(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", None, tmp_path))
    assert done.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in done.stderr
