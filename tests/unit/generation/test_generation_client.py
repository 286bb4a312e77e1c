"""The OpenAI-compatible client against a local fake server speaking the real protocol."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import AsyncIterator

import pytest

from bot.generation.base import GeneratorError, GeneratorHTTPError, GeneratorTimeout, GeneratorUnavailable
from bot.generation.config import GeneratorConfig
from bot.generation.openai_compatible import OpenAICompatibleGenerator
from tests.fakes.openai_api import FakeOpenAI

MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    server = FakeOpenAI("Gift cards are valid for three years.")
    await server.start()
    yield server
    await server.stop()


def client(fake: FakeOpenAI, **overrides: object) -> OpenAICompatibleGenerator:
    values: dict = {"kind": "openai", "url": fake.base, "model": "m", "timeout": 5.0, "retries": 2}
    values.update(overrides)
    return OpenAICompatibleGenerator(GeneratorConfig(**values), env={"GEN_KEY": "sk-secret-123"})


async def test_generate_returns_the_text_usage_and_sends_the_request(fake: FakeOpenAI) -> None:
    gen = client(fake, api_key_env="GEN_KEY", max_tokens=42, temperature=0.0)
    try:
        reply = await gen.generate(MESSAGES)
    finally:
        await gen.close()
    assert reply.text == "Gift cards are valid for three years."
    assert reply.model == "fake-model" and reply.finish_reason == "stop" and reply.attempts == 1
    assert reply.completion_tokens == 7 and reply.prompt_tokens == 3
    body = fake.requests[0]
    assert body["messages"] == MESSAGES and body["max_tokens"] == 42 and body["stream"] is False
    assert fake.headers[0]["Authorization"] == "Bearer sk-secret-123"


async def test_the_api_key_is_never_logged_or_shown(fake: FakeOpenAI, caplog: pytest.LogCaptureFixture) -> None:
    fake.statuses = [500, 500, 500]
    gen = client(fake, api_key_env="GEN_KEY", retries=2)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(GeneratorHTTPError):
        await gen.generate(MESSAGES)
    await gen.close()
    assert "sk-secret-123" not in caplog.text and "sk-secret-123" not in repr(gen)
    assert "attempt" in caplog.text  # the failures themselves are logged


async def test_stream_yields_the_deltas_in_order(fake: FakeOpenAI) -> None:
    gen = client(fake)
    deltas = [d async for d in gen.stream(MESSAGES)]
    await gen.close()
    assert "".join(deltas) == "Gift cards are valid for three years."
    assert len(deltas) == 7
    assert fake.requests[0]["stream"] is True and fake.requests[0]["stream_options"] == {"include_usage": True}


async def test_429_and_503_are_retried_then_succeed(fake: FakeOpenAI) -> None:
    fake.statuses = [429, 503]
    fake.retry_after = "0"
    gen = client(fake)
    reply = await gen.generate(MESSAGES)
    await gen.close()
    assert reply.attempts == 3 and len(fake.requests) == 3 and reply.text.startswith("Gift")


async def test_retries_are_bounded(fake: FakeOpenAI) -> None:
    fake.statuses = [500] * 10
    gen = client(fake, retries=2)
    with pytest.raises(GeneratorHTTPError) as info:
        await gen.generate(MESSAGES)
    await gen.close()
    assert info.value.status == 500 and len(fake.requests) == 3


async def test_a_client_error_is_not_retried(fake: FakeOpenAI) -> None:
    fake.statuses = [400]
    gen = client(fake)
    with pytest.raises(GeneratorHTTPError) as info:
        await gen.generate(MESSAGES)
    await gen.close()
    assert info.value.status == 400 and len(fake.requests) == 1 and "fake 400" in str(info.value)


async def test_a_slow_server_times_out_within_the_deadline(fake: FakeOpenAI) -> None:
    fake.delay = 30.0
    gen = client(fake, timeout=0.5)
    started = time.monotonic()
    with pytest.raises(GeneratorTimeout):
        await gen.generate(MESSAGES)
    await gen.close()
    assert time.monotonic() - started < 10.0  # generous: the point is it does not wait 30 s


async def test_a_stream_that_stalls_times_out(fake: FakeOpenAI) -> None:
    fake.chunk_delay = 5.0
    gen = client(fake, timeout=0.5)
    with pytest.raises(GeneratorTimeout):
        async for _ in gen.stream(MESSAGES):
            pass
    await gen.close()


async def test_an_unreachable_server_fails_cleanly() -> None:
    from tests.integration.conftest import free_port

    gen = OpenAICompatibleGenerator(GeneratorConfig(kind="openai", url=f"http://127.0.0.1:{free_port()}/v1",
                                                    model="m", timeout=5.0, retries=1))
    with pytest.raises(GeneratorError, match="cannot reach"):
        await gen.generate(MESSAGES)
    await gen.close()


async def test_the_breaker_opens_after_repeated_failures_and_closes_after_a_success(fake: FakeOpenAI) -> None:
    fake.statuses = [500] * 4
    gen = client(fake, retries=0, breaker_failures=2, breaker_cooldown=0.3)
    for _ in range(2):
        with pytest.raises(GeneratorHTTPError):
            await gen.generate(MESSAGES)
    with pytest.raises(GeneratorUnavailable):  # open: no request goes out
        await gen.generate(MESSAGES)
    assert len(fake.requests) == 2
    await asyncio.sleep(0.35)
    fake.statuses = []
    assert (await gen.generate(MESSAGES)).text.startswith("Gift")  # the half-open trial succeeds
    assert gen.breaker.state == "closed"
    await gen.close()


async def test_concurrency_is_limited(fake: FakeOpenAI) -> None:
    fake.delay = 0.1
    gen = client(fake, concurrency=2)
    await asyncio.gather(*(gen.generate(MESSAGES) for _ in range(6)))
    await gen.close()
    assert fake.max_in_flight == 2 and len(fake.requests) == 6


async def test_a_malformed_answer_is_an_error_not_a_crash(fake: FakeOpenAI) -> None:
    fake.raw = {"choices": []}
    gen = client(fake)
    with pytest.raises(GeneratorError, match="no choices"):
        await gen.generate(MESSAGES)
    await gen.close()


async def test_what_no_store_keeps_is_taken_out_of_the_answer(fake: FakeOpenAI) -> None:
    """A NUL or a lone surrogate in a generator's answer would fail the turn when stored
    (PostgreSQL refuses both): they are removed, the rest of the answer kept."""
    fake.reply = "Gift cards\x00 are valid\ud800 for three years."
    gen = client(fake)
    try:
        assert (await gen.generate(MESSAGES)).text == "Gift cards are valid for three years."
        assert "".join([d async for d in gen.stream(MESSAGES)]) == "Gift cards are valid for three years."
    finally:
        await gen.close()
