"""paths of the channels (bot/channels: REST, callback, Slack, Telegram, socket.io's HTTP side) and
of the pages (/, /openapi.json, /console). None takes the API token: each channel checks its own
secret, the pages are public."""

from __future__ import annotations

from bot.server.openapi.common import (
    OPEN, Spec, answer, errors, header_param, json_body, obj, operation, query_param, ref, text,
)

HEALTHY = answer("The channel is mounted.", obj({"status": {"type": "string", "const": "ok"}}, required=("status",)))
CHANNELS = ["channels"]


def _health(name: str) -> Spec:
    return {"get": operation(f"{name}ChannelHealth", f"Whether the {name} channel is mounted", tags=CHANNELS,
                             security=OPEN, responses={"200": HEALTHY})}


TELEGRAM_UPDATE = obj({
    "update_id": {"type": "integer", "description": "Telegram's id of the update: a redelivered one is answered "
                                                    "once."},
    "message": obj({
        "message_id": {"type": "integer"}, "date": {"type": "integer"},
        "chat": obj({"id": {"type": "integer"}, "type": {"type": "string"}}, required=("id", "type")),
        "from": obj({"id": {"type": "integer"}, "is_bot": {"type": "boolean"}, "first_name": {"type": "string"}},
                    required=("id", "is_bot", "first_name")),
        "text": {"type": "string"}, "caption": {"type": "string"},
    }, required=("message_id", "date", "chat")),
    "callback_query": obj({"id": {"type": "string"}, "from": {"type": "object"}, "chat_instance": {"type": "string"},
                           "data": {"type": "string"}, "message": {"type": "object"}},
                          required=("id", "from", "chat_instance")),
}, required=("update_id",), description="A Telegram Bot API Update: messages and button taps (callback queries) "
                                        "are answered, other updates are acknowledged and ignored.")

TELEGRAM_ANSWER = obj({"ok": {"type": "boolean", "const": True}, "ignored": {"type": "boolean"},
                       "too_long": {"type": "boolean"}, "duplicate": {"type": "boolean"}}, required=("ok",))


def channel_paths() -> Spec:
    rest_answer = {"type": "array", "items": ref("BotMessage")}
    return {
        "/webhooks/rest/": _health("rest"),
        "/webhooks/rest/webhook": {"post": operation(
            "restWebhook", "Send a customer message, get the bot's answers (Rasa's REST channel)", tags=CHANNELS,
            security=OPEN, body=json_body(ref("UserMessage")),
            parameters=[query_param("stream", "`true`: one JSON object per line (NDJSON), each as it is ready.",
                                    {"type": "string", "enum": ["true", "false"]})],
            description="A text with blank lines comes back as several messages. A paused conversation (a person "
                        "has it) answers an empty list.",
            responses={"200": {"description": "The bot's messages.", "content": {
                "application/json": {"schema": rest_answer},
                "application/x-ndjson": {"schema": {"type": "string"}}}},
                **errors(400, 409, 413, 429, 503)})},
        "/webhooks/callback/": _health("callback"),
        "/webhooks/callback/webhook": {"post": operation(
            "callbackWebhook", "Send a customer message; the answers are POSTed to the configured URL",
            tags=CHANNELS, security=OPEN, body=json_body(ref("UserMessage")),
            description="Answers `success` once the message and its replies are stored; each reply is then POSTed "
                        "as a BotMessage to credentials.yml's `callback.url`, retried while that URL fails.",
            responses={"200": answer("Stored.", {"type": "string", "const": "success"}, media="text/plain"),
                       **errors(400, 409, 413, 429, 503)})},
        "/webhooks/slack/": _health("slack"),
        "/webhooks/slack/webhook": {"post": operation(
            "slackWebhook", "Slack's Events API and interactivity (button clicks)", tags=CHANNELS, security=OPEN,
            description="Set it as both the Event Subscriptions and the Interactivity request URL. Every request "
                        "must be signed with the app's signing secret (401 otherwise); `url_verification` is "
                        "answered with its challenge. A retry (`X-Slack-Retry-Num`) of a handled message is not "
                        "answered twice.",
            parameters=[
                header_param("X-Slack-Request-Timestamp", "Unix time of the request; at most 5 minutes old.",
                             {"type": "string"}),
                header_param("X-Slack-Signature", "`v0=` + hex HMAC-SHA256 of `v0:<timestamp>:<body>` with the "
                                                  "signing secret.", {"type": "string"}),
                header_param("X-Slack-Retry-Num", "Slack's retry count.", {"type": "string"}),
            ],
            body={"required": True, "content": {
                "application/json": {"schema": {"type": "object", "description": "An Events API envelope."}},
                "application/x-www-form-urlencoded": {"schema": obj({"payload": {"type": "string"}})}}},
            responses={"200": {"description": "Taken (the challenge for url_verification).", "content": {
                "application/json": {"schema": {"type": "object"}}, "text/plain": {"schema": {"type": "string"}}}},
                **errors(400, 401, 404, 413, 503)})},
        "/webhooks/telegram/": _health("telegram"),
        "/webhooks/telegram/webhook": {"post": operation(
            "telegramWebhook", "Telegram's webhook (register it with `switchboard telegram set-webhook`)",
            tags=CHANNELS, security=[{"telegramSecret": []}], body=json_body(TELEGRAM_UPDATE),
            description="The answer is always 200 once handled (Telegram redelivers otherwise); a message over the "
                        "length limit is answered in the chat, not with an error.",
            responses={"200": answer("Handled (or ignored).", TELEGRAM_ANSWER), **errors(400, 401, 409, 413, 503)})},
        "/socket.io/": socketio_path(),
    }


