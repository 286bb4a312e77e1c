"""The action-runner interface."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

RASA_PROTOCOL_VERSION = "3.6.21"  # the Rasa version whose action-server protocol we speak


@dataclass(frozen=True)
class ActionResult:
    events: list[dict[str, Any]] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)


def payload(name: str, tracker: dict[str, Any], domain: dict[str, Any]) -> dict[str, Any]:
    """The body rasa-sdk's action server expects at POST /webhook."""
    return {"next_action": name, "sender_id": tracker["sender_id"], "tracker": tracker, "domain": domain,
            "version": RASA_PROTOCOL_VERSION}


class ActionRunner(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def run(self, name: str, tracker: dict[str, Any], domain: dict[str, Any]) -> ActionResult:
        """Run one action. Raises ActionRejected (let another route answer) or ActionError."""
