"""Text hygiene for support logs: Unicode/whitespace normalisation, PII redaction and the
`{{Placeholder}}` names an answer carries.

Redaction replaces e-mail addresses, payment-card numbers and phone numbers with explicit
placeholders (`{{EMAIL}}`, `{{CARD_NUMBER}}`, `{{PHONE}}`). It is deliberately conservative about
phones: a run of digits only counts as a phone number when it is shaped like one (a leading `+`,
an area code in parentheses, or separated digit groups), so order ids such as `113542617735902`,
dates, prices and amounts stay as they are. Existing placeholders are never touched.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Callable

EMAIL, CARD, PHONE = "{{EMAIL}}", "{{CARD_NUMBER}}", "{{PHONE}}"

_PLACEHOLDER = re.compile(r"\{\{([^{}]*)\}\}")
# Control and invisible format characters (C0/C1 controls except tab and newline, soft hyphen,
# zero-width and bidi marks, BOM, lone surrogates).
_CONTROL = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\ud800-\udfff]"
)
_BLANK_LINES = re.compile(r"\n{3,}")

_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}(?![\w-])"
)
# 13-19 digits, optionally grouped by single spaces or dashes.
_CARD = re.compile(r"(?<![\w$€£¥.,/+-])\d(?:[ -]?\d){12,18}(?![\w/]|[.,]\d)")
# Something that might be a phone number; `_looks_like_phone` decides.
_PHONE = re.compile(
    r"(?<![\w$€£¥.,/+(-])\+\s?\d[\d ().-]*\d(?![\w/]|[.,]\d)"
    r"|(?<![\w$€£¥.,/+-])(?:\(\d{1,5}\)\s?)?\d[\d .-]*\d(?![\w/]|[.,]\d)"
)
_DIGIT = re.compile(r"\d")
_CURRENCY_AFTER = re.compile(
    r"\s*(?:%|[$€£¥]|(?:percent|eur|euros?|usd|dollars?|bucks|gbp|pounds?|chf|yen)\b)", re.IGNORECASE
)
_CURRENCY_BEFORE = re.compile(r"(?:[$€£¥]|\b(?:eur|usd|gbp|chf))\s*$", re.IGNORECASE)
_DATE = re.compile(r"\d{4}([./-])\d{1,2}\1\d{1,2}|\d{1,2}([./-])\d{1,2}\2\d{4}")


def normalise(text: str) -> str:
    """NFKC, no control characters, single spaces, at most one blank line between paragraphs."""
    text = unicodedata.normalize("NFKC", text).replace("\r\n", "\n").replace("\r", "\n")
    lines = [" ".join(line.split()) for line in _CONTROL.sub("", text).split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def placeholders(text: str) -> list[str]:
    """The names inside `{{...}}` placeholders, in order of first appearance, without repeats."""
    seen: dict[str, None] = {}
    for match in _PLACEHOLDER.finditer(text):
        if match.group(1).strip():
            seen.setdefault(match.group(1).strip(), None)
    return list(seen)


def luhn_valid(digits: str) -> bool:
    """True when `digits` (only 0-9) passes the Luhn checksum used by payment cards."""
    total = 0
    for pos, ch in enumerate(reversed(digits)):
        n = int(ch)
        if pos % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return bool(digits) and total % 10 == 0


def _looks_like_card(number: str) -> bool:
    digits = re.sub(r"\D", "", number)
    # Issuer prefixes: 2 (Mastercard 2-series), 3 (Amex, JCB, Diners), 4 (Visa), 5 (Mastercard,
    # Maestro), 6 (Discover, UnionPay, Maestro). Order ids starting with 0, 1, 7-9 are not cards.
    return 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn_valid(digits)


def _looks_like_phone(candidate: str) -> bool:
    digits = re.sub(r"\D", "", candidate)
    compact = re.sub(r"\s*([()])\s*", r"\1", candidate)
    if not 7 <= len(digits) <= 15 or re.search(r"[ .-]{2,}", compact) or compact.count("(") != compact.count(")"):
        return False  # too short or long, or sloppy punctuation: not a phone shape
    if candidate.startswith("+"):
        return True
    if candidate.startswith("("):
        return re.fullmatch(r"\(\d{2,5}\) ?\d{2,4}[ .-]?\d{3,4}", candidate) is not None
    if _DATE.fullmatch(candidate):
        return False
    groups, seps = re.split(r"[ .-]", candidate), re.findall(r"[ .-]", candidate)
    if len(groups) < 2 or len(set(seps[1:])) > 1:
        return False  # no separators (an id), or mixed ones after the country code
    if len(groups) == 2:  # local numbers: 555-1234, 0171 5550199
        return (len(groups[0]), len(groups[1])) == (3, 4) or groups[0][0] == "0" and len(groups[1]) >= 6
    if set(seps) == {"."} and len(groups) == 4 and all(len(g) <= 3 for g in groups):
        return False  # an IPv4 address
    if all(len(g) == 3 for g in groups[1:]) and len(groups[0]) <= 3 and set(seps) <= {" ", "."}:
        return False  # thousands grouping: 1 000 000
    return len(groups[-1]) >= 3 and all(len(g) >= 2 for g in groups[1:])


def _longest_valid_prefix(candidate: str, valid: Callable[[str], bool]) -> int:
    """Length of the longest prefix of `candidate`, ending after a digit group, that `valid`
    accepts (0 if none): "555-123-4567 2" -> the phone without the trailing "2"."""
    for end in sorted((m.end() for m in re.finditer(r"\d+\)?", candidate)), reverse=True):
        if valid(candidate[:end]):
            return end
    return 0


def _redact_segment(text: str, counts: dict[str, int]) -> str:
    def email(match: re.Match[str]) -> str:
        counts["email"] += 1
        return EMAIL

    def replacer(kind: str, pattern: re.Pattern[str], valid: Callable[[str], bool]) -> Callable[[re.Match[str]], str]:
        placeholder = {"card": CARD, "phone": PHONE}[kind]

        def sub(match: re.Match[str]) -> str:
            candidate = match.group()
            before = match.string[max(0, match.start() - 5) : match.start()]
            if _CURRENCY_BEFORE.search(before) or _CURRENCY_AFTER.match(match.string, match.end()):
                return candidate  # an amount of money
            end = _longest_valid_prefix(candidate, valid)
            if not end:
                return candidate
            counts[kind] += 1
            return placeholder + pattern.sub(sub, candidate[end:])

        return sub

    if "@" in text:
        text = _EMAIL.sub(email, text)
    if len(_DIGIT.findall(text)) >= 7:  # fewer digits make neither a card nor a phone number
        text = _CARD.sub(replacer("card", _CARD, _looks_like_card), text)
        text = _PHONE.sub(replacer("phone", _PHONE, _looks_like_phone), text)
    return text


def redact(text: str) -> tuple[str, dict[str, int]]:
    """`text` with e-mails, card numbers and phone numbers replaced by placeholders, and how many
    of each were replaced (`{"email": n, "phone": n, "card": n}`)."""
    counts = {"email": 0, "phone": 0, "card": 0}
    parts: list[str] = []
    last = 0
    for match in _PLACEHOLDER.finditer(text):  # existing placeholders pass through untouched
        parts.append(_redact_segment(text[last : match.start()], counts))
        parts.append(match.group())
        last = match.end()
    parts.append(_redact_segment(text[last:], counts))
    return "".join(parts), counts
