"""Rasa's socket.io channel (what rasa-webchat and our widget speak), on the aiohttp app.

Events: `session_request {"session_id"}` -> `session_confirm <id>`; `user_uttered {"message",
"session_id", "metadata"?}` -> one `bot_uttered` per bot message. With session persistence (the
default) a socket joins the room named by its session id, the conversation id is the session id,
and replies go to that room: a reconnecting widget, or a second tab, keeps the conversation.
Switchboard's own widget also understands `bot_uttered_delta {"stream_id", "delta"}` (streamed
text; the final `bot_uttered` carries the whole text and the same stream_id, so widgets that
ignore deltas still show it). Bad input is answered with an `error` event, `{"error": ...}`.

Replies go through the outbox (bot/channels/dispatch.py): a reply for a session with no socket
here waits, and a `session_request` with the old session id (a widget that reconnects) gets what
it missed. A message may name itself in `metadata.message_id` (our widget does): sent again after
a reconnect, it is not handled twice. A client that asks for an acknowledgement of
`user_uttered` gets `{"message_id", "duplicate"}` once the message is stored.

Several workers: with a Redis lock store, python-socketio's AsyncRedisManager carries every emit
to every worker, so a reply sent by any worker (an agent in any console, a reminder) reaches the
widget wherever it is connected: a worker with the widget's socket delivers with the widget's
acknowledgement; another one, told by presence.py that the widget is connected elsewhere, emits
through Redis. A store that is down is answered `{"error", "status": 503, "retry_after"}`
(nothing stored). With several workers only the WebSocket transport is offered: a long-polling
session lives in one worker's memory, and the workers share one listening socket with no routing
by session, so its next poll could land on another worker. Switchboard's widget speaks WebSocket.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from dataclasses import replace
from typing import TYPE_CHECKING, Any, AsyncIterable

from aiohttp import web

from bot.channels.base import DeliveryError, OnMessage, parts, require
from bot.channels.dispatch import DISPATCHER
from bot.channels.rest import client_message_id
from bot.channels.socketio_packet import TOO_DEEP, packet_class
from bot.engine import UserMessage
from bot.console.auth import client_address
from bot.errors import BadRequest, SwitchboardError
from bot import json_input
from bot.server.keys import ADDRESS_LIMITER
from bot.server.requests import MAX_BODY
from bot.settings import Settings
from bot.storage.outage import unavailable

if TYPE_CHECKING:
    import socketio

    from bot.channels.presence import RedisPresence

log = logging.getLogger(__name__)
PATH = "socket.io"
MAX_SESSION_ID = 255
ACK_SECONDS = 5.0  # how long a widget that acknowledges has to acknowledge a message


def to_socketio(message: dict[str, Any]) -> list[dict[str, Any]]:
    """One bot message as the bot_uttered payloads Rasa's socket.io channel sends."""
    text, buttons, image = parts(message)
    out: list[dict[str, Any]] = []
    if text is not None or buttons:
        payload: dict[str, Any] = {"text": text or ""}
        if buttons:
            payload["quick_replies"] = [
                {"content_type": "text", "title": b["title"], "payload": b["payload"]} for b in buttons
            ]
        if isinstance(message.get("agent"), str):  # a person wrote it (the agent console): the widget shows who
            payload["metadata"] = {"agent": message["agent"]}
        out.append(payload)
    if image:
        out.append({"attachment": {"type": "image", "payload": {"src": image}}})
    if isinstance(message.get("attachment"), dict):
        out.append({"attachment": message["attachment"]})
    if isinstance(message.get("custom"), dict):
        out.append(message["custom"])
    return out


