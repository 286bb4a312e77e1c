"""Local servers that speak the real HTTP protocols of the platforms' APIs (Slack Web API,
Telegram Bot API, an OpenAI-compatible server), for tests: they record every call and can be
told to fail."""

from __future__ import annotations

from aiohttp import web


async def serve(app: web.Application, port: int = 0) -> tuple[web.AppRunner, int]:
    """Run `app` on 127.0.0.1 (`port` 0: a free one); returns its runner and port."""
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    return runner, int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
