"""Live updates for every open console, as server-sent events.

Whatever changes a conversation (a customer message on any worker, an agent's action, a
tracker-API pause) is published once; each open console gets it. With Redis configured (the
lock store's URL) messages go through Redis pub/sub, so consoles on one worker see what
happened on another; without it they go straight to this worker's consoles.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any, Awaitable, Callable

from aiohttp import web

from bot.background import stop_if_cancelling

log = logging.getLogger(__name__)
CHANNEL = "switchboard:console:{}"  # + the bot's namespace: bots sharing one Redis stay apart
BACKLOG = 500  # messages a slow console may fall behind before it is disconnected (it reconnects)
HEARTBEAT_SECONDS = 15.0  # also how soon an ended login stops receiving


class LiveHub:
    def __init__(self, redis_url: str | None = None, namespace: str = "default") -> None:
        self.redis_url, self.channel = redis_url, CHANNEL.format(namespace)
        self._subscribers: set[asyncio.Queue[str | None]] = set()
        self._redis: Any = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Subscribe in the background: a Redis that is down at start-up does not stop the worker."""
        if not self.redis_url:
            return
        from bot.storage.redis_lock import redis_client

        self._redis = redis_client(self.redis_url)
        self._reader = asyncio.create_task(self._read(self._redis.pubsub()))

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._redis is not None:
            await self._redis.aclose()
            await self._redis.connection_pool.disconnect()
        for queue in list(self._subscribers):
            self._offer(queue, None)  # tells the stream to end

    async def publish(self, kind: str, data: dict[str, Any]) -> None:
        message = json.dumps({"kind": kind, "data": data}, separators=(",", ":"), default=str)
        if self._redis is not None:
            try:
                await self._redis.publish(self.channel, message)
                return
            except Exception as exc:  # Redis is down: this worker's consoles still hear of it
                log.warning("console live updates: Redis unavailable (%s); told this worker's consoles only",
                            type(exc).__name__)
        self._fan_out(message)

    def subscribe(self) -> "asyncio.Queue[str | None]":
        queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=BACKLOG)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: "asyncio.Queue[str | None]") -> None:
        self._subscribers.discard(queue)

    @property
    def consoles(self) -> int:
        return len(self._subscribers)

    @property
    def heard(self) -> bool:
        """Whether a publication can reach a console: one is open here, or Redis carries it to the
        other workers' (a turn need not build an update nobody can receive)."""
        return self._redis is not None or bool(self._subscribers)

    async def _read(self, pubsub: Any) -> None:
        subscribed = False
        while True:
            try:
                if not subscribed:
                    await pubsub.subscribe(self.channel)
                    subscribed = True
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        data = message["data"]
                        self._fan_out(data.decode() if isinstance(data, bytes) else str(data))
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                raise
            except Exception as exc:  # Redis down or restarted: subscribe again after a pause
                stop_if_cancelling(exc)
                log.warning("console live updates lost Redis (%s); resubscribing", type(exc).__name__)
                subscribed = False
                await asyncio.sleep(1.0)

    def _fan_out(self, message: str) -> None:
        for queue in list(self._subscribers):
            if not self._offer(queue, message):
                log.warning("a console fell %d updates behind; disconnecting it", BACKLOG)
                self._subscribers.discard(queue)
                self._offer(queue, None, force=True)

    @staticmethod
    def _offer(queue: "asyncio.Queue[str | None]", item: str | None, *, force: bool = False) -> bool:
        if force:
            while queue.full():
                queue.get_nowait()
        try:
            queue.put_nowait(item)
        except asyncio.QueueFull:
            return False
        return True


async def stream(request: web.Request, hub: LiveHub, allowed: Callable[[], Awaitable[bool]]) -> web.StreamResponse:
    """GET .../live: the hub's messages as `event: <kind>` / `data: <json>` until the console leaves,
    or `allowed()` (asked at every heartbeat) says its login has ended: logged out, expired, removed."""
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no",
    })
    await response.prepare(request)
    queue = hub.subscribe()
    try:
        await response.write(b"retry: 2000\n: connected\n\n")
        while True:
            try:
                message = await asyncio.wait_for(queue.get(), HEARTBEAT_SECONDS)
            except asyncio.TimeoutError:
                if not await allowed():
                    await response.write(b"event: session_ended\ndata: {}\n\n")
                    break
                await response.write(b": ping\n\n")
                continue
            if message is None:
                break
            parsed = json.loads(message)
            body = json.dumps(parsed["data"], separators=(",", ":"))
            await response.write(f"event: {parsed['kind']}\ndata: {body}\n\n".encode())
    except ConnectionResetError:  # the console left
        pass
    finally:
        hub.unsubscribe(queue)
    return response
