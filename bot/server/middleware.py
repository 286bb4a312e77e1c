"""Errors become JSON in one place; the API token guards everything but webhooks and health;
each client address is held to its request rate; what the URL carries is checked like a body."""

from __future__ import annotations

import hmac
import logging
from typing import Awaitable, Callable

from aiohttp import web

from bot.console.auth import client_address
from bot.errors import SwitchboardError, Unauthorized
from bot.json_input import check_text
from bot.server.keys import ADDRESS_LIMITER, SETTINGS
from bot.storage.outage import unavailable

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# the console has its own logins (bot/console/auth.py), not the API token
OPEN_PREFIXES = ("/webhooks/", "/health", "/static/", "/socket.io", "/console", "/openapi.json")
# not counted against an address's request rate: health checks and static files
UNLIMITED_PREFIXES = ("/health", "/static/", "/console/static/")


def error_response(status: int, message: str) -> web.Response:
    return web.json_response({"error": message, "status": status}, status=status)


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except SwitchboardError as exc:
        return _typed(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = exc.text if exc.text and not exc.text.startswith(str(exc.status)) else exc.reason
        if exc.status == 413:
            message = "the request body is too large"
        response = error_response(exc.status, message)
        for header in ("Allow", "Retry-After"):
            if header in exc.headers:
                response.headers[header] = exc.headers[header]
        return response
    except Exception as exc:
        outage = unavailable(exc)  # a store restarting or unreachable: 503, the client sends it again
        if outage is not None:
            log.warning("%s %s: %s (%s)", request.method, request.path, outage, type(exc).__name__)
            return _typed(outage)
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal error; the server logged the details")


def _typed(exc: SwitchboardError) -> web.Response:
    answer = error_response(exc.status, str(exc))
    retry_after = getattr(exc, "retry_after", None)  # TooManyRequests, NotReady, StoreUnavailable
    if retry_after is not None:
        answer.headers["Retry-After"] = str(retry_after)
    return answer


CORS_HEADERS = "Authorization, Content-Type"


@web.middleware
async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Browsers on the allowed origins (switchboard.yml server.cors_origins) may call the API."""
    if request.path.startswith("/socket.io"):  # engine.io answers CORS itself (the socketio channel's origins)
        answer = await handler(request)
        if answer.status >= 400 and isinstance(answer, web.Response) and answer.content_type == "text/plain":
            return error_response(answer.status, (answer.text or answer.reason).strip())  # e.g. a refused origin
        return answer
    origin = request.headers.get("Origin")
    allowed = request.app[SETTINGS].cors_origins
    ok = origin is not None and ("*" in allowed or origin in allowed)
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        if not ok:
            return error_response(403, f"origin {origin!r} is not allowed")
        response: web.StreamResponse = web.Response(status=204)
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, DELETE, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = CORS_HEADERS
        response.headers["Access-Control-Max-Age"] = "600"
    else:
        response = await handler(request)
    if ok and origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
    return response


def _token_from(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.query.get("token")


@web.middleware
async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    token = request.app[SETTINGS].api_token
    if token and request.path != "/" and not request.path.startswith(OPEN_PREFIXES):
        given = _token_from(request)
        if given is None or not hmac.compare_digest(given.encode(), token.encode()):
            raise Unauthorized("a valid API token is required (?token=... or Authorization: Bearer ...)")
    return await handler(request)


@web.middleware
async def limits(request: web.Request, handler: Handler) -> web.StreamResponse:
    """429 (Retry-After) for an address over its request rate (server.rate_limit)."""
    limiter = request.app.get(ADDRESS_LIMITER)
    if limiter is not None and limiter.enabled and not request.path.startswith(UNLIMITED_PREFIXES):
        await limiter.check(client_address(request.remote, request.headers.get("X-Forwarded-For"),
                                           request.app[SETTINGS].trusted_proxies))
    return await handler(request)


@web.middleware
async def checked_url(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The URL's path parameters (conversation ids, ...) and query may hold no NUL (400)."""
    for name, value in request.match_info.items():
        check_text(value, f"the URL's {name!r}")
    for name, value in request.query.items():
        check_text(name, "a query parameter's name")
        check_text(value, f"the query parameter {name!r}")
    return await handler(request)
