"""What the tests run in a child process (tests/conftest.train_isolated): importable by name, as
a spawned child needs it (pytest's own conftest module is not)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def train(project: str) -> list[Any]:
    """`switchboard train` of a project, its StepReports returned."""
    from bot.settings import load_settings
    from training.project import train_project

    return train_project(load_settings(Path(project)), progress=False)
