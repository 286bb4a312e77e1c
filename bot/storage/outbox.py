"""The outbox's rows: written by the tracker store's append (in the turn's transaction), claimed,
finished and resent here for the dispatcher (bot/channels/dispatch.py) and the agent console.

States: `pending` (waiting for its first or next attempt, `next_attempt_at`), `sending` (claimed by
one worker, whose token is in `claim`), `sent`, `failed` (given up; an agent may resend it).
A claim is an UPDATE ... WHERE status = 'pending' of rows first selected FOR UPDATE SKIP LOCKED
where the database has it (PostgreSQL, MariaDB 10.6+, MySQL 8), so two workers never hold one row.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Sequence

from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.storage.base import Outgoing
from bot.storage.dialects import skips_locked, write_transaction
from bot.storage.schema import outbox

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
MAX_ERROR = 500


@dataclass(frozen=True)
class Delivery:
    """One outbox row."""

    id: int
    delivery_id: str
    conversation_id: str
    channel: str
    message: dict[str, Any]
    status: str
    attempts: int
    parts_sent: int
    next_attempt_at: float
    created_at: float
    sent_at: float | None
    last_error: str | None

    def as_dict(self) -> dict[str, Any]:
        """What the agent console shows of it."""
        return {"delivery_id": self.delivery_id, "channel": self.channel, "status": self.status,
                "attempts": self.attempts, "next_attempt_at": self.next_attempt_at if self.status == PENDING else None,
                "sent_at": self.sent_at, "error": self.last_error}


def outbox_rows(conversation_id: str, outgoing: Sequence[Outgoing], now: float) -> list[dict[str, Any]]:
    """The rows that `outgoing` becomes, due at once."""
    return [{"delivery_id": o.delivery_id, "conversation_id": conversation_id, "channel": o.channel,
             "message": o.message, "status": PENDING, "attempts": 0, "parts_sent": 0, "next_attempt_at": now,
             "created_at": now} for o in outgoing]


def _delivery(row: Any) -> Delivery:
    return Delivery(int(row.id), row.delivery_id, row.conversation_id, row.channel, dict(row.message), row.status,
                    int(row.attempts), int(row.parts_sent), float(row.next_attempt_at), float(row.created_at),
                    None if row.sent_at is None else float(row.sent_at), row.last_error)


class OutboxStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    async def due(self, now: float, *, limit: int = 50) -> list[str]:
        """Conversations with a pending message due by `now`, the longest waiting first."""
        first = func.min(outbox.c.next_attempt_at)
        query = (select(outbox.c.conversation_id, first.label("first")).where(
            outbox.c.status == PENDING, outbox.c.next_attempt_at <= now)
            .group_by(outbox.c.conversation_id).order_by(first).limit(limit))
        async with self.engine.connect() as conn:
            return [row.conversation_id for row in await conn.execute(query)]

    async def claim(self, conversation_id: str, now: float, *, channels: Sequence[str] | None = None) -> list[Delivery]:
        """Claim every pending message of the conversation (due or not: they go out in order),
        optionally of some channels only; returns what this call holds, oldest first."""
        token = secrets.token_hex(16)
        where = [outbox.c.conversation_id == conversation_id, outbox.c.status == PENDING]
        if channels is not None:
            where.append(outbox.c.channel.in_(list(channels)))
        query = select(outbox.c.id).where(*where).order_by(outbox.c.id)
        async with write_transaction(self.engine) as conn:
            if skips_locked(conn.dialect):  # elsewhere the UPDATE's WHERE status = 'pending' decides alone
                query = query.with_for_update(skip_locked=True)
            ids = list(await conn.scalars(query))
            if not ids:
                return []
            await conn.execute(update(outbox).where(outbox.c.id.in_(ids), outbox.c.status == PENDING)
                               .values(status=SENDING, claim=token, claimed_at=now))
            rows = (await conn.execute(select(outbox).where(outbox.c.claim == token, outbox.c.status == SENDING)
                                       .order_by(outbox.c.id))).all()
        return [_delivery(row) for row in rows]

    async def sent(self, delivery: Delivery, now: float) -> None:
        await self._finish(delivery, status=SENT, sent_at=now, attempts=delivery.attempts + 1, last_error=None)

    async def failed_attempt(self, delivery: Delivery, error: str, *, parts_sent: int,
                             retry_at: float | None) -> None:
        """An attempt failed: pending again until `retry_at`, or failed for good (None)."""
        await self._finish(delivery, status=PENDING if retry_at is not None else FAILED,
                           attempts=delivery.attempts + 1, parts_sent=parts_sent, last_error=error[:MAX_ERROR],
                           **({"next_attempt_at": retry_at} if retry_at is not None else {}))

    async def release(self, deliveries: Sequence[Delivery], retry_at: float) -> None:
        """Claimed messages not tried (one before them failed): pending again, behind it."""
        if not deliveries:
            return
        async with write_transaction(self.engine) as conn:
            await conn.execute(update(outbox).where(outbox.c.id.in_([d.id for d in deliveries]),
                                                    outbox.c.status == SENDING)
                               .values(status=PENDING, claim=None, claimed_at=None, next_attempt_at=retry_at))

    async def _finish(self, delivery: Delivery, **values: Any) -> None:
        async with write_transaction(self.engine) as conn:
            await conn.execute(update(outbox).where(outbox.c.id == delivery.id, outbox.c.status == SENDING)
                               .values(claim=None, claimed_at=None, **values))

    async def abandoned(self, claimed_before: float) -> int:
        """Messages a worker claimed and never finished (it died while sending): whether they
        arrived is unknown, so they are not sent again by themselves (never twice) but failed,
        for an agent to resend. Returns how many."""
        async with write_transaction(self.engine) as conn:
            result = await conn.execute(update(outbox).where(outbox.c.status == SENDING,
                                                             outbox.c.claimed_at < claimed_before)
                                        .values(status=FAILED, claim=None, claimed_at=None,
                                                last_error="the worker sending it stopped; it may not have "
                                                           "arrived: resend it if it did not"))
        return int(result.rowcount or 0)

    async def of_conversation(self, conversation_id: str) -> dict[str, Delivery]:
        """The conversation's outbox by delivery id."""
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(outbox).where(outbox.c.conversation_id == conversation_id))).all()
        return {row.delivery_id: _delivery(row) for row in rows}

    async def get(self, conversation_id: str, delivery_id: str) -> Delivery | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(outbox).where(outbox.c.conversation_id == conversation_id,
                                                           outbox.c.delivery_id == delivery_id))).first()
        return None if row is None else _delivery(row)

    async def retry_now(self, conversation_id: str, now: float, *, delivery_id: str | None = None,
                        channels: Sequence[str] | None = None) -> int:
        """Make undelivered messages (pending or failed) due now with a fresh count of attempts:
        one (an agent's resend) or all of some channels (a widget that came back)."""
        where = [outbox.c.conversation_id == conversation_id, outbox.c.status.in_((PENDING, FAILED))]
        if delivery_id is not None:
            where.append(outbox.c.delivery_id == delivery_id)
        if channels is not None:
            where.append(outbox.c.channel.in_(list(channels)))
        async with write_transaction(self.engine) as conn:
            result = await conn.execute(update(outbox).where(and_(*where))
                                        .values(status=PENDING, attempts=0, next_attempt_at=now))
        return int(result.rowcount or 0)