class SocketIOOutput:
    """Emits to a conversation's room: works for any socket of that session, now or later.

    A widget that said so in its session_request (`"acks": true`: ours) acknowledges each message;
    to it a message counts as delivered once acknowledged (a socket that died without the server
    noticing yet never answers: the outbox tries again, and the widget drops a message whose
    delivery id it has shown). To other widgets (rasa-webchat) a message counts as delivered once
    emitted to a connected socket."""

    name = "socketio"

    def __init__(self, sio: "socketio.AsyncServer", bot_event: str, presence: "RedisPresence | None" = None) -> None:
        self.sio, self.bot_event, self.presence = sio, bot_event, presence

    async def send(self, recipient_id: str, message: dict[str, Any], *, skip: int = 0,
                   delivery_id: str | None = None) -> None:
        sids = [sid for sid, _ in self.sio.manager.get_participants("/", recipient_id)]
        if not sids and self.presence is not None and await self.presence.connected(recipient_id):
            # the widget is connected to another worker: Redis carries the emit there (no acknowledgement
            # comes back across workers; our widget shows a delivery id once, so a resend is harmless)
            for part, payload in enumerate(to_socketio(message)[skip:], start=skip):
                if delivery_id is not None:
                    payload = {**payload, "metadata": {**(payload.get("metadata") or {}),
                                                       "delivery_id": f"{delivery_id}:{part}"}}
                await self.sio.emit(self.bot_event, payload, room=recipient_id)
            return
        if not sids:  # emitted to an empty room it would reach nobody
            raise DeliveryError(f"the customer's {self.name} chat is not open now; it goes out when the widget "
                                "reconnects")
        acking = [sid for sid in sids if (await self._session(sid)).get("acks")]
        for part, payload in enumerate(to_socketio(message)[skip:], start=skip):
            if delivery_id is not None:
                payload = {**payload, "metadata": {**(payload.get("metadata") or {}),
                                                   "delivery_id": f"{delivery_id}:{part}"}}
            if len(acking) < len(sids):
                await self.sio.emit(self.bot_event, payload, room=recipient_id, skip_sid=acking)
            answered = await asyncio.gather(*(self._acknowledged(sid, payload) for sid in acking))
            if acking and len(acking) == len(sids) and not any(answered):
                raise DeliveryError(f"the customer's {self.name} chat did not acknowledge the message within "
                                    f"{ACK_SECONDS:.0f}s", parts_sent=part)

    async def _session(self, sid: str) -> dict[str, Any]:
        try:
            return dict(await self.sio.get_session(sid))
        except KeyError:  # gone meanwhile
            return {}

    async def _acknowledged(self, sid: str, payload: dict[str, Any]) -> bool:
        import socketio

        try:
            await self.sio.call(self.bot_event, payload, to=sid, timeout=ACK_SECONDS)
        except (socketio.exceptions.SocketIOError, KeyError):  # no answer in time, or the socket went
            return False
        return True

    async def connected(self, recipient_id: str) -> bool:
        """Whether a widget of this conversation is connected now, to this worker or (with Redis) to
        any (a message emitted to an empty room reaches nobody: the console reports it undelivered)."""
        if any(True for _ in self.sio.manager.get_participants("/", recipient_id)):
            return True
        return bool(self.presence is not None and await self.presence.connected(recipient_id))

    async def send_stream(self, recipient_id: str, chunks: AsyncIterable[str]) -> str:
        """Stream a text as it is generated; returns the whole text."""
        stream_id, text = uuid.uuid4().hex, ""
        async for chunk in chunks:
            text += chunk
            await self.sio.emit("bot_uttered_delta", {"stream_id": stream_id, "delta": chunk}, room=recipient_id)
        await self.sio.emit(self.bot_event, {"text": text, "stream_id": stream_id}, room=recipient_id)
        return text


