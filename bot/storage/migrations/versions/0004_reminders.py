"""Reminders scheduled by actions, fired once by whichever worker claims them.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from bot.storage.dialects import table_options

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

# MariaDB/MySQL came after this revision was written: on them a time is DOUBLE (their FLOAT is single
# precision), a moment DATETIME(6), and tables get a binary collation; other backends are unchanged.
SECONDS = sa.Float().with_variant(mysql.DOUBLE(asdecimal=False), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "reminders",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("conversation_id", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("intent", sa.String(255), nullable=False),
        sa.Column("entities", sa.JSON(), nullable=False),
        sa.Column("fire_at", SECONDS, nullable=False),
        sa.Column("scheduled_at", SECONDS, nullable=False),
        sa.Column("kill_on_user_msg", sa.Boolean(), nullable=False),
        sa.Column("channel", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("worker", sa.String(64), nullable=True),
        **table_options(op.get_bind()),
    )
    op.create_index("ix_reminders_due", "reminders", ["status", "fire_at"])
    op.create_index("ix_reminders_conversation", "reminders", ["conversation_id", "name"])


def downgrade() -> None:
    op.drop_index("ix_reminders_conversation", table_name="reminders")
    op.drop_index("ix_reminders_due", table_name="reminders")
    op.drop_table("reminders")
