"""Reading request bodies with clear errors: strict JSON only (bot/json_input.py)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.errors import BadRequest
from bot import json_input

MAX_BODY = 256 * 1024  # the largest request body (aiohttp's client_max_size) or socket.io message read


async def json_body(request: web.Request) -> Any:
    """The body as checked JSON. aiohttp stops reading at the app's client_max_size (413), with
    or without a Content-Length."""
    raw = await request.read()
    if not raw.strip():
        raise BadRequest("the request body is empty; send JSON")
    return json_input.loads(raw)


async def json_object(request: web.Request) -> dict[str, Any]:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    return body
