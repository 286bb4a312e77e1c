"""What the benches (and the tests that start servers) share: to run a server on loopback (a free
port, a PostgreSQL database of their own, a process with its log kept and shown when a run fails,
waiting for `/health`), the figures they report (percentiles, peak memory), and writing the report
(OUT/NAME.json and OUT/NAME.md)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import aiohttp

HEALTH_LIMIT_S = 120.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def fresh_postgres(url: str, prefix: str = "switchboard_bench") -> Iterator[str]:
    """A database of its own on the server of `url` (an asyncpg SQLAlchemy URL), dropped after."""
    import asyncpg

    base, _, _ = url.rpartition("/")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = url.replace("postgresql+asyncpg://", "postgresql://")

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{base}/{name}"
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextlib.contextmanager
def logged_process(cmd: list[str], cwd: Path, env: dict[str, str], log_path: Path,
                   stop_timeout: float = 30.0) -> Iterator[subprocess.Popen[bytes]]:
    """`cmd` started in a session of its own, its output in `log_path` (the tail printed when the
    body fails); terminated on the way out, killed if it outstays `stop_timeout`."""
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield proc
        except BaseException:
            print(f"--- {log_path.name} ---\n{log_path.read_text(errors='replace')[-4000:]}", file=sys.stderr)
            raise
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=stop_timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def wait_healthy(session: "aiohttp.ClientSession", base: str, server: subprocess.Popen[bytes],
                       limit_s: float = HEALTH_LIMIT_S) -> None:
    """Until `base`/health answers 200; raises when the server exits or `limit_s` passes."""
    import aiohttp

    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with code {server.returncode} before it was healthy")
        try:
            async with session.get(f"{base}/health", timeout=aiohttp.ClientTimeout(total=5)) as resp:
                if resp.status == 200:
                    return
        except (aiohttp.ClientError, asyncio.TimeoutError):
            pass
        await asyncio.sleep(0.5)
    raise RuntimeError(f"the server was not healthy within {limit_s:.0f} s")


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile, q in [0, 100]."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low, high = int(pos), min(int(pos) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def peak_rss_mb(pid: int) -> float | None:
    status = Path(f"/proc/{pid}/status")
    hwm = [line for line in (status.read_text() if status.exists() else "").splitlines() if line.startswith("VmHWM:")]
    return round(int(hwm[0].split()[1]) / 1024, 1) if hwm else None  # the file says kB



def write_report(out: str | Path, name: str, report: object, text: str) -> None:
    """`report` as OUT/NAME.json and `text` (its markdown) as OUT/NAME.md, the markdown printed."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    (folder / f"{name}.md").write_text(text)
    print(text)
