"""Rasa's REST channel: POST /webhooks/rest/webhook, answers with the bot messages as JSON.

A client that may retry (after a timeout) names each message in `metadata.message_id`: a retry
with the same id is not handled again and gets the first attempt's replies (Rasa's REST channel
reads no id: each request is a new message there)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from aiohttp import web

from bot.channels.base import OnMessage
from bot.engine import UserMessage
from bot.errors import BadRequest, PayloadTooLarge
from bot import json_input
from bot.server.keys import SETTINGS
from bot.server.requests import json_object

MAX_MESSAGE_ID = 255


def client_message_id(metadata: dict[str, Any]) -> str | None:
    """The client's own id for a message (`metadata.message_id`), checked; None when it sent none."""
    if "message_id" not in metadata:
        return None
    value = metadata["message_id"]
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_MESSAGE_ID:
        raise BadRequest(f"'metadata.message_id' must be a non-empty string of at most {MAX_MESSAGE_ID} characters")
    return value


def parse_message(body: dict[str, Any], *, max_chars: int, default_channel: str) -> UserMessage:
    sender, text = body.get("sender"), body.get("message")
    if not isinstance(sender, str) or not sender.strip():
        raise BadRequest("'sender' must be a non-empty string (the conversation id)")
    if len(sender) > 255:
        raise BadRequest("'sender' must be at most 255 characters")
    if not isinstance(text, str) or not text.strip():
        raise BadRequest("'message' must be a non-empty string")
    if len(text) > max_chars:
        raise PayloadTooLarge(f"'message' is {len(text)} characters; the limit is {max_chars}")
    metadata = body.get("metadata") or {}
    if isinstance(metadata, str):  # some widgets send it as a JSON string
        metadata = json_input.loads(metadata, what="'metadata'", at="metadata")
    if not isinstance(metadata, dict):
        raise BadRequest("'metadata' must be a JSON object")
    channel = body.get("input_channel") or default_channel
    if not isinstance(channel, str):
        raise BadRequest("'input_channel' must be a string")
    message = UserMessage(text=text, sender_id=sender, input_channel=channel, metadata=metadata)
    message_id = client_message_id(metadata)
    return message if message_id is None else replace(message, message_id=message_id)


def outgoing(recipient_id: str, message: dict[str, Any]) -> dict[str, Any]:
    return {"recipient_id": recipient_id, **{k: v for k, v in message.items() if v is not None}}


class RestInput:
    name = "rest"

    def mount(self, app: web.Application, on_message: OnMessage) -> None:
        """Replies travel in the HTTP response: no output channel can reach a REST client later."""
        app.add_routes(self.routes(on_message))

    def routes(self, on_message: OnMessage) -> list[web.RouteDef]:
        async def health(_: web.Request) -> web.Response:
            return web.json_response({"status": "ok"})

        async def webhook(request: web.Request) -> web.StreamResponse:
            settings = request.app[SETTINGS]
            message = parse_message(
                await json_object(request), max_chars=settings.max_message_chars, default_channel=self.name
            )
            stream = request.query.get("stream", "").lower() == "true"
            result = await on_message(message)
            replies = [outgoing(message.sender_id, m) for m in result.replies]
            if not stream:
                return web.json_response(replies)
            response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
            await response.prepare(request)
            for reply in replies:
                await response.write(json.dumps(reply).encode() + b"\n")
            await response.write_eof()
            return response

        return [web.get("/webhooks/rest/", health), web.post("/webhooks/rest/webhook", webhook)]
