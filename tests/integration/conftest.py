"""Start the real aiohttp app on a free loopback port, with the real models and a real database."""

from __future__ import annotations

from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web

from bench.serving import free_port  # noqa: F401  (the tests import it from here)
from bot.app import create_app
from bot.settings import load_settings
from tests.conftest import release_memory


class Server:
    def __init__(self, base: str, app: web.Application, session: aiohttp.ClientSession) -> None:
        self.base, self.app, self.http = base, app, session

    async def say(self, sender: str, message: str) -> list[dict[str, Any]]:
        async with self.http.post(f"{self.base}/webhooks/rest/webhook", json={"sender": sender, "message": message}) as r:
            assert r.status == 200, await r.text()
            return await r.json()

    async def tracker(self, sender: str, **params: str) -> dict[str, Any]:
        async with self.http.get(f"{self.base}/conversations/{sender}/tracker", params=params) as r:
            assert r.status == 200, await r.text()
            return await r.json()


StartServer = Callable[..., Awaitable[Server]]


@pytest.fixture
async def start_server(request: pytest.FixtureRequest) -> AsyncIterator[StartServer]:
    """A factory: `await start_server(database_url=..., api_token=...)` -> a running Server, of
    the trained shop unless another project is given (the shop is trained only when needed)."""
    runners: list[web.AppRunner] = []
    sessions: list[aiohttp.ClientSession] = []

    async def start(project: Path | None = None, **overrides: Any) -> Server:
        settings = load_settings(project or request.getfixturevalue("trained_project"), **overrides)
        app = create_app(settings, wait_for_models=True)
        runner = web.AppRunner(app, shutdown_timeout=2.0)  # a pending long poll need not hold the teardown
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners.append(runner)
        session = aiohttp.ClientSession()
        sessions.append(session)
        return Server(f"http://127.0.0.1:{port}", app, session)

    yield start
    for session in sessions:
        await session.close()
    for runner in runners:
        await runner.cleanup()
    runners.clear()
    release_memory()  # the bot's models go with it


@pytest.fixture
async def server(start_server: StartServer, tmp_path: Path) -> Server:
    """The shop bot on SQLite in a fresh database."""
    return await start_server(database_url=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")


async def delivered(server: Server, conversation_id: str, *, count: int = 1, text: str | None = None,
                    timeout: float = 60.0) -> list[Any]:
    """The conversation's outbox (of the messages saying `text`, if given) once `count` of them are
    settled (sent or given up), oldest first; the dispatcher's retries run in the background."""
    import asyncio

    from bot.server.keys import RUNTIME
    from bot.storage.outbox import FAILED, SENT, OutboxStore

    outbox = OutboxStore(server.app[RUNTIME].store.engine)

    async def settled() -> list[Any]:
        while True:
            rows = sorted((d for d in (await outbox.of_conversation(conversation_id)).values()
                           if text is None or d.message.get("text") == text), key=lambda d: d.id)
            if len([d for d in rows if d.status in (SENT, FAILED)]) >= count:
                return rows
            await asyncio.sleep(0.05)

    return await asyncio.wait_for(settled(), timeout)
