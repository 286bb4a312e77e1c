"""The entity head's tags (bot/nlu/tagging.py): annotated spans to BILOU word-piece targets,
and tag probabilities back to Rasa's entity objects, with offsets in the original text."""

from __future__ import annotations

import re

import numpy as np

from bot.nlu.tagging import (IGNORE, Span, decode, edge_words, entity_shapes, fit_shape, label_of, strip_edges,
                              tag_names, token_targets)

TEXT = "fly from New York to Paris"
# word pieces as a BERT tokenizer gives them: [CLS] fly from new york to paris [SEP]
PIECES = [(0, 0), (0, 3), (4, 8), (9, 12), (13, 17), (18, 20), (21, 26), (0, 0)]
FROM, TO = label_of("city", "from"), label_of("city", "to")
TAGS = tag_names([TO, FROM])


def one_hot(names: list[str], p: float = 0.9) -> np.ndarray:
    rows = np.full((len(names), len(TAGS)), (1 - p) / (len(TAGS) - 1))
    for i, name in enumerate(names):
        rows[i, TAGS.index(name)] = p
    return rows


def test_tags_are_stable_and_name_entity_role_and_group() -> None:
    assert TAGS == tag_names([FROM, TO, FROM])  # sorted, deduplicated
    assert TAGS[0] == "O" and len(TAGS) == 9 and f"U-{FROM}" in TAGS
    assert label_of("city", None, "2") == "city||2"


def test_spans_become_one_tag_per_word_piece() -> None:
    spans = [Span(9, 17, "city", "New York", "from"), Span(21, 26, "city", "Paris", "to")]
    targets = token_targets(PIECES, spans, TAGS)
    names = [TAGS[t] if t != IGNORE else None for t in targets]
    assert names == [None, "O", "O", f"B-{FROM}", f"L-{FROM}", "O", f"U-{TO}", None]
    # an entity the head has no tag for (not in the training labels) stays O
    assert token_targets(PIECES, [Span(0, 3, "verb", "fly")], TAGS)[1] == TAGS.index("O")


def test_decoding_gives_rasa_entities_with_roles_and_offsets() -> None:
    # scores are the head's logits (here log-probabilities): a model without a CRF decodes them by
    # Viterbi under BILOU's constraints on their softmax
    probabilities = one_hot(["O", "O", "O", f"B-{FROM}", f"L-{FROM}", "O", f"U-{TO}", "O"])
    found = decode(TEXT, PIECES, np.log(probabilities), TAGS, {"new york": "NYC"})
    assert found == [
        {"entity": "city", "start": 9, "end": 17, "confidence_entity": 0.9, "value": "NYC",
         "extractor": "TransformerEntityExtractor", "role": "from", "processors": ["EntitySynonymMapper"]},
        {"entity": "city", "start": 21, "end": 26, "confidence_entity": 0.9, "value": "Paris",
         "extractor": "TransformerEntityExtractor", "role": "to"},
    ]


def test_decoding_keeps_spans_whole_with_one_type_and_whole_words() -> None:
    # a span never ends inside a word: the first piece of "NW10234" alone tagged still gives the word
    text = "order NW10234 please"
    pieces = [(0, 0), (0, 5), (6, 8), (8, 13), (14, 20), (0, 0)]  # order nw ##10234 please
    tags = tag_names(["order_number||"])
    rows = np.full((6, len(tags)), 0.01)
    rows[:, 0] = 0.96
    rows[2] = 0.01
    rows[2, tags.index("U-order_number||")] = 0.96
    (found,) = decode(text, pieces, np.log(rows), tags)
    assert (found["start"], found["end"], found["value"]) == (6, 13, "NW10234")
    assert decode(text, pieces, np.log(np.tile(rows[0], (6, 1))), tags) == []  # all O: nothing
    # "New York" with B-city|from| then L-city|to|: greedy decoding would split it or mix its
    # types; Viterbi gives one span with the likelier type
    two = tag_names([FROM, TO])
    rows = np.full((8, len(two)), 0.01)
    rows[:, 0] = 0.9
    rows[3] = 0.01
    rows[3, two.index(f"B-{FROM}")] = 0.8
    rows[3, two.index(f"B-{TO}")] = 0.15
    rows[4] = 0.01
    rows[4, two.index(f"L-{TO}")] = 0.5
    rows[4, two.index(f"L-{FROM}")] = 0.45
    (found,) = decode(TEXT, PIECES, np.log(rows), two)
    assert (found["value"], found["role"]) == ("New York", "from")
    # a trailing full stop is not part of a span
    rows = np.full((5, len(tags)), 0.01)
    rows[:, 0] = 0.96
    rows[2] = 0.01
    rows[2, tags.index("B-order_number||")] = 0.96
    rows[3] = 0.01
    rows[3, tags.index("L-order_number||")] = 0.96
    (found,) = decode("go NW-1.", [(0, 0), (0, 2), (3, 6), (6, 8), (0, 0)], np.log(rows), tags)
    assert found["value"] == "NW-1"


