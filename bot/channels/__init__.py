"""Input/output channels. Adding one = its module + one line in `registry` + its test."""

from __future__ import annotations

from typing import Callable

from bot.channels.base import InputChannel


def _rest() -> InputChannel:
    from bot.channels.rest import RestInput

    return RestInput()


# channel name (as in credentials.yml) -> factory; imported lazily so a missing optional SDK
# only matters for the channel that needs it
registry: dict[str, Callable[[], InputChannel]] = {
    "rest": _rest,
}
