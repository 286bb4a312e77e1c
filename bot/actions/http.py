"""Run actions on a remote rasa-sdk action server (endpoints.yml `action_endpoint.url`)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp

from bot.actions.base import ActionResult, payload
from bot.errors import ActionError, ActionRejected

log = logging.getLogger(__name__)


class HTTPActionRunner:
    def __init__(self, url: str, *, timeout: float) -> None:
        self.url, self.timeout = url, timeout
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def run(self, name: str, tracker: dict[str, Any], domain: dict[str, Any]) -> ActionResult:
        if self._session is None:
            raise ActionError("the action runner is not started", action=name)
        body = payload(name, tracker, domain)
        try:
            for _ in range(2):  # a 449 asks for the domain once more; we always send it, so retry once
                async with self._session.post(self.url, json=body) as response:
                    if response.status == 449:
                        continue
                    data = await response.json(content_type=None) if response.content_length != 0 else {}
                    return self._result(name, response.status, data)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            raise ActionError(f"action server {self.url} failed for {name!r}: {exc!r}", action=name) from exc
        raise ActionError(f"action server kept asking for the domain for {name!r}", action=name, status=449)

    @staticmethod
    def _result(name: str, status: int, data: Any) -> ActionResult:
        if status == 200 and isinstance(data, dict):
            return ActionResult(list(data.get("events") or []), list(data.get("responses") or []))
        message = data.get("error") if isinstance(data, dict) else None
        if status == 400:
            raise ActionRejected(message or f"action {name!r} rejected execution", action=name, status=400)
        if status == 404:
            raise ActionError(f"the action server has no action {name!r}", action=name, status=404)
        raise ActionError(f"action {name!r} failed on the server ({status}): {message}", action=name, status=status)
