"""Shared fixtures. Tests that need PostgreSQL, Redis, Chromium or ../shared/data skip with a
reason when those are missing; SWITCHBOARD_STRICT=1 (set by .ci/run) turns such a skip into a
failure so CI always runs them."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("SWITCHBOARD_SHARED_DATA", REPO.parent / "shared" / "data"))
POSTGRES_URL = os.environ.get(
    "SWITCHBOARD_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
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
def postgres_url() -> str:
    if not port_open("127.0.0.1", 5432):
        missing("PostgreSQL is not listening on 127.0.0.1:5432")
    return POSTGRES_URL


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        missing(f"the shared data sets are not at {SHARED_DATA}")
    return SHARED_DATA


TEMPLATE = REPO / "bot" / "templates" / "shop"


@pytest.fixture(scope="session")
def trained_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shop template copied to a temporary project and trained once per test session."""
    import shutil

    from bot.settings import load_settings
    from training.project import train_project

    project = tmp_path_factory.mktemp("shop")
    shutil.copytree(TEMPLATE, project, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".switchboard"))
    train_project(load_settings(project))
    return project


@pytest.fixture(autouse=True)
def _shop_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets its own copy of the demo shop's orders database."""
    monkeypatch.setenv("SHOP_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}")
