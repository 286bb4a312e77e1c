"""Which channels the app mounts: credentials.yml sections, unset secrets, unknown names, and
the channel SDKs imported only for the channels that are configured."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from bot.app import create_app
from bot.errors import ConfigError
from bot.server.keys import OUTPUTS
from bot.settings import load_settings
from tests.conftest import TEMPLATE


def app_with(tmp_path: Path, channels: dict, names: tuple[str, ...] | None = None):  # type: ignore[no-untyped-def]
    settings = load_settings(TEMPLATE, database_url=f"sqlite+aiosqlite:///{tmp_path / 'b.db'}", channels=channels)
    return create_app(settings, channels=names)


def paths(app) -> set[str]:  # type: ignore[no-untyped-def]
    return {r.resource.canonical for r in app.router.routes() if r.resource is not None}


def test_the_template_mounts_rest_and_socketio_and_says_why_not_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "TELEGRAM_TOKEN", "TELEGRAM_SECRET_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with caplog.at_level(logging.WARNING, logger="bot.channels"):
        app = create_app(load_settings(TEMPLATE, database_url=f"sqlite+aiosqlite:///{tmp_path / 'b.db'}"))
    assert set(app[OUTPUTS]) == {"socketio"}
    assert {"/webhooks/rest/webhook", "/socket.io/", "/"} <= paths(app)
    assert "/webhooks/slack/webhook" not in paths(app) and "/webhooks/telegram/webhook" not in paths(app)
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "slack is not mounted" in said and "slack_signing_secret" in said
    assert "telegram is not mounted" in said and "secret_token" in said


def test_secrets_from_the_environment_mount_slack_and_telegram(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "s")
    monkeypatch.setenv("TELEGRAM_TOKEN", "1:a")
    monkeypatch.setenv("TELEGRAM_SECRET_TOKEN", "t")
    app = create_app(load_settings(TEMPLATE, database_url=f"sqlite+aiosqlite:///{tmp_path / 'b.db'}"))
    assert set(app[OUTPUTS]) == {"socketio", "slack", "telegram"}
    assert {"/webhooks/slack/webhook", "/webhooks/telegram/webhook"} <= paths(app)


def test_an_empty_jwt_key_disables_the_socket_rather_than_its_auth(tmp_path: Path) -> None:
    app = app_with(tmp_path, {"rest": {}, "socketio": {"jwt_key": ""}})
    assert "socketio" not in app[OUTPUTS] and "/socket.io/" not in paths(app)


def test_unknown_channels(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.channels"):
        app = app_with(tmp_path, {"rest": {}, "addons.custom.MyChannel": {}})
    assert "addons.custom.MyChannel" in caplog.text and "/webhooks/rest/webhook" in paths(app)
    with pytest.raises(ConfigError, match="unknown channel 'fax'"):
        app_with(tmp_path, {"rest": {}}, names=("rest", "fax"))


def test_bad_credentials_file(tmp_path: Path) -> None:
    import shutil

    project = tmp_path / "p"
    shutil.copytree(TEMPLATE, project, ignore=shutil.ignore_patterns(".switchboard"))
    (project / "credentials.yml").write_text("slack: just a string\n")
    with pytest.raises(ConfigError, match="`slack` in credentials.yml must be a mapping"):
        load_settings(project)


def test_channel_sdks_are_imported_only_when_configured() -> None:
    code = (
        "import sys, bot.app, bot.channels, bot.channels.base\n"
        "heavy = sorted(m for m in ('socketio', 'engineio', 'slack_bolt', 'slack_sdk', 'telegram', 'jwt') "
        "if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
