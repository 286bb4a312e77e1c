"""A database of revision 0004 (before message ids, the outbox and privacy links), with
conversations in it, upgrades on SQLite, PostgreSQL and MariaDB: its customer messages become
known ids (a redelivery of an old message is still a duplicate), approvals are linked to their
conversations, and every revision steps down again."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from bot.storage.base import DuplicateMessage
from bot.storage.schema import knowledge_sources, user_messages
from bot.storage.sql import SQLTrackerStore, alembic_config


def to(revision: str, *, down: bool = False) -> Any:
    def run(conn: Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)
    return run


async def test_a_0004_database_upgrades_with_its_messages_and_approvals(url: str) -> None:
    if url.startswith("sqlite"):
        Path(url.split(":///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url)
    now = datetime(2026, 1, 1, tzinfo=UTC) if url.startswith("postgresql") else "2026-01-01 00:00:00"
    events = [  # (conversation, type, payload): a message stored twice (an old redelivery), an approval
        ("ada", "user", '{"event": "user", "text": "hi", "message_id": "m1", "timestamp": 1.0}'),
        ("ada", "bot", '{"event": "bot", "text": "Hello", "timestamp": 1.1}'),
        ("ada", "user", '{"event": "user", "text": "hi", "message_id": "m1", "timestamp": 2.0}'),
        ("ada", "user", '{"event": "user", "text": "no id", "timestamp": 3.0}'),
        ("ada", "agent", '{"event": "agent", "text": "We ship", "metadata": {"agent": "ann", "message_id": "a1"},'
                         ' "timestamp": 4.0}'),
        ("ada", "agent", '{"event": "agent", "text": "Not approved", "metadata": {"message_id": "a2"}, '
                         '"timestamp": 5.0}'),
        ("bob", "user", '{"event": "user", "text": "hey", "message_id": "m1", "timestamp": 1.0}'),
    ]
    try:
        async with engine.begin() as conn:
            await conn.run_sync(to("0004"))
        async with engine.begin() as conn:
            for cid in ("ada", "bob"):
                await conn.execute(text("INSERT INTO conversations (id, created_at, updated_at, state, event_count) "
                                        "VALUES (:id, :now, :now, '{}', 1)"), {"id": cid, "now": now})
            for cid, kind, payload in events:
                await conn.execute(text("INSERT INTO events (conversation_id, type, timestamp, created_at, payload) "
                                        "VALUES (:cid, :kind, 1.0, :now, :payload)"),
                                   {"cid": cid, "kind": kind, "now": now, "payload": payload})
            await conn.execute(text("INSERT INTO knowledge_entries (id, question, answer, intent, tags, source, "
                                    "logged_at, updated_at, deleted) VALUES ('agent-a1', 'q', 'We ship', NULL, '[]', "
                                    "'agent', NULL, :now, :no)"), {"now": now, "no": False})
    finally:
        await engine.dispose()

    store = SQLTrackerStore(url)
    try:
        await store.start()  # to the newest revision
        async with store.engine.connect() as conn:
            ids = sorted((r.conversation_id, r.message_id) for r in await conn.execute(select(user_messages)))
            links = [(r.entry_id, r.conversation_id) for r in await conn.execute(select(knowledge_sources))]
        assert ids == [("ada", "m1"), ("bob", "m1")]
        assert links == [("agent-a1", "ada")]
        with pytest.raises(DuplicateMessage):
            await store.append("ada", [{"event": "user", "text": "hi", "message_id": "m1", "timestamp": 9.0}])
        async with store.engine.begin() as conn:  # and back down, every revision of ours
            await conn.run_sync(to("0004", down=True))
        async with store.engine.begin() as conn:
            await conn.run_sync(to("head"))
    finally:
        await store.close()
