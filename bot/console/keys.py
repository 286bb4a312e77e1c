"""The console's typed application keys."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from bot.console.auth import LoginLimiter
    from bot.console.live import LiveHub
    from bot.console.service import Console

CONSOLE: web.AppKey["Console"] = web.AppKey("console")
HUB: web.AppKey["LiveHub"] = web.AppKey("console_hub")
LIMITER: web.AppKey["LoginLimiter"] = web.AppKey("console_login_limiter")
