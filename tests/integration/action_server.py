"""A real rasa-sdk action server for the tests: a Python 3.8 virtual environment with rasa-sdk and a
project's own action requirements, built once into the test cache (keyed by what it holds, under a
file lock), and the server started as a subprocess on a free port, its log kept."""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import os
import shutil
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from tests.integration.conftest import free_port

CACHE = Path(os.environ.get("SWITCHBOARD_TEST_CACHE", Path.home() / ".cache" / "switchboard-tests"))
COMPLETE = ".complete"  # written last: a venv without it was cut short and is built again


def _runs(python: str, version: str) -> bool:
    """Is `python` an interpreter of `version` that starts (a pyenv shim without it does not)?"""
    try:
        found = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                               capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return found.returncode == 0 and found.stdout.strip() == version


def find_python(version: str) -> Path | None:
    """An interpreter of `version` ("3.8"): $SWITCHBOARD_PYTHON38, else pythonX.Y on PATH, else
    pyenv's newest X.Y.*; only one that really starts counts."""
    own = os.environ.get(f"SWITCHBOARD_PYTHON{version.replace('.', '')}")
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = [own] if own else [
        shutil.which(f"python{version}"),
        *sorted(glob.glob(str(pyenv / "versions" / f"{version}.*" / "bin" / "python3")), reverse=True)]
    return next((Path(c) for c in candidates if c and _runs(c, version)), None)


def venv_key(python: Path, requirements: Sequence[str]) -> str:
    """What the environment holds: the interpreter's version and the requirement lines."""
    version = subprocess.run([str(python), "-c", "import sys; print(sys.version)"], capture_output=True,
                             text=True, check=True).stdout.strip()
    return hashlib.sha256("\n".join([version, *requirements]).encode()).hexdigest()[:12]


def requirement_lines(path: Path) -> list[str]:
    """A requirements file's requirements (comments and blank lines left out)."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def build_venv(python: Path, requirements: Sequence[str], name: str) -> Path:
    """The virtual environment `name`-<key> in the test cache, built when missing. Raises
    RuntimeError (with pip's last lines) when the packages cannot be installed."""
    CACHE.mkdir(parents=True, exist_ok=True)
    target = CACHE / f"{name}-{venv_key(python, requirements)}"
    if (target / COMPLETE).exists():
        return target
    with open(CACHE / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another session may be building it right now
        if (target / COMPLETE).exists():
            return target
        shutil.rmtree(target, ignore_errors=True)
        subprocess.run([str(python), "-m", "venv", str(target)], check=True, capture_output=True)
        pip = subprocess.run([str(target / "bin" / "python"), "-m", "pip", "install", "--no-input", "-q",
                              *requirements], capture_output=True, text=True)
        if pip.returncode != 0:
            tail = "\n".join((pip.stdout + pip.stderr).strip().splitlines()[-15:])
            shutil.rmtree(target, ignore_errors=True)
            raise RuntimeError(f"pip could not install {' '.join(requirements)}:\n{tail}")
        (target / COMPLETE).write_text("\n".join(requirements) + "\n")
    return target


@dataclass(frozen=True)
class ActionServer:
    url: str  # the webhook, for endpoints.yml's action_endpoint
    log: Path  # rasa-sdk's debug log: "Received request to run '<action>'" per webhook call
    process: subprocess.Popen  # type: ignore[type-arg]

    def requests(self, action: str) -> int:
        return self.log.read_text().count(f"Received request to run '{action}'")


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


@contextlib.contextmanager
def running_server(venv: Path, project: Path, *, package: str = "actions", log: Path,
                   timeout: float = 60.0) -> Iterator[ActionServer]:
    """`python -m rasa_sdk --actions <package>` run from `project` (its own package and files),
    up once /health answers; stopped when the block ends."""
    port = free_port()
    with open(log, "w") as out:
        process = subprocess.Popen([str(venv / "bin" / "python"), "-m", "rasa_sdk", "--actions", package,
                                    "-p", str(port), "-vv"], cwd=project, stdout=out, stderr=subprocess.STDOUT,
                                   env={k: v for k, v in os.environ.items() if not k.startswith("PYTHON")})
    try:
        deadline = time.monotonic() + timeout
        while not _healthy(port):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = "\n".join(log.read_text().splitlines()[-20:])
                raise RuntimeError(f"the action server did not come up on port {port}:\n{tail}")
            time.sleep(0.25)
        yield ActionServer(f"http://127.0.0.1:{port}/webhook", log, process)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

