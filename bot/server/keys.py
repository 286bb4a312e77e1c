"""Typed aiohttp application keys: everything a handler needs hangs off the app, no globals."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from bot.server.limits import RateLimiter, TurnAdmission
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.channels.base import OutputChannel
    from bot.runtime import Runtime

SETTINGS = web.AppKey("settings", Settings)
RUNTIME: web.AppKey["Runtime"] = web.AppKey("runtime")
# channel name -> the output channel that reaches that channel's conversations outside a request
OUTPUTS: web.AppKey["dict[str, OutputChannel]"] = web.AppKey("outputs")
# per-address request limits and the bound on turns waiting in one conversation (bot/server/limits.py)
ADDRESS_LIMITER = web.AppKey("address_limiter", RateLimiter)
TURN_ADMISSION = web.AppKey("turn_admission", TurnAdmission)
