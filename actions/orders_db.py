"""The demo shop's orders and returns tables: created (the orders seeded from data/orders.csv)
on first use.

The database is the shop's own: SHOP_DATABASE_URL (SQLAlchemy async URL), by default
`.switchboard/shop.db` under the current directory."""

from __future__ import annotations

import asyncio
import csv
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, func, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

SEED = Path(__file__).parent / "data" / "orders.csv"
metadata = MetaData()
orders = Table(
    "shop_orders",
    metadata,
    Column("order_number", String(32), primary_key=True),
    Column("status", String(32), nullable=False),
    Column("carrier", String(64)),
    Column("tracking_code", String(64)),
    Column("eta", String(32)),
    Column("customer_email", String(255)),
)

returns = Table(
    "shop_returns",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("order_number", String(32), nullable=False, index=True),
    Column("item", String(255), nullable=False),
    Column("reason", String(32), nullable=False),
    Column("created_at", DateTime(timezone=True), server_default=func.now()),
)
RETURN_PREFIX = "RT-"

_engines: dict[str, AsyncEngine] = {}
_ready: set[str] = set()
_lock = asyncio.Lock()


def database_url() -> str:
    default = f"sqlite+aiosqlite:///{Path.cwd() / '.switchboard' / 'shop.db'}"
    return os.environ.get("SHOP_DATABASE_URL") or default


async def _engine() -> AsyncEngine:
    url = database_url()
    async with _lock:
        if url not in _engines:
            if url.startswith("sqlite"):
                Path(url.split(":///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
            _engines[url] = create_async_engine(url)
        engine = _engines[url]
        if url not in _ready:
            for attempt in range(3):
                try:
                    await _create_and_seed(engine)
                    break
                except (OperationalError, IntegrityError):  # another worker created or seeded it meanwhile
                    if attempt == 2:
                        raise
            _ready.add(url)
    return engine


async def _create_and_seed(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        count = (await conn.execute(select(func.count()).select_from(orders))).scalar_one()
        if count == 0:
            with SEED.open(newline="", encoding="utf-8") as fh:
                rows = [{k: (v or None) for k, v in row.items()} for row in csv.DictReader(fh)]
            await conn.execute(orders.insert(), rows)


async def find_order(order_number: str) -> dict[str, Any] | None:
    engine = await _engine()
    async with engine.connect() as conn:
        row = (await conn.execute(select(orders).where(orders.c.order_number == order_number))).mappings().first()
    return dict(row) if row else None


async def create_return(order_number: str, item: str, reason: str) -> str:
    """Stores a return request; its number (RT-00042) is the row's id."""
    engine = await _engine()
    async with engine.begin() as conn:
        result = await conn.execute(returns.insert().values(order_number=order_number, item=item, reason=reason))
        key = result.inserted_primary_key
    assert key is not None
    return f"{RETURN_PREFIX}{int(key[0]):05d}"


async def returns_of(order_number: str) -> list[dict[str, Any]]:
    engine = await _engine()
    async with engine.connect() as conn:
        rows = (await conn.execute(select(returns).where(returns.c.order_number == order_number)
                                   .order_by(returns.c.id))).mappings().all()
    return [dict(row) for row in rows]


async def cancel_order(order_number: str) -> bool:
    """Cancels an order that has not shipped yet; False when its status no longer allows it."""
    engine = await _engine()
    async with engine.begin() as conn:
        result = await conn.execute(update(orders).where(orders.c.order_number == order_number,
                                                         orders.c.status == "processing").values(status="cancelled"))
    return bool(result.rowcount)
