"""Storage interfaces. Trackers live in SQL (sql.py); per-conversation locks in memory or Redis."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, Sequence

from bot.events import Event
from bot.tracker import State, Tracker


class TrackerStore(Protocol):
    async def start(self) -> None:
        """Create or migrate the schema; called once at start-up."""

    async def close(self) -> None: ...

    async def ping(self) -> bool:
        """True when the database answers (used by /health)."""

    async def load(self, conversation_id: str, *, window: int) -> Tracker:
        """The current state and the last `window` events; an unknown id gives an empty tracker."""

    async def append(
        self, conversation_id: str, events: Sequence[Event], *, initial_slots: dict[str, Any] | None = None
    ) -> State:
        """Append events and update the state snapshot in one transaction; return the new state."""

    async def replace(
        self, conversation_id: str, events: Sequence[Event], *, initial_slots: dict[str, Any] | None = None
    ) -> State:
        """Replace every event of the conversation (Rasa's PUT tracker/events) in one transaction."""

    async def events(
        self, conversation_id: str, *, until: float | None = None
    ) -> list[Event]:
        """All events of a conversation in order (optionally those with timestamp <= until)."""

    async def exists(self, conversation_id: str) -> bool: ...

    async def queue(self) -> list[tuple[str, State]]:
        """The conversations waiting for a person or with one, the longest waiting first."""

    async def recent_events_of_type(self, kind: str, *, limit: int) -> list[tuple[str, Event]]:
        """(conversation id, event) of the last `limit` events of one type, oldest first."""


class LockStore(Protocol):
    def lock(self, conversation_id: str) -> AbstractAsyncContextManager[None]:
        """Serialise the turns of one conversation."""
