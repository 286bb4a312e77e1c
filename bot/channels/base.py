"""Channel interfaces: an input channel mounts its webhook routes; replies go out through the
channel the message came from."""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Protocol

from aiohttp import web

from bot.engine import TurnResult, UserMessage

OnMessage = Callable[[UserMessage], Awaitable[TurnResult]]


class InputChannel(Protocol):
    name: str

    def routes(self, on_message: OnMessage) -> list[web.RouteDef]:
        """The aiohttp routes of this channel's webhook (under /webhooks/<name>/)."""


class OutputChannel(Protocol):
    async def send(self, recipient_id: str, message: dict[str, Any]) -> None:
        """Deliver one bot message ({"text", "buttons", "image", ...}) to the recipient."""
