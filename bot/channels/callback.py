"""Rasa's callback channel: the client POSTs {"sender", "message"} to /webhooks/callback/webhook
and gets "success" back; every bot message is POSTed on its own, as JSON {"recipient_id", "text",
...}, to the `url` that credentials.yml's `callback:` section names. Unlike REST it can push, so
a reminder that fires later, or an agent's reply, reaches the client (reminderbot's README runs
it this way).

The replies go through the outbox (bot/channels/dispatch.py): the webhook answers "success" once
the message and its replies are stored, and a reply the URL does not take (a 5xx, 408 or 429, or
no answer) is posted again later with back-off; one it refuses (another 4xx) is given up and
shown undelivered in the agent console. Where Switchboard differs: Rasa posts the replies before
it answers and answers 500 when the URL fails, so its client sends the message again."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import aiohttp
from aiohttp import web

from bot.channels.base import DeliveryError, OnMessage, require
from bot.channels.rest import outgoing, parse_message
from bot.server.keys import SETTINGS
from bot.server.requests import json_object

TIMEOUT_SECONDS = 10.0
TRANSIENT = {408, 425, 429}  # and every 5xx: the URL may take it later


class CallbackOutput:
    name = "callback"

    def __init__(self, url: str) -> None:
        self.url = url
        self._session: aiohttp.ClientSession | None = None

    async def send(self, recipient_id: str, message: dict[str, Any], *, skip: int = 0,
                   delivery_id: str | None = None) -> None:
        """One POST; the outbox retries what the URL may take later."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS))
        try:
            async with self._session.post(self.url, json=outgoing(recipient_id, message)) as response:
                if response.status < 300:
                    return
                wait = response.headers.get("Retry-After", "")
                raise DeliveryError(f"callback: {self.url} answered {response.status}",
                                    permanent=response.status < 500 and response.status not in TRANSIENT,
                                    retry_after=float(wait) if wait.isdigit() else None)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise DeliveryError(f"callback: {self.url} could not be reached ({type(exc).__name__}: {exc})") from exc

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
            await on_message(replace(message, output_channel=self.name))  # replies: the outbox
            return web.Response(text="success")

        async def close(_: web.Application) -> None:
            await self.output.close()

        app.on_cleanup.append(close)
        app.add_routes([web.get("/webhooks/callback/", health), web.post("/webhooks/callback/webhook", webhook)])
        return self.output
