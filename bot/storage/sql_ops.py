"""The tracker store's transactions as plain functions of one SQLAlchemy Connection.

Written once, synchronously, they serve every backend (bot/storage/sql.py): SQLite runs a whole
transaction in one hop to a thread (a turn's append is one call there, however many statements it
has: the event loop's other work cannot stretch a writer's hold on the database lock), PostgreSQL
and MySQL run the same function through `AsyncConnection.run_sync`."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from bot.errors import InvalidEvent
from bot.events import Event
from bot.storage.base import DuplicateMessage, HandledMessage, Outgoing, fingerprint
from bot.storage.dialects import insert_ignore
from bot.storage.outbox import outbox_rows
from bot.storage.schema import conversations, user_messages
from bot.storage.schema import events as event_rows
from bot.storage.schema import outbox as outbox_table
from bot.tracker import REVERTS, State, Tracker, apply, rebuilt

MAX_ID = 255  # conversation and message ids

# A turn's statements, built once. Building a statement (and its cache key) on every call cost more
# Python than running it on SQLite: about a third of the store's time in a turn under load.
_c, _e, _m = conversations.c, event_rows.c, user_messages.c
_STATE = select(_c.state).where(_c.id == bindparam("cid"))
_WINDOW = (select(_e.payload).where(_e.conversation_id == bindparam("cid"))
           .order_by(_e.id.desc()).limit(bindparam("window")))
_HANDLED = select(_m.fingerprint, _m.replies).where(_m.conversation_id == bindparam("cid"),
                                                    _m.message_id == bindparam("mid"))
_LOCKED = select(_c.state, _c.event_count).where(_c.id == bindparam("cid")).with_for_update()
_SNAPSHOT = update(conversations).where(_c.id == bindparam("cid")).values(
    state=bindparam("new_state", type_=_c.state.type), updated_at=bindparam("new_updated", type_=_c.updated_at.type),
    event_count=bindparam("new_count", type_=_c.event_count.type),
    handoff_status=bindparam("new_status", type_=_c.handoff_status.type),
    handoff_since=bindparam("new_since", type_=_c.handoff_since.type))
_INSERT_EVENTS = event_rows.insert()
_INSERT_MESSAGES = user_messages.insert()


class Taken(Exception):
    """A message id of the write was stored before (raised inside the transaction, to roll it back)."""

    def __init__(self, ids: list[str]) -> None:
        super().__init__(ids)
        self.ids = ids


@dataclass(frozen=True)
class Write:
    """One append or replace: what to store in one transaction."""

    conversation_id: str
    stamped: Sequence[Event]
    now: datetime
    initial_slots: dict[str, Any] | None = None
    replies: Sequence[dict[str, Any]] | None = None
    outbox: Sequence[Outgoing] = ()


# -- reads -----------------------------------------------------------------------------------

def tracker(conn: Connection, conversation_id: str, window: int) -> Tracker:
    """The snapshot plus the last `window` events (two bounded queries)."""
    state = conn.scalar(_STATE, {"cid": conversation_id})
    if state is None or window <= 0:
        return Tracker(conversation_id, State.from_json(state), [])
    rows = conn.scalars(_WINDOW, {"cid": conversation_id, "window": window})
    recent = list(rows)
    recent.reverse()
    return Tracker(conversation_id, State.from_json(state), recent)


def handled(conn: Connection, conversation_id: str, message_id: str) -> HandledMessage | None:
    row = conn.execute(_HANDLED, {"cid": conversation_id, "mid": message_id}).first()
    return None if row is None else HandledMessage(row.fingerprint, row.replies)


def begin_turn(conn: Connection, conversation_id: str, message_id: str,
               window: int) -> tuple[HandledMessage | None, Tracker | None]:
    found = handled(conn, conversation_id, message_id)
    return (found, None) if found is not None else (None, tracker(conn, conversation_id, window))


def state_of(conn: Connection, conversation_id: str) -> State:
    return State.from_json(conn.scalar(_STATE, {"cid": conversation_id}))


def duplicate(conn: Connection, conversation_id: str, ids: Sequence[str]) -> DuplicateMessage:
    """The error for a rolled-back write that met message ids stored before, with what was stored
    first (read after the rollback: a failed statement ends a PostgreSQL transaction)."""
    query = select(user_messages.c.message_id, user_messages.c.fingerprint, user_messages.c.replies).where(
        user_messages.c.conversation_id == conversation_id, user_messages.c.message_id.in_(list(ids)))
    known = {row.message_id: row for row in conn.execute(query).all()}
    first = next((i for i in ids if i in known), ids[0])
    row = known.get(first)
    return DuplicateMessage(conversation_id, first, None if row is None else HandledMessage(row.fingerprint,
                                                                                             row.replies))


# -- writes ----------------------------------------------------------------------------------

def append(conn: Connection, dialect: str, w: Write) -> State:
    """Append events, update the snapshot and write the outbox; the new state."""
    row = _locked(conn, dialect, w.conversation_id, w.now)
    _remember(conn, w.conversation_id, w.stamped, w.replies, w.now)
    state = apply(State.from_json(row.state), w.stamped, initial_slots=w.initial_slots)
    if any(e.get("event") in REVERTS for e in w.stamped):  # rewind/undo: replay the session
        state = rebuilt(state, current_session([*_session(conn, w.conversation_id), *w.stamped]),
                        initial_slots=w.initial_slots)
    _write(conn, w.conversation_id, w.stamped, state, row.event_count + len(w.stamped), w.now)
    if w.outbox:
        conn.execute(outbox_table.insert(), outbox_rows(w.conversation_id, w.outbox, time.time()))
    return state


def replace(conn: Connection, dialect: str, w: Write) -> State:
    """Replace every event of the conversation and rebuild its snapshot."""
    _locked(conn, dialect, w.conversation_id, w.now)
    conn.execute(delete(event_rows).where(event_rows.c.conversation_id == w.conversation_id))
    conn.execute(delete(user_messages).where(user_messages.c.conversation_id == w.conversation_id))
    _remember(conn, w.conversation_id, w.stamped, None, w.now)
    state = apply(State(), w.stamped, initial_slots=w.initial_slots)
    if any(e.get("event") in REVERTS for e in w.stamped):
        state = rebuilt(state, current_session(w.stamped), initial_slots=w.initial_slots)
    _write(conn, w.conversation_id, w.stamped, state, len(w.stamped), w.now)
    return state


def current_session(events: Sequence[Event]) -> list[Event]:
    """`events` from the last session start or restart among them (a revert never reaches past it)."""
    starts = [i for i, e in enumerate(events) if e.get("event") in ("session_started", "restart")]
    return list(events[starts[-1] if starts else 0:])


def _locked(conn: Connection, dialect: str, conversation_id: str, now: datetime) -> Any:
    """The conversation's row (state, event_count), locked for this transaction; created first
    when new (another writer creating it at the same moment is no error)."""
    row = conn.execute(_LOCKED, {"cid": conversation_id}).first()
    if row is None:
        values = {"id": conversation_id, "created_at": now, "updated_at": now, "state": State().to_json(),
                  "event_count": 0}
        conn.execute(insert_ignore(dialect, conversations, values))
        row = conn.execute(_LOCKED, {"cid": conversation_id}).one()
    return row


def _remember(conn: Connection, conversation_id: str, stamped: Sequence[Event],
              replies: Sequence[dict[str, Any]] | None, now: datetime) -> None:
    """Store the id of each user event of `stamped` that has one; an id stored before (the primary
    key says so: the conversation's row is locked, so by a committed writer) raises Taken."""
    rows: dict[str, dict[str, Any]] = {}
    for event in stamped:
        message_id = event.get("message_id") if event.get("event") == "user" else None
        if not isinstance(message_id, str) or not message_id:
            continue
        if len(message_id) > MAX_ID:
            raise InvalidEvent(f"a user event's message_id must be at most {MAX_ID} characters")
        if message_id in rows:
            raise DuplicateMessage(conversation_id, message_id, HandledMessage(rows[message_id]["fingerprint"], None))
        rows[message_id] = {"conversation_id": conversation_id, "message_id": message_id,
                            "fingerprint": fingerprint(event.get("text")), "created_at": now,
                            "replies": [dict(r) for r in replies] if replies is not None else None}
    if not rows:
        return
    try:
        conn.execute(_INSERT_MESSAGES, list(rows.values()))
    except IntegrityError:  # whoever wrote it first, it is there
        raise Taken(list(rows)) from None


def _session(conn: Connection, conversation_id: str) -> list[Event]:
    """The stored events of the conversation's current session (from its last start or restart)."""
    mine = event_rows.c.conversation_id == conversation_id
    start = select(func.max(event_rows.c.id)).where(mine, event_rows.c.type.in_(("session_started", "restart")))
    rows = conn.execute(select(event_rows.c.payload).where(mine, event_rows.c.id >= func.coalesce(
        start.scalar_subquery(), 0)).order_by(event_rows.c.id))
    return [dict(payload) for (payload,) in rows]


def _write(conn: Connection, conversation_id: str, stamped: Sequence[Event], state: State, count: int,
           now: datetime) -> None:
    """Insert `stamped` and store the snapshot `state` of a conversation whose row is locked."""
    if stamped:
        conn.execute(_INSERT_EVENTS, [
            {"conversation_id": conversation_id, "type": str(e.get("event"))[:64],
             "timestamp": float(e["timestamp"]), "created_at": now, "payload": e} for e in stamped])
    conn.execute(_SNAPSHOT, {"cid": conversation_id, "new_state": state.to_json(), "new_updated": now,
                             "new_count": count, "new_status": state.handoff.get("status"),
                             "new_since": state.handoff.get("since")})
