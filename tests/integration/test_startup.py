"""Start-up is safe with many workers: workers starting together on an empty database do not
race in the knowledge import, and a start that fails (the database not up yet, a model missing)
is retried by the running worker and reported by /health without SQL or its parameters."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from bench.private_servers import PrivatePostgres
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bot.app import create_app
from bot.runtime import Runtime
from bot.settings import load_settings
from knowledge.index import KnowledgeBase
from tests.conftest import release_memory
from tests.integration.conftest import free_port

SQL_WORDS = ("SELECT", "INSERT", "parameters", "[SQL")


async def test_concurrent_first_imports_of_the_knowledge_base_do_not_race(trained_project: Path,
                                                                          private_postgres: PrivatePostgres) -> None:
    url = private_postgres.create_database(f"start_{uuid.uuid4().hex[:8]}")
    settings = load_settings(trained_project, database_url=url)
    runtimes = [Runtime.create(settings) for _ in range(3)]
    try:
        await asyncio.gather(*(r.store.start() for r in runtimes))
        builds = [KnowledgeBase.load(settings.knowledge_dir, encoder=None) for _ in runtimes]  # type: ignore[arg-type]
        await asyncio.gather(*(r.attach_knowledge(kb) for r, kb in zip(runtimes, builds)))
        assert runtimes[0].knowledge_store is not None
        logs = [e for e in builds[0].entries if e.source == "logs"]
        assert await runtimes[0].knowledge_store.count() == len(logs) > 50
    finally:
        for r in runtimes:
            await r.store.close()


class _Worker:
    """A worker's app as `switchboard run` serves it: the models load in the background."""

    def __init__(self, settings: Any) -> None:
        self.app = create_app(settings)
        self.runner = web.AppRunner(self.app, shutdown_timeout=2.0)
        self.base = ""

    async def start(self) -> "_Worker":
        await self.runner.setup()
        port = free_port()
        await web.TCPSite(self.runner, "127.0.0.1", port).start()
        self.base = f"http://127.0.0.1:{port}"
        return self

    async def health(self, http: aiohttp.ClientSession) -> tuple[int, dict[str, Any], dict[str, Any]]:
        async with http.get(self.base + "/health") as r:
            return r.status, dict(r.headers), await r.json()

    async def ready(self, http: aiohttp.ClientSession, tries: int = 600) -> dict[str, Any]:
        for _ in range(tries):  # bounded: 600 x 0.2 s; nothing asserted on the time it takes
            status, _, body = await self.health(http)
            if status == 200:
                return body
            await asyncio.sleep(0.2)
        raise AssertionError(f"the worker never became ready: {body}")


async def test_two_workers_starting_together_on_an_empty_database_both_become_ready(
        trained_project: Path, private_postgres: PrivatePostgres) -> None:
    url = private_postgres.create_database(f"start_{uuid.uuid4().hex[:8]}")
    workers = [_Worker(load_settings(trained_project, database_url=url)) for _ in range(2)]
    try:
        await asyncio.gather(*(w.start() for w in workers))
        async with aiohttp.ClientSession() as http:
            for worker in workers:
                assert (await worker.ready(http))["models"] is True
                payload = {"sender": f"s-{uuid.uuid4().hex[:6]}", "message": "do you sell gift cards?"}
                async with http.post(worker.base + "/webhooks/rest/webhook", json=payload) as r:
                    assert r.status == 200 and "gift card" in (await r.json())[0]["text"].lower()
    finally:
        for worker in workers:
            await worker.runner.cleanup()
        release_memory()


async def test_a_database_down_at_start_is_retried_and_reported_without_sql(
        trained_project: Path, private_postgres: PrivatePostgres) -> None:
    url = private_postgres.create_database(f"start_{uuid.uuid4().hex[:8]}")
    await asyncio.to_thread(private_postgres.stop)
    worker = _Worker(load_settings(trained_project, database_url=url))
    try:
        try:
            await worker.start()  # the server starts and answers although its database does not
            async with aiohttp.ClientSession() as http:
                for _ in range(100):
                    status, headers, body = await worker.health(http)
                    if (body.get("loading") or {}).get("attempts", 0) >= 2:
                        break  # tried, failed, tried again
                    await asyncio.sleep(0.1)
                assert status == 503 and int(headers["Retry-After"]) >= 1
                assert body["database"] is False and body["down"] == ["database"] and body["models"] is False
                assert body["loading"]["attempts"] >= 2 and "database is unavailable" in body["error"]
                assert not any(word in str(body) for word in SQL_WORDS), body
                payload = {"sender": "x", "message": "hi"}
                async with http.post(worker.base + "/webhooks/rest/webhook", json=payload) as r:
                    assert r.status == 503 and "Retry-After" in r.headers
        finally:
            await asyncio.to_thread(private_postgres.start)
        async with aiohttp.ClientSession() as http:
            assert (await worker.ready(http))["down"] == []
    finally:
        await worker.runner.cleanup()
        release_memory()


async def test_a_missing_index_is_retried_until_it_is_there(trained_project: Path, tmp_path: Path) -> None:
    project = tmp_path / "shop"
    shutil.copytree(trained_project, project, ignore=shutil.ignore_patterns("*.db", "*.db-*"))
    knowledge = project / ".switchboard" / "models" / "knowledge"
    knowledge.rename(knowledge.with_name("knowledge.away"))
    worker = _Worker(load_settings(project, database_url=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"))
    try:
        await worker.start()
        async with aiohttp.ClientSession() as http:
            for _ in range(600):
                status, headers, body = await worker.health(http)
                if body.get("error"):
                    break
                await asyncio.sleep(0.1)
            assert status == 503 and int(headers["Retry-After"]) >= 1
            assert body["models"] is False and body["down"] == [] and "knowledge" in body["error"], body
            async with http.post(worker.base + "/webhooks/rest/webhook", json={"sender": "x", "message": "hi"}) as r:
                assert r.status == 503 and int(r.headers["Retry-After"]) >= 1  # a turn: come back later
                assert "not ready" in (await r.json())["error"]
            knowledge.with_name("knowledge.away").rename(knowledge)  # e.g. `switchboard index` finished
            assert (await worker.ready(http))["models"] is True
    finally:
        await worker.runner.cleanup()
        release_memory()
