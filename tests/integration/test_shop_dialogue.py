"""The shop's dialogue over REST with the real models, actions and SQLite: the return form (its
validation against the orders table, an interruption, a change of mind, a person asked for in
the middle), cancelling the order the conversation is about, and the shop's own test stories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from actions.orders_db import find_order, returns_of
from bot.cli import main
from tests.integration.conftest import Server


def texts(replies: list[dict]) -> str:
    return " ".join(r.get("text", "") for r in replies)


async def test_a_return_through_the_form_with_its_unhappy_paths(server: Server) -> None:
    said = await server.say("r1", "I want to return something")
    assert "Shall I start a return?" in texts(said)
    assert "What's the order number?" in texts(await server.say("r1", "yes"))
    said = await server.say("r1", "NW-99999")
    assert "couldn't find order NW-99999" in texts(said) and "order number" in texts(said)  # asked again
    said = await server.say("r1", "NW-10001")
    assert "can't be returned yet" in texts(said)  # not delivered: still processing
    assert "Which item from order NW-10003" in texts(await server.say("r1", "10003"))  # a bare number will do
    said = await server.say("r1", "how long does shipping take?")
    assert "business day" in texts(said) and "Which item from order NW-10003" in texts(said)  # the form goes on
    said = await server.say("r1", "the blue mug")
    assert "Why are you returning the blue mug?" in texts(said)
    assert [b["payload"] for b in said[-1]["buttons"]][0] == '/inform{"return_reason": "damaged"}'
    # typed, not tapped: mapped to the list. (A reason the NLU takes for one of the intents the
    # slot's from_text vetoes is not: "it arrived cracked" goes to order_status at 0.44 since the
    # entity head came, and the form asks again after the support log's answer.)
    said = await server.say("r1", "there is a crack in it")
    assert "reason: damaged" in texts(said) and "Shall I open the return?" in texts(said)
    said = await server.say("r1", "yes")
    (stored,) = await returns_of("NW-10003")
    number = f"RT-{stored['id']:05d}"
    assert f"Return {number} for the blue mug from order NW-10003 is open" in texts(said)
    assert (stored["item"], stored["reason"]) == ("blue mug", "damaged")
    tracker = await server.tracker("r1")
    assert tracker["active_loop"] == {} or tracker["active_loop"].get("name") is None
    assert tracker["slots"]["return_number"] == number and tracker["slots"]["return_item"] is None
    policies = [e["metadata"]["reason"].get("policy") for e in tracker["events"] if e["event"] == "bot"]
    assert "RulePolicy" in policies


async def test_a_change_of_mind_and_a_no_open_no_return(server: Server) -> None:
    assert "order number" in texts(await server.say("r2", "/start_return"))
    said = await server.say("r2", "never mind")
    assert "stopped the return" in texts(said)
    assert (await server.tracker("r2"))["slots"]["requested_slot"] is None
    for message in ("/start_return", "NW-10007", "a lamp", '/inform{"return_reason": "no_longer_needed"}'):
        await server.say("r2", message)
    said = await server.say("r2", "no")
    assert "haven't opened a return" in texts(said) and await returns_of("NW-10007") == []


async def test_asking_for_a_person_in_the_form_hands_over_and_ends_the_form(server: Server) -> None:
    for message in ("/start_return", "NW-10003"):
        await server.say("r3", message)
    said = await server.say("r3", "I want to talk to a person")
    assert "customer care" in texts(said)
    tracker = await server.tracker("r3")
    assert not (tracker.get("active_loop") or {}).get("name")
    assert tracker["slots"]["order_number"] == "NW-10003"  # what the form collected stays for the agent
    handoffs = [e for e in tracker["events"] if e["event"] == "handoff"]
    assert handoffs and handoffs[-1]["status"] == "pending"


async def test_can_i_cancel_it_is_about_the_order_just_discussed(server: Server) -> None:
    assert "being prepared" in texts(await server.say("c1", "where is my order NW-10001?"))
    said = await server.say("c1", "can I cancel it?")
    assert "Order NW-10001 hasn't shipped yet" in texts(said) and "Shall I cancel it?" in texts(said)
    assert (await find_order("NW-10001"))["status"] == "processing"  # nothing happens before the yes
    assert "Order NW-10001 is cancelled" in texts(await server.say("c1", "yes"))
    assert (await find_order("NW-10001"))["status"] == "cancelled"
    assert "was cancelled" in texts(await server.say("c1", "where is my order NW-10001?"))

    assert "has shipped" in texts(await server.say("c2", "where is my order NW-10002?"))
    said = await server.say("c2", "can I cancel it?")
    assert "NW-10002 has shipped, so it can't be cancelled" in texts(said)
    assert "Great!" in texts(await server.say("c2", "yes"))  # no question was asked: a yes cancels nothing
    assert (await find_order("NW-10002"))["status"] == "shipped"


def test_the_shop_passes_its_test_stories(trained_project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", "--project", str(trained_project)]) == 0
    out = capsys.readouterr().out
    report = json.loads((trained_project / "results" / "story_report.json").read_text())
    stories = report["conversation_summary"]
    assert stories["failed"] == 0 and stories["passed"] >= 8, out
    assert report["action_deactivate_loop"]["support"] >= 2 and report["action_submit_return"]["support"] == 2
