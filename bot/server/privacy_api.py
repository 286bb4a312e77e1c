"""DELETE /conversations/{id}: one customer's data removed everywhere Switchboard keeps it (the
conversation's events and snapshot, its message ids and replies, outbox, reminders, agents'
corrections, and knowledge entries approved from it: bot/storage/privacy.py). API token; 204, or
404 for a conversation this bot does not know."""

from __future__ import annotations

from aiohttp import web

from bot.console.keys import HUB
from bot.errors import NotFound
from bot.server.api import _conversation_id
from bot.server.keys import RUNTIME
from bot.storage.privacy import forget

routes = web.RouteTableDef()


@routes.delete("/conversations/{conversation_id}")
async def delete_conversation(request: web.Request) -> web.Response:
    cid = _conversation_id(request)
    runtime = request.app[RUNTIME]
    async with runtime.locks.lock(cid):  # no turn of it is half-stored meanwhile
        forgotten = await forget(runtime.store.engine, cid)
    if forgotten is None:
        raise NotFound(f"no conversation {cid!r}")
    if runtime.knowledge is not None and forgotten.knowledge_entries:
        runtime.knowledge.remove(forgotten.knowledge_entries)  # the other workers follow the change log
    hub = request.app.get(HUB)
    if hub is not None:  # open consoles drop it from their queue
        await hub.publish("conversation", {"id": cid, "queue_item": None, "handoff": None, "items": []})
    return web.Response(status=204)
