"""The tables of the SQL tracker store, shared by the store (sql.py) and the Alembic env.

The initial migration (migrations/versions/0001_initial.py) spells the same tables out
with frozen types; tests/unit/storage/test_sql.py checks that the two agree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from bot.storage.dialects import MYSQL, Seconds

#: The primary key of `events`: BIGINT on PostgreSQL and MySQL, INTEGER on SQLite (so it aliases
#: the rowid and autoincrements there).
EventId = BigInteger().with_variant(Integer, "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime stored in UTC and always read back as aware UTC.

    PostgreSQL keeps the zone (TIMESTAMP WITH TIME ZONE); SQLite stores a naive UTC string and
    MySQL a naive UTC DATETIME(6), which are marked as UTC again when read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name in MYSQL:
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: store aware datetimes only")
        value = value.astimezone(UTC)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = value
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)


metadata = MetaData()

conversations = Table(
    "conversations",
    metadata,
    Column("id", String(255), primary_key=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("state", JSON(), nullable=False),
    Column("event_count", Integer(), nullable=False, default=0),
    # copied from the state snapshot on every append, so the agents' queue is one indexed query:
    # pending | agent while a person is needed or has it, else bot | closed (NULL: never handed over)
    Column("handoff_status", String(16), nullable=True),
    Column("handoff_since", Seconds, nullable=True),
    # set when retention anonymised it (bot/storage/privacy.py): its id and content are no one's
    Column("anonymised_at", UTCDateTime(), nullable=True),
    Index("ix_conversations_updated_at", "updated_at"),
    Index("ix_conversations_handoff", "handoff_status", "handoff_since"),
)

# The FK column needs no index of its own: the composite indexes lead with it.
events = Table(
    "events",
    metadata,
    Column("id", EventId, primary_key=True, autoincrement=True),
    Column(
        "conversation_id",
        String(255),
        ForeignKey("conversations.id", ondelete="CASCADE", name="fk_events_conversation_id"),
        nullable=False,
    ),
    Column("type", String(64), nullable=False),
    Column("timestamp", Seconds, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("payload", JSON(), nullable=False),
    Index("ix_events_conversation_id_id", "conversation_id", "id"),
    Index("ix_events_conversation_id_timestamp", "conversation_id", "timestamp"),
    Index("ix_events_type_id", "type", "id"),  # recent handoffs across conversations (wait estimates)
)

# -- the knowledge base: SQL is the source of truth; each worker's FAISS copy follows it ---------

knowledge_entries = Table(
    "knowledge_entries",
    metadata,
    Column("id", String(255), primary_key=True),
    Column("question", Text(), nullable=False),
    Column("answer", Text(), nullable=False),
    Column("intent", String(255), nullable=True),
    Column("tags", JSON(), nullable=False),
    Column("source", String(16), nullable=False),
    Column("logged_at", String(40), nullable=True),  # when the exchange happened (ISO 8601), if known
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("deleted", Boolean(), nullable=False),
)

# One row per add, change or delete, in commit order: workers replay what they have not seen.
knowledge_changes = Table(
    "knowledge_changes",
    metadata,
    Column("seq", EventId, primary_key=True, autoincrement=True),
    Column("entry_id", String(255), nullable=False),
    Column("op", String(8), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
)

# Small key/value facts, e.g. the data hash of the index build imported into knowledge_entries.
knowledge_meta = Table(
    "knowledge_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", JSON(), nullable=False),
)


# -- the agent console ---------------------------------------------------------------------------

agents = Table(
    "agents",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("password_hash", String(255), nullable=False),  # argon2id, with its parameters
    Column("role", String(16), nullable=False),  # agent | admin
    Column("created_at", UTCDateTime(), nullable=False),
)

# A console login. The cookie holds a random token; only its SHA-256 is stored.
console_sessions = Table(
    "console_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column(
        "agent",
        String(64),
        ForeignKey("agents.name", ondelete="CASCADE", name="fk_console_sessions_agent"),
        nullable=False,
    ),
    Column("csrf", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Index("ix_console_sessions_agent", "agent"),
)

# An agent's correction of the intent the bot gave one customer message (the latest one wins);
# `switchboard export training-data` turns them into Rasa NLU data for the next training.
intent_corrections = Table(
    "intent_corrections",
    metadata,
    Column("conversation_id", String(255), primary_key=True),
    Column("message_id", String(255), primary_key=True),
    Column("text", Text(), nullable=False),
    Column("predicted", String(255), nullable=True),
    Column("intent", String(255), nullable=False),
    Column("agent", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

# Reminders that actions scheduled (Rasa's ReminderScheduled): each fires once, whichever worker
# claims it first (bot/reminders.py); they outlive a restart.
reminders = Table(
    "reminders",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", String(255), nullable=False),
    Column("name", String(255), nullable=False),
    Column("intent", String(255), nullable=False),
    Column("entities", JSON(), nullable=False),
    Column("fire_at", Seconds, nullable=False),
    Column("scheduled_at", Seconds, nullable=False),  # the event's timestamp: later user messages may kill it
    Column("kill_on_user_msg", Boolean(), nullable=False),
    Column("channel", String(64), nullable=True),  # where the conversation was when it was scheduled
    Column("status", String(16), nullable=False),  # pending | firing | fired | cancelled | killed | failed
    Column("worker", String(64), nullable=True),
    Index("ix_reminders_due", "status", "fire_at"),
    Index("ix_reminders_conversation", "conversation_id", "name"),
)

# -- delivery: each customer message once, each reply once ----------------------------------------

# The ids of a conversation's customer messages, each stored once (the primary key): a platform's
# redelivery, a client's retry or two workers racing for one message find it here, whatever the
# length of the conversation. The replies the turn gave are kept with it for the retry.
user_messages = Table(
    "user_messages",
    metadata,
    Column("conversation_id", String(255),
           ForeignKey("conversations.id", ondelete="CASCADE", name="fk_user_messages_conversation_id"),
           primary_key=True),
    Column("message_id", String(255), primary_key=True),
    Column("fingerprint", String(64), nullable=False),  # sha256 of the text: an id reused for another text is refused
    Column("replies", JSON(), nullable=True),  # NULL: stored through the tracker API, not by a turn
    Column("created_at", UTCDateTime(), nullable=False),
)

# Messages to push (socket.io, Slack, Telegram, callback; agents' replies), written with the events
# that say them and delivered by the dispatcher (bot/channels/dispatch.py): pending -> sending ->
# sent, or back to pending with a later next_attempt_at, or failed. Times are unix seconds.
outbox = Table(
    "outbox",
    metadata,
    Column("id", EventId, primary_key=True, autoincrement=True),
    Column("delivery_id", String(64), nullable=False),  # also in the bot/agent event's metadata
    Column("conversation_id", String(255),
           ForeignKey("conversations.id", ondelete="CASCADE", name="fk_outbox_conversation_id"), nullable=False),
    Column("channel", String(64), nullable=False),
    Column("message", JSON(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer(), nullable=False),
    Column("parts_sent", Integer(), nullable=False),  # platform calls of a split message that went out
    Column("next_attempt_at", Seconds, nullable=False),
    Column("created_at", Seconds, nullable=False),
    Column("claim", String(32), nullable=True),  # the token of the worker delivering it now
    Column("claimed_at", Seconds, nullable=True),
    Column("sent_at", Seconds, nullable=True),
    Column("last_error", String(500), nullable=True),
    Index("ux_outbox_delivery_id", "delivery_id", unique=True),
    Index("ix_outbox_due", "status", "next_attempt_at"),
    Index("ix_outbox_conversation_id_id", "conversation_id", "id"),
)

# -- privacy --------------------------------------------------------------------------------------

# Where an agent-approved knowledge entry came from: deleting the conversation deletes the entry.
knowledge_sources = Table(
    "knowledge_sources",
    metadata,
    Column("entry_id", String(255), primary_key=True),
    Column("conversation_id", String(255), nullable=False),
    Index("ix_knowledge_sources_conversation_id", "conversation_id"),
)

# Leases that let one worker at a time run a scheduled job (bot/storage/retention.py).
job_leases = Table(
    "job_leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(128), nullable=True),
    Column("expires_at", Seconds, nullable=False),
)
