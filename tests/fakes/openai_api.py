"""A local OpenAI-compatible chat-completions server for tests: `POST /v1/chat/completions`
answering plain JSON, or server-sent events with `stream: true` (a role chunk, content chunks in
`choices[0].delta`, a finish chunk, a usage chunk when `stream_options.include_usage`, then
`data: [DONE]`), as the OpenAI API does. Programmable: queued error statuses (429/500/503 with
OpenAI's error body and optional Retry-After), a slow mode (a delay before the headers, or between
chunks), and the reply as a function of the request."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from typing import Any, Callable

from aiohttp import web

from tests.fakes import serve

Replier = Callable[[dict[str, Any]], str]


class FakeOpenAI:
    def __init__(self, reply: str | Replier = "Hello from the fake model.", *, model: str = "fake-model") -> None:
        self.reply, self.model = reply, model
        self.statuses: list[int] = []  # served (one per request) before any success
        self.retry_after: str | None = None
        self.delay = 0.0  # seconds before the response starts
        self.chunk_delay = 0.0  # seconds between streamed chunks
        self.raw: dict[str, Any] | None = None  # when set, answered as is with 200 (a broken server)
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.in_flight = self.max_in_flight = 0
        self._runner: web.AppRunner | None = None
        self.base = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._completions)
        self._runner, port = await serve(app)
        self.base = f"http://127.0.0.1:{port}/v1"
        return self.base

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def text_for(self, body: dict[str, Any]) -> str:
        return self.reply(body) if callable(self.reply) else self.reply

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            if self.statuses:
                status = self.statuses.pop(0)
                headers = {"Retry-After": self.retry_after} if self.retry_after else None
                kind = "rate_limit_exceeded" if status == 429 else "server_error"
                error = {"error": {"message": f"fake {status}", "type": kind, "param": None, "code": None}}
                return web.json_response(error, status=status, headers=headers)
            if not isinstance(body.get("messages"), list) or not body.get("model"):
                error = {"error": {"message": "'messages' and 'model' are required", "type": "invalid_request_error",
                                   "param": None, "code": None}}
                return web.json_response(error, status=400)
            if self.raw is not None:
                return web.json_response(self.raw)
            text = self.text_for(body)
            if body.get("stream"):
                return await self._stream(request, body, text)
            return web.json_response(self._completion(body, text))
        finally:
            self.in_flight -= 1

    def _usage(self, body: dict[str, Any], text: str) -> dict[str, int]:
        prompt = sum(len(str(m.get("content", "")).split()) for m in body["messages"])
        completion = len(_pieces(text))
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def _completion(self, body: dict[str, Any], text: str) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "logprobs": None, "finish_reason": "stop"}],
            "usage": self._usage(body, text),
        }

    async def _stream(self, request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        cid, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {"id": cid, "object": "chat.completion.chunk", "created": created, "model": self.model,
                    "system_fingerprint": None,
                    "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

        async def send(obj: Any) -> None:
            payload = obj if isinstance(obj, str) else json.dumps(obj)
            await response.write(f"data: {payload}\n\n".encode())

        await send(chunk({"role": "assistant", "content": ""}))
        for piece in _pieces(text):
            if self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
            await send(chunk({"content": piece}))
        await send(chunk({}, "stop"))
        if (body.get("stream_options") or {}).get("include_usage"):
            await send({"id": cid, "object": "chat.completion.chunk", "created": created, "model": self.model,
                        "choices": [], "usage": self._usage(body, text)})
        await send("[DONE]")
        await response.write_eof()
        return response


def _pieces(text: str) -> list[str]:
    """Token-like pieces: each word with its leading space."""
    return re.findall(r"\s*\S+", text) or ([text] if text else [])
