"""Schemathesis against a live server, with the description the server itself serves at
/openapi.json: every described operation gets a bounded number of generated requests in four passes
(the description's own examples; valid requests; valid ones whose path names something that exists,
a handed-over conversation and a knowledge entry; invalid ones), and every answer must be no 5xx, a
documented status, of the documented content type and headers, and conform to the documented schema.

The server is the trained shop with every channel mounted (Slack and Telegram talk to local fakes,
callback to a closed port) and an API token. Credentials go along where the description asks for
them: the API token; the Telegram secret; a Slack signature computed over the very bytes sent; and
an admin's console session with its CSRF token. Two console operations run without a session (401):
/console/api/live, whose stream never ends, and logout, which gets a session of its own that the
first request ends. SWITCHBOARD_FUZZ_EXAMPLES sets the requests per operation and pass (default 20)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator
from urllib.parse import urlencode

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from bot.app import create_app
from bot.console import auth
from bot.server.keys import RUNTIME
from bot.server.openapi import document
from bot.settings import load_settings
from bot.storage.console import ConsoleStore
from tests.conftest import missing, release_memory
from tests.fakes.slack_api import FakeSlack
from tests.fakes.telegram_api import FakeTelegram
from tests.integration.conftest import free_port

try:
    import requests
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st
    from hypothesis.errors import Unsatisfiable
    from schemathesis.checks import not_a_server_error
    from schemathesis.core import NotSet
    from schemathesis.specs.openapi.checks import (
        content_type_conformance, response_headers_conformance, response_schema_conformance,
        status_code_conformance,
    )
except ImportError:  # pragma: no cover - the test extra installs it
    schemathesis = None  # type: ignore[assignment]

TOKEN = "fuzz-api-token"
TELEGRAM_TOKEN = "123456:FUZZ-token_abcdefghijklmnopqrstuvwxyz"
TELEGRAM_SECRET = "fuzz-telegram-secret"
SLACK_TOKEN = "xoxb-fuzz"
SLACK_SECRET = "fuzz-slack-signing-secret"
ADMIN, PASSWORD = "fuzz-admin", "a long enough password"
EXAMPLES = int(os.environ.get("SWITCHBOARD_FUZZ_EXAMPLES", "20"))
DESTRUCTIVE = ("deleteConversation", "deleteKnowledgeEntry", "removeAgent", "consoleLogout")  # run last
OPERATIONS = sorted((op["operationId"] for item in document()["paths"].values() for op in item.values()
                     if isinstance(op, dict) and "operationId" in op), key=lambda op: (op in DESTRUCTIVE, op))
UNAUTHENTICATED = {"consoleLive"}  # with a session the stream never ends


@dataclass
class Live:
    base: str
    schema: Any  # schemathesis' schema, loaded from the server's /openapi.json
    console_cookie: str
    csrf: str
    logout_cookie: str
    logout_csrf: str
    seeds: dict[str, str]  # path parameter -> a value that names something on the server


async def _seed(base: str, cookie: str, csrf: str) -> dict[str, str]:
    """A conversation handed over to the admin, with a question, the admin's reply, and that reply
    approved as a knowledge entry: requests that name them reach past the 404s."""
    cid = "fuzz-handed-over"
    console = {"Cookie": f"{auth.COOKIE}={cookie}", auth.CSRF_HEADER: csrf}
    api = f"{base}/console/api/conversations/{cid}"
    async with aiohttp.ClientSession() as http:
        for text in ("/ask_human", "do you ship to the Faroe Islands?"):
            async with http.post(f"{base}/webhooks/rest/webhook", json={"sender": cid, "message": text}) as r:
                assert r.status == 200, await r.text()
        async with http.post(f"{api}/take", headers=console) as r:
            assert r.status == 200, await r.text()
        async with http.post(f"{api}/reply", headers=console, json={"text": "Yes, in 5 to 7 days."}) as r:
            assert r.status == 201, await r.text()
            message_id = (await r.json())["item"]["message_id"]
        async with http.post(f"{api}/approve", headers=console, json={"message_id": message_id}) as r:
            assert r.status == 201, await r.text()
            entry = (await r.json())["entry"]["id"]
    return {"cid": cid, "conversation_id": cid, "entry_id": entry}


async def _login(http: aiohttp.ClientSession, base: str) -> tuple[str, str]:
    async with http.post(f"{base}/console/api/login", json={"name": ADMIN, "password": PASSWORD}) as r:
        assert r.status == 200, await r.text()
        return r.cookies[auth.COOKIE].value, (await r.json())["csrf"]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def live(trained_project: Path, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Live]:
    if schemathesis is None:
        missing("schemathesis is not installed (pip install -e '.[test]')")
    slack, telegram = FakeSlack(SLACK_TOKEN), FakeTelegram(TELEGRAM_TOKEN)
    await slack.start(free_port())
    await telegram.start(free_port())
    channels = {
        "rest": {}, "socketio": {}, "callback": {"url": f"http://127.0.0.1:{free_port()}/nobody-listens"},
        "slack": {"slack_token": SLACK_TOKEN, "slack_signing_secret": SLACK_SECRET, "base_url": slack.api_url},
        "telegram": {"access_token": TELEGRAM_TOKEN, "secret_token": TELEGRAM_SECRET, "base_url": f"{telegram.base}/bot"},
    }
    database = tmp_path_factory.mktemp("fuzz") / "bot.db"
    settings = load_settings(trained_project, database_url=f"sqlite+aiosqlite:///{database}", api_token=TOKEN,
                             channels=channels, generator=None,  # generation off: no 135M model to load
                             rate_limit=0)  # every request reaches its handler (the address limit has its own tests)
    app = create_app(settings, channels=tuple(channels), wait_for_models=True)
    runner = web.AppRunner(app, shutdown_timeout=2.0)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    base = f"http://127.0.0.1:{port}"
    store = ConsoleStore(app[RUNTIME].store.engine)
    await store.add_agent(ADMIN, await asyncio.to_thread(auth.hash_password, PASSWORD), "admin")
    try:
        async with aiohttp.ClientSession() as http:
            cookie, csrf = await _login(http, base)
        async with aiohttp.ClientSession() as http:
            logout_cookie, logout_csrf = await _login(http, base)
        seeds = await _seed(base, cookie, csrf)
        schema = await asyncio.to_thread(schemathesis.openapi.from_url, f"{base}/openapi.json")
        yield Live(base, schema, cookie, csrf, logout_cookie, logout_csrf, seeds)
    finally:
        await runner.cleanup()
        await slack.stop()
        await telegram.stop()
        release_memory()


def _credentials(live: Live, case: Any) -> dict[str, Any]:
    """What the request carries besides the generated case, as the operation's security asks."""
    op = case.operation
    security = op.definition.raw.get("security", [])
    headers: dict[str, str] = {}
    extra: dict[str, Any] = {}
    if {"apiToken": []} in security:
        headers["Authorization"] = f"Bearer {TOKEN}"
    if {"telegramSecret": []} in security:
        headers["X-Telegram-Bot-Api-Secret-Token"] = TELEGRAM_SECRET
    if any("consoleSession" in s for s in security) and op.definition.raw["operationId"] not in UNAUTHENTICATED:
        logout = op.definition.raw["operationId"] == "consoleLogout"
        extra["cookies"] = {auth.COOKIE: live.logout_cookie if logout else live.console_cookie}
        headers[auth.CSRF_HEADER] = live.logout_csrf if logout else live.csrf
    if op.path == "/webhooks/slack/webhook" and not isinstance(case.body, NotSet):
        body = _slack_bytes(case)
        stamp = str(int(time.time()))
        digest = hmac.new(SLACK_SECRET.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
        headers.update({"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}",
                        "Content-Type": case.media_type})
        extra["data"] = body
    return {"headers": headers, **extra}


def _slack_bytes(case: Any) -> bytes:
    if isinstance(case.body, bytes):  # negative mode: not JSON at all
        return case.body
    if case.media_type == "application/x-www-form-urlencoded" and isinstance(case.body, dict):
        return urlencode({k: v if isinstance(v, str) else json.dumps(v) for k, v in case.body.items()}).encode()
    return json.dumps(case.body).encode()


CHECKS = [] if schemathesis is None else [
    not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
    response_schema_conformance,
]


@dataclass
class Outcome:
    failures: dict[str, str]  # one example of each kind of failure
    statuses: dict[str, Counter[int]]  # pass -> the statuses answered


def fuzz(live: Live, operation_id: str) -> Outcome:
    """Send the operation's generated requests and check each answer."""
    from schemathesis import GenerationMode
    from schemathesis.core.failures import FailureGroup

    operation = live.schema.find_operation_by_id(operation_id)
    outcome = Outcome({}, {})
    http = requests.Session()
    named = {p.name: live.seeds[p.name] for p in operation.path_parameters if p.name in live.seeds}
    passes: list[tuple[str, Any, int]] = [
        # the description's own examples, then valid requests, valid ones naming what exists, and invalid ones
        ("examples", operation.get_strategies_from_examples(), EXAMPLES),
        ("positive", [operation.as_strategy(generation_mode=GenerationMode.POSITIVE)], EXAMPLES),
        ("existing", [operation.as_strategy(path_parameters=named)] if named else [], EXAMPLES),
        ("negative", [operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)], EXAMPLES),
    ]
    for name, strategies, examples in passes:
        if not strategies:
            continue
        statuses = outcome.statuses.setdefault(name, Counter())

        @given(case=st.one_of(strategies))
        @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        def run(case: Any) -> None:
            extra = _credentials(live, case)
            response = case.call(base_url=live.base, session=http, timeout=60, **extra)
            statuses[response.status_code] += 1
            try:
                case.validate_response(response, checks=CHECKS, headers=extra["headers"])
            except FailureGroup as group:
                for failure in group.exceptions:
                    key = f"{name}: {failure.title}"
                    outcome.failures.setdefault(key, f"{key}: {failure.message}\n"
                                                     f"answered {response.status_code}: {response.text[:500]}\n"
                                                     f"{case.as_curl_command(headers=extra['headers'])[:1500]}")

        try:
            run()
        except Unsatisfiable:
            assert name == "negative", f"{operation_id}: no {name} request can be generated"
            # nothing in the request can be made invalid (no parameters, no body)
    return outcome


@pytest.mark.slow
@pytest.mark.parametrize("operation_id", OPERATIONS)
async def test_the_live_server_answers_as_described(live: Live, operation_id: str) -> None:
    outcome = await asyncio.to_thread(fuzz, live, operation_id)
    assert not outcome.failures, f"{operation_id} ({_seen(outcome)}):\n\n" + "\n\n".join(outcome.failures.values())
    positive = outcome.statuses["positive"]
    assert sum(positive.values()) > 0, f"{operation_id}: no request was sent"
    if operation_id not in UNAUTHENTICATED | {"consoleLogout"}:  # the credentials went along
        assert set(positive) != {401}, f"{operation_id}: every valid request was refused 401 ({_seen(outcome)})"


def _seen(outcome: Outcome) -> str:
    return "; ".join(f"{mode}: " + ", ".join(f"{status} x{n}" for status, n in sorted(counts.items()))
                     for mode, counts in outcome.statuses.items())
