"""A console agent over HTTP, as the browser app talks to the API: cookie session + CSRF header."""

from __future__ import annotations

from typing import Any

import aiohttp

from bot.console.auth import hash_password
from bot.server.keys import RUNTIME
from bot.storage.console import ConsoleStore
from tests.integration.conftest import Server

PASSWORD = "correct horse battery"


async def add_agent(server: Server, name: str, role: str = "agent", password: str = PASSWORD) -> None:
    await ConsoleStore(server.app[RUNTIME].store.engine).add_agent(name, hash_password(password), role)


class Agent:
    """One browser: its own cookie jar (aiohttp keeps cookies for 127.0.0.1 only when unsafe=True)."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf: str | None = None

    async def login(self, name: str, password: str = PASSWORD) -> dict[str, Any]:
        status, body = await self.call("POST", "/login", {"name": name, "password": password}, csrf=False)
        assert status == 200, body
        self.csrf = body["csrf"]
        return body

    async def call(self, method: str, path: str, body: Any = None, *, csrf: bool = True) -> tuple[int, Any]:
        headers = {"X-CSRF-Token": self.csrf} if csrf and self.csrf else {}
        async with self.http.request(method, f"{self.server.base}/console/api{path}", json=body,
                                     headers=headers) as r:
            data = await r.json() if r.content_type == "application/json" else await r.text()
            return r.status, data

    async def ok(self, method: str, path: str, body: Any = None) -> Any:
        status, data = await self.call(method, path, body)
        assert status < 300, (status, data)
        return data

    async def close(self) -> None:
        await self.http.close()
