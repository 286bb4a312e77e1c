"""The OpenAPI 3.1 description of Switchboard's whole HTTP API, served open at GET /openapi.json.

It is written by hand beside the handlers (one module per group of routes), and two tests keep it
honest: tests/unit/test_openapi_routes.py compares its paths with the routes the app registers,
and tests/integration/test_openapi_schemathesis.py fuzzes a live server with it."""

from __future__ import annotations

import copy
import functools
from typing import Any

from aiohttp import web

import bot
from bot.server.openapi.api_paths import conversation_paths, knowledge_paths, model_and_server_paths
from bot.server.openapi.channel_paths import channel_paths, page_paths
from bot.server.openapi.common import error_responses
from bot.server.openapi.console_paths import console_paths
from bot.server.openapi.schemas import schemas

PATH = "/openapi.json"
DESCRIPTION = """\
Switchboard speaks Rasa's HTTP API (conversations, trackers, model/parse, status, version, domain), Rasa's
channels (REST, callback, socket.io, Slack, Telegram) and its own: the knowledge API, the agent console and
/health.

**Authentication.** With an API token configured (`server.api_token` in switchboard.yml, or
SWITCHBOARD_API_TOKEN), every route needs it, as `Authorization: Bearer <token>` or `?token=<token>`,
except the channels' webhooks (each checks its own secret), /health, the pages (/, /static/, /openapi.json)
and the agent console, which has its own logins: a session cookie from POST /console/api/login and, on every
POST and DELETE, the session's CSRF token in the X-CSRF-Token header.

**Errors** are JSON `{"error": "<what went wrong>", "status": <the HTTP status>}` on every route. A path
that exists without the method answers 405 with an `Allow` header; 429 and 503 come with `Retry-After`.
Bodies are limited to 256 KiB (413) and messages to `engine.max_message_chars` characters (4,000 unless
configured: 413 on the REST channel and the HTTP API).
"""
TAGS = [
    {"name": "conversations", "description": "Rasa's HTTP API for one conversation."},
    {"name": "model", "description": "The NLU model."},
    {"name": "server", "description": "What the server runs, and whether it can answer."},
    {"name": "knowledge", "description": "The knowledge base: teach the running bot without retraining."},
    {"name": "channels", "description": "Where customers' messages come in."},
    {"name": "console", "description": "The agent console: handoff, replies, corrections, agents."},
    {"name": "pages", "description": "What a browser sees."},
]
SECURITY_SCHEMES = {
    "apiToken": {"type": "http", "scheme": "bearer", "description": "The API token (server.api_token)."},
    "apiTokenQuery": {"type": "apiKey", "in": "query", "name": "token", "description": "The API token, in the URL."},
    "consoleSession": {"type": "apiKey", "in": "cookie", "name": "switchboard_console",
                       "description": "The agent console's session, from POST /console/api/login."},
    "csrfToken": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token",
                  "description": "The session's CSRF token (the `csrf` of login and /console/api/me)."},
    "telegramSecret": {"type": "apiKey", "in": "header", "name": "X-Telegram-Bot-Api-Secret-Token",
                       "description": "The secret_token of credentials.yml's telegram section."},
}


@functools.cache
def _document() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for group in (page_paths(), model_and_server_paths(), conversation_paths(), knowledge_paths(), channel_paths(),
                  console_paths()):
        overlap = set(paths) & set(group)
        assert not overlap, f"paths described twice: {overlap}"
        paths.update(group)
    _rate_limited(paths)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Switchboard", "version": bot.__version__, "description": DESCRIPTION,
                 "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"}},
        "servers": [{"url": "/"}],
        "tags": TAGS,
        "paths": paths,
        "components": {"schemas": schemas(), "responses": error_responses(), "securitySchemes": SECURITY_SCHEMES},
    }


def _rate_limited(paths: dict[str, Any]) -> None:
    """Every route but /health counts against its client address's request rate
    (server.rate_limit, bot/server/limits.py): each may answer 429."""
    from bot.server.middleware import UNLIMITED_PREFIXES

    for path, operations in paths.items():
        if path.startswith(UNLIMITED_PREFIXES):
            continue
        for operation in operations.values():
            if isinstance(operation, dict) and "responses" in operation:
                operation["responses"].setdefault("429", {"$ref": "#/components/responses/TooManyRequests"})


def document() -> dict[str, Any]:
    """The description (a copy: the caller may change it)."""
    return copy.deepcopy(_document())


async def serve(_: web.Request) -> web.Response:
    return web.json_response(_document(), headers={"Cache-Control": "no-cache"})


routes = [web.get(PATH, serve)]
