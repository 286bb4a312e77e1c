"""Privacy: which conversation an approved knowledge entry came from, when a conversation was
anonymised, and leases for scheduled jobs.

Revision ID: 0007
Revises: 0006

Approvals made before this revision are linked from their conversations' agent events: the console
named the entry after the agent reply's message id ("agent-<id>").
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from bot.storage.dialects import table_options

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

SECONDS = sa.Float().with_variant(mysql.DOUBLE(asdecimal=False), "mysql", "mariadb")
MOMENT = sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    if "anonymised_at" not in {c["name"] for c in inspector.get_columns("conversations")}:
        with op.batch_alter_table("conversations") as batch:  # batch: SQLite cannot ALTER much in place
            batch.add_column(sa.Column("anonymised_at", MOMENT, nullable=True))
    if not inspector.has_table("knowledge_sources"):
        sources = op.create_table(
            "knowledge_sources",
            sa.Column("entry_id", sa.String(255), primary_key=True),
            sa.Column("conversation_id", sa.String(255), nullable=False),
            **table_options(bind),
        )
        _backfill(bind, sources)
    if "ix_knowledge_sources_conversation_id" not in {i["name"] for i in sa.inspect(bind).get_indexes(
            "knowledge_sources")}:
        op.create_index("ix_knowledge_sources_conversation_id", "knowledge_sources", ["conversation_id"])
    if not inspector.has_table("job_leases"):
        op.create_table(
            "job_leases",
            sa.Column("name", sa.String(64), primary_key=True),
            sa.Column("holder", sa.String(128), nullable=True),
            sa.Column("expires_at", SECONDS, nullable=False),
            **table_options(bind),
        )


def _backfill(bind: sa.engine.Connection, sources: sa.Table) -> None:
    events = sa.table("events", sa.column("conversation_id", sa.String()), sa.column("type", sa.String()),
                      sa.column("payload", sa.JSON()))
    entries = sa.table("knowledge_entries", sa.column("id", sa.String()), sa.column("source", sa.String()))
    approved = set(bind.scalars(sa.select(entries.c.id).where(entries.c.source == "agent")))
    links: dict[str, str] = {}
    for conversation_id, payload in bind.execute(sa.select(events.c.conversation_id, events.c.payload)
                                                 .where(events.c.type == "agent")):
        message_id = ((payload or {}).get("metadata") or {}).get("message_id") if isinstance(payload, dict) else None
        entry_id = f"agent-{message_id}"[:128]
        if message_id and entry_id in approved:
            links[entry_id] = conversation_id
    if links:
        bind.execute(sources.insert(), [{"entry_id": e, "conversation_id": c} for e, c in links.items()])


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("anonymised_at")
    op.drop_table("job_leases")
    op.drop_table("knowledge_sources")
