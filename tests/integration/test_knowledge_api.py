"""Teaching the running bot: entries added over the API answer the next message, survive a
restart, reach the other workers, and can be deleted."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.integration.conftest import Server, StartServer

QUESTION = "Can I bring my own cup for a refill at the Northwind cafe?"
ANSWER = "Yes! Our Berlin store cafe refills your own cup for 1 EUR less than a paper one."


async def post_entry(server: Server, body: dict, token: str | None = None) -> tuple[int, dict]:
    params = {"token": token} if token else None
    async with server.http.post(f"{server.base}/knowledge/entries", json=body, params=params) as r:
        return r.status, await r.json()


def answer_of(replies: list[dict]) -> str:
    return " ".join(r.get("text", "") for r in replies)


async def test_added_entry_answers_the_next_message_and_is_cited(server: Server) -> None:
    before = answer_of(await server.say("k1", "can I bring my own cup to the cafe for a refill?"))
    assert "refills your own cup" not in before
    status, body = await post_entry(server, {"id": "cafe-cups", "question": QUESTION, "answer": ANSWER,
                                            "tags": ["cafe"]})
    assert status == 201 and body["entry"]["id"] == "cafe-cups" and body["entry"]["source"] == "api"
    replies = await server.say("k1", "can I bring my own cup to the cafe for a refill?")
    assert answer_of(replies) == ANSWER
    tracker = await server.tracker("k1")
    reason = [e for e in tracker["events"] if e["event"] == "bot"][-1]["metadata"]["reason"]
    assert reason["route"] == "retrieval" and reason["retrieval"][0]["id"] == "cafe-cups"
    async with server.http.get(f"{server.base}/knowledge/entries/cafe-cups") as r:
        assert r.status == 200 and (await r.json())["entry"]["answer"] == ANSWER


async def test_entries_persist_across_a_restart_and_reach_other_workers(
    start_server: StartServer, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'kb.db'}"
    first = await start_server(database_url=url, knowledge_sync_interval=0.1)
    second = await start_server(database_url=url, knowledge_sync_interval=0.1)  # another worker
    status, _ = await post_entry(first, {"id": "cafe-cups", "question": QUESTION, "answer": ANSWER})
    assert status == 201
    for _ in range(100):  # the other worker replays the change from SQL within its poll interval
        async with second.http.get(f"{second.base}/knowledge/entries/cafe-cups") as r:
            if r.status == 200:
                break
        await asyncio.sleep(0.05)
    assert answer_of(await second.say("k2", "can I bring my own cup to the cafe for a refill?")) == ANSWER

    restarted = await start_server(database_url=url)
    assert answer_of(await restarted.say("k3", "can I bring my own cup to the cafe for a refill?")) == ANSWER


async def test_deleting_an_entry_stops_it_answering_everywhere(start_server: StartServer, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'kb.db'}"
    server = await start_server(database_url=url)
    gift = answer_of(await server.say("k4", "do you sell gift cards?"))
    assert "gift card" in gift.lower()
    tracker = await server.tracker("k4")
    log_id = [e for e in tracker["events"] if e["event"] == "bot"][-1]["metadata"]["reason"]["retrieval"][0]["id"]
    # the shop's logs give this answer to several questions (log-001, log-001-b, ...): delete them all
    base = "-".join(log_id.split("-")[:2])
    group = [base] + [f"{base}-{suffix}" for suffix in "bcd"]
    deleted = []
    for entry in group:
        async with server.http.delete(f"{server.base}/knowledge/entries/{entry}") as r:
            assert r.status in (200, 404)
            if r.status == 200:
                deleted.append((await r.json())["deleted"])
    assert log_id in deleted and len(deleted) >= 2
    async with server.http.delete(f"{server.base}/knowledge/entries/{log_id}") as r:
        assert r.status == 404
    assert answer_of(await server.say("k4", "do you sell gift cards?")) != gift
    restarted = await start_server(database_url=url)  # a log deleted over the API stays deleted
    assert answer_of(await restarted.say("k5", "do you sell gift cards?")) != gift


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"question": "q?"}, "answer"),
        ({"answer": "a"}, "question"),
        ({"question": "  ", "answer": "a"}, "question"),
        ({"question": "q?", "answer": 3}, "answer"),
        ({"question": "q" * 1001, "answer": "a"}, "limit"),
        ({"question": "q?", "answer": "a", "tags": "cafe"}, "tags"),
        ({"question": "q?", "answer": "a", "id": "has spaces"}, "id"),
        ({"question": "q?", "answer": "a", "colour": "red"}, "unknown field"),
    ],
)
async def test_bad_entries_are_rejected_clearly(server: Server, body: dict, words: str) -> None:
    status, error = await post_entry(server, body)
    assert status == 400 and words in error["error"]


async def test_knowledge_api_needs_the_token(start_server: StartServer, tmp_path: Path) -> None:
    server = await start_server(database_url=f"sqlite+aiosqlite:///{tmp_path / 't.db'}", api_token="tok")
    status, _ = await post_entry(server, {"question": QUESTION, "answer": ANSWER})
    assert status == 401
    async with server.http.delete(f"{server.base}/knowledge/entries/log-001") as r:
        assert r.status == 401
    status, _ = await post_entry(server, {"question": QUESTION, "answer": ANSWER}, token="tok")
    assert status == 201


async def test_searches_running_during_adds_are_safe(server: Server) -> None:
    async def ask(i: int) -> list[dict]:
        return await server.say(f"s{i}", "do you sell gift cards?")

    async def add(i: int) -> int:
        status, _ = await post_entry(server, {"id": f"bulk-{i}", "question": f"Is product {i} dishwasher safe?",
                                              "answer": f"Product {i} is dishwasher safe."})
        return status

    results = await asyncio.gather(*(ask(i) for i in range(10)), *(add(i) for i in range(10)))
    assert all("gift card" in answer_of(r).lower() for r in results[:10])
    assert results[10:] == [201] * 10
    assert "Product 7 is dishwasher safe." in answer_of(await server.say("s99", "is product 7 dishwasher safe?"))


async def test_personal_data_in_an_entry_is_redacted_before_it_is_stored(server: Server) -> None:
    body = {"id": "pii", "question": "Can you email me at ada@example.com about my refund?",
            "answer": "Sure, we wrote to you; or call us on +44 20 7946 0958."}
    status, created = await post_entry(server, body)
    assert status == 201
    assert created["entry"]["question"] == "Can you email me at {{EMAIL}} about my refund?"
    assert "{{PHONE}}" in created["entry"]["answer"] and "7946" not in created["entry"]["answer"]
