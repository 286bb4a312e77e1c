"""Which conversations have a widget connected now, on any worker (socket.io across workers).

python-socketio's Redis manager carries an emit to every worker, but each worker only knows its
own sockets; the agent console asks "is the customer there?" before it sends a reply. Each
worker records its sockets in Redis: a set per session id of `<worker>:<sid>`, and a heartbeat
key per worker that expires 30 s after the worker's last beat, so the sockets of a worker killed
with SIGKILL stop counting by themselves (and are pruned when seen). Each beat also records the
worker's sockets again, so what a Redis restart (or a failed join) lost is back within a beat.
Redis errors never fail a connection or a turn: they are logged, and the worker answers for its
own sockets only meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

log = logging.getLogger(__name__)
BEAT_S, HOST_TTL_S = 10.0, 30
SESSION_TTL_S = 24 * 3600  # a session's set outlives no socket for long (refreshed at each join)


class RedisPresence:
    def __init__(self, url: str, prefix: str, host_id: str) -> None:
        from bot.storage.redis_lock import redis_client

        self.client: Any = redis_client(url)
        self.prefix, self.host = prefix, host_id
        self._beat: asyncio.Task[None] | None = None
        self._sockets: dict[str, str] = {}  # this worker's sockets: sid -> session id

    def _session(self, session_id: str) -> str:
        return f"{self.prefix}session:{session_id}"

    def _host(self, host: str) -> str:
        return f"{self.prefix}worker:{host}"

    async def start(self) -> None:
        self._beat = asyncio.create_task(self._beating())

    async def close(self) -> None:
        if self._beat is not None:
            self._beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beat
        with contextlib.suppress(Exception):
            await self.client.delete(self._host(self.host))  # this worker's sockets stop counting now
        await self.client.aclose()
        await self.client.connection_pool.disconnect()

    async def _beating(self) -> None:
        while True:
            with contextlib.suppress(Exception):  # Redis away: the next beat tries again
                await self._record(dict(self._sockets))
            await asyncio.sleep(BEAT_S)

    async def _record(self, sockets: dict[str, str]) -> None:
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.set(self._host(self.host), "1", ex=HOST_TTL_S)
            for sid, session_id in sockets.items():
                pipe.sadd(self._session(session_id), f"{self.host}:{sid}")
                pipe.expire(self._session(session_id), SESSION_TTL_S)
            await pipe.execute()

    async def join(self, session_id: str, sid: str) -> None:
        self._sockets[sid] = session_id
        try:
            await self._record({sid: session_id})
        except Exception as exc:
            log.warning("socket.io presence of %s not recorded yet (%s)", session_id, type(exc).__name__)

    async def leave(self, session_id: str, sid: str) -> None:
        self._sockets.pop(sid, None)
        try:
            await self.client.srem(self._session(session_id), f"{self.host}:{sid}")
        except Exception as exc:
            log.warning("socket.io presence of %s not cleared (%s); it expires", session_id, type(exc).__name__)

    async def connected(self, session_id: str) -> bool | None:
        """Whether a socket of `session_id` is connected to a living worker; None when Redis cannot say."""
        try:
            members = [m.decode() if isinstance(m, bytes) else str(m)
                       for m in await self.client.smembers(self._session(session_id))]
            if not members:
                return False
            living = {host for host in {m.split(":", 1)[0] for m in members}
                      if await self.client.exists(self._host(host))}
            dead = [m for m in members if m.split(":", 1)[0] not in living]
            if dead:
                await self.client.srem(self._session(session_id), *dead)
            return len(dead) < len(members)
        except Exception as exc:
            log.warning("socket.io presence of %s unknown (%s)", session_id, type(exc).__name__)
            return None
