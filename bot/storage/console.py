"""The agent console's tables in the project's database: agents, login sessions, intent corrections.

Sessions live in SQL, not in a worker's memory, so any worker behind the load balancer
recognises a login. The cookie carries a random token; only its SHA-256 is stored, so a
leaked database does not hand out live sessions.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.storage.dialects import upsert
from bot.storage.schema import agents, console_sessions, intent_corrections, knowledge_sources

ROLES = ("agent", "admin")


@dataclass(frozen=True)
class Agent:
    name: str
    role: str
    created_at: str

    @property
    def admin(self) -> bool:
        return self.role == "admin"

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role, "created_at": self.created_at}


@dataclass(frozen=True)
class Session:
    agent: Agent
    csrf: str


@dataclass(frozen=True)
class Correction:
    conversation_id: str
    message_id: str
    text: str
    predicted: str | None
    intent: str
    agent: str
    created_at: str = ""  # set by the store


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _agent(row: Any) -> Agent:
    return Agent(row.name, row.role, row.created_at.isoformat())


class ConsoleStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    # -- agents ------------------------------------------------------------------------------

    async def add_agent(self, name: str, password_hash: str, role: str) -> Agent:
        """Add an agent; raises KeyError when the name is taken."""
        now = datetime.now(UTC)
        async with self.engine.begin() as conn:
            exists = await conn.scalar(select(agents.c.name).where(agents.c.name == name))
            if exists:
                raise KeyError(name)
            await conn.execute(agents.insert().values(name=name, password_hash=password_hash, role=role,
                                                      created_at=now))
        return Agent(name, role, now.isoformat())

    async def remove_agent(self, name: str) -> bool:
        async with self.engine.begin() as conn:
            await conn.execute(delete(console_sessions).where(console_sessions.c.agent == name))
            result = await conn.execute(delete(agents).where(agents.c.name == name))
        return bool(result.rowcount)

    async def agents(self) -> list[Agent]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(agents).order_by(agents.c.name))).all()
        return [_agent(row) for row in rows]

    async def credentials(self, name: str) -> tuple[Agent, str] | None:
        """The agent and their password hash, or None."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(agents).where(agents.c.name == name))).first()
        return (_agent(row), row.password_hash) if row else None

    async def set_password_hash(self, name: str, password_hash: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(update(agents).where(agents.c.name == name).values(password_hash=password_hash))

    # -- sessions ----------------------------------------------------------------------------

    async def open_session(self, agent: str, ttl: timedelta) -> tuple[str, str]:
        """A new login: (cookie token, CSRF token). Expired sessions are swept on the way."""
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        async with self.engine.begin() as conn:
            await conn.execute(delete(console_sessions).where(console_sessions.c.expires_at < now))
            await conn.execute(console_sessions.insert().values(
                token_hash=_hash(token), agent=agent, csrf=csrf, created_at=now, expires_at=now + ttl))
        return token, csrf

    async def session(self, token: str) -> Session | None:
        """The live session of a cookie token, or None (unknown or expired)."""
        query = (
            select(console_sessions.c.csrf, console_sessions.c.expires_at, agents)
            .join(agents, agents.c.name == console_sessions.c.agent)
            .where(console_sessions.c.token_hash == _hash(token))
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None or row.expires_at <= datetime.now(UTC):
            return None
        return Session(_agent(row), row.csrf)

    async def close_session(self, token: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(delete(console_sessions).where(console_sessions.c.token_hash == _hash(token)))

    # -- corrections -------------------------------------------------------------------------

    async def correct(self, correction: Correction) -> None:
        """Store an intent correction; a later one for the same message replaces it."""
        values = {
            "conversation_id": correction.conversation_id, "message_id": correction.message_id,
            "text": correction.text, "predicted": correction.predicted, "intent": correction.intent,
            "agent": correction.agent, "created_at": datetime.now(UTC),
        }
        async with self.engine.begin() as conn:
            await conn.execute(upsert(self.dialect, intent_corrections, values, ["conversation_id", "message_id"]))

    async def link_source(self, entry_id: str, conversation_id: str) -> None:
        """Record that an approved knowledge entry came from this conversation: deleting the
        conversation's data (bot/storage/privacy.py) deletes the entry too."""
        async with self.engine.begin() as conn:
            await conn.execute(upsert(self.dialect, knowledge_sources, {"entry_id": entry_id,
                                                                        "conversation_id": conversation_id},
                                      ["entry_id"]))

    async def corrections(self, conversation_id: str | None = None) -> list[Correction]:
        query = select(intent_corrections).order_by(intent_corrections.c.created_at)
        if conversation_id is not None:
            query = query.where(intent_corrections.c.conversation_id == conversation_id)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [Correction(r.conversation_id, r.message_id, r.text, r.predicted, r.intent, r.agent,
                           r.created_at.isoformat()) for r in rows]
