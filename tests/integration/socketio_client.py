"""A plain python-socketio client speaking Rasa's socket.io protocol, as a widget would."""

from __future__ import annotations

import asyncio
from typing import Any, Callable

import socketio

WAIT = 60.0  # generous upper bound on a turn; only failures wait this long


class WidgetClient:
    def __init__(self, base: str, *, transport: str = "websocket") -> None:
        self.base, self.transport = base, transport
        self.sio = socketio.AsyncClient(reconnection=False)
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.deltas: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.errors: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.confirmed: asyncio.Queue[str] = asyncio.Queue()
        self.sio.on("bot_uttered", self.inbox.put)
        self.sio.on("bot_uttered_delta", self.deltas.put)
        self.sio.on("error", self.errors.put)
        self.sio.on("session_confirm", self.confirmed.put)

    async def connect(self, **kwargs: Any) -> None:
        await self.sio.connect(self.base, socketio_path="socket.io", transports=[self.transport],
                               wait_timeout=10, **kwargs)

    async def session(self, session_id: str | None = None) -> str:
        await self.sio.emit("session_request", {"session_id": session_id})
        return await asyncio.wait_for(self.confirmed.get(), WAIT)

    async def say(self, text: str, session_id: str, **extra: Any) -> None:
        await self.sio.emit("user_uttered", {"message": text, "session_id": session_id, **extra})

    async def until(self, match: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        """Bot messages received up to and including the first that matches."""
        seen: list[dict[str, Any]] = []
        while True:
            message = await asyncio.wait_for(self.inbox.get(), WAIT)
            seen.append(message)
            if match(message):
                return seen

    async def error(self) -> dict[str, Any]:
        return await asyncio.wait_for(self.errors.get(), WAIT)

    async def close(self) -> None:
        if self.transport == "polling" and self.sio.connected:
            # python-socketio's client waits out the pending long poll (~30 s) on a clean
            # disconnect; a browser does not, and neither does this
            await self.sio.eio.disconnect(abort=True)
        else:
            await self.sio.disconnect()


def has(text: str) -> Callable[[dict[str, Any]], bool]:
    return lambda m: text.lower() in (m.get("text") or "").lower()
