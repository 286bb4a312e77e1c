"""Slack's Events API through slack-bolt's AsyncApp, mounted on our aiohttp app.

POST /webhooks/slack/webhook takes events and button clicks (set it as both the Event
Subscriptions and the Interactivity request URL). The signature and timestamp are checked before
bolt reads the body (401 otherwise; a signed body bolt cannot read is a 400), and bolt answers
url_verification. Direct messages and mentions are answered in
their thread; buttons are Block Kit buttons. The conversation id is the Slack user id, as in
Rasa; where to answer (channel, thread) is kept in the user event's metadata, so a message
sent later (the outbox's retries, the agent console) finds its way from the tracker store, from
any worker. The turn runs before Slack gets its answer: a failure (e.g. models still loading) makes
Slack retry, and a retry of a message already handled is not answered again (its id, built from
the channel and the message's ts, is stored once per conversation). Replies go out through the
outbox: a rate limit or an outage is retried later, a refusal (channel_not_found) is not.
"""

from __future__ import annotations

import json
import logging
import re
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.channels.base import DeliveryError, OnMessage, parts, require, too_long
from bot.engine import UserMessage
from bot.errors import BadRequest, NotFound, Unauthorized
from bot import json_input
from bot.server.keys import RUNTIME
from bot.server.middleware import error_response
from bot.settings import Settings

if TYPE_CHECKING:
    from multidict import CIMultiDictProxy
    from slack_sdk.signature import SignatureVerifier
    from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)
MAX_SECTION = 3000
_MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")
# chat.postMessage errors that no retry can fix
PERMANENT = {"channel_not_found", "not_in_channel", "is_archived", "invalid_auth", "account_inactive",
             "token_revoked", "no_permission", "missing_scope", "msg_too_long", "invalid_blocks", "restricted_action",
             "cannot_dm_bot", "user_not_found", "not_authed"}


