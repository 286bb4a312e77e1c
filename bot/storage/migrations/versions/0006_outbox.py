"""The outbox: replies to push, written with the events that say them, delivered by a dispatcher.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from bot.storage.dialects import table_options

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

SECONDS = sa.Float().with_variant(mysql.DOUBLE(asdecimal=False), "mysql", "mariadb")
INDEXES = {
    "ux_outbox_delivery_id": (["delivery_id"], True),
    "ix_outbox_due": (["status", "next_attempt_at"], False),
    "ix_outbox_conversation_id_id": (["conversation_id", "id"], False),
}


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    if not inspector.has_table("outbox"):
        op.create_table(
            "outbox",
            sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                      autoincrement=True),
            sa.Column("delivery_id", sa.String(64), nullable=False),
            sa.Column("conversation_id", sa.String(255), nullable=False),
            sa.Column("channel", sa.String(64), nullable=False),
            sa.Column("message", sa.JSON(), nullable=False),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("attempts", sa.Integer(), nullable=False),
            sa.Column("parts_sent", sa.Integer(), nullable=False),
            sa.Column("next_attempt_at", SECONDS, nullable=False),
            sa.Column("created_at", SECONDS, nullable=False),
            sa.Column("claim", sa.String(32), nullable=True),
            sa.Column("claimed_at", SECONDS, nullable=True),
            sa.Column("sent_at", SECONDS, nullable=True),
            sa.Column("last_error", sa.String(500), nullable=True),
            sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"], name="fk_outbox_conversation_id",
                                    ondelete="CASCADE"),
            **table_options(bind),
        )
    present = {index["name"] for index in sa.inspect(bind).get_indexes("outbox")}
    for name, (columns, unique) in INDEXES.items():  # a rerun after a half-done MySQL upgrade
        if name not in present:
            op.create_index(name, "outbox", columns, unique=unique)


def downgrade() -> None:
    op.drop_table("outbox")  # its indexes with it (MySQL keeps an FK's index until the table goes)
