"""Run actions inside the bot process through rasa-sdk's own ActionExecutor."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from bot.actions.base import ActionResult, payload
from bot.errors import ActionError, ActionRejected, ConfigError

log = logging.getLogger(__name__)


class InProcessActionRunner:
    def __init__(self, package: str, *, timeout: float) -> None:
        self.package, self.timeout = package, timeout
        self._executor: Any = None

    async def start(self) -> None:
        from rasa_sdk.executor import ActionExecutor

        executor = ActionExecutor()
        try:
            executor._import_submodules(self.package)  # import errors surface here, not as sys.exit
        except ImportError as exc:
            raise ConfigError(f"cannot import the actions package {self.package!r}: {exc}") from exc
        executor.register_package(self.package)
        self._executor = executor
        log.info("actions in process: %s", ", ".join(sorted(executor.actions)) or "none")

    async def close(self) -> None:
        self._executor = None

    @property
    def names(self) -> list[str]:
        return sorted(self._executor.actions) if self._executor else []

    async def run(self, name: str, tracker: dict[str, Any], domain: dict[str, Any]) -> ActionResult:
        from rasa_sdk.interfaces import ActionExecutionRejection, ActionNotFoundException

        if self._executor is None:
            raise ActionError("the action runner is not started", action=name)
        try:
            result = await asyncio.wait_for(self._executor.run(payload(name, tracker, domain)), self.timeout)
        except ActionNotFoundException as exc:
            raise ActionError(f"no action named {name!r} in {self.package!r}", action=name, status=404) from exc
        except ActionExecutionRejection as exc:
            raise ActionRejected(str(exc), action=name, status=400) from exc
        except asyncio.TimeoutError as exc:
            raise ActionError(f"action {name!r} took longer than {self.timeout}s", action=name) from exc
        except Exception as exc:  # an action's own bug: the engine escalates, the turn goes on
            log.exception("action %s crashed", name)
            raise ActionError(f"action {name!r} failed: {exc}", action=name, status=500) from exc
        if result is None:
            return ActionResult()
        return ActionResult(list(result.events), list(result.responses))
