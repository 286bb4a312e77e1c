"""Rasa's callback channel: the client POSTs {"sender", "message"} to /webhooks/callback/webhook
and gets "success" back; every bot message is POSTed on its own, as JSON {"recipient_id", "text",
...}, to the `url` that credentials.yml's `callback:` section names. Unlike REST it can push, so
a reminder that fires later, or an agent's reply, reaches the client (reminderbot's README runs
it this way).

Where Switchboard differs: a message that the callback URL refuses (or that cannot reach it)
is retried twice and then reported with a 502 saying that the turn was stored; Rasa answers 500."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
from aiohttp import web

from bot.channels.base import DeliveryError, OnMessage, require
from bot.channels.rest import outgoing, parse_message
from bot.server.keys import SETTINGS
from bot.server.requests import json_object

log = logging.getLogger(__name__)
ATTEMPTS = 3
TIMEOUT_SECONDS = 10.0


class CallbackOutput:
    name = "callback"

    def __init__(self, url: str) -> None:
        self.url = url
        self._session: aiohttp.ClientSession | None = None

    async def send(self, recipient_id: str, message: dict[str, Any]) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS))
        problem = ""
        for attempt in range(ATTEMPTS):
            try:
                async with self._session.post(self.url, json=outgoing(recipient_id, message)) as response:
                    if response.status < 300:
                        return
                    problem = f"{self.url} answered {response.status}"
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                problem = f"{self.url} could not be reached ({type(exc).__name__}: {exc})"
            await asyncio.sleep(0.2 * 2 ** attempt)
        raise DeliveryError(f"callback: {problem}")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class CallbackInput:
    name = "callback"

    def __init__(self, config: dict[str, Any]) -> None:
        require(self.name, config, "url")
        self.output = CallbackOutput(config["url"])

    def mount(self, app: web.Application, on_message: OnMessage) -> CallbackOutput:
        async def health(_: web.Request) -> web.Response:
            return web.json_response({"status": "ok"})

        async def webhook(request: web.Request) -> web.Response:
            settings = request.app[SETTINGS]
            message = parse_message(await json_object(request), max_chars=settings.max_message_chars,
                                    default_channel=self.name)
            result = await on_message(message)
            for reply in result.replies:
                try:
                    await self.output.send(message.sender_id, reply)
                except DeliveryError as exc:
                    log.error("conversation %s: %s", message.sender_id, exc)
                    raise DeliveryError(f"the message was handled and stored, but its replies could not be "
                                        f"delivered: {exc}") from exc
            return web.Response(text="success")

        async def close(_: web.Application) -> None:
            await self.output.close()

        app.on_cleanup.append(close)
        app.add_routes([web.get("/webhooks/callback/", health), web.post("/webhooks/callback/webhook", webhook)])
        return self.output
