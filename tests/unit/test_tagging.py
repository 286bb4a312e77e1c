"""The entity head's tags (bot/nlu/tagging.py): annotated spans to BILOU word-piece targets,
and tag probabilities back to Rasa's entity objects, with offsets in the original text."""

from __future__ import annotations

import numpy as np

from bot.nlu.tagging import IGNORE, Span, decode, label_of, tag_names, token_targets

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
    probabilities = one_hot(["O", "O", "O", f"B-{FROM}", f"L-{FROM}", "O", f"U-{TO}", "O"])
    found = decode(TEXT, PIECES, probabilities, TAGS, {"new york": "NYC"})
    assert found == [
        {"entity": "city", "start": 9, "end": 17, "confidence_entity": 0.9, "value": "NYC",
         "extractor": "TransformerEntityExtractor", "role": "from", "processors": ["EntitySynonymMapper"]},
        {"entity": "city", "start": 21, "end": 26, "confidence_entity": 0.9, "value": "Paris",
         "extractor": "TransformerEntityExtractor", "role": "to"},
    ]


def test_decoding_is_lenient_and_keeps_whole_words() -> None:
    # an L- without its B- still makes a span; a span never ends inside a word
    text = "order NW10234 please"
    pieces = [(0, 0), (0, 5), (6, 8), (8, 13), (14, 20), (0, 0)]  # order nw ##10234 please
    tags = tag_names(["order_number||"])
    rows = np.full((6, len(tags)), 0.01)
    rows[:, 0] = 0.96
    rows[2] = 0.01
    rows[2, tags.index("U-order_number||")] = 0.96  # only the first piece of the word tagged
    (found,) = decode(text, pieces, rows, tags)
    assert (found["start"], found["end"], found["value"]) == (6, 13, "NW10234")
    rows[2] = rows[0]
    rows[3] = 0.01
    rows[3, tags.index("L-order_number||")] = 0.96
    (found,) = decode(text, pieces, rows, tags)
    assert found["value"] == "NW10234"
    assert decode(text, pieces, np.tile(rows[0], (6, 1)), tags) == []  # all O: nothing
