"""Entities learned in the fine-tuned network's own forward pass: annotations with roles, groups
and synonyms in nlu.yml, trained with `switchboard train nlu`, extracted from messages whose
values the model never saw, with Rasa's entity objects in the parse result."""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

CITIES = ["Berlin", "Paris", "Madrid", "Rome", "Vienna", "Lisbon", "Oslo", "Prague", "Dublin", "Warsaw",
          "Athens", "Zurich", "Munich", "Milan", "Porto", "Seville", "Krakow", "Hamburg"]
UNSEEN = ["Helsinki", "Budapest", "Copenhagen", "Brussels", "Edinburgh", "Stockholm"]
FLIGHTS = ['fly from [{a}]{{"entity": "city", "role": "from"}} to [{b}]{{"entity": "city", "role": "to"}}',
           'I need a flight to [{b}]{{"entity": "city", "role": "to"}} from [{a}]{{"entity": "city", "role": "from"}}',
           'book me a ticket from [{a}]{{"entity": "city", "role": "from"}} to [{b}]{{"entity": "city", "role": "to"}} please',
           'any flights [{a}]{{"entity": "city", "role": "from"}} to [{b}]{{"entity": "city", "role": "to"}} tomorrow?',
           'going to [{b}]{{"entity": "city", "role": "to"}} next week, leaving from [{a}]{{"entity": "city", "role": "from"}}']
DRINKS = ["[two](quantity) [lattes](drink)", "can I get [one](quantity) [espresso](drink)",
          "[three](quantity) [cappuccinos](drink) please", "I'd like a [flat white](drink:flatwhite)",
          "[a](quantity) [flat white](drink:flatwhite) and [two](quantity) [mochas](drink)",
          "order [four](quantity) [americanos](drink)", "[one](quantity) [tea](drink) for me",
          "get me [two](quantity) [flat whites](drink:flatwhite)", "a [hot chocolate](drink) please",
          "[five](quantity) [teas](drink) to go"]
GREET = ["hi", "hello there", "good morning", "hey", "hello", "hi there", "good evening", "hey bot", "morning", "yo"]


