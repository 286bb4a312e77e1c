"""One serving process: the bot's app on a listening socket it is handed (by `switchboard run`,
or by the supervisor of `switchboard run --workers N`, which binds the port once and starts
every worker on the same socket).

SIGTERM or SIGINT stops it cleanly: it stops accepting, lets the requests in flight finish (up to
`SHUTDOWN_S`), closes its stores and exits 0. A worker the supervisor restarts while other
workers serve is started with `--hold`: it accepts connections only once its models are loaded,
so the connections go to the workers that can answer them; a worker alone accepts at once and
answers 503 with Retry-After while it loads.

`python -m bot.worker --project DIR --listen-fd N [--ready-fd M] [--index I] [--hold]` is how the
supervisor starts one; it is not meant to be typed."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from bot.errors import ConfigError
from bot.settings import Settings

log = logging.getLogger(__name__)
SHUTDOWN_S = 10.0  # requests in flight get this long to finish on SIGTERM
PARENT_CHECK_S = 1.0


def listening_socket(host: str, port: int, *, backlog: int = 1024) -> socket.socket:
    """Bind and listen on (host, port) once; inheritable, so workers can share it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


async def serve(settings: Settings, sock: socket.socket, *, hold: bool = False,
                on_ready: Callable[[], None] | None = None, parent_pid: int | None = None) -> None:
    """Serve the bot on `sock` until SIGTERM/SIGINT (or until `parent_pid` is gone)."""
    from aiohttp import web

    from bot.app import create_app
    from bot.server.keys import RUNTIME

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    watch = asyncio.create_task(_watch_parent(parent_pid, stop)) if parent_pid else None
    app = create_app(settings)
    runtime = app[RUNTIME]
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_S)
    await runner.setup()
    notify: "asyncio.Task[None] | None" = None
    try:
        if hold:  # other workers serve meanwhile: take connections only once able to answer them
            await _first(runtime.ready.wait(), stop.wait())
        if not stop.is_set():
            await web.SockSite(runner, sock).start()
            log.info("serving on %s", _address(sock))
            if on_ready is not None:
                notify = asyncio.create_task(_when_ready(runtime.ready, on_ready))
            await stop.wait()
            log.info("stopping: no new connections, finishing the requests in flight")
    finally:
        for task in (watch, notify):
            if task is not None:
                task.cancel()
        await runner.cleanup()


async def _first(*waits: "Coroutine[Any, Any, Any]") -> None:
    """Until the first of `waits` is done."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


async def _when_ready(ready: asyncio.Event, on_ready: Callable[[], None]) -> None:
    await ready.wait()
    on_ready()


async def _watch_parent(parent_pid: int, stop: asyncio.Event) -> None:
    """A supervisor killed outright cannot stop its workers: they notice and stop themselves."""
    while os.getppid() == parent_pid:
        await asyncio.sleep(PARENT_CHECK_S)
    log.warning("the supervisor (pid %d) is gone; stopping", parent_pid)
    stop.set()


def _address(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{host}:{port}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.worker")
    parser.add_argument("--project", required=True)
    parser.add_argument("--listen-fd", type=int, required=True)
    parser.add_argument("--ready-fd", type=int)
    parser.add_argument("--index", type=int, default=0)
    parser.add_argument("--hold", action="store_true")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format=f"%(asctime)s %(levelname)s worker {args.index} [%(process)d] %(name)s: %(message)s")
    for noisy in ("faiss.loader", "sentence_transformers", "httpx", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from bot.cli import _settings_for

    try:
        settings = _settings_for(args.project)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sock = socket.socket(fileno=args.listen_fd)
    ready_fd = args.ready_fd

    def ready() -> None:
        log.info("ready")
        if ready_fd is not None:
            try:
                os.write(ready_fd, f"ready {args.index} {os.getpid()}\n".encode())
            except OSError:  # the supervisor is gone; _watch_parent stops this worker
                pass

    asyncio.run(serve(settings, sock, hold=args.hold, on_ready=ready, parent_pid=os.getppid()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
