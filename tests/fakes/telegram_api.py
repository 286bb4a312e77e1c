"""A local Telegram Bot API server: POST /bot<token>/<method> with form or JSON parameters,
answers {"ok": true, "result": ...} or {"ok": false, "error_code", "description"}."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes import serve

BOT_USER = {"id": 4242, "is_bot": True, "first_name": "Northwind", "username": "northwind_shop_bot",
            "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}
JSON_PARAMS = ("reply_markup", "allowed_updates", "entities", "link_preview_options", "reply_parameters")


@dataclass
class FakeTelegram:
    token: str
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    # [method, code, description, parameters, calls of that method to let through first]
    failures: list[list[Any]] = field(default_factory=list)
    webhook: dict[str, Any] = field(default_factory=dict)
    base: str = ""
    _ids: Any = field(default_factory=lambda: itertools.count(1000))
    _runner: web.AppRunner | None = None
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def fail_next(self, method: str, code: int, description: str, *, after: int = 0, **parameters: Any) -> None:
        """Refuse the next call of `method` (after letting `after` calls of it through)."""
        self.failures.append([method, code, description, parameters, after])

    def sent(self, method: str = "sendMessage") -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == method]

    async def wait_for(self, method: str, count: int, timeout: float = 60.0) -> list[dict[str, Any]]:
        async def reached() -> None:
            while len(self.sent(method)) < count:
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(reached(), timeout)
        return self.sent(method)

    async def start(self, port: int) -> None:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner, port = await serve(app, port)
        self.base = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            return dict(await request.json())
        params: dict[str, Any] = dict(await request.post()) if request.can_read_body else {}
        params.update(request.query)
        for key in JSON_PARAMS:
            if isinstance(params.get(key), str):
                params[key] = json.loads(params[key])
        return params

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        method, params = request.match_info["method"], await self._params(request)
        self.calls.append((method, params))
        self.arrived.set()
        for i, (name, code, description, extra, after) in enumerate(self.failures):
            if name == method and after > 0:
                self.failures[i][4] -= 1
                break
            if name == method:
                del self.failures[i]
                body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
                if extra:
                    body["parameters"] = extra
                return web.json_response(body, status=code)
        result = self._result(method, params)
        if result is None:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        return web.json_response({"ok": True, "result": result})

    def _result(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return BOT_USER
        if method in ("sendMessage", "sendPhoto"):
            chat_id = int(params["chat_id"])
            message = {"message_id": next(self._ids), "date": int(time.time()), "from": BOT_USER,
                       "chat": {"id": chat_id, "type": "private"}}
            if method == "sendMessage":
                message["text"] = params["text"]
            if "reply_markup" in params:
                message["reply_markup"] = params["reply_markup"]
            return message
        if method == "answerCallbackQuery":
            return True
        if method == "setWebhook":
            self.webhook = dict(params)
            return True
        if method == "getWebhookInfo":
            return {"url": self.webhook.get("url", ""), "has_custom_certificate": False, "pending_update_count": 0,
                    "allowed_updates": self.webhook.get("allowed_updates", [])}
        if method == "deleteWebhook":
            self.webhook = {}
            return True
        return None
