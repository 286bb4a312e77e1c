"""Per-conversation turn locks for a single process (one asyncio event loop)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field


@dataclass
class _Entry:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0  # the holder plus the waiters


class InMemoryLockStore:
    """A LockStore: one asyncio.Lock per conversation id, first come first served.

    An id's lock exists only while somebody holds or awaits it, so the table stays as
    small as the number of conversations being worked on right now.
    """

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    def __len__(self) -> int:
        """How many conversations have a holder or a waiter now."""
        return len(self._entries)

    @asynccontextmanager
    async def lock(self, conversation_id: str) -> AsyncIterator[None]:
        entry = self._entries.get(conversation_id)
        if entry is None:
            entry = self._entries[conversation_id] = _Entry()
        entry.users += 1
        try:
            # asyncio.Lock queues waiters in order and hands over to the oldest one.
            await entry.lock.acquire()
        except BaseException:
            self._leave(conversation_id, entry)
            raise
        try:
            yield
        finally:
            entry.lock.release()
            self._leave(conversation_id, entry)

    def _leave(self, conversation_id: str, entry: _Entry) -> None:
        entry.users -= 1
        if entry.users == 0 and self._entries.get(conversation_id) is entry:
            del self._entries[conversation_id]
