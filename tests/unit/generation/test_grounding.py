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
def check() -> GroundingCheck:
    from bot.nlu.encoder import Encoder

    return GroundingCheck(Encoder(threads=1))


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
    as_dict = result.as_dict(check.min_similarity, check.min_overlap)
    assert as_dict["thresholds"] == {"similarity": check.min_similarity, "overlap": check.min_overlap}
