"""The shop's action runs unchanged on a real rasa-sdk action server (`switchboard run-actions`)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.integration.conftest import StartServer, free_port


async def _wait_healthy(url: str, proc: subprocess.Popen, seconds: float = 60) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(int(seconds * 5)):
            if proc.poll() is not None:
                raise RuntimeError(f"action server exited with {proc.returncode}")
            try:
                async with http.get(url) as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise TimeoutError(f"{url} did not become healthy")


@pytest.fixture
async def action_server(trained_project: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    port = free_port()
    env = {**os.environ, "SHOP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'remote-shop.db'}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "--project", str(trained_project), "run-actions", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        await _wait_healthy(f"http://127.0.0.1:{port}/health", proc)
        yield f"http://127.0.0.1:{port}/webhook"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


async def test_order_status_through_the_remote_action_server(
    start_server: StartServer, action_server: str, tmp_path: Path
) -> None:
    server = await start_server(database_url=f"sqlite+aiosqlite:///{tmp_path / 'r.db'}", action_endpoint=action_server)
    first = await server.say("r1", "where is my order?")
    assert "order number" in first[0]["text"].lower()
    second = await server.say("r1", "NW-10004")
    assert "NW-10004" in second[0]["text"] and "out for delivery" in second[0]["text"]
    tracker = await server.tracker("r1")
    assert tracker["slots"]["order_number"] == "NW-10004"


async def test_a_dead_action_server_gives_a_polite_fallback_not_a_500(start_server: StartServer, tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}/webhook"
    server = await start_server(database_url=f"sqlite+aiosqlite:///{tmp_path / 'd.db'}", action_endpoint=dead)
    replies = await server.say("r2", "where is NW-10002?")
    assert "not sure" in replies[0]["text"].lower()
    tracker = await server.tracker("r2")
    reason = [e for e in tracker["events"] if e["event"] == "bot"][-1]["metadata"]["reason"]
    assert reason["action_error"]["action"] == "action_order_status"
    assert reason["escalate"] == "action_failed"
