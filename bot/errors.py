"""Typed errors. The HTTP layer maps each one to a status in one place (bot/server/errors.py)."""

from __future__ import annotations


class SwitchboardError(Exception):
    """Base class of every error Switchboard raises on purpose."""

    status = 500


class BadRequest(SwitchboardError):
    """The client sent something we cannot accept (bad JSON, missing field, ...)."""

    status = 400


class InvalidEvent(BadRequest):
    """An event posted to the tracker API is malformed."""


class Unauthorized(SwitchboardError):
    status = 401


class Forbidden(SwitchboardError):
    status = 403


class NotFound(SwitchboardError):
    status = 404


class Conflict(SwitchboardError):
    """The request does not fit the current state (e.g. another agent has the conversation)."""

    status = 409


class TooManyRequests(SwitchboardError):
    status = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PayloadTooLarge(SwitchboardError):
    status = 413


class NotReady(SwitchboardError):
    """A model or store is not loaded yet: try again in `retry_after` seconds (the Retry-After header)."""

    status = 503

    def __init__(self, message: str, *, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StoreUnavailable(NotReady):
    """A store the bot needs (`database` or `redis`) does not answer: an outage or a restart,
    nothing the request did wrong. Nothing of the request was stored; it can be sent again."""

    def __init__(self, store: str, *, retry_after: int = 2) -> None:
        label = "Redis" if store == "redis" else f"the {store}"
        super().__init__(f"{label} is unavailable (restarting or unreachable); nothing was stored, "
                         f"try again in {retry_after} s", retry_after=retry_after)
        self.store = store


class ConfigError(SwitchboardError):
    """The bot project or settings are invalid; raised at start-up, never inside a turn."""


class ActionError(SwitchboardError):
    """A custom action failed or its server answered with an error."""

    def __init__(self, message: str, *, action: str, status: int | None = None) -> None:
        super().__init__(message)
        self.action = action
        self.http_status = status


class ActionRejected(ActionError):
    """The action server answered 400: the action refuses to run now."""
