"""training/data.py: Rasa nlu.yml, CSV and JSONL training data, and the data hash."""

from __future__ import annotations

import textwrap
from collections import Counter
from pathlib import Path

import pytest

from bot.errors import ConfigError
from training.data import files_hash, load_csv, load_jsonl, load_nlu, load_rasa_nlu, strip_annotations

TEMPLATE_NLU = Path(__file__).resolve().parents[2] / "bot" / "templates" / "shop" / "data" / "nlu.yml"


# --- strip_annotations ---------------------------------------------------------------------


def test_strip_plain_entity():
    assert strip_annotations("where is [NW-10234](order_number)") == (
        "where is NW-10234",
        (("order_number", "NW-10234"),),
    )


def test_strip_entity_with_value():
    assert strip_annotations("serving [gastro pub](cuisine:gastropub) food") == (
        "serving gastro pub food",
        (("cuisine", "gastropub"),),
    )


def test_strip_json_annotation():
    assert strip_annotations('fly to [NYC]{"entity": "city", "value": "New York"} tomorrow') == (
        "fly to NYC tomorrow",
        (("city", "New York"),),
    )
    assert strip_annotations('to [Paris]{"entity": "city", "role": "destination"}') == (
        "to Paris",
        (("city", "Paris"),),
    )


def test_strip_several_annotations():
    text, entities = strip_annotations('[two](guests) seats [outside](seating) at [8pm]{"entity": "time", "value": "20:00"}')
    assert text == "two seats outside at 8pm"
    assert entities == (("guests", "two"), ("seating", "outside"), ("time", "20:00"))


def test_strip_without_annotations():
    assert strip_annotations("hello [there] (friend) {x}") == ("hello [there] (friend) {x}", ())
    assert strip_annotations("") == ("", ())


def test_strip_unreadable_json_keeps_the_text():
    text, entities = strip_annotations("[NYC]{entity: city} is big")
    assert text == "NYC is big"
    assert entities == ()


# --- load_rasa_nlu -------------------------------------------------------------------------


def test_template_nlu():
    data = load_rasa_nlu(TEMPLATE_NLU)
    counts = Counter(e.label for e in data.examples)
    assert len(counts) >= 15
    assert min(counts.values()) >= 10, counts
    assert data.regexes["order_number"] == [r"\b[Nn][Ww]-?\d{5}\b"]
    assert all("](" not in e.text and not e.text.startswith("- ") for e in data.examples)
    annotated = [e for e in data.examples if e.entities]
    assert annotated, "the template annotates its entities for the learned head"
    names = Counter(name for e in annotated for name, _ in e.entities)
    assert set(names) == {"order_number", "item", "email"} and min(names.values()) >= 10, names
    assert "email" in data.regexes  # a feature of the entity head (config.yml: Rasa's default RegexFeaturizer)
    where = next(e for e in data.examples if e.text == "where is NW-10234")
    assert where.label == "order_status"
    assert where.entities == (("order_number", "NW-10234"),)


@pytest.mark.parametrize("bot", ["formbot", "moodbot", "reminderbot", "rasa-init-3.6.21"])
def test_rasa_example_bots_load(shared_data, bot):
    path = shared_data / "rasa-examples" / bot / "data" / "nlu.yml"
    data = load_rasa_nlu(path)
    assert data.examples
    labels = {e.label for e in data.examples}
    assert len(labels) == path.read_text(encoding="utf-8").count("intent:")
    for example in data.examples:
        assert example.text and example.label
        assert "](" not in example.text and "[" not in example.text, example.text
        assert not example.text.startswith("-")


def test_rasa_examples_keep_entities(shared_data):
    data = load_rasa_nlu(shared_data / "rasa-examples" / "formbot" / "data" / "nlu.yml")
    by_text = {e.text: e for e in data.examples}
    assert by_text["serving gastro pub"].entities == (("cuisine", "gastropub"),)
    assert by_text["can i get swedish food in any area"].entities == (("cuisine", "swedish"),)
    assert by_text["i want to seat outside"].entities == (("seating", "outside"),)


def test_moodbot_intents(shared_data):
    data = load_rasa_nlu(shared_data / "rasa-examples" / "moodbot" / "data" / "nlu.yml")
    labels = Counter(e.label for e in data.examples)
    assert {"greet", "goodbye", "mood_great", "mood_unhappy", "bot_challenge"} <= set(labels)
    assert labels["greet"] >= 5


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def test_synonyms_lookups_regexes_and_list_examples(tmp_path):
    path = write(
        tmp_path,
        "nlu.yml",
        """
        version: "3.1"
        nlu:
        - intent: check_balance
          metadata: {sentiment: neutral}
          examples: |
            - how much is in my [savings](account) account
            - what's my [credit card account](account:credit) balance
            -
            - balance please
        - intent: greet
          examples:
            - hi
            - "  hello  "
            - ""
        - synonym: credit
          examples: |
            - credit card account
            - Credit Account
        - lookup: city
          examples: |
            - Berlin
            - Paris
        - regex: account_number
          examples: |
            - \\d{10,12}
        - regex: account_number
          examples: |
            - ACC-\\d+
        - just a string
        """,
    )
    data = load_rasa_nlu(path)
    assert [(e.text, e.label) for e in data.examples] == [
        ("how much is in my savings account", "check_balance"),
        ("what's my credit card account balance", "check_balance"),
        ("balance please", "check_balance"),
        ("hi", "greet"),
        ("hello", "greet"),
    ]
    assert data.examples[1].entities == (("account", "credit"),)
    assert data.synonyms == {"credit card account": "credit", "credit account": "credit"}
    assert data.regexes == {"account_number": [r"\d{10,12}", r"ACC-\d+"]}
    assert not any(e.text in ("Berlin", "Paris") for e in data.examples)


