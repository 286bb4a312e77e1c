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
    assert len(shop.intents) == 19
    assert {"greet", "order_status", "ask_human", "deny", "start_return", "inform"} <= set(shop.intents)
    assert shop.entities == ["order_number", "return_reason", "item", "email"]
    spec = shop.slots["order_number"]
    assert spec.type == "text"
    assert [(m.type, m.entity) for m in spec.mappings] == [("from_entity", "order_number"), ("from_text", None)]
    assert shop.initial_slots["order_number"] is None and shop.initial_slots["cancel_offered"] is False
    assert list(shop.forms) == ["return_form"]
    assert shop.actions == ["action_order_status", "action_cancel_order", "action_confirm_cancel",
                            "validate_return_form", "action_submit_return"]
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
    assert set(messages[0]) == {"text"} and set(messages[1]) == {"text", "buttons"}  # buttons go last


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
                - text: "Order {order_number} for {name} is on its way."
              utter_unknown:
                - text: "Order {order_number}: {unknown} stays, and so does the rest."
            """,
        )
    )
    (message,) = domain.render("utter_status", {"order_number": "NW-10002", "name": "Ben"})
    assert message == {"text": "Order NW-10002 for Ben is on its way."}
    (kept,) = domain.render("utter_unknown", {"order_number": "NW-10002"})  # as Rasa: one unknown key, no filling
    assert kept == {"text": "Order {order_number}: {unknown} stays, and so does the rest."}
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


def test_slots_and_entity_filters(tmp_path):
    domain = Domain.load(
        write_domain(
            tmp_path,
            """
            intents:
              - greet
              - inform: {use_entities: [city]}
              - chat: {use_entities: false}
              - ask: {ignore_entities: [city]}
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
              mood:
                type: categorical
                values: [happy, sad]
                mappings:
                  - type: from_intent
                    intent: greet
                    value: happy
            forms:
              trip_form:
                required_slots: [destination]
            session_config:
              session_expiration_time: 0
              carry_over_slots_to_new_session: false
            """,
        )
    )
    assert domain.intents == ["greet", "inform", "chat", "ask"]
    assert [m.type for m in domain.slots["destination"].mappings] == ["from_entity", "from_text"]
    assert domain.initial_slots == {"destination": "Berlin", "mood": None}
    assert domain.intent_entities == {"greet": None, "inform": frozenset({"city"}), "chat": frozenset(),
                                      "ask": frozenset({"order_number"})}
    assert domain.forms["trip_form"].required_slots == ("destination",)
    assert domain.has_action("trip_form") and domain.has_action("action_restart")
    assert (domain.session.expiration_minutes, domain.session.carry_over_slots) == (0.0, False)


def test_a_rasa_2_domain_names_the_migration(tmp_path):
    path = write_domain(tmp_path, """
        version: "2.0"
        intents: [greet]
        slots:
          cuisine: {type: text, auto_fill: true}
        """)
    with pytest.raises(ConfigError, match="switchboard data migrate"):
        Domain.load(path)


def test_a_domain_directory_and_responses_in_data_files(tmp_path):
    (tmp_path / "domain").mkdir()
    (tmp_path / "domain" / "intents.yml").write_text('version: "3.1"\nintents: [greet]\n', encoding="utf-8")
    (tmp_path / "domain" / "responses.yml").write_text(
        'version: "3.1"\nresponses:\n  utter_greet:\n  - text: hi\n', encoding="utf-8")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "more.yml").write_text(
        'version: "3.1"\nresponses:\n  utter_bye:\n  - text: bye\n', encoding="utf-8")
    domain = Domain.load(tmp_path)
    assert domain.intents == ["greet"] and set(domain.responses) == {"utter_greet", "utter_bye"}


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
