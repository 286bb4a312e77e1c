"""Telegram through a webhook, with python-telegram-bot 22's Bot and Update.

POST /webhooks/telegram/webhook: the header X-Telegram-Bot-Api-Secret-Token must equal the
secret given to setWebhook (compared in constant time), else 401. The conversation id is the
chat id. Telegram redelivers an update until it gets a 200, so each update's id becomes the
user event's message id, stored once per conversation: a redelivery is not answered again.
Buttons become inline keyboards (a tap arrives as a callback query); long texts are split at
Telegram's 4,096-character limit. Replies go out through the outbox, one try per call: flood
control (its retry_after) and network trouble are retried later, a refusal (chat not found, the
bot blocked) is not. `switchboard telegram set-webhook` registers the URL and the secret.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable

from aiohttp import web

from bot.channels.base import DeliveryError, OnMessage, parts, require, too_long
from bot.engine import UserMessage
from bot.errors import BadRequest, Unauthorized
from bot.server.requests import json_object
from bot.settings import Settings

if TYPE_CHECKING:
    import telegram

log = logging.getLogger(__name__)
API = "https://api.telegram.org/bot"
MAX_TEXT = 4096  # UTF-16 code units, as Telegram counts them
MAX_CALLBACK_DATA = 64  # bytes
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Pieces of at most `limit` UTF-16 units, cut at a paragraph, line or word break when one
    lies in the second half of a piece; joined, the pieces give back the text."""
    pieces: list[str] = []
    while _units(text) > limit:
        cut = len(text)
        while _units(text[:cut]) > limit:  # the longest prefix that fits
            cut -= max(1, (_units(text[:cut]) - limit) // 2)
        for sep in ("\n\n", "\n", " "):
            at = text.rfind(sep, cut // 2, cut)
            if at > 0:
                cut = at + len(sep)
                break
        pieces.append(text[:cut])
        text = text[cut:]
    return [p for p in [*pieces, text] if p]


def _seconds(value: int | float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class TelegramOutput:
    name = "telegram"

    def __init__(self, bot: "telegram.Bot") -> None:
        self.bot = bot

    async def send(self, recipient_id: str, message: dict[str, Any], *, skip: int = 0,
                   delivery_id: str | None = None) -> None:
        from telegram import InlineKeyboardButton, InlineKeyboardMarkup

        text, buttons, image = parts(message)
        markup = None
        if buttons:
            markup = InlineKeyboardMarkup([[InlineKeyboardButton(b["title"], callback_data=_callback_data(b))]
                                           for b in buttons])
        pieces = split_text(text) if text else (["\u2063"] if markup else [])  # buttons need some text
        calls: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
            ("sendMessage", lambda p=piece, m=markup if i == len(pieces) - 1 else None: self.bot.send_message(
                chat_id=recipient_id, text=p, reply_markup=m)) for i, piece in enumerate(pieces)]
        if image:
            calls.append(("sendPhoto", lambda: self.bot.send_photo(chat_id=recipient_id, photo=image)))
        for part, (method, call) in enumerate(calls):
            if part >= skip:  # the first `skip` went out on an earlier try
                await self._call(method, recipient_id, call, part)

    async def _call(self, method: str, chat_id: str, call: Callable[[], Awaitable[Any]], part: int) -> Any:
        """One try; what Telegram may take later (flood control, network trouble) is retried by the outbox."""
        from telegram.error import BadRequest as TgBadRequest
        from telegram.error import NetworkError, RetryAfter, TelegramError

        try:
            return await call()
        except RetryAfter as exc:
            wait = _seconds(exc.retry_after)
            log.warning("telegram %s to chat %s: flood control, retry after %.0fs", method, chat_id, wait)
            raise DeliveryError(f"telegram {method} to chat {chat_id}: flood control", retry_after=wait,
                                parts_sent=part) from exc
        except TgBadRequest as exc:  # our request is wrong (e.g. chat not found): retrying cannot help
            log.error("telegram %s to chat %s refused: %s", method, chat_id, exc)
            raise DeliveryError(f"telegram {method} to chat {chat_id} refused: {exc}", permanent=True,
                                parts_sent=part) from exc
        except NetworkError as exc:
            log.warning("telegram %s to chat %s failed: %s", method, chat_id, exc)
            raise DeliveryError(f"telegram {method} to chat {chat_id} failed: {exc}", parts_sent=part) from exc
        except TelegramError as exc:  # forbidden (the user blocked the bot), invalid token, ...
            log.error("telegram %s to chat %s failed: %s", method, chat_id, exc)
            raise DeliveryError(f"telegram {method} to chat {chat_id} failed: {exc}", permanent=True,
                                parts_sent=part) from exc


def _callback_data(button: dict[str, str]) -> str:
    payload = button["payload"]
    if len(payload.encode()) <= MAX_CALLBACK_DATA:
        return payload
    log.warning("button payload %r is over Telegram's 64 bytes; the button sends its title instead", payload)
    return button["title"].encode()[:MAX_CALLBACK_DATA].decode(errors="ignore")


def make_bot(config: dict[str, Any]) -> "telegram.Bot":
    from telegram import Bot

    return Bot(config["access_token"], base_url=str(config.get("base_url") or API))


class TelegramInput:
    name = "telegram"

    def __init__(self, config: dict[str, Any], settings: Settings) -> None:
        require(self.name, config, "access_token", "secret_token")
        self.config, self.secret = config, str(config["secret_token"])
        self.start_payload = str(config.get("start_payload") or "/greet")
        self.max_chars = settings.max_message_chars

    def mount(self, app: web.Application, on_message: OnMessage) -> TelegramOutput:
        bot = make_bot(self.config)
        output = TelegramOutput(bot)

        async def lifecycle(_: web.Application) -> AsyncIterator[None]:
            try:
                await bot.initialize()  # getMe: checks the token
                log.info("telegram bot @%s ready", bot.username)
            except Exception as exc:  # the webhook still answers; sending retries per message
                log.error("telegram getMe failed (is the token right, is the Bot API reachable?): %s", exc)
            yield
            await bot.shutdown()

        async def health(_: web.Request) -> web.Response:
            return web.json_response({"status": "ok"})

        async def webhook(request: web.Request) -> web.Response:
            given = request.headers.get(SECRET_HEADER, "")
            if not hmac.compare_digest(given.encode(), self.secret.encode()):
                raise Unauthorized(f"missing or wrong {SECRET_HEADER} header")
            message, callback_id = self._parse(await json_object(request), bot)
            if message is None:
                return web.json_response({"ok": True, "ignored": True})
            if callback_id is not None:
                await self._answer_callback(bot, callback_id)
            notice = too_long(message.text, self.max_chars)
            if notice is not None:
                log.warning("telegram update %s from chat %s: message over %d characters, not handled",
                            message.message_id, message.sender_id, self.max_chars)
                await output.send(message.sender_id, notice)
                return web.json_response({"ok": True, "too_long": True})
            result = await on_message(message)  # NotReady -> 503: Telegram delivers it again later
            return web.json_response({"ok": True, "duplicate": result.duplicate})  # replies: the outbox

        app.cleanup_ctx.append(lifecycle)
        app.add_routes([web.get("/webhooks/telegram/", health), web.post("/webhooks/telegram/webhook", webhook)])
        return output

    def _parse(self, body: dict[str, Any], bot: "telegram.Bot") -> tuple[UserMessage | None, str | None]:
        """The user message of an update (None for updates the bot does not answer) and the
        callback query id to acknowledge."""
        from telegram import Update

        if not isinstance(body.get("update_id"), int) or isinstance(body.get("update_id"), bool):
            raise BadRequest("a Telegram update needs an integer 'update_id'")
        try:
            update = Update.de_json(body, bot)
        except (KeyError, TypeError, ValueError, OverflowError, OSError) as exc:  # OverflowError, OSError: a date
            # past what the platform's time_t holds
            raise BadRequest(f"not a valid Telegram update: {exc}") from exc
        callback_id, msg = None, update.message
        if update.callback_query is not None:
            query = update.callback_query
            callback_id, msg = query.id, query.message  # type: ignore[assignment]
            text = query.data
        else:
            text = (msg.text or msg.caption) if msg is not None else None
        if msg is None or not text or not text.strip():
            return None, callback_id
        if text.strip().split("@")[0] == "/start":
            text = self.start_payload
        user = update.effective_user
        metadata = {"telegram": {"chat_id": msg.chat.id, "chat_type": msg.chat.type,
                                 "user_id": user.id if user else None, "message_id": msg.message_id,
                                 "update_id": update.update_id}}
        return UserMessage(text=text, sender_id=str(msg.chat.id), input_channel=self.name, metadata=metadata,
                           message_id=f"telegram-update-{update.update_id}", output_channel=self.name), callback_id

    @staticmethod
    async def _answer_callback(bot: "telegram.Bot", callback_id: str) -> None:
        try:
            await bot.answer_callback_query(callback_id)  # stops the button's spinner
        except Exception as exc:
            log.warning("telegram answerCallbackQuery %s failed: %s", callback_id, exc)


async def set_webhook(config: dict[str, Any], url: str) -> dict[str, Any]:
    """Register `url` with Telegram, with the secret token, for messages and button taps."""
    require("telegram", config, "access_token", "secret_token")
    async with make_bot(config) as bot:
        await bot.set_webhook(url=url, secret_token=config["secret_token"],
                              allowed_updates=["message", "callback_query"])
        info = await bot.get_webhook_info()
    return {"url": info.url, "pending_update_count": info.pending_update_count,
            "allowed_updates": list(info.allowed_updates or [])}


def set_webhook_command(settings: Settings, url: str | None) -> int:
    """`switchboard telegram set-webhook [--url URL]`."""
    import sys

    config = settings.channels.get("telegram")
    if config is None:
        print("credentials.yml has no telegram section", file=sys.stderr)
        return 2
    url = url or config.get("webhook_url")
    if not url:
        print("give --url https://<your host>/webhooks/telegram/webhook (or telegram.webhook_url)", file=sys.stderr)
        return 2
    if not str(url).rstrip("/").endswith("/webhooks/telegram/webhook"):
        print(f"warning: {url} is not the bot's webhook path /webhooks/telegram/webhook", file=sys.stderr)
    from telegram.error import TelegramError

    try:
        info = asyncio.run(set_webhook(config, str(url)))
    except TelegramError as exc:
        print(f"error: Telegram refused the webhook: {exc}", file=sys.stderr)
        return 1
    print(f"webhook set: {info['url']} (updates: {', '.join(info['allowed_updates'])}; "
          f"pending: {info['pending_update_count']})")
    return 0
