"""bot/storage/outage.py on real exceptions: a store that does not answer is an outage (503),
by the store it is; other errors stay errors; descriptions never carry SQL or its parameters."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.private_servers import free_port
from bot.errors import StoreUnavailable
from bot.storage.outage import describe, unavailable


async def _raised(coro) -> BaseException:  # type: ignore[no-untyped-def]
    try:
        await coro
    except Exception as exc:
        return exc
    raise AssertionError("no exception")


async def test_a_postgres_that_refuses_connections_is_a_database_outage() -> None:
    from bot.storage.sql import SQLTrackerStore

    store = SQLTrackerStore(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nothing")
    try:
        exc = await _raised(store.load("c", window=5))
    finally:
        await store.close()
    outage = unavailable(exc)
    assert isinstance(outage, StoreUnavailable) and outage.store == "database" and outage.status == 503
    assert describe(exc) == str(outage)


async def test_a_redis_that_refuses_connections_is_a_redis_outage() -> None:
    import redis.asyncio as redis

    client = redis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    try:
        exc = await _raised(client.get("k"))
    finally:
        await client.aclose()
    outage = unavailable(exc)
    assert outage is not None and outage.store == "redis"


async def test_an_unreachable_web_service_is_not_a_store_outage() -> None:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        exc = await _raised(http.get(f"http://127.0.0.1:{free_port()}/"))
    assert unavailable(exc) is None


async def test_a_constraint_violation_is_an_error_described_without_sql_or_parameters(tmp_path: Path) -> None:
    from sqlalchemy import Column, MetaData, String, Table
    from sqlalchemy.ext.asyncio import create_async_engine

    secret = "customer-secret-value"
    table = Table("t", MetaData(), Column("id", String, primary_key=True))
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    try:
        async with engine.begin() as conn:
            await conn.run_sync(table.metadata.create_all)
            await conn.execute(table.insert().values(id=secret))
        async with engine.begin() as conn:
            exc = await _raised(conn.execute(table.insert().values(id=secret)))
    finally:
        await engine.dispose()
    assert "INSERT" in str(exc) and secret in str(exc)  # what SQLAlchemy's own message shows
    assert unavailable(exc) is None
    words = describe(exc)
    assert "IntegrityError" in words and "INSERT" not in words and secret not in words


@pytest.mark.parametrize("exc, expected", [
    (ValueError("bad value"), "ValueError: bad value"),
    (StoreUnavailable("redis"), str(StoreUnavailable("redis"))),
])
def test_other_errors_keep_their_words(exc: BaseException, expected: str) -> None:
    assert describe(exc) == expected
