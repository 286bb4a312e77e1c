"""python-socketio's packet class, for the socket.io channel, with JSON decoding that cannot blow
up on depth: a payload nested deeper than Python's json reads (RecursionError, near 1,000
levels) decodes as the event TOO_DEEP, which the channel answers with an error event, instead
of an exception (and its traceback in the log) inside python-socketio. Anything shallower
reaches the channel's handlers, which check it like an HTTP body (bot/json_input.py)."""

from __future__ import annotations

import json
from typing import Any

TOO_DEEP = "switchboard_too_deep"


class _DepthSafeJson:
    """The `json` a python-socketio packet class uses: `dumps` and `loads`."""

    @staticmethod
    def dumps(value: Any, **kwargs: Any) -> str:
        return json.dumps(value, **kwargs)

    @staticmethod
    def loads(text: str | bytes, **kwargs: Any) -> Any:
        from engineio import json as engineio_json  # its integer limit, as python-socketio reads packets

        try:
            return engineio_json.loads(text, **kwargs)
        except RecursionError:
            return [TOO_DEEP]  # an event (or acknowledgement) with no data


def packet_class() -> type:
    """The class to pass as AsyncServer(serializer=...): python-socketio's Packet, our JSON."""
    from socketio.packet import Packet

    return type("DepthSafePacket", (Packet,), {"json": _DepthSafeJson, "__module__": __name__})