def run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SWITCHBOARD_TRAIN_THREADS": os.environ.get("SWITCHBOARD_TRAIN_THREADS", "2")}
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True, timeout=900, env=env)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = random.Random(3)
    flights = [t.format(a=a, b=b) for t in FLIGHTS for a, b in (rng.sample(CITIES, 2) for _ in range(4))]
    lines = ['version: "3.1"', "nlu:"]
    for intent, examples in (("book_flight", flights), ("order_drink", DRINKS), ("greet", GREET)):
        lines += [f"- intent: {intent}", "  examples: |"] + [f"    - {e}" for e in examples]
    lines += ["- synonym: tea", "  examples: |", "    - teas", "    - cuppa"]
    root = tmp_path_factory.mktemp("entity-head")
    (root / "nlu.yml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = root / "model"
    result = run("train", "nlu", "--data", str(root / "nlu.yml"), "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def test_the_artifact_names_its_tags_and_learned_synonyms(model: Path) -> None:
    meta = json.loads((model / "meta.json").read_text())
    assert meta["entity_tags"][0] == "O" and "U-city|to|" in meta["entity_tags"] and "B-drink||" in meta["entity_tags"]
    # inline values are synonyms, as Rasa learns them; the synonym block too
    assert meta["synonyms"] == {"flat white": "flatwhite", "flat whites": "flatwhite", "teas": "tea", "cuppa": "tea"}
    assert meta["metrics"]["entity_examples"] == len(FLIGHTS) * 4 + len(DRINKS)


def test_entities_with_roles_come_from_the_same_pass_for_values_never_seen(model: Path) -> None:
    from bot.nlu.transformer import TransformerClassifier

    classifier = TransformerClassifier(model, quantize="int8")
    texts = [f"fly from {a} to {b}" for a, b in zip(UNSEEN, UNSEEN[1:] + UNSEEN[:1])]
    texts += [f"I need a flight to {b} from {a}" for a, b in zip(UNSEEN, reversed(UNSEEN))]
    right = 0
    for text, p in zip(texts, classifier.predict(texts)):
        got = {(e.get("role"), e["value"]) for e in p.entities if e["entity"] == "city"}
        words = text.split()
        want = {("from", words[words.index("from") + 1]), ("to", words[words.index("to") + 1])}
        right += got == want and p.intent == "book_flight"
        for e in p.entities:  # offsets point into the message as it was written
            assert text[e["start"]:e["end"]] == e["value"] and 0 < e["confidence_entity"] <= 1
    assert right >= len(texts) - 2, right


def test_synonyms_map_values_and_messages_without_entities_have_none(model: Path) -> None:
    from bot.nlu.transformer import TransformerClassifier

    classifier = TransformerClassifier(model, quantize="int8")
    drinks, hello = classifier.predict(["six flat whites and a cuppa please", "hello there, good morning"])
    assert hello.entities == ()
    values = {(e["entity"], e["value"]) for e in drinks.entities}
    assert ("drink", "flatwhite") in values and ("drink", "tea") in values, drinks.entities
    mapped = next(e for e in drinks.entities if e["value"] == "flatwhite")
    assert mapped["processors"] == ["EntitySynonymMapper"] and mapped["extractor"] == "TransformerEntityExtractor"
    parse = drinks.parse_data()
    assert parse["entities"] == [dict(e) for e in drinks.entities]
    assert {"entity", "start", "end", "value", "confidence_entity", "extractor"} <= set(parse["entities"][0])


def test_evaluate_nlu_reports_the_entities(model: Path, tmp_path: Path) -> None:
    test = tmp_path / "test.yml"
    test.write_text('version: "3.1"\nnlu:\n- intent: book_flight\n  examples: |\n'
                    '    - fly from [Helsinki]{"entity": "city", "role": "from"} to [Budapest]{"entity": "city", "role": "to"}\n'
                    '    - I need a flight to [Brussels]{"entity": "city", "role": "to"} from [Stockholm]{"entity": "city", "role": "from"}\n'
                    "- intent: order_drink\n  examples: |\n    - [two](quantity) [mochas](drink) please\n", encoding="utf-8")
    out = tmp_path / "report"
    result = run("evaluate", "nlu", "--model", str(model), "--data", str(test), "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    entities = json.loads((out / "report.json").read_text())["entities"]
    assert entities["entities"] == 6 and entities["micro"]["f1"] >= 0.8, entities
    assert {"city role=from", "city role=to", "drink", "quantity"} <= set(entities["per_entity"])
    assert "micro precision" in (out / "summary.md").read_text()


def test_entity_families_modes(model: Path) -> None:
    from bot.errors import ConfigError
    from bot.nlu.transformer import TransformerClassifier

    with pytest.raises(ConfigError, match="nlu.entity_families must be one of soft, strict, off"):
        TransformerClassifier(model, entity_families="hard")
    off = TransformerClassifier(model, quantize="int8", entity_families="off")
    assert off.families.active  # flights and drinks: two families, which `off` does not use
    texts = ["two lattes please", "fly from Helsinki to Budapest"]
    contexts = [("book_flight",), ("order_drink",)]  # each turn in the other family's conversation
    intents = off.outputs(texts).intents
    assert off._biases(intents, contexts) == [None, None]  # no family weighs any span
    assert off.outputs(texts, contexts=contexts).entities == off.outputs(texts).entities
    strict = TransformerClassifier(model, quantize="int8", entity_families="strict")
    biases = strict._biases(intents, contexts)
    assert all(b is not None and -math.inf in b.values() for b in biases)  # strict: a hard mask
    for prediction in strict.predict(texts, contexts):  # a turn that names its own domain keeps its types
        assert {e["entity"] for e in prediction.entities} in ({"quantity", "drink"}, {"city"}), prediction.entities
