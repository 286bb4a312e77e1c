"""bot/nlu/patterns.py: regexes and lookup tables as Rasa's RegexEntityExtractor (entities, with
synonyms) and RegexFeaturizer (0/1 features per word piece) use them."""

from __future__ import annotations

import numpy as np

from bot.nlu.patterns import PatternExtractor, PatternFeatures, PatternOptions, lookup_pattern

EXTRACTOR = PatternOptions(case_sensitive=False)  # RegexEntityExtractor's defaults


def RegexEntities(regexes: dict[str, list[str]], synonyms: dict[str, str] | None = None) -> PatternExtractor:
    return PatternExtractor(regexes, {}, EXTRACTOR, synonyms=synonyms)

ORDER = r"\bNW-?\d{5}\b"


def test_extracts_value_and_position():
    text = "where is my order NW-10234 please"
    (entity,) = RegexEntities({"order_number": [ORDER]}).extract(text)
    assert entity == {
        "entity": "order_number",
        "start": 18,
        "end": 26,
        "value": "NW-10234",
        "extractor": "RegexEntityExtractor",
    }
    assert text[entity["start"] : entity["end"]] == "NW-10234"


def test_matching_ignores_case_and_keeps_the_surface_text():
    (entity,) = RegexEntities({"order_number": [ORDER]}).extract("nw10234 is late")
    assert (entity["start"], entity["end"], entity["value"]) == (0, 7, "nw10234")


def test_no_match():
    extractor = RegexEntities({"order_number": [ORDER]})
    assert extractor.extract("my order is late") == []
    assert extractor.extract("NW-123456") == []
    assert extractor.extract("") == []
    assert RegexEntities({}).extract("NW-10234") == []


def test_several_matches_of_one_pattern():
    text = "NW-10001 and NW-10002, also nw10003"
    found = RegexEntities({"order_number": [ORDER]}).extract(text)
    assert [e["value"] for e in found] == ["NW-10001", "NW-10002", "nw10003"]
    assert [(e["start"], e["end"]) for e in found] == [(0, 8), (13, 21), (28, 35)]
    for e in found:
        assert text[e["start"] : e["end"]] == e["value"]


def test_several_entities_and_patterns():
    extractor = RegexEntities(
        {
            "order_number": [ORDER],
            "email": [r"[\w.+-]+@[\w-]+\.[\w.]+"],
            "zip": [r"(?<=postcode )\d{5}\b", r"\b[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}\b"],
        }
    )
    text = "order NW-10001 for anna@example.com, postcode 10115 or SW1A 1AA"
    found = extractor.extract(text)
    by_entity: dict[str, list[str]] = {}
    for e in found:
        by_entity.setdefault(e["entity"], []).append(e["value"])
        assert text[e["start"] : e["end"]].lower() == e["value"].lower()
    assert by_entity == {
        "order_number": ["NW-10001"],
        "email": ["anna@example.com"],
        "zip": ["10115", "SW1A 1AA"],
    }


def test_synonyms_map_values():
    extractor = RegexEntities(
        {"method": [r"\b(?:pay ?pal|pp|credit card|visa)\b"]},
        synonyms={"PayPal": "paypal", "pp": "paypal", "Visa": "credit_card", "credit card": "credit_card"},
    )
    found = extractor.extract("can I use PP or Paypal or VISA instead of a credit card")
    assert [e["value"] for e in found] == ["paypal", "paypal", "credit_card", "credit_card"]
    assert [e["entity"] for e in found] == ["method"] * 4
    text = "can I use PP or Paypal or VISA instead of a credit card"
    assert [text[e["start"] : e["end"]] for e in found] == ["PP", "Paypal", "VISA", "credit card"]


def test_values_without_synonym_are_kept():
    extractor = RegexEntities({"order_number": [ORDER]}, synonyms={"nw-10001": "NW-99999"})
    found = extractor.extract("NW-10001 NW-10002")
    assert [e["value"] for e in found] == ["NW-99999", "NW-10002"]


def test_lookup_tables_extract_whole_words_longest_first() -> None:
    extractor = PatternExtractor({}, {"city": ["York", "New York", "Lisbon"]}, EXTRACTOR)
    found = extractor.extract("from new york to Lisbon, not Yorkshire")
    assert [(e["value"], e["start"]) for e in found] == [("new york", 5), ("Lisbon", 17)]
    assert lookup_pattern(["a.b"]) == r"(?<!\w)(?:a\.b)(?!\w)"  # elements are escaped


def test_options_switch_regexes_and_lookups_off() -> None:
    regexes, lookups = {"order_number": [ORDER]}, {"city": ["Lisbon"]}
    text = "NW-10001 to Lisbon"
    assert [e["entity"] for e in PatternExtractor(regexes, lookups, EXTRACTOR).extract(text)] == ["order_number", "city"]
    no_lookups = PatternOptions(use_lookup_tables=False, case_sensitive=False)
    assert [e["entity"] for e in PatternExtractor(regexes, lookups, no_lookups).extract(text)] == ["order_number"]
    no_regexes = PatternOptions(use_regexes=False, case_sensitive=False)
    assert [e["entity"] for e in PatternExtractor(regexes, lookups, no_regexes).extract(text)] == ["city"]
    # only patterns named like an entity of the data extract (Rasa's use_only_entities)
    assert PatternExtractor(regexes, lookups, EXTRACTOR, entities=["city"]).extract(text)[0]["entity"] == "city"


def test_featurizer_is_case_sensitive_by_default_and_marks_pieces() -> None:
    features = PatternFeatures({"order_number": [ORDER]}, {"city": ["Lisbon"]}, PatternOptions())
    text = "NW-10001 to lisbon and Lisbon"
    # word pieces as a tokenizer gives them: (0, 0) for the special tokens
    pieces = [(0, 0), (0, 2), (2, 3), (3, 8), (9, 11), (12, 18), (19, 22), (23, 29), (0, 0)]
    matrix = features.piece_features(text, pieces)
    assert matrix.shape == (9, 2)
    assert matrix[:, 0].tolist() == [0, 1, 1, 1, 0, 0, 0, 0, 0]  # the order number's three pieces
    assert matrix[:, 1].tolist() == [0, 0, 0, 0, 0, 0, 0, 1, 0]  # "Lisbon", not "lisbon"
    insensitive = PatternFeatures({}, {"city": ["Lisbon"]}, PatternOptions(case_sensitive=False))
    assert np.flatnonzero(insensitive.piece_features(text, pieces)[:, 0]).tolist() == [5, 7]
