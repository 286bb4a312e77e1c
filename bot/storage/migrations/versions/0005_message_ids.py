"""Each customer message stored once per conversation: its id, a hash of its text, its replies.

Revision ID: 0005
Revises: 0004

Existing conversations get a row for every stored user event with a message id (their replies
are unknown: a redelivery of one of them is still a duplicate, answered with nothing).
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from bot.storage.dialects import insert_ignore, table_options

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

MOMENT = sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
BATCH = 1000


def upgrade() -> None:
    bind = op.get_bind()
    table = sa.table("user_messages", *(sa.column(name) for name in (
        "conversation_id", "message_id", "fingerprint", "replies", "created_at")))
    if sa.inspect(bind).has_table("user_messages"):  # MySQL's DDL is not transactional: a rerun
        _backfill(bind, table)
        return
    op.create_table(
        "user_messages",
        sa.Column("conversation_id", sa.String(255), primary_key=True),
        sa.Column("message_id", sa.String(255), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("replies", sa.JSON(), nullable=True),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"], name="fk_user_messages_conversation_id",
                                ondelete="CASCADE"),
        **table_options(bind),
    )
    _backfill(bind, table)


def _backfill(bind: sa.engine.Connection, table: sa.TableClause) -> None:
    events = sa.table("events", sa.column("id", sa.BigInteger()), sa.column("conversation_id", sa.String()),
                      sa.column("type", sa.String()), sa.column("created_at", MOMENT), sa.column("payload", sa.JSON()))
    last, seen = 0, set()  # rows already there (a rerun) are left alone
    while True:
        rows = bind.execute(sa.select(events.c.id, events.c.conversation_id, events.c.created_at, events.c.payload)
                            .where(events.c.type == "user", events.c.id > last).order_by(events.c.id)
                            .limit(BATCH)).all()
        if not rows:
            return
        last = rows[-1].id
        fresh = []
        for row in rows:
            payload = row.payload if isinstance(row.payload, dict) else {}
            message_id = payload.get("message_id")
            if not isinstance(message_id, str) or not message_id:
                continue
            message_id = message_id[:255]
            if (row.conversation_id, message_id) in seen:
                continue
            seen.add((row.conversation_id, message_id))
            text = payload.get("text") if isinstance(payload.get("text"), str) else ""
            fresh.append({"conversation_id": row.conversation_id, "message_id": message_id,
                          "fingerprint": hashlib.sha256(text.encode()).hexdigest(), "replies": None,
                          "created_at": row.created_at})
        if fresh:
            bind.execute(insert_ignore(bind.dialect.name, table, fresh, key="message_id"))


def downgrade() -> None:
    op.drop_table("user_messages")
