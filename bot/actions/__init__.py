"""Running custom actions: one payload (rasa-sdk's action-server protocol), two transports."""

from __future__ import annotations

from bot.actions.base import ActionResult, ActionRunner
from bot.settings import Settings


def create_runner(settings: Settings) -> ActionRunner:
    if settings.action_endpoint:
        from bot.actions.http import HTTPActionRunner

        return HTTPActionRunner(settings.action_endpoint, timeout=settings.action_timeout)
    from bot.actions.in_process import InProcessActionRunner

    return InProcessActionRunner(settings.actions_package, timeout=settings.action_timeout)


__all__ = ["ActionResult", "ActionRunner", "create_runner"]