def test_invalid_yaml(tmp_path):
    path = write(tmp_path, "nlu.yml", "nlu:\n- intent: [greet\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_rasa_nlu(path)


def test_empty_file(tmp_path):
    assert load_rasa_nlu(write(tmp_path, "nlu.yml", "")).examples == []


# --- CSV / JSONL / load_nlu ----------------------------------------------------------------


def test_load_csv(tmp_path):
    path = write(tmp_path, "data.csv", 'text,label\n  where is my parcel ,order_status\n"hi, there",greet\n,greet\n')
    data = load_csv(path)
    assert [(e.text, e.label) for e in data.examples] == [("where is my parcel", "order_status"), ("hi, there", "greet")]


def test_load_csv_custom_columns(tmp_path):
    path = write(tmp_path, "s.csv", "sentence,mood\nlove it,positive\n")
    assert [(e.text, e.label) for e in load_csv(path, "sentence", "mood").examples] == [("love it", "positive")]


@pytest.mark.parametrize("content", ["text,intent\nhi,greet\n", "label\ngreet\n", "", "sentence,label\nhi,greet\n"])
def test_load_csv_missing_columns(tmp_path, content):
    path = write(tmp_path, "bad.csv", content)
    with pytest.raises(ConfigError, match="columns"):
        load_csv(path)


def test_load_jsonl(tmp_path):
    path = write(
        tmp_path,
        "data.jsonl",
        '{"text": " hi ", "intent": "greet"}\n\n{"text": "bye", "label": "goodbye"}\n{"text": "", "intent": "greet"}\n{"text": "x"}\n',
    )
    data = load_jsonl(path)
    assert [(e.text, e.label) for e in data.examples] == [("hi", "greet"), ("bye", "goodbye")]


def test_load_jsonl_bad_line_names_the_line(tmp_path):
    path = write(tmp_path, "data.jsonl", '{"text": "hi", "intent": "greet"}\n\n{"text": "oops", \n')
    with pytest.raises(ConfigError) as info:
        load_jsonl(path)
    assert f"{path}:3" in str(info.value)


def test_load_jsonl_non_object_line_is_config_error(tmp_path):
    # valid JSON, but not an object: a bad line all the same, to be reported with its number
    path = write(tmp_path, "data.jsonl", '{"text": "hi", "intent": "greet"}\n["bye", "goodbye"]\n')
    with pytest.raises(ConfigError, match=r"data\.jsonl:2"):
        load_jsonl(path)


def test_load_nlu_merges_by_suffix(tmp_path):
    yml = write(
        tmp_path,
        "nlu.yml",
        """
        nlu:
        - intent: greet
          examples: |
            - hi
        - regex: order_number
          examples: |
            - NW-\\d{5}
        - synonym: paypal
          examples: |
            - pay pal
        """,
    )
    more = write(
        tmp_path,
        "nlu_more.yml",
        """
        nlu:
        - regex: order_number
          examples: |
            - \\d{5}
        """,
    )
    csv_file = write(tmp_path, "extra.csv", "text,label\nbye,goodbye\n")
    jsonl = write(tmp_path, "extra.jsonl", '{"text": "thanks", "intent": "thanks"}\n')
    data = load_nlu([yml, more, csv_file, jsonl])
    assert [(e.text, e.label) for e in data.examples] == [("hi", "greet"), ("bye", "goodbye"), ("thanks", "thanks")]
    assert data.regexes == {"order_number": [r"NW-\d{5}", r"\d{5}"]}
    assert data.synonyms == {"pay pal": "paypal"}


def test_load_nlu_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_nlu([tmp_path / "missing.yml"])
    txt = write(tmp_path, "notes.txt", "hi\n")
    with pytest.raises(ConfigError, match="cannot read"):
        load_nlu([txt])


# --- files_hash ----------------------------------------------------------------------------


def test_files_hash(tmp_path):
    a = write(tmp_path, "a.yml", "nlu: []\n")
    b = write(tmp_path, "b.csv", "text,label\nhi,greet\n")
    first = files_hash([a, b], "recipe-1")
    assert first == files_hash([a, b], "recipe-1")
    assert first == files_hash([b, a], "recipe-1")
    assert len(first) == 16 and int(first, 16) >= 0

    assert files_hash([a, b], "recipe-2") != first
    assert files_hash([a, b]) != first
    assert files_hash([a], "recipe-1") != first

    b.write_text("text,label\nhello,greet\n", encoding="utf-8")
    changed = files_hash([a, b], "recipe-1")
    assert changed != first
    b.write_text("text,label\nhi,greet\n", encoding="utf-8")
    assert files_hash([a, b], "recipe-1") == first


def test_files_hash_depends_on_file_names(tmp_path):
    a = write(tmp_path, "a.yml", "same")
    c = write(tmp_path, "c.yml", "same")
    assert files_hash([a]) != files_hash([c])
