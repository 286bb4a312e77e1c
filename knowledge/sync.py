"""Keep a worker's in-memory KnowledgeBase in step with the SQL source of truth."""

from __future__ import annotations

import asyncio
import logging

from knowledge.index import KnowledgeBase
from knowledge.store import KnowledgeStore

log = logging.getLogger(__name__)


async def attach(kb: KnowledgeBase, store: KnowledgeStore) -> None:
    """At start-up: record this build's log entries in SQL (once per build), then lay the
    entries added or deleted since (API, agents, other workers) over the loaded index."""
    await store.import_build([e for e in kb.entries if e.source == "logs"], kb.manifest["data_hash"])
    added, deleted, seq = await store.live_entries()
    if added:
        await asyncio.to_thread(kb.add, added)
    kb.remove(deleted)
    kb.seq = seq
    log.info("knowledge base: %d entries (%d live additions, %d deleted), change %d", len(kb), len(added),
             len(deleted), seq)


async def catch_up(kb: KnowledgeBase, store: KnowledgeStore) -> int:
    """Apply the changes other workers (or this one) committed since the last call; returns how many."""
    changes = await store.changes_since(kb.seq)
    if not changes:
        return 0
    last = {change.entry_id: change for change in changes}  # the entry's current state wins
    gone = [i for i, c in last.items() if c.entry is None and i in kb]
    fresh = [c.entry for c in last.values() if c.entry is not None and kb.get(c.entry.id) != c.entry]
    kb.remove(gone)
    if fresh:
        await asyncio.to_thread(kb.add, fresh)
    kb.seq = changes[-1].seq
    return len(changes)


async def follow(kb: KnowledgeBase, store: KnowledgeStore, interval: float) -> None:
    """Poll for changes forever (a background task of the server)."""
    while True:
        await asyncio.sleep(interval)
        try:
            while await catch_up(kb, store) > 0:
                pass
        except Exception:  # the database may be briefly away; try again next round
            log.exception("knowledge sync failed; retrying in %.1fs", interval)
