"""bot/json_input.py: strict JSON from outside, errors naming the place of the problem."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.errors import BadRequest
from bot.json_input import MAX_DEPTH, check, check_text, loads

REFUSED = [
    (b'{"metadata": {"score": NaN}}', "'metadata.score' is NaN"),
    (b'{"metadata": {"score": Infinity}}', "'metadata.score' is infinite"),
    (b'{"slots": [1, -Infinity]}', "'slots[1]' is infinite"),
    (b'{"timestamp": 1e400}', "'timestamp' is infinite"),
    (b'{"timestamp": -1e400}', "'timestamp' is infinite"),
    (b'{"n": 99999999999999999999999}', "'n' is an integer wider than 64 bits"),
    (b'{"n": ' + b"9" * 5000 + b"}", "too many digits"),
    (b'{"sender": "a\\u0000b"}', "'sender' contains a NUL character"),
    (b'{"metadata": {"a\\u0000": 1}}', "a key in 'metadata' (\"a\\u0000\") contains a NUL"),
    (b'{"message": "\\ud800"}', "'message' contains a lone surrogate (\\ud800)"),
    (b'{"message": "x\\udfff"}', "'message' contains a lone surrogate (\\udfff)"),
    (b'{"message": "\\ude00\\ud83d"}', "lone surrogate"),  # a pair in the wrong order
    (b'{"metadata": {"\\ud800": 1}}', "a key in 'metadata'"),
    (b'{"events": [{"parse_data": {"entities": [{"value": "\\u0000"}]}}]}',
     "'events[0].parse_data.entities[0].value' contains a NUL"),
    (b'{"odd key": {"x": NaN}}', "'[\"odd key\"].x' is NaN"),
    (b"[" * 10_000 + b"]" * 10_000, "nested too deeply"),
    (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "nested too deeply at '[0][0]"),
    (b'{"a": ' * 200 + b"1" + b"}" * 200, "nested too deeply"),
    (b"{not json", "not valid JSON"),
    (b"\xff\xfe", "not valid JSON"),
    (b'"\\u0000"', "the request body contains a NUL"),
]


@pytest.mark.parametrize(("raw", "words"), REFUSED)
def test_refused_with_the_place_named(raw: bytes, words: str) -> None:
    with pytest.raises(BadRequest) as caught:
        loads(raw)
    assert words in str(caught.value)
    assert caught.value.status == 400
    str(caught.value).encode("utf-8")  # the message itself is valid text


def test_accepted_json_comes_back_as_parsed() -> None:
    raw = b'{"text": "caf\\u00e9 \\ud83d\\ude00", "n": -9223372036854775807, "f": 1e308, "deep": ' \
          + b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 1) + b"}"
    value = loads(raw)
    assert value["text"] == "café 😀" and value["f"] == 1e308


def test_raw_surrogate_bytes_are_refused_too() -> None:
    """json.loads reads bytes with surrogatepass: CESU-style bytes become a lone surrogate."""
    raw = '{"k": "\udc80"}'.encode("utf-8", "surrogatepass")
    with pytest.raises(BadRequest, match="'k' contains a lone surrogate"):
        loads(raw)


def test_check_names_the_field_under_a_prefix_and_single_strings() -> None:
    with pytest.raises(BadRequest, match="'metadata.x' is NaN"):
        check({"x": float("nan")}, at="metadata")
    with pytest.raises(BadRequest, match="the URL's 'cid' contains a NUL"):
        check_text("a\x00", "the URL's 'cid'")
    check_text("an ordinary id-42", "id")


def test_a_long_key_is_shortened_in_the_message() -> None:
    with pytest.raises(BadRequest) as caught:
        check({"k" * 5000 + "\x00": 1})
    assert len(str(caught.value)) < 300


storable_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)
documents = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63) + 1, 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False)
    | storable_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(storable_text, inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=200, deadline=None)
@given(documents)
def test_every_storable_document_passes(document: object) -> None:
    assert loads(json.dumps(document)) == document


@settings(max_examples=200, deadline=None)
@given(documents, st.sampled_from(["\x00", "\ud800", "\udbff", "\udc00"]))
def test_one_bad_character_anywhere_is_found(document: object, bad: str) -> None:
    poisoned = {"wrapper": [document, {"k": f"before{bad}after"}]}
    with pytest.raises(BadRequest, match=r"'wrapper\[1\]\.k' contains"):
        loads(json.dumps(poisoned))
