"""The knowledge base's entries, their change log, and build facts.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from bot.storage.dialects import table_options

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

# MariaDB/MySQL came after this revision was written: on them a time is DOUBLE (their FLOAT is single
# precision), a moment DATETIME(6), and tables get a binary collation; other backends are unchanged.
MOMENT = sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "knowledge_entries",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("intent", sa.String(255), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("logged_at", sa.String(40), nullable=True),
        sa.Column("updated_at", MOMENT, nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        **table_options(op.get_bind()),
    )
    op.create_table(
        "knowledge_changes",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("entry_id", sa.String(255), nullable=False),
        sa.Column("op", sa.String(8), nullable=False),
        sa.Column("at", MOMENT, nullable=False),
        **table_options(op.get_bind()),
    )
    op.create_table(
        "knowledge_meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.JSON(), nullable=False),
        **table_options(op.get_bind()),
    )


def downgrade() -> None:
    op.drop_table("knowledge_meta")
    op.drop_table("knowledge_changes")
    op.drop_table("knowledge_entries")