def test_edge_words_are_those_the_annotations_keep_outside_a_label() -> None:
    item = label_of("item")
    data = [("the blue mug", [Span(4, 12, "item", "blue mug")]),
            ("return the bread knife please", [Span(11, 22, "item", "bread knife")]),
            ("it's the oak tray please", [Span(9, 17, "item", "oak tray")]),
            ("the thing", [Span(0, 9, "item", "the thing")])]  # "the" starts a span once: never stripped
    assert edge_words(data) == {item: {"leading": [], "trailing": ["please"]}}
    edges = edge_words(data[:3])
    assert edges == {item: {"leading": ["the"], "trailing": ["please"]}}
    text = "I'd like to return the ceramic vase please"
    start = text.index("the ceramic")
    assert strip_edges(text, start, len(text), edges[item]) == (text.index("ceramic"), text.index(" please"))
    assert strip_edges("the", 0, 3, edges[item]) == (0, 3)  # a lone edge word stays: something must remain
    assert strip_edges(text, start, len(text), None) == (start, len(text))


def test_decoding_strips_a_labels_edge_words() -> None:
    text = "fly from the Paris"
    pieces = [(0, 0), (0, 3), (4, 8), (9, 12), (13, 18), (0, 0)]
    scores = one_hot(["O", "O", "O", f"B-{TO}", f"L-{TO}", "O"])
    (whole,) = decode(text, pieces, scores, TAGS)
    assert whole["value"] == "the Paris"
    (stripped,) = decode(text, pieces, scores, TAGS, edges={TO: {"leading": ["the"], "trailing": []}})
    assert (stripped["start"], stripped["end"], stripped["value"]) == (13, 18, "Paris")


EMAIL = label_of("email")
EMAIL_REGEX = r"[\w.+-]+@[\w-]+(\.[\w-]+)+"


def test_a_regex_every_annotation_matches_whole_is_the_labels_shape() -> None:
    data = [("my email is ana@example.com", [Span(12, 27, "email", "ana@example.com")]),
            ("reset b.k@example.org please", [Span(6, 19, "email", "b.k@example.org")]),
            ("c@mail.example can't log in", [Span(0, 14, "email", "c@mail.example")])]
    regexes = {"email": [EMAIL_REGEX], "city": ["[A-Z][a-z]+"]}
    assert entity_shapes(data, regexes) == {EMAIL: [EMAIL_REGEX]}
    assert entity_shapes(data[:2], regexes) == {}  # too few annotations to tell
    wide = data + [("it is d at example dot com", [Span(6, 26, "email", "d at example dot com")])]
    assert entity_shapes(wide, regexes) == {}  # one annotation the regex misses: the regex is only a hint
    assert entity_shapes(data, {"email": ["[unclosed"]}) == {}  # a pattern that does not compile is no shape


def test_a_span_fits_the_one_match_of_its_shape_it_overlaps() -> None:
    shape = [re.compile(EMAIL_REGEX)]
    text = "hi, my email is jo@example.com and I can't log in"
    at = text.index("jo@")
    assert fit_shape(text, text.index("email is"), at + 14, shape) == (at, at + 14)  # too wide: cut
    assert fit_shape(text, at, at + 10, shape) == (at, at + 14)  # cut short ("jo@example"): grown back
    assert fit_shape(text, 0, 2, shape) is None  # no match: no entity of this shape
    two = "a@example.com or b@example.com"
    assert fit_shape(two, 0, len(two), shape) == (0, len(two))  # two matches: the head's span stays


def test_decoding_fits_shaped_labels_and_drops_their_shapeless_spans() -> None:
    text = "use jo@example.com for the reset"
    # [CLS] use jo@example.com for the reset [SEP]: the head spans "use" alone, then "jo@example.com for"
    pieces = [(0, 0), (0, 3), (4, 18), (19, 22), (23, 26), (27, 32), (0, 0)]
    tags = tag_names([EMAIL])
    rows = np.full((7, len(tags)), 0.01)
    rows[:, 0] = 0.96
    for row, tag in ((1, "U"), (2, "B"), (3, "L")):
        rows[row] = 0.01
        rows[row, tags.index(f"{tag}-{EMAIL}")] = 0.96
    plain = decode(text, pieces, np.log(rows), tags)
    assert [e["value"] for e in plain] == ["use", "jo@example.com for"]
    (fitted,) = decode(text, pieces, np.log(rows), tags, shapes={EMAIL: [re.compile(EMAIL_REGEX)]})
    assert (fitted["start"], fitted["end"], fitted["value"]) == (4, 18, "jo@example.com")
