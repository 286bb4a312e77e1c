"""Entity shapes on the shop's trained model (bot/nlu/tagging.py entity_shapes): every e-mail address
and order number the shop's data annotates matches its `regex:` whole, so a span the head finds
for them is fitted to the regex's match. The messages below are not in the shop's data; without
shapes the head returned "email: jo@example.com", "please, the account is under jo@example.com"
and "and my email is jo@example.com" for three of them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

MESSAGES = [
    "hi, my email is jo@example.com and I can't log in",
    "password reset please, the account is under jo@example.com",
    "can you reset my password? email: jo@example.com",
    "use jo@example.com for the reset",
]


@pytest.fixture(scope="module")
def classifier(trained_project: Path):  # type: ignore[no-untyped-def]
    from bot.nlu.transformer import TransformerClassifier

    return TransformerClassifier(trained_project / ".switchboard" / "models" / "nlu", quantize="int8")


def test_the_shops_email_and_order_number_have_shapes(trained_project: Path) -> None:
    meta = json.loads((trained_project / ".switchboard" / "models" / "nlu" / "meta.json").read_text())
    assert set(meta["entity_shapes"]) == {"email||", "order_number||"}  # items have no regex: no shape


@pytest.mark.parametrize("message", MESSAGES)
def test_an_email_address_comes_out_exactly(classifier, message: str) -> None:  # type: ignore[no-untyped-def]
    (prediction,) = classifier.predict([message])
    assert prediction.intent == "password_reset"
    assert [(e["entity"], e["value"]) for e in prediction.entities] == [("email", "jo@example.com")]


def test_the_mixed_turn_keeps_its_three_entities_exact(classifier) -> None:  # type: ignore[no-untyped-def]
    text = "return the ceramic vase from order NW-10234, and my email is jo@example.com"
    (prediction,) = classifier.predict([text], [("order_status",)])
    assert [(e["entity"], e["value"]) for e in prediction.entities] == [
        ("item", "ceramic vase"), ("order_number", "NW-10234"), ("email", "jo@example.com")]
