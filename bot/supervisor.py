"""`switchboard run --workers N`: N worker processes on one port.

The supervisor binds the listening socket once and starts each worker (`python -m bot.worker`)
with that socket inherited: the workers accept from one shared queue, so a worker that dies
loses only the connections it had already accepted (with SO_REUSEPORT each worker would have its
own queue, and the connections waiting in a dead worker's queue would be reset), and a worker
that is not ready yet simply does not accept. Each worker loads its own models and uses the same
database and Redis.

A worker that exits is started again (after a back-off when it keeps dying young); while other
workers are ready, the new one takes connections only once its models are loaded. A worker that
exits with status 2 before it was ever ready has a configuration error that a restart cannot
fix: the supervisor stops them all and exits 2. SIGTERM or SIGINT stops every worker cleanly
(each finishes its requests in flight), then the supervisor exits 0; a worker still running
after `graceful` seconds is killed."""

from __future__ import annotations

import logging
import os
import select
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)
POLL_S = 0.2
YOUNG_S = 10.0  # a worker that dies younger than this is restarted after a growing pause
BACKOFF_MAX_S = 30.0
CONFIG_ERROR = 2  # the CLI's exit status for a configuration error


@dataclass
class Slot:
    index: int
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    ready: bool = False
    ever_ready: bool = False
    failures: int = 0  # young deaths in a row
    restart_at: float | None = None
    restarts: int = 0
    pids: list[int] = field(default_factory=list)


class Supervisor:
    def __init__(self, project: Path, sock: socket.socket, workers: int, *, verbose: bool = False,
                 graceful: float = 30.0) -> None:
        self.project, self.sock, self.verbose, self.graceful = project, sock, verbose, graceful
        self.slots = [Slot(i) for i in range(workers)]
        self.stopping = False
        self._ready_read, self._ready_write = os.pipe()
        self._buffer = b""

    def run(self) -> int:
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            for slot in self.slots:
                self._start(slot, hold=False)  # nobody serves yet: each answers 503 while it loads
            status = self._loop()
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            os.close(self._ready_read)
            os.close(self._ready_write)
        return status

    def _stop(self, signum: int, _frame: object) -> None:
        if not self.stopping:
            log.info("%s: stopping %d workers", signal.Signals(signum).name, len(self.slots))
        self.stopping = True

    def _loop(self) -> int:
        while not self.stopping:
            readable, _, _ = select.select([self._ready_read], [], [], POLL_S)
            if readable:
                self._read_ready()
            now = time.monotonic()
            for slot in self.slots:
                if slot.process is not None and slot.process.poll() is not None:
                    status = self._exited(slot, now)
                    if status is not None:
                        return status
                if slot.process is None and slot.restart_at is not None and now >= slot.restart_at \
                        and not self.stopping:
                    self._start(slot, hold=any(s.ready for s in self.slots if s is not slot))
        return 0

    def _start(self, slot: Slot, *, hold: bool) -> None:
        fd = self.sock.fileno()
        argv = [sys.executable, "-m", "bot.worker", "--project", str(self.project), "--listen-fd", str(fd),
                "--ready-fd", str(self._ready_write), "--index", str(slot.index)]
        if hold:
            argv.append("--hold")
        if self.verbose:
            argv.append("-v")
        env = {**os.environ, "SWITCHBOARD_WORKERS": str(len(self.slots)), "SWITCHBOARD_WORKER_INDEX": str(slot.index)}
        slot.process = subprocess.Popen(argv, pass_fds=(fd, self._ready_write), env=env)
        slot.started, slot.ready, slot.restart_at = time.monotonic(), False, None
        slot.pids.append(slot.process.pid)
        log.info("worker %d started (pid %d%s)", slot.index, slot.process.pid,
                 ", accepting once its models are loaded" if hold else "")

    def _read_ready(self) -> None:
        self._buffer += os.read(self._ready_read, 4096)
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            parts = line.decode(errors="replace").split()
            if len(parts) != 3 or parts[0] != "ready":
                continue
            index, pid = int(parts[1]), int(parts[2])
            slot = self.slots[index] if 0 <= index < len(self.slots) else None
            if slot is not None and slot.process is not None and slot.process.pid == pid:
                slot.ready = slot.ever_ready = True
                slot.failures = 0
                log.info("worker %d ready (pid %d)", index, pid)

    def _exited(self, slot: Slot, now: float) -> int | None:
        """Handle a worker that exited: schedule its restart, or return the supervisor's status."""
        assert slot.process is not None
        code, pid = slot.process.returncode, slot.process.pid
        how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with status {code}"
        slot.process, slot.ready = None, False
        if self.stopping:
            return None
        if code == CONFIG_ERROR and not slot.ever_ready:
            log.error("worker %d (pid %d) %s: a configuration error; stopping", slot.index, pid, how)
            return CONFIG_ERROR
        young = now - slot.started < YOUNG_S
        slot.failures = slot.failures + 1 if young else 0
        pause = min(BACKOFF_MAX_S, 2.0 ** (slot.failures - 1)) if slot.failures else 0.0
        slot.restart_at, slot.restarts = now + pause, slot.restarts + 1
        log.warning("worker %d (pid %d) %s; restarting it%s", slot.index, pid, how,
                    f" in {pause:.0f}s" if pause else "")
        return None

    def _stop_all(self) -> None:
        running = [s.process for s in self.slots if s.process is not None and s.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.graceful
        for process in running:
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("worker pid %d still running after %.0fs; killing it", process.pid, self.graceful)
                process.kill()
                process.wait()
        for slot in self.slots:
            slot.process = None
