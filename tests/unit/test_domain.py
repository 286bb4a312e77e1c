"""bot/domain.py: Rasa domain.yml loading and response rendering."""

from __future__ import annotations

import random
import textwrap
from pathlib import Path

import pytest

from bot.domain import Domain
from bot.errors import ConfigError

TEMPLATE_DOMAIN = Path(__file__).resolve().parents[2] / "bot" / "templates" / "shop" / "domain.yml"


def write_domain(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "domain.yml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def shop() -> Domain:
    return Domain.load(TEMPLATE_DOMAIN)


def test_template_domain_loads(shop):
    assert len(shop.intents) == 17
    assert {"greet", "order_status", "ask_human", "deny"} <= set(shop.intents)
    assert shop.entities == ["order_number"]
    spec = shop.slots["order_number"]
    assert spec.type == "text"
    assert spec.from_entities == ("order_number",)
    assert shop.initial_slots == {"order_number": None}
    assert shop.actions == ["action_order_status"]
    assert shop.has_action("action_order_status")
    assert shop.has_action("utter_greet")
    assert not shop.has_action("utter_nonexistent")
    assert shop.as_dict()["session_config"]["session_expiration_time"] == 60


def test_render_splits_on_blank_lines(shop):
    messages = shop.render("utter_return_item", {})
    assert len(messages) == 2
    assert messages[0]["text"].startswith("You can return most items within 30 days")
    assert messages[1]["text"].startswith("Once the parcel reaches our warehouse")
    assert all("\n\n" not in m["text"] for m in messages)
    assert all(set(m) == {"text"} for m in messages)


def test_render_keeps_buttons(shop):
    for seed in range(6):
        (message,) = shop.render("utter_greet", {}, rng=random.Random(seed))
        assert message["text"]
        assert message["buttons"][0] == {"title": "Where is my order?", "payload": "/order_status"}


def test_render_picks_among_variants(shop):
    texts = {shop.render("utter_goodbye", {}, rng=random.Random(seed))[0]["text"] for seed in range(30)}
    assert len(texts) == 2


def test_unknown_response_raises(shop):
    with pytest.raises(ConfigError, match="utter_nope"):
        shop.render("utter_nope", {})


def test_render_interpolates_slots(tmp_path):
    domain = Domain.load(
        write_domain(
            tmp_path,
            """
            responses:
              utter_status:
                - text: "Order {order_number} for {name} is on its way. {unknown} stays."
            """,
        )
    )
    (message,) = domain.render("utter_status", {"order_number": "NW-10002", "name": "Ben"})
    assert message == {"text": "Order NW-10002 for Ben is on its way. {unknown} stays."}
    (numeric,) = domain.render("utter_status", {"order_number": 7, "name": "Ann"})
    assert numeric["text"].startswith("Order 7 for Ann")


def test_buttons_go_with_the_last_part(tmp_path):
    domain = Domain.load(
        write_domain(
            tmp_path,
            """
            responses:
              utter_menu:
                - text: "First part.\\n\\nSecond part for {name}.\\n\\n\\n\\nThird part."
                  buttons:
                    - title: "Yes"
                      payload: "/affirm"
                  image: "https://example.com/a.png"
            """,
        )
    )
    messages = domain.render("utter_menu", {"name": "Cleo"})
    assert [m["text"] for m in messages] == ["First part.", "Second part for Cleo.", "Third part."]
    assert "buttons" not in messages[0] and "buttons" not in messages[1]
    assert "image" not in messages[0]
    assert messages[2]["buttons"] == [{"title": "Yes", "payload": "/affirm"}]
    assert messages[2]["image"] == "https://example.com/a.png"


def test_render_does_not_share_buttons_with_the_domain(tmp_path):
    domain = Domain.load(
        write_domain(
            tmp_path,
            """
            responses:
              utter_menu:
                - text: "Pick one"
                  buttons:
                    - title: "Yes"
                      payload: "/affirm"
            """,
        )
    )
    (message,) = domain.render("utter_menu", {})
    message["text"] = "changed"
    (again,) = domain.render("utter_menu", {})
    assert again["text"] == "Pick one"


def test_response_without_text(tmp_path):
    domain = Domain.load(
        write_domain(
            tmp_path,
            """
            responses:
              utter_picture:
                - image: "https://example.com/cat.png"
                  buttons: []
            """,
        )
    )
    assert domain.render("utter_picture", {}) == [{"image": "https://example.com/cat.png"}]


def test_slots_from_entities(tmp_path):
    domain = Domain.load(
        write_domain(
            tmp_path,
            """
            intents:
              - greet
              - inform: {use_entities: [city]}
            entities:
              - city
              - order_number
            slots:
              destination:
                type: text
                initial_value: "Berlin"
                mappings:
                  - type: from_entity
                    entity: city
                  - type: from_text
              order_number:
                type: text
                mappings:
                  - type: from_entity
                    entity: order_number
              mood:
                type: categorical
                mappings:
                  - type: from_intent
                    intent: greet
                    value: happy
            """,
        )
    )
    assert domain.intents == ["greet", "inform"]
    assert domain.slots["destination"].from_entities == ("city",)
    assert domain.slots["mood"].from_entities == ()
    assert domain.initial_slots == {"destination": "Berlin", "order_number": None, "mood": None}
    values = domain.slots_from_entities(
        [
            {"entity": "city", "value": "Paris"},
            {"entity": "order_number", "value": "NW-10003"},
            {"entity": "colour", "value": "red"},
        ]
    )
    assert values == {"destination": "Paris", "order_number": "NW-10003"}
    assert domain.slots_from_entities([]) == {}
    assert domain.slots_from_entities([{"entity": "colour", "value": "red"}]) == {}


def test_template_slots_from_entities(shop):
    assert shop.slots_from_entities([{"entity": "order_number", "value": "NW-10001", "start": 0, "end": 8}]) == {
        "order_number": "NW-10001"
    }


@pytest.mark.parametrize(
    "responses",
    [
        "utter_x: hello",
        "utter_x: []",
        "utter_x:",
        "utter_x: {text: hello}",
    ],
)
def test_malformed_responses_raise(tmp_path, responses):
    path = write_domain(tmp_path, f"intents: [greet]\nresponses:\n  {responses}\n")
    with pytest.raises(ConfigError, match="utter_x"):
        Domain.load(path)


def test_response_variant_that_is_not_a_mapping_raises_at_load(tmp_path):
    # `- hello` instead of `- text: hello`: a list, but its variant is a string. Load must
    # refuse it (ConfigError is a start-up error); otherwise render() fails inside a turn.
    path = write_domain(tmp_path, "responses:\n  utter_x:\n    - hello\n")
    with pytest.raises(ConfigError, match="utter_x"):
        Domain.load(path)


def test_missing_or_empty_domain_raises(tmp_path):
    with pytest.raises(ConfigError, match="missing or empty"):
        Domain.load(tmp_path / "domain.yml")
    with pytest.raises(ConfigError, match="missing or empty"):
        Domain.load(write_domain(tmp_path, "# nothing\n"))


def test_invalid_yaml_raises(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        Domain.load(write_domain(tmp_path, "intents: [greet\nresponses: {"))
