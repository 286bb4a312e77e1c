"""A client for any OpenAI-compatible chat-completions server (vLLM, TGI, llama.cpp's server,
Ollama): `POST {url}/chat/completions`, plain JSON or server-sent events (`stream: true`).

Every call has a deadline (`timeout`, retries included) and a connect timeout; 429, 5xx and
connection errors are retried with exponential backoff (honouring Retry-After) while the deadline
allows; a circuit breaker stops calling a server that keeps failing; a semaphore bounds the
requests in flight. The API key is read from the environment and never logged."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Sequence

import aiohttp

from bot.generation.base import (
    GeneratorError,
    GeneratorHTTPError,
    GeneratorTimeout,
    GeneratorUnavailable,
    Message,
    Reply,
)
from bot.generation.breaker import CircuitBreaker
from bot.generation.config import GeneratorConfig
from bot.json_input import storable_text

log = logging.getLogger(__name__)
RETRYABLE = frozenset({429, 500, 502, 503, 504})
BACKOFF_BASE = 0.25  # seconds; doubles each retry, with jitter
BACKOFF_MAX = 4.0


class OpenAICompatibleGenerator:
    def __init__(self, config: GeneratorConfig, *, env: dict[str, str] | None = None) -> None:
        if not config.url:
            raise ValueError("an OpenAI-compatible generator needs a url")
        self.config = config
        self.endpoint = config.url.rstrip("/") + "/chat/completions"
        environ = os.environ if env is None else env
        self._api_key = environ.get(config.api_key_env) if config.api_key_env else None
        self.breaker = CircuitBreaker(failures=config.breaker_failures, cooldown=config.breaker_cooldown)
        self._session: aiohttp.ClientSession | None = None
        self._semaphore: asyncio.Semaphore | None = None

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAICompatibleGenerator(url={self.config.url!r}, model={self.config.model!r})"

    @property
    def model(self) -> str:
        return self.config.model

    async def warm_up(self) -> None:
        return None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            headers = {"Content-Type": "application/json"}
            if self._api_key:
                headers["Authorization"] = f"Bearer {self._api_key}"
            self._session = aiohttp.ClientSession(headers=headers)
            self._semaphore = asyncio.Semaphore(self.config.concurrency)
        return self._session

    def _failed(self, exc: BaseException, timed_out: str, broken: str) -> GeneratorError:
        """Count a failed call against the breaker; the error to raise for it."""
        self.breaker.failure()
        if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
            return GeneratorTimeout(timed_out)
        return GeneratorError(f"{broken}: {type(exc).__name__}: {exc}")

    def _body(self, messages: Sequence[Message], max_tokens: int | None, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.config.model,
            "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
            "max_tokens": max_tokens or self.config.max_tokens,
            "temperature": self.config.temperature,
            "stream": stream,
        }
        if stream:
            body["stream_options"] = {"include_usage": True}
        return body

    # -- the one request path: breaker, semaphore, deadline, retries ---------------------------
    @asynccontextmanager
    async def _request(self, body: dict[str, Any], deadline: float) -> AsyncIterator[tuple[aiohttp.ClientResponse, int]]:
        """POST until a 200 comes back, then hand it over with its slot of the semaphore held."""
        session = self._http()
        assert self._semaphore is not None
        attempt, handed = 0, False
        while True:
            attempt += 1
            if not self.breaker.allow():
                raise GeneratorUnavailable(
                    f"circuit breaker open after repeated failures; next try in {self.breaker.retry_in():.1f}s"
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise GeneratorTimeout(f"no answer within {self.config.timeout}s")
            retry_after: float | None = None
            error: GeneratorError
            try:
                async with asyncio.timeout(remaining):
                    await self._semaphore.acquire()
                try:
                    remaining = max(0.001, deadline - time.monotonic())
                    timeout = aiohttp.ClientTimeout(total=remaining, connect=min(self.config.connect_timeout, remaining))
                    async with session.post(self.endpoint, json=body, timeout=timeout) as response:
                        if response.status == 200:
                            handed = True  # from here on, errors belong to the caller's reading
                            yield response, attempt
                            return
                        text = await response.text()
                finally:
                    self._semaphore.release()
                error = GeneratorHTTPError(response.status, _error_message(text))
                if response.status not in RETRYABLE:
                    self.breaker.success()  # the server is up; retrying our bad request will not help
                    raise error
                retry_after = _retry_after(response.headers.get("Retry-After"))
            except (TimeoutError, asyncio.TimeoutError):
                if handed:
                    raise
                self.breaker.failure()
                raise GeneratorTimeout(f"no answer within {self.config.timeout}s") from None
            except aiohttp.ClientError as exc:
                if handed:
                    raise
                error = GeneratorError(f"cannot reach the generator at {self.config.url}: {type(exc).__name__}: {exc}")
            self.breaker.failure()
            log.warning("generator attempt %d failed: %s", attempt, error)
            if attempt > self.config.retries:
                raise error
            pause = retry_after if retry_after is not None else min(BACKOFF_MAX, BACKOFF_BASE * 2 ** (attempt - 1))
            pause *= 1 + random.random() * 0.25
            if time.monotonic() + pause >= deadline:
                raise error
            await asyncio.sleep(pause)

    async def generate(
        self, messages: Sequence[Message], *, timeout: float | None = None, max_tokens: int | None = None
    ) -> Reply:
        limit = timeout or self.config.timeout
        started = time.monotonic()
        try:
            async with asyncio.timeout(limit):  # a safety net over the per-request timeouts
                async with self._request(self._body(messages, max_tokens, False), started + limit) as (response, attempts):
                    data = await response.json(content_type=None)
        except (TimeoutError, asyncio.TimeoutError, aiohttp.ClientError, ValueError) as exc:
            raise self._failed(exc, f"no answer within {limit}s", "bad answer from the generator") from None
        try:
            choice = data["choices"][0]
            text = storable_text(choice["message"]["content"] or "")  # no NUL or lone surrogate reaches the store
        except (KeyError, IndexError, TypeError):
            self.breaker.failure()
            raise GeneratorError(f"the generator's answer has no choices[0].message.content: {str(data)[:200]}") from None
        self.breaker.success()
        usage = data.get("usage") or {}
        return Reply(
            text=text,
            model=str(data.get("model") or self.config.model),
            latency_ms=round((time.monotonic() - started) * 1000, 2),
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
            finish_reason=choice.get("finish_reason"),
            attempts=attempts,
        )

    async def stream(
        self, messages: Sequence[Message], *, timeout: float | None = None, max_tokens: int | None = None
    ) -> AsyncIterator[str]:
        """Text deltas from the server's SSE chunks; the request's total timeout covers the stream."""
        limit = timeout or self.config.timeout
        try:
            async with self._request(self._body(messages, max_tokens, True), time.monotonic() + limit) as (response, _):
                async for data in sse_data(response.content):
                    if data == "[DONE]":
                        break
                    chunk = json.loads(data)
                    if "error" in chunk:
                        raise GeneratorError(f"the generator reported an error mid-stream: {_error_message(data)}")
                    for choice in chunk.get("choices") or []:
                        delta = (choice.get("delta") or {}).get("content")
                        if isinstance(delta, str) and (delta := storable_text(delta)):
                            yield delta
        except (TimeoutError, asyncio.TimeoutError, aiohttp.ClientError, ValueError) as exc:
            raise self._failed(exc, f"the stream did not finish within {limit}s",
                               "broken stream from the generator") from None
        self.breaker.success()


async def sse_data(content: aiohttp.StreamReader) -> AsyncIterator[str]:
    """The `data:` payloads of a server-sent event stream, one per event (multi-line data joined)."""
    lines: list[str] = []
    async for raw in content:
        line = raw.decode("utf-8").rstrip("\r\n")
        if not line:
            if lines:
                yield "\n".join(lines)
                lines = []
            continue
        if line.startswith(":"):
            continue  # a comment / keep-alive
        field, _, value = line.partition(":")
        if field == "data":
            lines.append(value[1:] if value.startswith(" ") else value)
    if lines:
        yield "\n".join(lines)


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # an HTTP date: use our own backoff


def _error_message(text: str) -> str:
    try:
        error = json.loads(text).get("error")
        if isinstance(error, dict):
            return str(error.get("message") or error)
        return str(error or text)
    except (ValueError, AttributeError):
        return text[:200]