def escape(text: str) -> str:
    """Slack's mrkdwn needs &, < and > escaped; everything else stays as the bot wrote it."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def blocks_for(message: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]] | None]]:
    """One bot message as chat.postMessage (text, blocks) pairs; buttons become Block Kit."""
    text, buttons, image = parts(message)
    posts: list[tuple[str, list[dict[str, Any]] | None]] = []
    if buttons:
        elements = [{"type": "button", "text": {"type": "plain_text", "text": b["title"][:75]},
                     "value": b["payload"][:2000], "action_id": f"switchboard_button_{i}"}
                    for i, b in enumerate(buttons[:25])]
        actions = {"type": "actions", "block_id": "switchboard_buttons", "elements": elements}
        if text and len(text) <= MAX_SECTION:
            section = {"type": "section", "text": {"type": "mrkdwn", "text": escape(text)}}
            posts.append((escape(text), [section, actions]))
        else:
            if text:
                posts.append((escape(text), None))
            posts.append((" / ".join(b["title"] for b in buttons), [actions]))
    elif text:
        posts.append((escape(text), None))
    if image:
        posts.append(("image", [{"type": "image", "image_url": image, "alt_text": "image"}]))
    return posts


class SlackOutput:
    name = "slack"

    def __init__(self, client: "AsyncWebClient", app: web.Application) -> None:
        self.client, self.app = client, app

    async def send(self, recipient_id: str, message: dict[str, Any], *, skip: int = 0,
                   delivery_id: str | None = None) -> None:
        """To where the user last wrote to the bot, found in the tracker store."""
        await self.post(await self.address(recipient_id), message, skip=skip)

    async def address(self, conversation_id: str) -> dict[str, Any]:
        store = self.app[RUNTIME].store
        recent = (await store.load(conversation_id, window=100)).recent_events
        found = _last_address(recent) or _last_address(await store.events(conversation_id))
        if found is None:
            raise NotFound(f"conversation {conversation_id!r} has no Slack message to answer")
        return found

    async def post(self, address: dict[str, Any], message: dict[str, Any], *, skip: int = 0) -> None:
        """One try: the outbox retries what may pass (rate limits, outages, network trouble)."""
        from slack_sdk.errors import SlackApiError, SlackClientError

        for part, (text, blocks) in enumerate(blocks_for(message)):
            if part < skip:
                continue  # went out on an earlier try
            try:
                await self.client.chat_postMessage(channel=address["channel"], text=text, blocks=blocks,
                                                   thread_ts=address.get("thread_ts"))
            except SlackApiError as exc:
                response = exc.response
                error = response.get("error") if response is not None else str(exc)
                wait = response.headers.get("Retry-After") if response is not None and response.headers else None
                log.error("slack chat.postMessage to %s (thread %s) failed: %s",
                          address["channel"], address.get("thread_ts"), error)
                raise DeliveryError(f"slack chat.postMessage to {address['channel']} failed: {error}",
                                    permanent=error in PERMANENT, parts_sent=part,
                                    retry_after=float(wait) if wait and str(wait).isdigit() else None) from exc
            except (SlackClientError, OSError, TimeoutError) as exc:
                log.error("slack chat.postMessage to %s failed: %s", address["channel"], exc)
                raise DeliveryError(f"slack chat.postMessage to {address['channel']} failed: {exc}",
                                    parts_sent=part) from exc


class SlackInput:
    name = "slack"

    def __init__(self, config: dict[str, Any], settings: Settings) -> None:
        require(self.name, config, "slack_token", "slack_signing_secret")
        self.token, self.secret = str(config["slack_token"]), str(config["slack_signing_secret"])
        self.base_url = str(config.get("base_url") or "https://slack.com/api/")
        self.max_chars = settings.max_message_chars

    def mount(self, app: web.Application, on_message: OnMessage) -> SlackOutput:
        from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
        from slack_bolt.async_app import AsyncApp
        from slack_sdk.signature import SignatureVerifier
        from slack_sdk.web.async_client import AsyncWebClient

        # one try, 10 s at most (it runs under the conversation's lock): the outbox retries, with back-off
        client = AsyncWebClient(token=self.token, base_url=self.base_url, timeout=10, retry_handlers=[])
        bolt = AsyncApp(signing_secret=self.secret, client=client,
                        process_before_response=True, raise_error_for_unhandled_request=False)
        output = SlackOutput(client, app)
        verifier = SignatureVerifier(self.secret)

        async def turn(text: str, user: str, address: dict[str, Any], message_id: str) -> None:
            text = _MENTION.sub("", text).strip()
            if not text or not user:
                return
            notice = too_long(text, self.max_chars)
            if notice is not None:
                log.warning("slack message %s from %s: over %d characters, not handled", message_id, user,
                            self.max_chars)
                await output.post(address, notice)
                return
            await on_message(UserMessage(text=text, sender_id=user, input_channel=self.name,  # replies: the outbox
                                         metadata={"slack": address}, message_id=message_id, output_channel=self.name))

        async def on_message_event(event: dict[str, Any], body: dict[str, Any]) -> None:
            if event.get("subtype") not in (None, "file_share") or event.get("bot_id"):
                return  # edits, joins, other bots' messages
            if event.get("channel_type") != "im":
                return  # in channels the bot answers mentions (app_mention), not every message
            await turn(str(event.get("text") or ""), str(event.get("user") or ""), _address(event, body, thread=False),
                       f"slack-{event.get('channel')}-{event.get('ts')}")

        async def on_mention(event: dict[str, Any], body: dict[str, Any]) -> None:
            if event.get("bot_id"):
                return
            await turn(str(event.get("text") or ""), str(event.get("user") or ""), _address(event, body, thread=True),
                       f"slack-{event.get('channel')}-{event.get('ts')}")

        async def on_button(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
            await ack()
            container = body.get("container") or {}
            posted = body.get("message") or {}
            channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
            address = {"channel": channel, "thread_ts": posted.get("thread_ts") or container.get("thread_ts"),
                       "team": (body.get("team") or {}).get("id"), "user": (body.get("user") or {}).get("id")}
            await turn(str(action.get("value") or ""), str(address["user"] or ""), address,
                       f"slack-action-{action.get('action_ts')}")

        async def ignore(ack: Any) -> None:
            await ack()  # events the bot does not answer still get their 200

        bolt.event("message")(on_message_event)
        bolt.event("app_mention")(on_mention)
        bolt.action(re.compile(r"^switchboard_button_\d+$"))(on_button)
        bolt.event(re.compile(r".*"))(ignore)

        async def webhook(request: web.Request) -> web.Response:
            # checked before bolt sees the request: bolt reads the body first, and fails on one it cannot read
            raw = await request.read()
            try:
                raw.decode("utf-8")  # Slack signs UTF-8: anything else is refused before its signature is read
            except UnicodeDecodeError as exc:
                raise BadRequest(f"the Slack request is not valid UTF-8: {exc}") from None
            if not _signed(verifier, raw, request.headers):
                raise Unauthorized("slack: missing, wrong or expired signature")
            checked_body(raw, request.content_type)  # as strict as any other body: 400
            try:
                incoming = await to_bolt_request(request)
            except (ValueError, TypeError, AttributeError, KeyError, IndexError) as exc:
                raise BadRequest(f"slack: not an event or interaction bolt can read ({type(exc).__name__})") from exc
            answer = await bolt.async_dispatch(incoming)
            if answer.status >= 400:  # bolt's {"error"} in the shape of every other error answer
                return error_response(answer.status, f"slack: {_bolt_error(answer.body)}")
            return await to_aiohttp_response(answer)

        async def health(_: web.Request) -> web.Response:
            return web.json_response({"status": "ok"})

        app.add_routes([web.get("/webhooks/slack/", health), web.post("/webhooks/slack/webhook", webhook)])
        return output


def checked_body(raw: bytes, content_type: str) -> None:
    """A Slack request as strict as any other body (bot/json_input.py): JSON for events, a
    form whose `payload` field is JSON for button clicks. BadRequest (400) otherwise."""
    from urllib.parse import parse_qsl

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"the Slack request is not valid UTF-8: {exc}") from None
    if content_type != "application/x-www-form-urlencoded" and not text.startswith("payload="):
        json_input.loads(text, what="the Slack event")
        return
    for name, value in parse_qsl(text, keep_blank_values=True):
        json_input.check_text(name, "a form field's name")
        if name == "payload":
            json_input.loads(value, what="the Slack form's 'payload'")
        else:
            json_input.check_text(value, f"the Slack form's {name!r}")


def _signed(verifier: "SignatureVerifier", body: bytes, headers: "CIMultiDictProxy[str]") -> bool:
    """Slack's signature of the request: its timestamp within 5 minutes, its HMAC right."""
    try:
        return verifier.is_valid(body, headers.get("X-Slack-Request-Timestamp"), headers.get("X-Slack-Signature"))
    except (ValueError, TypeError):  # a timestamp that is no number; a signature that is not ASCII
        return False


def _bolt_error(body: str) -> str:
    """The reason in a refusal of bolt's (`{"error": "invalid request"}`), or its body as it is."""
    try:
        reason = json.loads(body).get("error") if body else None
    except (ValueError, AttributeError):
        reason = None
    return str(reason or body or "the request was refused")


def _address(event: dict[str, Any], body: dict[str, Any], *, thread: bool) -> dict[str, Any]:
    """Where the answer goes: the event's channel, in its thread (a mention starts one)."""
    thread_ts = event.get("thread_ts") or (event.get("ts") if thread else None)
    return {"channel": event.get("channel"), "thread_ts": thread_ts, "team": body.get("team_id"),
            "user": event.get("user")}


def _last_address(events: list[dict[str, Any]]) -> dict[str, Any] | None:
    for event in reversed(events):
        slack = (event.get("metadata") or {}).get("slack") if event.get("event") == "user" else None
        if isinstance(slack, dict) and slack.get("channel"):
            return slack
    return None
