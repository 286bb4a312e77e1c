"""The pages a browser sees: `/` (the demo shop page with the chat widget when the socket.io
channel is mounted, else a greeting) and the widget's files under /static/."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

import bot

STATIC = Path(__file__).resolve().parent.parent / "static"


def routes(*, widget: bool) -> list[web.RouteDef]:
    async def index(_: web.Request) -> web.StreamResponse:
        if widget:
            return web.FileResponse(STATIC / "shop.html", headers={"Cache-Control": "no-cache"})
        return web.Response(text=f"Hello from Switchboard {bot.__version__}")

    return [web.get("/", index), web.static("/static", STATIC)]
