"""The OpenAPI description against the app: every route the app registers (every channel mounted)
is described and every described operation is a route; it is valid OpenAPI 3.1; its errors share
one shape; and /openapi.json is served without the API token. No models are needed."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.app import create_app
from bot.server.openapi import PATH, document
from bot.settings import load_settings
from tests.conftest import TEMPLATE

ALL_CHANNELS = ("rest", "callback", "socketio", "slack", "telegram")
METHODS = ("get", "post", "put", "delete", "patch")


def every_channel_app(tmp_path: Path, **overrides: Any) -> web.Application:
    channels = {
        "rest": {}, "callback": {"url": "http://127.0.0.1:9/callback"}, "socketio": {},
        "slack": {"slack_token": "xoxb-test", "slack_signing_secret": "secret", "base_url": "http://127.0.0.1:9/"},
        "telegram": {"access_token": "1:test", "secret_token": "secret", "base_url": "http://127.0.0.1:9/bot"},
    }
    settings = load_settings(TEMPLATE, database_url=f"sqlite+aiosqlite:///{tmp_path / 'b.db'}", channels=channels,
                             **overrides)
    return create_app(settings, channels=ALL_CHANNELS)


def registered(app: web.Application) -> dict[tuple[str, str], web.AbstractResource]:
    """(METHOD, path template) of every route but static files, HEAD and OPTIONS."""
    out = {}
    for route in app.router.routes():
        resource = route.resource
        if resource is None or isinstance(resource, web.StaticResource) or route.method in ("HEAD", "OPTIONS"):
            continue
        out[(route.method, resource.canonical)] = resource
    return out


def described() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document()["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield method.upper(), path, op


def test_every_route_is_described_and_every_described_operation_is_a_route(tmp_path: Path) -> None:
    routes = set(registered(every_channel_app(tmp_path)))
    operations = {(method, path) for method, path, _ in described()}
    assert not routes - operations, f"routes the description lacks: {sorted(routes - operations)}"
    assert not operations - routes, f"described operations the app lacks: {sorted(operations - routes)}"


def test_path_parameters_match_the_routes_patterns(tmp_path: Path) -> None:
    """An enum of a path parameter (the console's take|handback|close) is exactly what the route takes."""
    routes = registered(every_channel_app(tmp_path))
    for method, path, op in described():
        params = {p["name"]: p["schema"] for p in op.get("parameters", []) if p["in"] == "path"}
        assert set(params) == set(re.findall(r"{(\w+)}", path)), f"{method} {path}: path parameters"
        if not params:
            continue
        pattern: re.Pattern[str] = routes[(method, path)].get_info()["pattern"]
        example = {name: schema.get("enum", ["x-1"])[0] for name, schema in params.items()}

        def concrete(name: str, value: str) -> str:
            return path.format(**{**example, name: value})

        for name, schema in params.items():
            for value in schema.get("enum", ["x-1"]):
                assert pattern.fullmatch(concrete(name, value)), f"{method} {path}: {name}={value!r} is not routed"
            if "enum" in schema:
                assert not pattern.fullmatch(concrete(name, "elsewhere")), f"{method} {path}: {name} takes more"


def test_the_description_is_valid_openapi_3_1() -> None:
    validator = pytest.importorskip("openapi_spec_validator", reason="openapi-spec-validator is not installed "
                                                                     "(pip install -e '.[test]')")
    spec = document()
    assert spec["openapi"].startswith("3.1")
    validator.validate(spec)
    ids = [op["operationId"] for _, _, op in described()]
    assert len(ids) == len(set(ids)), "operationIds must be unique"


def test_errors_share_one_shape_and_each_operation_names_its_own() -> None:
    spec = document()
    error = spec["components"]["schemas"]["Error"]
    assert error["required"] == ["error", "status"]
    for name, response in spec["components"]["responses"].items():
        status = response["content"]["application/json"]["schema"]["allOf"][1]["properties"]["status"]["const"]
        assert 400 <= status < 600, name
    for method, path, op in described():
        responses = op["responses"]
        for code, response in responses.items():
            if code.startswith(("4", "5")) and not (path == "/health" and code == "503"):
                assert "$ref" in response, f"{method} {path} {code}: not the shared error shape"
        if "requestBody" in op and path != "/socket.io/":
            assert "400" in responses, f"{method} {path}: a body can be malformed"
        if {"apiToken": []} in op.get("security", []):
            assert "401" in responses, f"{method} {path}: the API token can be missing"
        if path.startswith("/console/api/") and path != "/console/api/login":
            assert "401" in responses, f"{method} {path}: the console needs a session"
        if any(p["name"] in ("conversation_id", "cid") for p in op.get("parameters", [])):
            assert "400" in responses, f"{method} {path}: a blank or too long conversation id"


async def test_the_description_is_served_without_the_token(tmp_path: Path) -> None:
    app = every_channel_app(tmp_path, api_token="t0ken")
    async with TestClient(TestServer(app)) as client:
        answer = await client.get(PATH)
        assert answer.status == 200
        assert await answer.json() == document()
        refused = await client.get("/status")
        assert refused.status == 401
        assert (await refused.json())["status"] == 401
        slack = await client.post("/webhooks/slack/webhook", json={"type": "event_callback"})
        assert slack.status == 401  # unsigned; in the shape of every other error
        assert set(await slack.json()) == {"error", "status"}