def socketio_path() -> Spec:
    params = [
        query_param("EIO", "The Engine.IO protocol version.", {"type": "string", "const": "4"}),
        query_param("transport", "How the client talks.", {"type": "string", "enum": ["polling", "websocket"]}),
        query_param("sid", "The Engine.IO session (from the handshake).", {"type": "string"}),
        query_param("t", "A cache-buster.", {"type": "string"}),
    ]
    description = ("The HTTP side of Rasa's socket.io channel (Engine.IO 4: the long-polling handshake, its polls and "
                   "posts, and the upgrade to a WebSocket). Widgets speak it through a socket.io client; the events "
                   "(`session_request`, `user_uttered`, `bot_uttered`) travel inside it and are not HTTP operations. "
                   "Origins outside the allowed ones are refused.")
    packets = answer("Engine.IO packets.", {"type": "string"}, media="text/plain")
    return {
        "get": operation("socketioPoll", "Socket.IO: handshake, long poll or WebSocket upgrade", tags=CHANNELS,
                         security=OPEN, description=description, parameters=params,
                         responses={"200": packets, "101": answer("Switched to a WebSocket."), **errors(400, 403)}),
        "post": operation("socketioSend", "Socket.IO: packets from a long-polling client", tags=CHANNELS,
                          security=OPEN, description=description, parameters=params,
                          body={"required": False, "content": {"text/plain": {"schema": {"type": "string"}}}},
                          responses={"200": packets, **errors(400, 403, 413)}),
    }


def page_paths() -> Spec:
    html = {"text/html": {"schema": {"type": "string"}}}
    return {
        "/": {"get": operation(
            "homePage", "The demo shop page with the chat widget (or a greeting without the socket.io channel)",
            tags=["pages"], security=OPEN, responses={"200": {"description": "The page.", "content": {
                **html, "text/plain": {"schema": text(1)}}}})},
        "/openapi.json": {"get": operation(
            "openapi", "This description of the HTTP API (OpenAPI 3.1)", tags=["pages"], security=OPEN,
            responses={"200": answer("The OpenAPI document.", {"type": "object", "required": ["openapi", "paths"]})})},
        "/console": {"get": operation(
            "consolePage", "The agent console (log in there)", tags=["console"], security=OPEN,
            responses={"200": {"description": "The console's page.", "content": html}})},
        "/console/": {"get": operation(
            "consolePageSlash", "Redirects to /console", tags=["console"], security=OPEN,
            responses={"302": {"description": "To /console.",
                               "headers": {"Location": {"schema": {"type": "string", "const": "/console"}}}}})},
    }
