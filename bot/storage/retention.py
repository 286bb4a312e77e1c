"""Retention: conversations older than `max_age_days` (since their last event) are deleted or
anonymised by a scheduled job (bot/storage/privacy.py does each one).

```yaml
retention:              # switchboard.yml; off without this section
  max_age_days: 90
  mode: delete          # or anonymise
  interval_minutes: 60  # how often the job runs (one worker at a time)
```

With several workers, the job runs on one at a time: a run first takes the `retention` lease
(`job_leases`, UPDATE ... WHERE expires_at < now) for the whole interval, so the other workers
skip that round; a worker that dies mid-run leaves the lease to expire, and the next round
finishes the work.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.background import Periodic
from bot.errors import ConfigError
from bot.storage.base import LockStore
from bot.storage.dialects import insert_ignore, write_transaction
from bot.storage.memory_lock import InMemoryLockStore
from bot.storage.privacy import anonymise, forget
from bot.storage.schema import conversations, job_leases

log = logging.getLogger(__name__)
MODES = ("delete", "anonymise")
LEASE = "retention"
BATCH = 100


@dataclass(frozen=True)
class RetentionSettings:
    max_age_days: float | None = None  # None: off
    mode: str = "delete"
    interval_minutes: float = 60.0

    @property
    def enabled(self) -> bool:
        return self.max_age_days is not None


def parse_retention(section: Any) -> RetentionSettings:
    """switchboard.yml's `retention:` section, checked."""
    if section is None:
        return RetentionSettings()
    if not isinstance(section, dict):
        raise ConfigError("retention in switchboard.yml must be a mapping")
    unknown = sorted(set(section) - {"max_age_days", "mode", "interval_minutes"})
    if unknown:
        raise ConfigError(f"unknown retention settings {unknown}; known: interval_minutes, max_age_days, mode")
    mode = str(section.get("mode", "delete")).lower().replace("anonymize", "anonymise")
    if mode not in MODES:
        raise ConfigError(f"retention.mode must be delete or anonymise, got {section.get('mode')!r}")
    age, interval = section.get("max_age_days"), section.get("interval_minutes", 60)
    for name, value in (("max_age_days", age), ("interval_minutes", interval)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
            raise ConfigError(f"retention.{name} must be a positive number, got {value!r}")
    return RetentionSettings(None if age is None else float(age), mode, float(interval))


class RetentionJob:
    """`locks`: the conversations' locks, so that no turn is half-way through one as it goes."""

    def __init__(self, engine: AsyncEngine, settings: RetentionSettings, *, locks: LockStore | None = None,
                 worker: str | None = None) -> None:
        self.engine, self.settings, self.locks = engine, settings, locks or InMemoryLockStore()
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}"
        self._poller = Periodic(self.run_once, lambda: self.settings.interval_minutes * 60, "retention")

    async def run_once(self, now: float | None = None) -> int | None:
        """One round: the conversations past the age deleted or anonymised; None when another
        worker holds this round."""
        now = time.time() if now is None else now
        if not self.settings.enabled or not await self._lease(now):
            return None
        cutoff = datetime.fromtimestamp(now, UTC) - timedelta(days=float(self.settings.max_age_days or 0))
        done = 0
        while True:
            query = select(conversations.c.id).where(conversations.c.updated_at < cutoff)
            if self.settings.mode == "anonymise":
                query = query.where(conversations.c.anonymised_at.is_(None))
            async with self.engine.connect() as conn:
                ids = list(await conn.scalars(query.order_by(conversations.c.updated_at).limit(BATCH)))
            for cid in ids:
                async with self.locks.lock(cid):
                    gone = await forget(self.engine, cid) if self.settings.mode == "delete" else \
                        await anonymise(self.engine, cid)
                done += gone is not None
            if len(ids) < BATCH:
                break
            await self._renew()  # a long round keeps the others out until it ends
        if done:
            log.info("retention: %d conversation(s) older than %g days %s", done, self.settings.max_age_days,
                     "deleted" if self.settings.mode == "delete" else "anonymised")
        return done

    async def _lease(self, now: float) -> bool:
        """Take this round's lease unless another worker holds one that has not expired."""
        interval = self.settings.interval_minutes * 60
        async with write_transaction(self.engine) as conn:
            await conn.execute(insert_ignore(conn.dialect.name, job_leases,
                                             {"name": LEASE, "holder": None, "expires_at": 0.0}))
            taken = await conn.execute(update(job_leases).where(job_leases.c.name == LEASE,
                                                                job_leases.c.expires_at <= now)
                                       .values(holder=self.worker, expires_at=now + interval * 0.9))
        return bool(taken.rowcount)

    async def _renew(self) -> None:
        async with write_transaction(self.engine) as conn:
            await conn.execute(update(job_leases).where(job_leases.c.name == LEASE, job_leases.c.holder == self.worker)
                               .values(expires_at=time.time() + self.settings.interval_minutes * 60 * 0.9))

    def start(self) -> None:
        if self.settings.enabled:
            self._poller.start()

    async def stop(self) -> None:
        await self._poller.stop()
