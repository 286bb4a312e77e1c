"""bot/nlu/payload.py: `/intent{"entity": "value"}` messages bypass the classifier."""

from __future__ import annotations

import pytest

from bot.nlu.payload import parse_payload

INTENTS = ("greet", "order_status", "ask_human", "get_started")


def test_bare_intent():
    prediction = parse_payload("/greet", INTENTS)
    assert prediction is not None
    assert prediction.intent == "greet"
    assert prediction.confidence == 1.0
    assert prediction.ranking == (("greet", 1.0),)
    assert prediction.entities == ()
    assert prediction.text == "/greet"


def test_intent_with_entities():
    prediction = parse_payload('/order_status{"order_number": "NW-1"}', INTENTS)
    assert prediction.intent == "order_status"
    assert prediction.confidence == 1.0
    assert list(prediction.entities) == [{"entity": "order_number", "value": "NW-1", "extractor": "payload"}]
    data = prediction.parse_data()
    assert data["intent"] == {"name": "order_status", "confidence": 1.0}
    assert data["entities"] == [{"entity": "order_number", "value": "NW-1", "extractor": "payload"}]
    assert data["intent_ranking"] == [{"name": "order_status", "confidence": 1.0}]


def test_several_entities_keep_their_json_types():
    prediction = parse_payload('/order_status{"order_number": "NW-10001", "count": 2, "gift": true}', INTENTS)
    assert {e["entity"]: e["value"] for e in prediction.entities} == {"order_number": "NW-10001", "count": 2, "gift": True}


def test_empty_json_object():
    prediction = parse_payload("/ask_human{}", INTENTS)
    assert prediction.intent == "ask_human"
    assert prediction.entities == ()


def test_surrounding_whitespace_is_ignored():
    prediction = parse_payload("  /get_started \n", INTENTS)
    assert prediction is not None and prediction.intent == "get_started"


@pytest.mark.parametrize("text", ["/does_not_exist", '/does_not_exist{"a": "b"}', "/Greet"])
def test_unknown_intent_is_out_of_scope(text):
    prediction = parse_payload(text, INTENTS)
    assert prediction is not None
    assert prediction.intent == "nlu_fallback"
    assert prediction.confidence == 1.0
    assert prediction.ranking == (("nlu_fallback", 1.0),)
    assert prediction.entities == ()


@pytest.mark.parametrize(
    "text",
    ['/order_status{"order_number": NW-1}', "/order_status{order_number}", '/greet{"a": 1,}'],
)
def test_bad_json_is_out_of_scope(text):
    prediction = parse_payload(text, INTENTS)
    assert prediction is not None
    assert prediction.intent == "nlu_fallback"
    assert prediction.confidence == 1.0
    assert prediction.entities == ()


@pytest.mark.parametrize(
    "text",
    ["hello", "where is my order NW-10001?", "greet", "hi /greet", "", "   ", "/", "/ greet", "//greet", "/greet now", '/greet{"a": "b"'],
)
def test_plain_text_is_not_a_payload(text):
    assert parse_payload(text, INTENTS) is None
