"""The agent console at /console: agents see the conversations the bot handed over, with the
bot's reasons, reply through the customer's channel, hand back, close, and correct the bot."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, AsyncIterator, Sequence

from aiohttp import web

from bot.channels.dispatch import DISPATCHER
from bot.console.auth import LoginLimiter
from bot.console.keys import CONSOLE, HUB, LIMITER
from bot.console.live import LiveHub
from bot.console.routes import STATIC, routes
from bot.console.service import Console
from bot.console.transcript import handoff_of, queue_item
from bot.storage.console import ConsoleStore
from bot.storage.outbox import OutboxStore
from bot.tracker import State

if TYPE_CHECKING:
    from bot.channels.base import OutputChannel
    from bot.runtime import Runtime


def mount_console(app: web.Application, runtime: "Runtime", outputs: "dict[str, OutputChannel]") -> Console:
    """Add the console's page, API and live updates to `app`; every stored change of a
    conversation is published to the open consoles."""
    url = runtime.settings.lock_store_url
    # the workers of one bot share its database: its URL names their channel
    namespace = hashlib.sha256(runtime.settings.database_url.encode()).hexdigest()[:16]
    hub = LiveHub(url if url and url.startswith(("redis://", "rediss://", "unix://")) else None, namespace)
    console = Console(runtime, outputs, hub, ConsoleStore(runtime.store.engine), OutboxStore(runtime.store.engine))
    app[CONSOLE], app[HUB], app[LIMITER] = console, hub, LoginLimiter()
    app.add_routes(routes)
    app.router.add_static("/console/static", STATIC)

    async def changed(cid: str, events: Sequence[dict], state: State) -> None:
        if not hub.heard:  # no console open: what would be shown is read when one opens
            return
        await hub.publish("conversation", {"id": cid, "queue_item": queue_item(cid, state), "handoff": handoff_of(state),
                                           "items": await console.transcript(cid, list(events))})

    async def lifecycle(_: web.Application) -> AsyncIterator[None]:
        await hub.start()
        runtime.store.listeners.append(changed)
        dispatcher = app.get(DISPATCHER)
        if dispatcher is not None:  # whether what agents and the bot pushed arrived
            dispatcher.listeners.append(console.delivery_changed)
        yield
        if dispatcher is not None:
            dispatcher.listeners.remove(console.delivery_changed)
        runtime.store.listeners.remove(changed)
        await hub.close()

    app.cleanup_ctx.append(lifecycle)
    return console
