"""Shared fixtures. Tests that need PostgreSQL, Redis, Chromium or ../shared/data skip with a
reason when those are missing; SWITCHBOARD_STRICT=1 (set by .ci/run) turns such a skip into a
failure so CI always runs them."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("SWITCHBOARD_SHARED_DATA", REPO.parent / "shared" / "data"))
POSTGRES_URL = os.environ.get(
    "SWITCHBOARD_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
MARIADB_URL = os.environ.get("SWITCHBOARD_TEST_MARIADB_URL", "mysql+asyncmy://root@127.0.0.1:3306/test")
STRICT = os.environ.get("SWITCHBOARD_STRICT") == "1"


def missing(reason: str) -> None:
    """Skip the current test because an outside resource is missing (a failure under STRICT)."""
    if STRICT:
        pytest.fail(f"SWITCHBOARD_STRICT=1 but {reason}")
    pytest.skip(reason)


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh database of its own on the PostgreSQL server, dropped after the session, so
    concurrent test runs on one server never see each other's tables."""
    if not port_open("127.0.0.1", 5432):
        missing("PostgreSQL is not listening on 127.0.0.1:5432")
    from bench.serving import fresh_postgres

    with fresh_postgres(POSTGRES_URL, prefix="switchboard_test") as url:
        yield url


