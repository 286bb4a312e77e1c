"""Channel interfaces. An input channel mounts its webhook (routes, start-up, clean-up) on the
app; replies go back through the output channel of the conversation's input channel, which
can also reach the conversation later, outside any request (the agent console). Replies to push
are not sent by the channels themselves: the turn writes them to the outbox and the dispatcher
(dispatch.py) sends them through the output channel, once, retrying while the platform is away."""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Protocol

from aiohttp import web

from bot.engine import TurnResult, UserMessage
from bot.errors import ConfigError, SwitchboardError

OnMessage = Callable[[UserMessage], Awaitable[TurnResult]]


class OutputChannel(Protocol):
    name: str

    async def send(self, recipient_id: str, message: dict[str, Any], *, skip: int = 0,
                   delivery_id: str | None = None) -> None:
        """Deliver one bot message ({"text", "buttons", "image", ...}) to the conversation
        `recipient_id` (the sender id its input channel gave it), in one try. A message the
        platform takes in several calls (a long text split, text then image) skips its first
        `skip` calls: they went out on an earlier try. `delivery_id`: the outbox's id of the
        message, for a client that drops what it has already shown (our widget). Raises DeliveryError."""

    # Optional, where a channel can tell: `connected(recipient_id) -> bool` (or an awaitable bool), whether the
    # customer is there to receive a message now (socket.io presence across workers, bot/channels/presence.py).


class InputChannel(Protocol):
    name: str

    def mount(self, app: web.Application, on_message: OnMessage) -> OutputChannel | None:
        """Add this channel's routes (and its start-up and clean-up) to `app`. Returns the output
        channel that reaches its conversations later, or None when it cannot push (REST)."""


class ChannelDisabled(ConfigError):
    """The channel's section in credentials.yml is incomplete (e.g. an unset secret): the
    channel is not mounted and the server says why."""


class DeliveryError(SwitchboardError):
    """The platform refused or failed a message. `permanent`: trying again cannot help (the user
    blocked the bot, no such chat); `retry_after`: seconds the platform asked us to wait;
    `parts_sent`: the calls of this message that went out before the failure (see send's skip)."""

    status = 502

    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None,
                 parts_sent: int = 0) -> None:
        super().__init__(message)
        self.permanent, self.retry_after, self.parts_sent = permanent, retry_after, parts_sent


def require(name: str, config: dict[str, Any], *keys: str) -> None:
    """Raise ChannelDisabled unless every key of `config` is a non-empty string."""
    empty = [k for k in keys if not isinstance(config.get(k), str) or not config[k].strip()]
    if empty:
        raise ChannelDisabled(
            f"credentials.yml {name}: {', '.join(empty)} {'is' if len(empty) == 1 else 'are'} empty "
            "(is the environment variable it references set?)"
        )


def parts(message: dict[str, Any]) -> tuple[str | None, list[dict[str, Any]], str | None]:
    """(text, buttons, image URL) of one bot message, with well-formed buttons only."""
    text = message.get("text") if isinstance(message.get("text"), str) else None
    buttons = [
        {"title": str(b.get("title") or b.get("payload")), "payload": str(b.get("payload") or b.get("title"))}
        for b in message.get("buttons") or []
        if isinstance(b, dict) and (b.get("title") or b.get("payload"))
    ]
    image = message.get("image") if isinstance(message.get("image"), str) else None
    return text, buttons, image


def too_long(text: str, limit: int) -> dict[str, Any] | None:
    """The bot's answer to a message over the limit (told to the customer, not stored), or None.
    Platforms cannot show an HTTP error to their user, and a 4xx would make them redeliver."""
    if len(text) <= limit:
        return None
    return {"text": f"Sorry, that message is too long for me ({len(text)} characters; the limit is {limit}). "
                    "Could you send it in shorter parts?"}
