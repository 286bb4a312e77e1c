"""The knowledge base in SQL (the project's database): entries, a change log that workers
replay to keep their FAISS copies in step, and the hash of the imported index build."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Iterable

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.storage.schema import knowledge_changes, knowledge_entries, knowledge_meta
from knowledge.base import Entry

BUILD_KEY = "index_build"


@dataclass(frozen=True)
class Change:
    seq: int
    op: str  # "upsert" | "delete"
    entry: Entry | None  # the entry as it is now (None once deleted)
    entry_id: str


def _entry(row: Any) -> Entry:
    return Entry(
        id=row.id, question=row.question, answer=row.answer, intent=row.intent,
        tags=tuple(row.tags or ()), created_at=row.logged_at, source=row.source,
    )


def _values(entry: Entry, now: datetime) -> dict[str, Any]:
    return {
        "id": entry.id, "question": entry.question, "answer": entry.answer, "intent": entry.intent,
        "tags": list(entry.tags), "source": entry.source, "logged_at": entry.created_at,
        "updated_at": now, "deleted": False,
    }


class KnowledgeStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def get(self, entry_id: str) -> Entry | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(
                select(knowledge_entries).where(knowledge_entries.c.id == entry_id, ~knowledge_entries.c.deleted)
            )).first()
        return _entry(row) if row else None

    async def upsert(self, entry: Entry) -> int:
        """Add or replace one entry; returns the change's sequence number."""
        now = datetime.now(UTC)
        async with self.engine.begin() as conn:
            exists = await conn.scalar(select(knowledge_entries.c.id).where(knowledge_entries.c.id == entry.id))
            values = _values(entry, now)
            if exists:
                await conn.execute(update(knowledge_entries).where(knowledge_entries.c.id == entry.id).values(values))
            else:
                await conn.execute(knowledge_entries.insert().values(values))
            result = await conn.execute(knowledge_changes.insert().values(entry_id=entry.id, op="upsert", at=now))
            return int(result.inserted_primary_key[0])

    async def delete(self, entry_id: str) -> int | None:
        """Mark an entry deleted (kept, so a re-import of the same logs does not revive it)."""
        now = datetime.now(UTC)
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(knowledge_entries)
                .where(knowledge_entries.c.id == entry_id, ~knowledge_entries.c.deleted)
                .values(deleted=True, updated_at=now)
            )
            if result.rowcount == 0:
                return None
            change = await conn.execute(knowledge_changes.insert().values(entry_id=entry_id, op="delete", at=now))
            return int(change.inserted_primary_key[0])

    async def import_build(self, entries: Iterable[Entry], data_hash: str) -> bool:
        """Make the `logs` entries those of an index build, unless this build is already in.

        Entries deleted through the API stay deleted; entries added through the API or by
        agents are untouched. Returns True when something was imported."""
        entries = list(entries)
        now = datetime.now(UTC)
        async with self.engine.begin() as conn:
            current = await conn.scalar(select(knowledge_meta.c.value).where(knowledge_meta.c.key == BUILD_KEY))
            if current == data_hash:
                return False
            existing = {
                row.id: row.deleted
                for row in await conn.execute(
                    select(knowledge_entries.c.id, knowledge_entries.c.deleted)
                    .where(knowledge_entries.c.source == "logs")
                )
            }
            wanted = {e.id for e in entries}
            stale = [i for i, deleted in existing.items() if i not in wanted and not deleted]
            if stale:
                await conn.execute(
                    update(knowledge_entries).where(knowledge_entries.c.id.in_(stale)).values(deleted=True, updated_at=now)
                )
            fresh = [e for e in entries if e.id not in existing]
            for start in range(0, len(fresh), 1000):
                await conn.execute(knowledge_entries.insert(), [_values(e, now) for e in fresh[start:start + 1000]])
            for e in entries:
                if e.id in existing and not existing[e.id]:
                    values = _values(e, now)
                    values.pop("deleted")
                    await conn.execute(update(knowledge_entries).where(knowledge_entries.c.id == e.id).values(values))
            await conn.execute(knowledge_meta.delete().where(knowledge_meta.c.key == BUILD_KEY))
            await conn.execute(knowledge_meta.insert().values(key=BUILD_KEY, value=data_hash))
        return True

    async def live_entries(self) -> tuple[list[Entry], set[str], int]:
        """Entries not from the log files (API, agents), ids of deleted entries, and the last change seq."""
        async with self.engine.connect() as conn:
            # the seq first: a change committed meanwhile is replayed again later, never missed
            seq = await conn.scalar(select(func.coalesce(func.max(knowledge_changes.c.seq), 0)))
            rows = await conn.execute(select(knowledge_entries).where(knowledge_entries.c.source != "logs",
                                                                      ~knowledge_entries.c.deleted))
            added = [_entry(r) for r in rows]
            deleted = set(await conn.scalars(select(knowledge_entries.c.id).where(knowledge_entries.c.deleted)))
        return added, deleted, int(seq or 0)

    async def changes_since(self, seq: int, *, limit: int = 1000) -> list[Change]:
        query = (
            select(knowledge_changes.c.seq, knowledge_changes.c.op, knowledge_changes.c.entry_id, knowledge_entries)
            .join(knowledge_entries, knowledge_entries.c.id == knowledge_changes.c.entry_id, isouter=True)
            .where(knowledge_changes.c.seq > seq)
            .order_by(knowledge_changes.c.seq)
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            rows = list(await conn.execute(query))
        changes = []
        for row in rows:
            alive = row.op == "upsert" and row.id is not None and not row.deleted
            changes.append(Change(int(row.seq), row.op, _entry(row) if alive else None, row.entry_id))
        return changes

    async def count(self) -> int:
        async with self.engine.connect() as conn:
            return int(await conn.scalar(
                select(func.count()).select_from(knowledge_entries).where(~knowledge_entries.c.deleted)
            ) or 0)
