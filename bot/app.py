"""create_app(settings) -> aiohttp Application. The stores open and the models load in the
background after start-up (what fails is retried), so /health answers (503) while they load and
the server is ready when it says so."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, AsyncIterator

from aiohttp import web

from bot.channels import mount_channels
from bot.channels.dispatch import DISPATCHER, Dispatcher
from bot.console import mount_console
from bot.engine import TurnResult, UserMessage
from bot.reminders import ReminderScheduler
from bot.reminders import payload as reminder_payload
from bot.runtime import Runtime
from bot.server import api, dialogue_api, knowledge_api, openapi, pages, privacy_api
from bot.server.keys import ADDRESS_LIMITER, OUTPUTS, RUNTIME, SETTINGS, TURN_ADMISSION
from bot.server.limits import AddressLimiter, RateLimiter, TurnAdmission
from bot.server.middleware import auth, checked_url, cors, errors, limits
from bot.server.requests import MAX_BODY
from bot.server.shared_limits import SharedAddressLimiter, rate_prefix
from bot.settings import Settings
from bot.storage.outbox import OutboxStore
from bot.storage.redis_lock import RedisLockStore

log = logging.getLogger(__name__)


def create_app(
    settings: Settings, *, channels: tuple[str, ...] | None = None, wait_for_models: bool = False
) -> web.Application:
    """`channels`: the channels to mount (default: those of the project's credentials.yml)."""
    app = web.Application(middlewares=[errors, cors, limits, checked_url, auth], client_max_size=MAX_BODY)
    runtime = Runtime.create(settings)
    app[SETTINGS] = settings
    app[RUNTIME] = runtime
    app[ADDRESS_LIMITER] = _address_limiter(settings, runtime)
    admission = app[TURN_ADMISSION] = TurnAdmission(settings.max_waiting_turns)

    async def on_message(message: UserMessage) -> TurnResult:
        """Every channel's messages: a conversation with too many waiting already is refused (429)."""
        with admission.admit(message.sender_id):
            return await runtime.require_engine().handle(message)

    app[OUTPUTS] = mount_channels(app, settings, on_message, channels)
    dispatcher = app[DISPATCHER] = Dispatcher(OutboxStore(runtime.store.engine), runtime.locks, app[OUTPUTS])
    runtime.store.listeners.append(dispatcher.on_events)  # delivers what an append wrote to the outbox
    app.add_routes(api.routes)
    app.add_routes(dialogue_api.routes)
    app.add_routes(knowledge_api.routes)
    app.add_routes(privacy_api.routes)
    app.add_routes(openapi.routes)
    app.add_routes(pages.routes(widget="socketio" in app[OUTPUTS]))
    mount_console(app, runtime, app[OUTPUTS])

    async def fire_reminder(cid: str, intent: str, entities: dict[str, Any], channel: str | None, *,
                            kill_after: float | None) -> list[dict[str, Any]] | None:
        engine = runtime.require_engine()
        if kill_after is not None and any(
                e.get("event") == "user" and float(e.get("timestamp") or 0) > kill_after
                and not (e.get("metadata") or {}).get("reminder") for e in await runtime.store.events(cid)):
            return None
        message = UserMessage(reminder_payload(intent, entities), cid, input_channel=channel or "reminder",
                              metadata={"reminder": True}, output_channel=channel if channel in app[OUTPUTS] else None)
        return (await engine.handle(message)).replies

    scheduler = ReminderScheduler(runtime.store.engine, fire_reminder)
    runtime.store.listeners.append(scheduler.on_events)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        if wait_for_models:  # tests and scripts: a failure is raised at once
            await runtime.open()
            loading = asyncio.create_task(runtime.load_models())
        else:  # a server: answers 503 (with Retry-After) while it loads, retries what fails
            loading = asyncio.create_task(runtime.keep_loading())
            loading.add_done_callback(_report)
        # reminders fire, and the outbox is delivered, once the stores are open and the bot can answer

        def ready(task: "asyncio.Task[None]") -> None:
            if not task.cancelled() and task.exception() is None:
                dispatcher.start()
                scheduler.start()

        loading.add_done_callback(ready)
        if wait_for_models:
            await loading
        yield
        if not loading.done():
            loading.cancel()
        await scheduler.stop()
        await dispatcher.stop()
        await runtime.close()

    app.cleanup_ctx.append(lifecycle)
    return app


def _report(task: "asyncio.Task[None]") -> None:
    if task.cancelled():
        return
    if task.exception() is not None:
        log.error("the bot could not load its models: %s", task.exception())
    else:
        log.info("the bot is ready")


def _address_limiter(settings: Settings, runtime: Runtime) -> RateLimiter:
    """Per address request rates: in the lock store's Redis when there is one (the workers count
    together), else in this process."""
    local = AddressLimiter(settings.rate_limit, settings.rate_limit_burst)
    if isinstance(runtime.locks, RedisLockStore):
        return SharedAddressLimiter(local, runtime.locks.client, rate_prefix(runtime.locks.prefix))
    return local
