"""The grounding check's signals, and the whole check with the bot's real frozen encoder."""

from __future__ import annotations

import pytest

from bot.generation.grounding import GroundingCheck, content_words, lexical_overlap, unsupported_facts

CONTEXT = [
    "Do you sell gift cards?\nYes, we sell digital gift cards from 10 to 250 EUR at northwind.example/gift-cards. "
    "They are emailed instantly.",
    "Can I use two gift cards on one order?\nYes, you can add up to three gift cards at checkout and pay the rest "
    "by card, PayPal or Klarna.",
]


def test_content_words_drop_stopwords_and_stem() -> None:
    assert content_words("Yes, we are selling the gift cards!") == ["sell", "gift", "card"]


def test_overlap_is_the_share_of_answer_words_found_in_the_context() -> None:
    joined = "\n".join(CONTEXT)
    assert lexical_overlap("You can pay by PayPal or Klarna at checkout.", joined) == 1.0
    assert lexical_overlap("Our unicorn plush toys glitter.", joined) == 0.0
    assert lexical_overlap("", joined) == 0.0


def test_numbers_and_addresses_must_come_from_the_context() -> None:
    joined = "\n".join(CONTEXT)
    assert unsupported_facts("From 10 to 250 EUR at northwind.example", joined) == ()
    assert unsupported_facts("From 5 EUR, see giftcards.com or mail a@b.com", joined) == ("5", "giftcards.com", "a@b.com")


@pytest.fixture(scope="module")
def check(encoder) -> GroundingCheck:  # type: ignore[no-untyped-def]
    return GroundingCheck(encoder)


def test_a_supported_answer_passes(check: GroundingCheck) -> None:
    result = check.check("Yes, we sell digital gift cards from 10 to 250 EUR, emailed instantly.", CONTEXT)
    assert result.passed and result.best_context == 0 and result.similarity > check.min_similarity


@pytest.mark.parametrize("answer", [
    "Our shop opens at 9 on Sundays and closes at 18.",                       # unrelated
    "Yes, we sell digital gift cards from 5 to 500 EUR.",                      # wrong numbers
    "I don't know.",                                                           # declined
    "",                                                                        # empty
])
def test_an_unsupported_answer_fails(check: GroundingCheck, answer: str) -> None:
    result = check.check(answer, CONTEXT)
    assert not result.passed
    as_dict = result.as_dict(check.thresholds)
    assert as_dict["thresholds"] == {"similarity": check.min_similarity, "overlap": check.min_overlap,
                                     "note_relevance": check.min_note_relevance,
                                     "answer_relevance": check.min_answer_relevance}


RESTOCK = ["When will the grey ceramic dinner set be restocked?\nRestock dates depend on our suppliers; press "
           "'Notify me' on the product page and we email you the day it is back."]
ECHO = "Restock dates depend on our suppliers; press 'Notify me' on the product page and we email you."


@pytest.mark.parametrize("question", ["set a 4 minute timer", "which element on the periodic table is K",
                                      "do I need any shots before I travel to Morocco"])
def test_an_echoed_note_is_no_answer_to_an_unrelated_question(check: GroundingCheck, question: str) -> None:
    """The answer repeats the note word for word: perfectly supported, and beside the point."""
    supported = check.check(ECHO, RESTOCK)
    assert supported.passed  # without the question, support alone lets it through
    result = check.check(ECHO, RESTOCK, question=question, context_questions=[RESTOCK[0].split("\n")[0]])
    assert not result.passed and result.irrelevant
    assert result.note_relevance is not None and result.note_relevance < check.min_note_relevance
    assert result.as_dict(check.thresholds)["irrelevant"] is True


def test_a_relevant_supported_answer_passes_the_relevance_test(check: GroundingCheck) -> None:
    result = check.check(ECHO, RESTOCK, question="when is the grey dinner set back in stock?",
                         context_questions=[RESTOCK[0].split("\n")[0]])
    assert result.passed and not result.irrelevant
    assert result.note_relevance >= check.min_note_relevance and result.answer_relevance >= check.min_answer_relevance
