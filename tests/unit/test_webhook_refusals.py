"""What schemathesis found on the Slack and Telegram webhooks: bodies their SDKs cannot read are
answered 400 (and unsigned Slack requests 401) in the shared error shape, never 500."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from tests.unit.test_openapi_routes import every_channel_app

SLACK = "/webhooks/slack/webhook"
TELEGRAM = "/webhooks/telegram/webhook"


def signed(body: bytes, secret: str = "secret") -> dict[str, str]:
    stamp = str(int(time.time()))
    digest = hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}",
            "Content-Type": "application/json"}


async def test_slack_checks_the_signature_before_bolt_reads_the_body(tmp_path: Path) -> None:
    async with TestClient(TestServer(every_channel_app(tmp_path))) as client:
        for body in (b"", b"not json", b"null", b'"text"', b'{"authorizations": "x"}'):
            unsigned = await client.post(SLACK, data=body, headers={"Content-Type": "application/json"})
            assert unsigned.status == 401, body
            assert set(await unsigned.json()) == {"error", "status"}
        odd = {"X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": "v0=ünïcode", "Content-Type": "text/plain"}
        assert (await client.post(SLACK, data=b"{}", headers=odd)).status == 401


async def test_signed_slack_bodies_bolt_cannot_read_are_bad_requests(tmp_path: Path) -> None:
    async with TestClient(TestServer(every_channel_app(tmp_path))) as client:
        for body in (b"not json", b"null", b'"text"', b"[1, 2]", b'{"authorizations": "x"}'):
            answer = await client.post(SLACK, data=body, headers=signed(body))
            assert answer.status == 400, (body, await answer.text())
            assert (await answer.json())["status"] == 400
        challenge = json.dumps({"type": "url_verification", "challenge": "c-1"}).encode()
        answer = await client.post(SLACK, data=challenge, headers=signed(challenge))
        assert answer.status == 200 and (await answer.json())["challenge"] == "c-1"


async def test_a_telegram_date_past_time_t_is_a_bad_request(tmp_path: Path) -> None:
    update = {"update_id": 1, "message": {"message_id": 2, "date": 10 ** 17, "text": "hi",  # within 64 bits, past time_t
                                          "chat": {"id": 3, "type": "private"}}}
    async with TestClient(TestServer(every_channel_app(tmp_path))) as client:
        answer = await client.post(TELEGRAM, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "secret"})
        assert answer.status == 400, await answer.text()
        assert "not a valid Telegram update" in (await answer.json())["error"]
