"""knowledge/clean.py: normalisation, PII redaction, placeholders."""

from __future__ import annotations

import pytest

from knowledge.clean import luhn_valid, normalise, placeholders, redact


# --- normalise -----------------------------------------------------------------------------


def test_normalise_nfkc_and_spaces():
    assert normalise("  ﬁne\u00a0\u00a0print\t\there\u3000now  ") == "fine print here now"
    assert normalise("Ｆｕｌｌｗｉｄｔｈ １２３") == "Fullwidth 123"


def test_normalise_strips_control_and_invisible_characters():
    assert normalise("a\x00b\x07c\u200bd\ufeffe\u00adf") == "abcdef"


def test_normalise_keeps_paragraphs_but_at_most_one_blank_line():
    text = "First line  \r\nsecond\tline\r\n\r\n\r\n\n   \n  Next paragraph.\n\n\n1. step"
    assert normalise(text) == "First line\nsecond line\n\nNext paragraph.\n\n1. step"


def test_normalise_empty_and_whitespace():
    assert normalise("") == ""
    assert normalise(" \n\t\n ") == ""


def test_normalise_keeps_placeholders():
    assert normalise("Use {{Order Number}}  here") == "Use {{Order Number}} here"


# --- redact: positives -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Mail me at jane.doe@example.com please", "Mail me at {{EMAIL}} please"),
        ("JANE_DOE+shop@mail.example.co.uk.", "{{EMAIL}}."),
        ("a@b.io, c.d@e-f.org", "{{EMAIL}}, {{EMAIL}}"),
        ("(mail: x1@y.de)", "(mail: {{EMAIL}})"),
    ],
)
def test_redact_emails(text, expected):
    redacted, counts = redact(text)
    assert redacted == expected
    assert counts["email"] == expected.count("{{EMAIL}}")
    assert counts["phone"] == counts["card"] == 0


@pytest.mark.parametrize(
    "number",
    [
        "4111111111111111",  # Visa
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "5555 5555 5555 4444",  # Mastercard
        "378282246310005",  # Amex, 15 digits
        "3782 822463 10005",
        "6011111111111117",  # Discover
        "4222222222222",  # 13-digit Visa
    ],
)
def test_redact_card_numbers(number):
    redacted, counts = redact(f"my card is {number}, thanks")
    assert redacted == "my card is {{CARD_NUMBER}}, thanks"
    assert counts == {"email": 0, "phone": 0, "card": 1}


def test_redact_card_followed_by_other_numbers():
    assert redact("card 4111 1111 1111 1111 123")[0] == "card {{CARD_NUMBER}} 123"
    assert redact("5555 5555 5555 4444 exp 12/26")[0] == "{{CARD_NUMBER}} exp 12/26"


@pytest.mark.parametrize(
    "phone",
    [
        "+44 20 7946 0958",
        "+447946095800",
        "+1 (555) 123-4567",
        "+44 (0)20 7946 0958",
        "+49-30-1234567",
        "(555) 123-4567",
        "(555)123-4567",
        "555-123-4567",
        "555.123.4567",
        "555 123 4567",
        "1 800 555 0199",
        "0171 555 0199",
        "020 7946 0958",
        "07700 900123",
        "555-1234",
    ],
)
def test_redact_phone_numbers(phone):
    redacted, counts = redact(f"Call {phone} today.")
    assert redacted == "Call {{PHONE}} today."
    assert counts == {"email": 0, "phone": 1, "card": 0}


def test_redact_phone_in_brackets_and_pairs():
    assert redact("call (555-123-4567)")[0] == "call ({{PHONE}})"
    redacted, counts = redact("555-123-4567 or 555-987-6543")
    assert redacted == "{{PHONE}} or {{PHONE}}"
    assert counts["phone"] == 2
    assert redact("555-123-4567 555-987-6543")[0] == "{{PHONE}} {{PHONE}}"
    assert redact("dial 555-123-4567 2 times")[0] == "dial {{PHONE}} 2 times"


def test_redact_everything_and_counts():
    text = "I'm bob@x.com, card 4111 1111 1111 1111, phone +44 20 7946 0958 or (555) 123-4567."
    redacted, counts = redact(text)
    assert redacted == "I'm {{EMAIL}}, card {{CARD_NUMBER}}, phone {{PHONE}} or {{PHONE}}."
    assert counts == {"email": 1, "phone": 2, "card": 1}


# --- redact: negatives -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "order NW-10234 is late",
        "delivered on 2026-11-18",
        "delivered on 18.11.2026 or 11/18/2026",
        "it cost $1,630.00",
        "it cost $1 630 000",
        "your balance is $24,344.68",
        "Your current balance is $2,443.48.68 in your checking account.",
        "send 1630 bucks",
        "1 000 000 people",
        "0123 456 789 EUR",
        "how can I cancel purchase 113542617735902?",
        "order 00004587345 and 732201349959",
        "invoice 370795561790",
        "ref 12-34-56",
        "zip 94105-1234",
        "address 1016-1098 North Center Court Street",
        "It's located at 1517 21st Street.",
        "open 10:30 to 17:00",
        "server 192.168.100.1",
        "version 1.2.3.4",
        "4111111111111112",  # 16 digits, Luhn-invalid
        "1234567890123452",  # Luhn-valid, but no card issuer starts with 1
        "user@localhost is not an address",
        "account 12345678",
        "call me",
    ],
)
def test_redact_leaves_non_pii_alone(text):
    assert redact(text) == (text, {"email": 0, "phone": 0, "card": 0})


@pytest.mark.parametrize(
    "text",
    [
        "Your order {{Order Number}} ships soon.",
        "Call {{Customer Support Phone Number}} or mail {{Customer Support Email}}.",
        "Order {{113542617735902}} and {{ 4111 1111 1111 1111 }}",
        "{{a@b.com}}",
    ],
)
def test_redact_keeps_existing_placeholders(text):
    assert redact(text) == (text, {"email": 0, "phone": 0, "card": 0})


def test_redact_next_to_placeholders():
    redacted, counts = redact("{{Order Number}}: call 555-123-4567 or {{Phone}}")
    assert redacted == "{{Order Number}}: call {{PHONE}} or {{Phone}}"
    assert counts["phone"] == 1


def test_redact_is_idempotent():
    once, _ = redact("me@x.org 4111111111111111 +44 20 7946 0958")
    twice, counts = redact(once)
    assert twice == once
    assert counts == {"email": 0, "phone": 0, "card": 0}


def test_luhn():
    assert luhn_valid("79927398713")
    assert not luhn_valid("79927398710")
    assert not luhn_valid("")


# --- placeholders ----------------------------------------------------------------------------


def test_placeholders():
    text = "Go to {{Website Name}}, open {{Order Details}} and find {{ Order Number }}; {{Website Name}} again."
    assert placeholders(text) == ["Website Name", "Order Details", "Order Number"]
    assert placeholders("no placeholders {here} or {{}} or {{ }}") == []
    assert placeholders("plain") == []
    assert placeholders(redact("call 555-123-4567 or mail a@b.co")[0]) == ["PHONE", "EMAIL"]
