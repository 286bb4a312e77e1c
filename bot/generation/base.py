"""The generator interface, its result and its errors.

A generator turns chat messages (OpenAI's `{"role", "content"}` shape) into a reply. Two
implementations: `openai_compatible.OpenAICompatibleGenerator` (vLLM, TGI, llama.cpp's server,
Ollama) and `embedded.EmbeddedGenerator` (SmolLM2-135M on the CPU, the default)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import AsyncIterator, Protocol, Sequence, TypedDict


class Message(TypedDict):
    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass(frozen=True)
class Reply:
    text: str
    model: str
    latency_ms: float  # request start -> last token
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None  # "stop" | "length" | ...
    attempts: int = 1  # 1 + retries


class GeneratorError(Exception):
    """The generator could not produce a reply; the turn falls back politely and escalates."""

    reason = "error"


class GeneratorTimeout(GeneratorError):
    reason = "timeout"


class GeneratorUnavailable(GeneratorError):
    """The circuit breaker is open: the server failed repeatedly and is left alone for a while."""

    reason = "breaker_open"


class GeneratorHTTPError(GeneratorError):
    reason = "http_error"

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"generator answered HTTP {status}: {body[:200]}")
        self.status = status


class Generator(Protocol):
    @property
    def model(self) -> str: ...

    async def generate(
        self, messages: Sequence[Message], *, timeout: float | None = None, max_tokens: int | None = None
    ) -> Reply:
        """The whole reply; raises GeneratorError (never hangs past `timeout`, default: the configured one)."""

    def stream(
        self, messages: Sequence[Message], *, timeout: float | None = None, max_tokens: int | None = None
    ) -> AsyncIterator[str]:
        """The reply as text deltas, as they are produced."""

    async def warm_up(self) -> None:
        """Load what must be loaded (a no-op for a remote server)."""

    async def close(self) -> None: ...