class SocketIOInput:
    name = "socketio"

    def __init__(self, config: dict[str, Any], settings: Settings) -> None:
        self.user_event = str(config.get("user_message_evt") or "user_uttered")
        self.bot_event = str(config.get("bot_message_evt") or "bot_uttered")
        self.persistence = bool(config.get("session_persistence", True))
        self.metadata_key = str(config.get("metadata_key") or "customData")  # what rasa-webchat sends
        if "jwt_key" in config:  # configured but empty (an unset env var) must not mean "no auth"
            require(self.name, config, "jwt_key")
        self.jwt_key: str | None = config.get("jwt_key") or None
        self.jwt_method = str(config.get("jwt_method") or "HS256")
        extra = config.get("cors_allowed_origins") or []
        self.origins = set(settings.cors_origins) | set([extra] if isinstance(extra, str) else extra)
        self.max_chars = settings.max_message_chars
        self.trusted_proxies = settings.trusted_proxies
        url = settings.lock_store_url
        self.redis_url = url if url and url.startswith(("redis://", "rediss://", "unix://")) else None
        # the workers of one bot share its database: its URL names their channel, so bots sharing a Redis stay apart
        self.channel = f"switchboard:socketio:{hashlib.sha256(settings.database_url.encode()).hexdigest()[:16]}"
        self.workers = settings.workers
        self._presence: RedisPresence | None = None

    def origin_allowed(self, origin: str | None, environ: dict[str, Any]) -> bool:
        """The configured origins, plus the page this server serves itself (same origin)."""
        if origin is None or "*" in self.origins or origin in self.origins:
            return True
        own = f"{environ.get('wsgi.url_scheme', 'http')}://{environ.get('HTTP_HOST', '')}"
        return origin == own

    def mount(self, app: web.Application, on_message: OnMessage) -> SocketIOOutput:
        import socketio

        manager = None
        if self.redis_url:
            from bot.channels.presence import RedisPresence
            from bot.storage.redis_lock import CLIENT_OPTIONS

            manager = socketio.AsyncRedisManager(self.redis_url, channel=self.channel,
                                                 redis_options=dict(CLIENT_OPTIONS))
            self._presence = RedisPresence(self.redis_url, self.channel + ":", manager.host_id)
        sio = socketio.AsyncServer(async_mode="aiohttp", cors_allowed_origins=self.origin_allowed,
                                   client_manager=manager, logger=False, engineio_logger=False,
                                   max_http_buffer_size=MAX_BODY,  # as an HTTP body
                                   serializer=packet_class(),  # 10,000-deep JSON: an error event
                                   transports=["websocket"] if self.workers > 1 else ["polling", "websocket"])
        sio.attach(app, socketio_path=PATH)
        presence = self._presence
        output = SocketIOOutput(sio, self.bot_event, presence)
        if presence is not None:
            app.on_startup.append(lambda _: presence.start())
            app.on_cleanup.append(lambda _: _close(manager, presence))

        async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
            claims = self._verify(auth) if self.jwt_key else None
            request = environ.get("aiohttp.request")  # engine.io's environ says 127.0.0.1 for every client
            address = client_address(getattr(request, "remote", None), environ.get("HTTP_X_FORWARDED_FOR"),
                                     self.trusted_proxies)
            await sio.save_session(sid, {"session_id": None, "claims": claims, "address": address})

        async def disconnect(sid: str, *_: Any) -> None:
            if presence is not None and self.persistence:
                session = await sio.get_session(sid)
                if session.get("session_id"):
                    await presence.leave(session["session_id"], sid)

        async def session_request(sid: str, data: Any = None) -> None:
            try:
                json_input.check(data, what="the 'session_request' payload")
            except BadRequest as exc:
                log.warning("socket.io session_request refused: %s", exc)
                await refuse(sid, str(exc), exc.status)
                return
            requested = data.get("session_id") if isinstance(data, dict) else None
            returning = isinstance(requested, str) and bool(requested.strip()) and len(requested) <= MAX_SESSION_ID
            if not returning:
                requested = uuid.uuid4().hex
            async with sio.session(sid) as session:  # it acknowledges each bot message (our widget)
                session["acks"] = isinstance(data, dict) and data.get("acks") is True
            await self._join(sio, sid, requested)
            await sio.emit("session_confirm", requested, to=sid)
            if returning and self.persistence:  # what it missed while it was away
                try:
                    dispatcher = app.get(DISPATCHER)
                    if dispatcher is not None:
                        await dispatcher.reconnected(requested, self.name)
                except Exception:
                    log.exception("socket.io session %s: the messages it missed could not be sent", requested)

        async def user_uttered(sid: str, data: Any = None) -> dict[str, Any]:
            """Handle a message; what it returns is the acknowledgement a client may ask for."""
            try:
                limiter = app.get(ADDRESS_LIMITER)
                if limiter is not None and limiter.enabled:  # the same request rate as over HTTP
                    await limiter.check(str((await sio.get_session(sid)).get("address") or "unknown"))
                message = await self._message(sio, sid, data)
            except SwitchboardError as exc:
                log.warning("socket.io %s of %s refused: %s", self.user_event, sid, exc)
                return await refuse(sid, str(exc), exc.status, getattr(exc, "retry_after", None))
            try:
                result = await on_message(message)  # its replies go out through the outbox
            except Exception as exc:
                known = exc if isinstance(exc, SwitchboardError) else unavailable(exc)
                if known is not None:  # the models still loading, a store down: nothing stored, send it again
                    log.warning("socket.io message of %s not handled: %s", message.sender_id, known)
                    return await refuse(sid, str(known), known.status, getattr(known, "retry_after", None))
                log.exception("socket.io message of conversation %s failed", message.sender_id)
                return await refuse(sid, "internal error; the server logged the details", 500)
            return {"message_id": message.message_id, "duplicate": result.duplicate}

        async def refuse(sid: str, error: str, status: int, retry_after: float | None = None) -> dict[str, Any]:
            answer: dict[str, Any] = {"error": error, "status": status}
            if retry_after is not None:
                answer["retry_after"] = retry_after
            await sio.emit("error", answer, to=sid)
            return answer

        async def too_deep(sid: str, *_: Any) -> dict[str, Any]:
            log.warning("socket.io message of %s refused: nested too deeply to decode", sid)
            return await refuse(sid, "the socket.io message is nested too deeply to read (over "
                                f"{json_input.MAX_DEPTH} levels)", 400)

        sio.on("connect", connect)
        sio.on(TOO_DEEP, too_deep)
        sio.on("disconnect", disconnect)
        sio.on("session_request", session_request)
        sio.on(self.user_event, user_uttered)
        return output

    def _verify(self, auth: Any) -> dict[str, Any]:
        import jwt
        import socketio

        token = auth.get("token") if isinstance(auth, dict) else None
        if not isinstance(token, str) or not token:
            raise socketio.exceptions.ConnectionRefusedError("a JWT is required: connect with auth {token: ...}")
        try:
            claims = jwt.decode(token, self.jwt_key, algorithms=[self.jwt_method])
        except jwt.PyJWTError as exc:
            raise socketio.exceptions.ConnectionRefusedError(f"invalid JWT: {exc}") from None
        return dict(claims)

    async def _join(self, sio: "socketio.AsyncServer", sid: str, session_id: str) -> None:
        async with sio.session(sid) as session:
            session["session_id"] = session_id
        if self.persistence:
            await sio.enter_room(sid, session_id)
            if self._presence is not None:
                await self._presence.join(session_id, sid)

    async def _message(self, sio: "socketio.AsyncServer", sid: str, data: Any) -> UserMessage:
        if not isinstance(data, dict):
            raise BadRequest(f"'{self.user_event}' needs an object {{\"message\", \"session_id\"}}")
        json_input.check(data, what=f"the '{self.user_event}' payload")  # NUL, lone surrogates, NaN, depth
        text = data.get("message")
        if not isinstance(text, str) or not text.strip():
            raise BadRequest("'message' must be a non-empty string")
        if len(text) > self.max_chars:
            raise BadRequest(f"'message' is {len(text)} characters; the limit is {self.max_chars}")
        metadata = data.get(self.metadata_key) or data.get("metadata") or {}
        if isinstance(metadata, str):  # some widgets send it as a JSON string
            metadata = json_input.loads(metadata, what="'metadata'", at="metadata")
        if not isinstance(metadata, dict):
            raise BadRequest("'metadata' must be a JSON object")
        session = await sio.get_session(sid)
        sender = sid
        if self.persistence:
            given, joined = data.get("session_id"), session.get("session_id")
            if given is not None and (not isinstance(given, str) or not given.strip() or len(given) > MAX_SESSION_ID):
                raise BadRequest(f"'session_id' must be a non-empty string of at most {MAX_SESSION_ID} characters")
            if joined is None:  # no session_request first: the message opens the session
                joined = given or sid
                await self._join(sio, sid, joined)
            elif given is not None and given != joined:
                raise BadRequest(f"'session_id' {given!r} is not this socket's session; send session_request first")
            sender = joined
        if session.get("claims") is not None:
            metadata = {**metadata, "jwt": session["claims"]}
        message_id = client_message_id(metadata)
        message = UserMessage(text=text, sender_id=sender, input_channel=self.name, metadata=metadata,
                              output_channel=self.name)
        return message if message_id is None else replace(message, message_id=message_id)


async def _close(manager: Any, presence: "RedisPresence") -> None:
    """Stop the Redis manager's listener (started at the first connection) and the presence."""
    listener = getattr(manager, "thread", None)
    if listener is not None:
        listener.cancel()
    if getattr(manager, "redis", None) is not None:
        await manager.redis.aclose()
    await presence.close()
