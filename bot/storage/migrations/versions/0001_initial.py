"""Conversations (state snapshot) and their event log.

Revision ID: 0001
Revises:

The types are spelled out here rather than imported from bot.storage.schema so that this
revision keeps creating the same tables whatever the schema module becomes later.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from bot.storage.dialects import table_options

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

# MariaDB/MySQL came after this revision was written: on them a time is DOUBLE (their FLOAT is single
# precision), a moment DATETIME(6), and tables get a binary collation; other backends are unchanged.
SECONDS = sa.Float().with_variant(mysql.DOUBLE(asdecimal=False), "mysql", "mariadb")
MOMENT = sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.Column("updated_at", MOMENT, nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
        **table_options(op.get_bind()),
    )
    op.create_index("ix_conversations_updated_at", "conversations", ["updated_at"])
    op.create_table(
        "events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("conversation_id", sa.String(255), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("timestamp", SECONDS, nullable=False),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name="fk_events_conversation_id",
            ondelete="CASCADE",
        ),
        **table_options(op.get_bind()),
    )
    op.create_index("ix_events_conversation_id_id", "events", ["conversation_id", "id"])
    op.create_index(
        "ix_events_conversation_id_timestamp", "events", ["conversation_id", "timestamp"]
    )


def downgrade() -> None:
    op.drop_index("ix_events_conversation_id_timestamp", table_name="events")
    op.drop_index("ix_events_conversation_id_id", table_name="events")
    op.drop_table("events")
    op.drop_index("ix_conversations_updated_at", table_name="conversations")
    op.drop_table("conversations")
