"""A local Slack Web API: POST /api/<method> with a Bearer token and a JSON or form body,
answers {"ok": true, ...} or {"ok": false, "error"}; auth.test tells the bot who it is."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes import serve

TEAM, BOT_USER, BOT_ID = "T0NORTHW", "U0SHOPBOT", "B0SHOPBOT"


@dataclass
class FakeSlack:
    token: str
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    failures: list[tuple[str, int, dict[str, Any], dict[str, str]]] = field(default_factory=list)
    base: str = ""
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _ts: Any = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None

    @property
    def api_url(self) -> str:
        return f"{self.base}/api/"

    def fail_next(self, method: str, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        self.failures.append((method, status, body, headers or {}))

    def posted(self) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == "chat.postMessage"]

    async def wait_for_posts(self, count: int, timeout: float = 60.0) -> list[dict[str, Any]]:
        async def reached() -> None:
            while len(self.posted()) < count:
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(reached(), timeout)
        return self.posted()

    async def start(self, port: int) -> None:
        app = web.Application()
        app.router.add_post("/api/{method}", self._handle)
        self._runner, port = await serve(app, port)
        self.base = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        if request.content_type == "application/json":
            params = dict(await request.json())
        else:
            params = dict(await request.post())
            if isinstance(params.get("blocks"), str):
                params["blocks"] = json.loads(params["blocks"])
        self.calls.append((method, params))
        self.arrived.set()
        for i, (name, status, body, headers) in enumerate(self.failures):
            if name == method:
                del self.failures[i]
                return web.json_response(body, status=status, headers=headers)
        if method == "auth.test":
            return web.json_response({"ok": True, "url": "https://northwind.slack.example/", "team": "Northwind",
                                      "user": "shopbot", "team_id": TEAM, "user_id": BOT_USER, "bot_id": BOT_ID,
                                      "is_enterprise_install": False})
        if method == "chat.postMessage":
            if not params.get("channel"):
                return web.json_response({"ok": False, "error": "channel_not_found"})
            ts = f"{int(time.time())}.{next(self._ts):06d}"
            return web.json_response({"ok": True, "channel": params["channel"], "ts": ts,
                                      "message": {"type": "message", "user": BOT_USER, "bot_id": BOT_ID, "ts": ts,
                                                  "text": params.get("text", ""), "blocks": params.get("blocks")}})
        return web.json_response({"ok": False, "error": "unknown_method"})
