"""Handing over to a person, end to end on the real model: each trigger, the customer told the
wait, the bot silent while a person is needed or has the conversation, and Rasa's pause/resume."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.generation.config import GeneratorConfig
from tests.fakes.openai_api import FakeOpenAI
from tests.integration.conftest import Server, StartServer, free_port
from tests.integration.test_generation_turns import GENERATION_PATH, QUESTION


def texts(replies: list[dict[str, Any]]) -> str:
    return " ".join(r.get("text") or "" for r in replies)


async def handoff_of(server: Server, sender: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the conversation's handoff state, the reason of the bot's last message)."""
    tracker = await server.tracker(sender)
    status = [e for e in tracker["events"] if e["event"] == "handoff"]
    reason = [e for e in tracker["events"] if e["event"] == "bot"][-1]["metadata"]["reason"]
    return (status[-1] if status else {}), reason


async def test_asking_for_a_person_queues_the_conversation_and_the_bot_falls_silent(server: Server) -> None:
    replies = await server.say("h1", "I want to talk to a real person please")
    said = texts(replies)
    assert "connecting you" in said and "minute" in said, said
    status, reason = await handoff_of(server, "h1")
    assert status["status"] == "pending" and status["trigger"] == "customer_request"
    assert reason["route"] == "handoff" and reason["handoff"] == "customer_request"
    assert reason["wait"] == {"ahead": 0, "minutes": 3}  # the shop's typical wait until pickups are measured
    tracker = await server.tracker("h1")
    assert tracker["paused"] is True

    # while pending the bot says nothing, and keeps what the customer writes
    assert await server.say("h1", "where is my order NW-10002?") == []
    assert await server.say("h1", "hello??") == []
    users = [e["text"] for e in (await server.tracker("h1"))["events"] if e["event"] == "user"]
    assert users[-2:] == ["where is my order NW-10002?", "hello??"]

    # a second customer is told there is one ahead of them
    second = texts(await server.say("h2", "/ask_human"))
    assert "1 customer ahead of you" in second and "about 6 minute" in second, second


async def test_two_angry_messages_of_three_hand_over(server: Server) -> None:
    first = await server.say("s1", "This is absolutely unacceptable, your service is a disgrace!")
    assert first and "connecting you" not in texts(first)
    await server.say("s1", "I am furious, this is the worst shop I have ever used!")
    status, reason = await handoff_of(server, "s1")
    assert status.get("trigger") == "negative_sentiment", reason
    assert reason["sentiment"]["label"] == "negative"


async def test_two_fallbacks_in_a_row_hand_over(server: Server) -> None:
    first = await server.say("f1", "who painted the Mona Lisa?")
    assert "not sure" in texts(first).lower()
    assert (await handoff_of(server, "f1"))[0] == {}
    second = await server.say("f1", "what is the boiling point of tungsten?")
    said = texts(second)
    assert "not sure" in said.lower() and "connecting you" in said  # the fallback, then the handoff
    status, reason = await handoff_of(server, "f1")
    assert status["trigger"] == "repeated_fallback" and reason["route"] == "fallback"


async def test_a_failing_action_hands_over(start_server: StartServer, tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}/webhook"
    server = await start_server(database_url=f"sqlite+aiosqlite:///{tmp_path / 'a.db'}", action_endpoint=dead)
    said = texts(await server.say("a1", "where is my order NW-10002?"))
    assert "not sure" in said.lower() and "connecting you" in said
    status, reason = await handoff_of(server, "a1")
    assert status["trigger"] == "action_failed" and reason["escalate"] == "action_failed"


async def test_a_failing_generator_hands_over(start_server: StartServer, tmp_path: Path) -> None:
    fake = FakeOpenAI(lambda body: "never used", model="fake-llm")
    await fake.start()
    try:
        fake.statuses = [503] * 10
        server = await start_server(
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'g.db'}",
            generator=GeneratorConfig(kind="openai", url=fake.base, model="fake-llm", timeout=5.0, retries=1),
            **GENERATION_PATH)
        said = texts(await server.say("g1", QUESTION))
        status, reason = await handoff_of(server, "g1")
        assert reason.get("escalate") == "generator_failed", reason
        assert status["trigger"] == "generator_failed" and "connecting you" in said
    finally:
        await fake.stop()


async def test_handoff_can_be_turned_off(start_server: StartServer, tmp_path: Path, trained_project: Path) -> None:
    settings = trained_project / "switchboard.yml"
    original = settings.read_text()
    settings.write_text(original.replace("handoff:\n  enabled: true", "handoff:\n  enabled: false"))
    try:
        server = await start_server(database_url=f"sqlite+aiosqlite:///{tmp_path / 'o.db'}")
    finally:
        settings.write_text(original)
    said = texts(await server.say("o1", "/ask_human"))
    assert "customer care team" in said and "minute" not in said  # the domain's plain utter_ask_human
    assert (await server.tracker("o1"))["paused"] is False
    assert await server.say("o1", "/greet")  # the bot still answers


async def test_rasa_pause_and_resume_through_the_tracker_api(server: Server) -> None:
    assert await server.say("p1", "/greet")
    async with server.http.post(f"{server.base}/conversations/p1/tracker/events", json={"event": "pause"}) as r:
        assert r.status == 200 and (await r.json())["paused"] is True
    assert await server.say("p1", "where is my order NW-10002?") == []
    async with server.http.post(f"{server.base}/conversations/p1/tracker/events", json=[{"event": "resume"}]) as r:
        assert r.status == 200 and (await r.json())["paused"] is False
    assert "NW-10002" in texts(await server.say("p1", "where is my order NW-10002?"))


@pytest.mark.parametrize("bad", [{"event": "handoff"}, {"event": "handoff", "status": "lunch"}])
async def test_a_bad_handoff_event_is_refused_and_nothing_stored(server: Server, bad: dict[str, Any]) -> None:
    async with server.http.post(f"{server.base}/conversations/b1/tracker/events", json=bad) as r:
        assert r.status == 400 and "status" in (await r.json())["error"]