@pytest.fixture(scope="session")
def mariadb_url() -> Iterator[str]:
    """A fresh database of its own on the MariaDB (or MySQL) server, dropped after the session."""
    from sqlalchemy.engine import make_url

    server = make_url(MARIADB_URL)
    if not port_open(server.host or "127.0.0.1", server.port or 3306):
        missing(f"MariaDB is not listening on {server.host}:{server.port or 3306}")
    import asyncmy

    name = f"switchboard_test_{uuid.uuid4().hex[:10]}"

    async def run(sql: str) -> None:
        conn = await asyncmy.connect(host=server.host, port=server.port or 3306, user=server.username or "root",
                                     password=server.password or "")
        try:
            async with conn.cursor() as cursor:
                await cursor.execute(sql)
        finally:
            conn.close()

    asyncio.run(run(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    try:
        yield server.set(database=name, query={"charset": "utf8mb4"}).render_as_string(hide_password=False)
    finally:
        asyncio.run(run(f"DROP DATABASE IF EXISTS `{name}`"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        missing(f"the shared data sets are not at {SHARED_DATA}")
    return SHARED_DATA


TEMPLATE = REPO / "bot" / "templates" / "shop"


@pytest.fixture(scope="session")
def encoder():  # type: ignore[no-untyped-def]
    """The pre-trained sentence encoder, loaded once for the tests that need it."""
    from bot.nlu.encoder import Encoder

    return Encoder(threads=1)


def _training_key(project: Path) -> str:
    """A hash of everything that shapes a trained project: its files and the training code."""
    import hashlib

    digest = hashlib.sha256()
    sources = [project, REPO / "training", REPO / "bot" / "nlu", REPO / "knowledge"]
    for root in sources:
        for path in sorted(p for p in root.rglob("*") if p.is_file() and ".switchboard" not in p.parts
                           and "__pycache__" not in p.parts and "results" not in p.parts):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def forget_apps() -> None:
    """aiohttp caches each application's middleware chain in a module-level lru_cache (1,024
    entries, web_app._cached_build_middleware) that holds the application, and with it the bot's
    models: harmless in a server, which builds one, but a test session builds hundreds (about
    90 MB each: 12 GB by the end of a cold run)."""
    from aiohttp import web_app

    cached = getattr(web_app, "_cached_build_middleware", None)
    if cached is not None and hasattr(cached, "cache_clear"):
        cached.cache_clear()


@pytest.fixture(autouse=True)
def _forget_apps() -> Iterator[None]:
    yield
    forget_apps()


def release_memory() -> None:
    """Let go of the applications a test built, collect them, and hand the freed heap back to the
    system (glibc keeps it otherwise)."""
    import ctypes
    import gc

    forget_apps()
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def train_isolated(project: Path) -> list[Any]:
    """`switchboard train` of `project` in a child process (its StepReports back): fine-tuning's
    memory goes with the child instead of staying in the test session (allocator arenas keep
    what a training run freed), which kept the cold session's peak over 12 GB."""
    import multiprocessing

    from tests.isolated import train

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(train, (str(project),))


LIGHT_TRAINING = "# fine-tuned for half the default minimum of steps: these tests are about the dialogue\n" \
                 "nlu:\n  training:\n    min_steps: 80\n"


def light_training(project: Path) -> None:
    """A switchboard.yml that halves the NLU fine-tuning of a small example bot (about 40 s saved
    per bot on a cold run), for tests whose checks do not depend on the NLU's last points.
    SWITCHBOARD_TEST_FULL_TRAINING=1 trains them as their users would (to measure them so)."""
    if os.environ.get("SWITCHBOARD_TEST_FULL_TRAINING") != "1":
        (project / "switchboard.yml").write_text(LIGHT_TRAINING)


def train_copy(source: Path, target: Path, name: str, prepare: Callable[[Path], object] | None = None) -> Path:
    """`source` copied to `target`, `prepare`d (e.g. migrated), and trained. The trained models are
    cached under SWITCHBOARD_TEST_CACHE (default ~/.cache/switchboard-tests), keyed by a hash of
    the project and the training code, so later test sessions skip the fine-tuning."""
    import shutil

    shutil.copytree(source, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".switchboard", "results"))
    if prepare is not None:
        prepare(target)
    cache = Path(os.environ.get("SWITCHBOARD_TEST_CACHE", Path.home() / ".cache" / "switchboard-tests"))
    cached = cache / f"{name}-{_training_key(target)}"
    models = target / ".switchboard" / "models"
    if cached.is_dir():
        shutil.copytree(cached, models)
    train_isolated(target)  # skips what the cache already holds
    if not cached.is_dir():
        tmp = cache / f".tmp-{uuid.uuid4().hex[:8]}"
        shutil.copytree(models, tmp)
        tmp.rename(cached)
    return target


@pytest.fixture(scope="session")
def trained_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shop template copied to a temporary project and trained once (cached, see train_copy)."""
    return train_copy(TEMPLATE, tmp_path_factory.mktemp("shop"), "shop")


@pytest.fixture(autouse=True)
def _generation_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shop template configures the embedded generator; tests that do not test generation run
    without it (no 135M model to load). Generation tests pass `generator=` to load_settings."""
    monkeypatch.setenv("SWITCHBOARD_GENERATOR", "none")


@pytest.fixture(autouse=True)
def _shop_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets its own copy of the demo shop's orders database."""
    monkeypatch.setenv("SHOP_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}")


def _private(kind: str) -> Iterator[Any]:
    """A server of `kind` (bench/private_servers.py) started for the caller and closed after it."""
    import bench.private_servers as servers

    try:
        server = getattr(servers, kind)()
    except servers.Unavailable as exc:
        missing(str(exc))
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def private_redis() -> Iterator[Any]:
    """A redis-server of this test's own: stopped and restarted at will, so the machine's shared
    Redis is never touched."""
    yield from _private("PrivateRedis")


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[Any]:
    """A PostgreSQL cluster of this module's own (initdb in a temporary directory): tests restart
    and stop it; each test makes its own database with `create_database`."""
    yield from _private("PrivatePostgres")


@pytest.fixture(scope="session")
def artifacts_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where tests write screenshots and other artifacts: SWITCHBOARD_TEST_ARTIFACTS when set
    (e.g. `SWITCHBOARD_TEST_ARTIFACTS=bench/results` to refresh the README's pictures), else a
    temporary directory. Never a tracked file by default."""
    named = os.environ.get("SWITCHBOARD_TEST_ARTIFACTS")
    if named:
        path = Path(named).resolve()
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("artifacts")


@pytest.fixture(scope="session", autouse=True)
async def _no_task_left_behind() -> Any:
    """At the end of the session, every task the tests left on the shared event loop is cancelled
    (again each second) and awaited here, for at most 20 s; one that ignores its cancellation is
    printed with its stack and fails the session (pytest-asyncio's own teardown, which cancels
    once, would otherwise wait for it forever)."""
    yield
    import sys

    me = asyncio.current_task()
    loop = asyncio.get_running_loop()
    stuck = {t for t in asyncio.all_tasks() if t is not me and not t.done()}
    deadline = loop.time() + 20
    while stuck and loop.time() < deadline:  # again each second: Python 3.11's wait_for can swallow a cancellation
        for task in stuck:
            task.cancel()
        _, stuck = await asyncio.wait(stuck, timeout=1)
    for task in stuck:
        print(f"\na task ignored its cancellation at the end of the session: {task!r}", file=sys.stderr)
        task.print_stack(file=sys.stderr)
        task.get_coro().close()  # so that the session ends (with this failure) instead of hanging
        task.cancel()
    assert not stuck, f"{len(stuck)} task(s) left running by the tests ignore cancellation (stacks above)"
