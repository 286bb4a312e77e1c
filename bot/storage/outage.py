"""Which exceptions mean "a store is down": a restart, an unreachable server, a pooled
connection that went stale with it. Those become StoreUnavailable (503 with Retry-After: the
request can simply be sent again) instead of a 500; anything else stays a bug.

`describe` words any exception for /health and logs that operators read: never the SQL
statement or its parameters (SQLAlchemy puts both in its messages)."""

from __future__ import annotations

import sys
from collections.abc import Iterator

from bot.errors import StoreUnavailable, SwitchboardError

# asyncpg errors that mean the connection or the server went away (class 08 and 57 errors,
# a connection closed under an operation, the protocol state left behind by one)
_PG_GONE = ("PostgresConnectionError", "OperatorInterventionError", "ConnectionDoesNotExistError",
            "InternalClientError", "TooManyConnectionsError", "CannotConnectNowError")
_SQLITE_BUSY = ("database is locked", "unable to open database file")


def unavailable(exc: BaseException) -> StoreUnavailable | None:
    """The StoreUnavailable that `exc` amounts to, or None when it is not an outage."""
    for cause in _chain(exc):
        if isinstance(cause, StoreUnavailable):
            return cause
        store = _store_down(cause)
        if store is not None:
            return StoreUnavailable(store)
    return None


def describe(exc: BaseException) -> str:
    """A one-line account of `exc` for /health and the logs: our own errors as they are worded,
    outages by the store that is down, database and Redis errors by their type only."""
    if isinstance(exc, SwitchboardError):
        return str(exc)
    outage = unavailable(exc)
    if outage is not None:
        return str(outage)
    for cause in _chain(exc):
        module = type(cause).__module__
        if module.startswith(("sqlalchemy", "asyncpg", "sqlite3", "aiosqlite")):
            return f"a database error ({type(cause).__name__}); the server log has the details"
        if module.startswith("redis"):
            return f"a Redis error ({type(cause).__name__}); the server log has the details"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first[:200]}" if first else type(exc).__name__


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, what it wraps (SQLAlchemy's `orig`) and its causes, each once."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for nxt in (getattr(current, "orig", None), current.__cause__, current.__context__):
            if isinstance(nxt, BaseException):
                todo.append(nxt)


def _store_down(exc: BaseException) -> str | None:
    redis_errors = sys.modules.get("redis.exceptions")  # not imported: cannot be a Redis error
    if redis_errors is not None and isinstance(exc, (redis_errors.ConnectionError, redis_errors.TimeoutError)):
        return "redis"
    sa = sys.modules.get("sqlalchemy.exc")
    if sa is not None:
        if isinstance(exc, (sa.DisconnectionError, sa.TimeoutError)):  # TimeoutError: no pooled connection came
            return "database"
        if isinstance(exc, sa.DBAPIError) and exc.connection_invalidated:
            return "database"
    names = {cls.__name__ for cls in type(exc).__mro__}
    if type(exc).__module__.startswith("asyncpg"):
        if names & set(_PG_GONE) or (type(exc).__name__ == "InterfaceError" and "connection is closed" in str(exc)):
            return "database"
        return None
    if type(exc).__module__ == "sqlite3" and any(text in str(exc) for text in _SQLITE_BUSY):
        return "database"
    if isinstance(exc, (ConnectionError, TimeoutError)):  # a bare socket error: whose socket was it?
        return _raised_in(exc)
    return None


def _raised_in(exc: BaseException) -> str | None:
    """The store whose client code raised `exc` (asyncpg's connect raises ConnectionRefusedError
    as it is), from the modules of the traceback's frames."""
    tb = exc.__traceback__
    while tb is not None:
        module = str(tb.tb_frame.f_globals.get("__name__", ""))
        if module.startswith(("asyncpg", "sqlalchemy")):
            return "database"
        if module.startswith("redis"):
            return "redis"
        tb = tb.tb_next
    return None
