"""Input/output channels. Adding one = its module + one line in `registry` + its test.

Each factory takes the channel's credentials.yml section and the settings, imports its SDK
only when called (a channel that is not configured costs nothing) and raises ChannelDisabled
when its secrets are unset."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable

from bot.channels.base import ChannelDisabled, InputChannel, OnMessage, OutputChannel
from bot.errors import ConfigError
from bot.settings import Settings

if TYPE_CHECKING:
    from aiohttp import web

log = logging.getLogger(__name__)

Factory = Callable[[dict[str, Any], Settings], InputChannel]


def _rest(config: dict[str, Any], settings: Settings) -> InputChannel:
    from bot.channels.rest import RestInput

    return RestInput()


def _callback(config: dict[str, Any], settings: Settings) -> InputChannel:
    from bot.channels.callback import CallbackInput

    return CallbackInput(config)


def _socketio(config: dict[str, Any], settings: Settings) -> InputChannel:
    from bot.channels.socketio import SocketIOInput

    return SocketIOInput(config, settings)


def _slack(config: dict[str, Any], settings: Settings) -> InputChannel:
    from bot.channels.slack import SlackInput

    return SlackInput(config, settings)


def _telegram(config: dict[str, Any], settings: Settings) -> InputChannel:
    from bot.channels.telegram import TelegramInput

    return TelegramInput(config, settings)


# channel name (as in credentials.yml) -> factory
registry: dict[str, Factory] = {
    "rest": _rest,
    "callback": _callback,
    "socketio": _socketio,
    "slack": _slack,
    "telegram": _telegram,
}


def mount_channels(
    app: "web.Application", settings: Settings, on_message: OnMessage, names: tuple[str, ...] | None = None
) -> "dict[str, OutputChannel]":
    """Mount the channels `names` (default: every section of credentials.yml) and return the
    output channels by name. A channel with unset secrets is skipped with a log line saying why."""
    outputs: dict[str, OutputChannel] = {}
    for name in names if names is not None else tuple(settings.channels):
        factory = registry.get(name)
        if factory is None:
            if names is not None:
                raise ConfigError(f"unknown channel {name!r}; known: {', '.join(registry)}")
            log.warning("credentials.yml names channel %r, which Switchboard does not have (known: %s); ignored",
                        name, ", ".join(registry))
            continue
        try:
            channel = factory(settings.channels.get(name, {}), settings)
        except ChannelDisabled as exc:
            log.warning("channel %s is not mounted: %s", name, exc)
            continue
        output = channel.mount(app, on_message)
        if output is not None:
            outputs[name] = output
        log.info("channel %s mounted", name)
    return outputs
