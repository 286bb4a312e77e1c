"""POST/GET/DELETE /knowledge/entries: teach the running bot without retraining.

A change is written to SQL first (the source of truth, replayed by the other workers),
then applied to this worker's index, so the next message can already use it."""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import asdict
from typing import Any

from aiohttp import web

from bot.errors import BadRequest, NotFound
from bot.server.keys import RUNTIME
from bot.server.requests import json_object
from knowledge.base import Entry
from knowledge.ingest import clean_entry

routes = web.RouteTableDef()
MAX_QUESTION, MAX_ANSWER, MAX_TAGS = 1000, 10_000, 20
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$")
FIELDS = {"id", "question", "answer", "intent", "tags", "created_at"}


def _text(body: dict[str, Any], key: str, limit: int) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"{key!r} must be a non-empty string")
    if len(value) > limit:
        raise BadRequest(f"{key!r} is {len(value)} characters; the limit is {limit}")
    return value.strip()


def parse_entry(body: dict[str, Any], *, source: str) -> Entry:
    unknown = set(body) - FIELDS
    if unknown:
        raise BadRequest(f"unknown field(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(FIELDS))}")
    entry_id = body.get("id") or f"{source}-{uuid.uuid4().hex[:12]}"
    if not isinstance(entry_id, str) or not ID_PATTERN.match(entry_id):
        raise BadRequest("'id' must be 1-128 letters, digits or ._:- and start with a letter or digit")
    intent = body.get("intent")
    if intent is not None and (not isinstance(intent, str) or len(intent) > 255):
        raise BadRequest("'intent' must be a string of at most 255 characters")
    tags = body.get("tags") or []
    if not isinstance(tags, list) or len(tags) > MAX_TAGS or not all(isinstance(t, str) and t for t in tags):
        raise BadRequest(f"'tags' must be a list of at most {MAX_TAGS} non-empty strings")
    created_at = body.get("created_at")
    if created_at is not None and not isinstance(created_at, str):
        raise BadRequest("'created_at' must be an ISO 8601 string")
    entry = Entry(
        id=entry_id, question=_text(body, "question", MAX_QUESTION), answer=_text(body, "answer", MAX_ANSWER),
        intent=intent or None, tags=tuple(tags), created_at=created_at, source=source,
    )
    return clean_entry(entry, {})  # normalised and PII-redacted, as ingested logs are


async def add_entry(request: web.Request, entry: Entry) -> dict[str, Any]:
    """Store, then index (the entry is already validated and redacted by parse_entry)."""
    runtime = request.app[RUNTIME]
    runtime.require_engine()
    assert runtime.knowledge is not None and runtime.knowledge_store is not None
    vector = await asyncio.to_thread(runtime.knowledge.encoder.encode, [entry.question])  # the index's own encoder
    seq = await runtime.knowledge_store.upsert(entry)
    await asyncio.to_thread(runtime.knowledge.add, [entry], vector)
    return {"entry": asdict(entry), "seq": seq, "entries": len(runtime.knowledge)}


@routes.post("/knowledge/entries")
async def create(request: web.Request) -> web.Response:
    entry = parse_entry(await json_object(request), source="api")
    return web.json_response(await add_entry(request, entry), status=201)


@routes.get("/knowledge/entries/{entry_id}")
async def read(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    runtime.require_engine()
    assert runtime.knowledge is not None
    entry = runtime.knowledge.get(request.match_info["entry_id"])
    if entry is None:
        raise NotFound(f"no knowledge entry {request.match_info['entry_id']!r}")
    return web.json_response({"entry": asdict(entry)})


@routes.delete("/knowledge/entries/{entry_id}")
async def delete(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    runtime.require_engine()
    assert runtime.knowledge is not None and runtime.knowledge_store is not None
    entry_id = request.match_info["entry_id"]
    seq = await runtime.knowledge_store.delete(entry_id)
    if seq is None:
        raise NotFound(f"no knowledge entry {entry_id!r}")
    runtime.knowledge.remove([entry_id])
    return web.json_response({"deleted": entry_id, "seq": seq, "entries": len(runtime.knowledge)})
