"""The console's HTTP API under /console/api (JSON; session cookie + CSRF header) and its page."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.channels.dispatch import DISPATCHER
from bot.console import auth, live
from bot.console.keys import CONSOLE, HUB, LIMITER
from bot.errors import BadRequest, Conflict, NotFound
from bot.server.knowledge_api import add_entry, parse_entry
from bot.server.keys import SETTINGS
from bot.server.requests import json_object
from bot.storage.console import ROLES

STATIC = Path(__file__).resolve().parent / "static"
routes = web.RouteTableDef()
API_HEADERS = {"Cache-Control": "no-store"}
PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, headers=API_HEADERS)


def _cid(request: web.Request) -> str:
    cid = request.match_info["cid"]
    if not cid.strip() or len(cid) > 255:
        raise BadRequest("the conversation id must be 1 to 255 characters")
    return cid


async def _session(request: web.Request, *, admin: bool = False) -> Any:
    return await auth.session_of(request, request.app[CONSOLE].store, admin=admin)


def _me(session: Any) -> dict[str, Any]:
    return {"agent": {"name": session.agent.name, "role": session.agent.role}, "csrf": session.csrf}


@routes.get("/console")
async def page(_: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)


@routes.get("/console/")
async def page_slash(_: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/console")


# -- logins ------------------------------------------------------------------------------------

@routes.post("/console/api/login")
async def login(request: web.Request) -> web.Response:
    if request.content_type != "application/json":  # a cross-site form cannot send JSON
        raise BadRequest("send the login as application/json")
    body = await json_object(request)
    name, password = body.get("name"), body.get("password")
    if not isinstance(name, str) or not isinstance(password, str) or not name or not password:
        raise BadRequest("send {\"name\", \"password\"}")
    address = auth.client_address(request.remote, request.headers.get("X-Forwarded-For"),
                                  request.app[SETTINGS].trusted_proxies)
    session, token = await auth.login(request.app[CONSOLE].store, request.app[LIMITER], address, name, password)
    response = _json(_me(session))
    auth.set_cookie(request, response, token)
    return response


@routes.post("/console/api/logout")
async def logout(request: web.Request) -> web.Response:
    await _session(request)
    await request.app[CONSOLE].store.close_session(request.cookies[auth.COOKIE])
    response = web.Response(status=204, headers=API_HEADERS)
    auth.clear_cookie(request, response)
    return response


@routes.get("/console/api/me")
async def me(request: web.Request) -> web.Response:
    return _json(_me(await _session(request)))


# -- the queue and conversations ---------------------------------------------------------------

@routes.get("/console/api/queue")
async def queue(request: web.Request) -> web.Response:
    await _session(request)
    return _json({"conversations": await request.app[CONSOLE].queue()})


@routes.get("/console/api/live")
async def live_updates(request: web.Request) -> web.StreamResponse:
    await _session(request)
    store, token = request.app[CONSOLE].store, request.cookies[auth.COOKIE]

    async def allowed() -> bool:
        return await store.session(token) is not None

    return await live.stream(request, request.app[HUB], allowed)


@routes.get("/console/api/conversations/{cid}")
async def conversation(request: web.Request) -> web.Response:
    await _session(request)
    return _json(await request.app[CONSOLE].conversation(_cid(request)))


@routes.post("/console/api/conversations/{cid}/{move:take|handback|close}")
async def move(request: web.Request) -> web.Response:
    """Take the conversation, hand it back to the bot, or close it."""
    session = await _session(request)
    console = request.app[CONSOLE]
    act = {"take": console.take, "handback": console.hand_back, "close": console.close}[request.match_info["move"]]
    return _json({"handoff": await act(_cid(request), session.agent)})


@routes.post("/console/api/conversations/{cid}/reply")
async def reply(request: web.Request) -> web.Response:
    session = await _session(request)
    body = await json_object(request)
    item = await request.app[CONSOLE].reply(_cid(request), session.agent, body.get("text"))
    return _json({"item": item}, status=201)


@routes.post("/console/api/conversations/{cid}/relabel")
async def relabel(request: web.Request) -> web.Response:
    session = await _session(request)
    body = await json_object(request)
    message_id, intent = body.get("message_id"), body.get("intent")
    if not isinstance(message_id, str) or not isinstance(intent, str):
        raise BadRequest("send {\"message_id\", \"intent\"}")
    result = await request.app[CONSOLE].relabel(_cid(request), session.agent, message_id, intent)
    return _json(result, status=201)


@routes.post("/console/api/conversations/{cid}/approve")
async def approve(request: web.Request) -> web.Response:
    """An agent's reply becomes a knowledge-base answer, searchable by the next message."""
    await _session(request)
    body = await json_object(request)
    message_id, question = body.get("message_id"), body.get("question")
    if not isinstance(message_id, str) or (question is not None and not isinstance(question, str)):
        raise BadRequest("send {\"message_id\"} and optionally {\"question\"}")
    cid = _cid(request)
    console = request.app[CONSOLE]
    entry = parse_entry(await console.approval(cid, message_id, question), source="agent")
    await console.store.link_source(entry.id, cid)  # first: an entry never exists without its link
    result = await add_entry(request, entry)
    await console.approved(cid, message_id, entry.id)
    return _json({"entry": result["entry"]}, status=201)


@routes.post("/console/api/conversations/{cid}/resend")
async def resend(request: web.Request) -> web.Response:
    """Send an undelivered message again (a sent one is never sent twice)."""
    await _session(request)
    body = await json_object(request)
    delivery_id = body.get("delivery_id")
    if not isinstance(delivery_id, str) or not delivery_id:
        raise BadRequest("send {\"delivery_id\"} of the undelivered message")
    cid = _cid(request)
    delivery = await request.app[DISPATCHER].resend(cid, delivery_id)
    return _json({"delivery": delivery.as_dict(), "delivered": delivery.status == "sent"})


# -- agents (admins only) ----------------------------------------------------------------------

@routes.get("/console/api/agents")
async def list_agents(request: web.Request) -> web.Response:
    await _session(request, admin=True)
    return _json({"agents": [a.as_dict() for a in await request.app[CONSOLE].store.agents()]})


@routes.post("/console/api/agents")
async def add_agent(request: web.Request) -> web.Response:
    await _session(request, admin=True)
    body = await json_object(request)
    name, password = auth.check_name(body.get("name")), auth.check_password(body.get("password"))
    role = body.get("role", "agent")
    if role not in ROLES:
        raise BadRequest(f"'role' must be one of {', '.join(ROLES)}")
    hashed = await asyncio.to_thread(auth.hash_password, password)
    try:
        agent = await request.app[CONSOLE].store.add_agent(name, hashed, role)
    except KeyError:
        raise Conflict(f"an agent called {name!r} exists already") from None
    return _json({"agent": agent.as_dict()}, status=201)


@routes.delete("/console/api/agents/{name}")
async def remove_agent(request: web.Request) -> web.Response:
    session = await _session(request, admin=True)
    name = request.match_info["name"]
    if name == session.agent.name:
        raise Conflict("you cannot remove yourself; another admin can")
    if not await request.app[CONSOLE].store.remove_agent(name):
        raise NotFound(f"no agent {name!r}")
    return web.Response(status=204, headers=API_HEADERS)

