"""Human handoff: the queue columns on conversations, agents, console sessions, intent corrections.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from bot.storage.dialects import table_options

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

# MariaDB/MySQL came after this revision was written: on them a time is DOUBLE (their FLOAT is single
# precision), a moment DATETIME(6), and tables get a binary collation; other backends are unchanged.
SECONDS = sa.Float().with_variant(mysql.DOUBLE(asdecimal=False), "mysql", "mariadb")
MOMENT = sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:  # batch: SQLite cannot ALTER much in place
        batch.add_column(sa.Column("handoff_status", sa.String(16), nullable=True))
        batch.add_column(sa.Column("handoff_since", SECONDS, nullable=True))
        batch.create_index("ix_conversations_handoff", ["handoff_status", "handoff_since"])
    op.create_index("ix_events_type_id", "events", ["type", "id"])
    op.create_table(
        "agents",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", MOMENT, nullable=False),
        **table_options(op.get_bind()),
    )
    op.create_table(
        "console_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column(
            "agent",
            sa.String(64),
            sa.ForeignKey("agents.name", ondelete="CASCADE", name="fk_console_sessions_agent"),
            nullable=False,
        ),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.Column("expires_at", MOMENT, nullable=False),
        **table_options(op.get_bind()),
    )
    op.create_index("ix_console_sessions_agent", "console_sessions", ["agent"])
    op.create_table(
        "intent_corrections",
        sa.Column("conversation_id", sa.String(255), primary_key=True),
        sa.Column("message_id", sa.String(255), primary_key=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("predicted", sa.String(255), nullable=True),
        sa.Column("intent", sa.String(255), nullable=False),
        sa.Column("agent", sa.String(64), nullable=False),
        sa.Column("created_at", MOMENT, nullable=False),
        **table_options(op.get_bind()),
    )


def downgrade() -> None:
    op.drop_table("intent_corrections")
    op.drop_index("ix_console_sessions_agent", table_name="console_sessions")
    op.drop_table("console_sessions")
    op.drop_table("agents")
    op.drop_index("ix_events_type_id", table_name="events")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_index("ix_conversations_handoff")
        batch.drop_column("handoff_since")
        batch.drop_column("handoff_status")
