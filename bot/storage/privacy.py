"""One customer's data, everywhere Switchboard keeps it: forgotten (deleted) or anonymised.

A conversation is kept in: `conversations` (the state snapshot, the handoff columns), `events`,
`user_messages` (its message ids and the replies given), `outbox`, `reminders`,
`intent_corrections` (agents' relabels, with the customer's text), and the knowledge base when an
agent approved a reply of it as an answer (`knowledge_sources` links the entry). Switchboard has
no event broker, so there are no copies elsewhere. Each operation is one transaction.

- `forget`: all of it deleted, the approved knowledge entries too (a `delete` in the change log,
  so every worker drops them from its FAISS copy).
- `anonymise`: the conversation stays for statistics (intents, routes, handoffs, timings) under a
  random id, with every text, slot value, entity and metadata removed; what only serves the
  customer (message ids and replies, outbox, reminders, corrections) is deleted; approved entries
  stay (they are the company's answers, PII-redacted when approved), only their link goes.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.events import Event
from bot.storage.dialects import write_transaction
from bot.storage.schema import (
    conversations,
    events,
    intent_corrections,
    knowledge_changes,
    knowledge_entries,
    knowledge_sources,
    outbox,
    reminders,
    user_messages,
)
from bot.tracker import State

ANONYMOUS_PREFIX = "anon-"
# what an anonymised bot message keeps of its reason: why it was said, not what it said
REASON_KEYS = ("route", "intent", "confidence", "escalate", "handoff", "action", "policy", "timings_ms")
PARSE_KEYS = ("intent", "intent_ranking", "sentiment")


@dataclass(frozen=True)
class Forgotten:
    conversation_id: str
    events: int
    knowledge_entries: list[str]  # deleted: this worker drops them from its index at once


async def forget(engine: AsyncEngine, conversation_id: str) -> Forgotten | None:
    """Delete everything kept about the conversation; None when it is unknown."""
    async with write_transaction(engine) as conn:
        if await _locked(conn, conversation_id) is None:
            return None
        entries = list(await conn.scalars(select(knowledge_sources.c.entry_id)
                                          .where(knowledge_sources.c.conversation_id == conversation_id)))
        if entries:
            now = datetime.now(UTC)
            existing = list(await conn.scalars(select(knowledge_entries.c.id)
                                               .where(knowledge_entries.c.id.in_(entries))))
            await conn.execute(delete(knowledge_entries).where(knowledge_entries.c.id.in_(entries)))
            if existing:  # the other workers replay it and drop the entry from their index
                await conn.execute(knowledge_changes.insert(), [{"entry_id": e, "op": "delete", "at": now}
                                                                 for e in existing])
        count = (await conn.execute(delete(events).where(events.c.conversation_id == conversation_id))).rowcount
        await _delete_owned(conn, conversation_id)
        await conn.execute(delete(conversations).where(conversations.c.id == conversation_id))
    return Forgotten(conversation_id, int(count or 0), entries)


async def anonymise(engine: AsyncEngine, conversation_id: str) -> str | None:
    """Keep the conversation's shape under a random id, without anything personal; returns the
    new id, or None when the conversation is unknown."""
    new_id = ANONYMOUS_PREFIX + secrets.token_hex(12)
    async with write_transaction(engine) as conn:
        row = await _locked(conn, conversation_id)
        if row is None:
            return None
        state = State.from_json(row.state)
        scrubbed = State(slots={name: None for name in state.slots}, paused=state.paused,
                         active_loop=state.active_loop, latest_message=_parse(state.latest_message),
                         latest_input_channel=state.latest_input_channel, latest_action_name=state.latest_action_name,
                         latest_event_time=state.latest_event_time, handoff=state.handoff)
        await conn.execute(conversations.insert().values(
            id=new_id, created_at=row.created_at, updated_at=row.updated_at, state=scrubbed.to_json(),
            event_count=row.event_count, handoff_status=row.handoff_status, handoff_since=row.handoff_since,
            anonymised_at=datetime.now(UTC)))
        for event_id, payload in (await conn.execute(select(events.c.id, events.c.payload).where(
                events.c.conversation_id == conversation_id).order_by(events.c.id))).all():
            await conn.execute(update(events).where(events.c.id == event_id).values(
                conversation_id=new_id, payload=scrub(payload)))
        await _delete_owned(conn, conversation_id)
        await conn.execute(delete(conversations).where(conversations.c.id == conversation_id))
    return new_id


def scrub(event: Event) -> Event:
    """An event without what could identify or describe the customer: texts, slot values,
    entities, metadata, message ids. Its kind, time, intent, actions and the bot's route stay."""
    kept: Event = {k: v for k, v in event.items() if k not in ("text", "metadata", "message_id", "data", "value",
                                                                 "entities", "parse_data")}
    kind = event.get("event")
    if kind in ("user", "bot", "agent"):
        kept["text"] = None
    if kind == "user":
        kept["parse_data"] = _parse(event.get("parse_data") or {})
    if kind == "slot":
        kept["value"] = None
    if kind == "bot":
        reason = (event.get("metadata") or {}).get("reason")
        if isinstance(reason, dict):
            kept["metadata"] = {"reason": {k: reason[k] for k in REASON_KEYS if k in reason}}
    if kind == "agent":
        agent = (event.get("metadata") or {}).get("agent")  # staff, not the customer
        kept["metadata"] = {"agent": agent} if agent else {}
    return kept


def _parse(parse: dict[str, Any]) -> dict[str, Any]:
    kept = {k: parse[k] for k in PARSE_KEYS if k in parse}
    return {**kept, "text": None, "entities": []} if parse else {}


async def _locked(conn: AsyncConnection, conversation_id: str) -> Any:
    """The conversation's row, locked against concurrent appends (None when unknown)."""
    return (await conn.execute(select(conversations).where(conversations.c.id == conversation_id)
                               .with_for_update())).first()


async def _delete_owned(conn: AsyncConnection, conversation_id: str) -> None:
    """What only serves the customer of this conversation (the FKs would cascade most of it;
    spelled out so nothing depends on SQLite's foreign_keys pragma)."""
    for table in (user_messages, outbox):
        await conn.execute(delete(table).where(table.c.conversation_id == conversation_id))
    for table in (reminders, intent_corrections):
        await conn.execute(delete(table).where(table.c.conversation_id == conversation_id))
    await conn.execute(delete(knowledge_sources).where(knowledge_sources.c.conversation_id == conversation_id))
