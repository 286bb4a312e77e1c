"""Storage interfaces. Trackers live in SQL (sql.py); per-conversation locks in memory or Redis."""

from __future__ import annotations

import hashlib
import uuid
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

from bot.errors import Conflict
from bot.events import Event
from bot.tracker import State, Tracker


@dataclass(frozen=True)
class Outgoing:
    """One message for the outbox, written in the same transaction as the events that say it and
    delivered afterwards through `channel` by the dispatcher (bot/channels/dispatch.py). The bot or
    agent event carries the same `delivery_id` in its metadata."""

    channel: str
    message: dict[str, Any]
    delivery_id: str = field(default_factory=lambda: uuid.uuid4().hex)


def fingerprint(text: Any) -> str:
    """What identifies a message's content: a retry must say what the first attempt said."""
    return hashlib.sha256((text if isinstance(text, str) else "").encode()).hexdigest()


@dataclass(frozen=True)
class HandledMessage:
    """A customer message the store has: a hash of its text and the replies its turn gave."""

    fingerprint: str
    replies: list[dict[str, Any]] | None


class DuplicateMessage(Conflict):
    """A customer message whose id the conversation has already stored (a redelivery, a client's
    retry, or two workers racing for one message): the append wrote nothing. `handled`: what was
    stored first, when the store could read it."""

    def __init__(self, conversation_id: str, message_id: str, handled: HandledMessage | None) -> None:
        super().__init__(f"conversation {conversation_id!r} already has a message with id {message_id!r}")
        self.message_id, self.handled = message_id, handled


class TrackerStore(Protocol):
    async def start(self) -> None:
        """Create or migrate the schema; called once at start-up."""

    async def close(self) -> None: ...

    async def ping(self) -> bool:
        """True when the database answers (used by /health)."""

    async def load(self, conversation_id: str, *, window: int) -> Tracker:
        """The current state and the last `window` events; an unknown id gives an empty tracker."""

    async def append(
        self, conversation_id: str, events: Sequence[Event], *, initial_slots: dict[str, Any] | None = None,
        replies: Sequence[dict[str, Any]] | None = None, outbox: Sequence[Outgoing] = (),
    ) -> State:
        """Append events, update the state snapshot and write the outbox in one transaction; return
        the new state. Each user event's `message_id` is stored once per conversation, with
        `replies`: a second store of one raises DuplicateMessage and writes nothing."""

    async def handled(self, conversation_id: str, message_id: str) -> HandledMessage | None:
        """The stored customer message with this id, or None."""

    async def begin_turn(self, conversation_id: str, message_id: str, *,
                         window: int) -> tuple[HandledMessage | None, Tracker | None]:
        """`handled` and, for a message not handled yet, `load`, read together (one transaction)."""

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

    async def waiting_ahead(self, conversation_id: str) -> int:
        """How many conversations wait for a person ahead of this one: those that began waiting
        before it, or all that wait when it does not (yet)."""

    async def recent_events_of_type(self, kind: str, *, limit: int) -> list[tuple[str, Event]]:
        """(conversation id, event) of the last `limit` events of one type, oldest first."""


class LockStore(Protocol):
    def lock(self, conversation_id: str) -> AbstractAsyncContextManager[None]:
        """Serialise the turns of one conversation."""
