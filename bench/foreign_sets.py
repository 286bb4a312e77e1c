"""Foreign questions for the benchmarks, from ../shared/data: questions no online shop can
answer, never from the shop's own data nor from Switchboard's shipped foreign corpus.

- sgd_services: the opening user turn of each Schema-Guided Dialogue conversation of its 10
  services (buses, events, homes, hotels, movies, music, rental cars, ride sharing, services);
- sgd_payments: the opening user turn of the SGD payment and restaurant dialogues, except the
  generic payment lines ("I want to make a payment", "I need to make a payment of 50 bucks from
  my debit card"): said to a shop, they are about paying the shop, which its payment-methods
  answer rightly takes up. A payment line stays foreign when it names what only a payment app
  has: a payee or payer ("to Tom", "from Lucy"), a request for money, a transfer, a private
  transaction, an app balance or a bank account. `generic_payments()` gives the lines left out,
  which the benchmarks report on their own, never as foreign;
- banking77: BANKING77 questions of intents only a bank answers (top-ups, transfers, cash
  and ATMs, PINs, cards a bank issues, exchange in the app, identity checks) that also name
  something only a bank has: a top-up, a transfer, an ATM or cash withdrawal, a PIN, a direct
  debit, a cheque, a beneficiary, an IBAN, a wire, a salary. Left out: the intents a shop
  answers too (refunds, declined card payments at checkout, Apple Pay, passwords, personal
  details, closing an account), and the bank intents' lines a shop's bot may rightly answer:
  generic ones ("Can I have more than one card?", "How long is US delivery?") and those about
  exchange rates, charges on a statement or a balance, which a shop charging in euros is asked
  too ("What exchange rate do you use?"). `load(..., banking77="all")` keeps every line of the
  bank-only intents, for reference;
- airline: tweets to US airlines that ask something (a "?"), @handles and links removed.

`split` picks the data sets' own train or test split: benchmarks report on test; anything
tuned (bench/generation.py's calibration half) uses train."""

from __future__ import annotations

import csv
import json
import random
import re
from pathlib import Path

BANK_ONLY_INTENTS = frozenset("""
activate_my_card atm_support automatic_top_up balance_not_updated_after_bank_transfer
balance_not_updated_after_cheque_or_cash_deposit beneficiary_not_allowed cancel_transfer card_arrival
card_delivery_estimate card_linking card_not_working card_payment_wrong_exchange_rate card_swallowed
cash_withdrawal_charge cash_withdrawal_not_recognised change_pin compromised_card contactless_not_working
declined_cash_withdrawal declined_transfer direct_debit_payment_not_recognised disposable_card_limits
exchange_charge exchange_rate exchange_via_app extra_charge_on_statement failed_transfer fiat_currency_support
get_disposable_virtual_card get_physical_card getting_spare_card getting_virtual_card lost_or_stolen_card
order_physical_card pending_cash_withdrawal pending_top_up pending_transfer pin_blocked receiving_money
top_up_by_bank_transfer_charge top_up_by_card_charge top_up_by_cash_or_cheque top_up_failed top_up_limits
top_up_reverted topping_up_by_card transfer_fee_charged transfer_into_account transfer_not_received_by_recipient
transfer_timing unable_to_verify_identity verify_my_identity verify_source_of_funds verify_top_up
virtual_card_not_working why_verify_identity wrong_amount_of_cash_received wrong_exchange_rate_for_cash_withdrawal
""".split())
BANK_WORDS = re.compile(r"\b(top[- ]?up|topped|topping|transfer|atm|cash|withdr[ae]w|pin|direct debit|cheque|"
                        r"check deposit|beneficiar|iban|salary|wire)", re.I)
SOURCES = ("sgd_services", "sgd_payments", "banking77", "airline")
PAYMENT_APP_WORDS = re.compile(r"\b(request|demand|collect|owes?|owed|transfer|transaction|private|privately|"
                               r"app balance|savings?|checking|bank account|someone|somebody|funds|send money|friend)\b",
                               re.I)
PAYEE = re.compile(r"\b(?:to|from|with|pay)\s+(?!(?:Visa|Mastercard|JCB)\b)[A-Z][a-z]+|\bto\s+[a-z]+\s+for\s+\d")
PAYING = re.compile(r"\bpay", re.I)


def is_generic_payment(text: str) -> bool:
    """A line about paying that names nothing only a payment app has (see the module's docstring)."""
    return bool(PAYING.search(text)) and not PAYMENT_APP_WORDS.search(text) and not PAYEE.search(text)


def _tweet(text: str) -> str:
    text = re.sub(r"@\w+", "", text)
    text = re.sub(r"https?://\S+", "", text)
    return re.sub(r"\s+", " ", text).strip()


def _jsonl(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]


def load(data: Path, split: str = "test", *, banking77: str = "bank_only") -> dict[str, list[str]]:
    """Every foreign question of each source, deduplicated, in a stable order."""
    if split not in ("train", "test"):
        raise ValueError("split is train or test")
    out: dict[str, list[str]] = {}
    rows = _jsonl(data / "sgd_entities" / f"{split}.jsonl")
    out["sgd_services"] = [str(r["text"]) for r in rows if r.get("turn") == 0]
    rows = _jsonl(data / "sgd_banking" / f"{split}.jsonl")
    out["sgd_payments"] = [str(r["question"]) for r in rows if r.get("turn") == 0
                           and not is_generic_payment(str(r["question"]))]
    with (data / "banking77" / f"{split}.csv").open(newline="", encoding="utf-8") as fh:
        out["banking77"] = [r["text"] for r in csv.DictReader(fh) if r["label"] in BANK_ONLY_INTENTS
                            and (banking77 == "all" or BANK_WORDS.search(r["text"]))]
    tweets = "test" if split == "test" else "train"
    with (data / "airline_sentiment" / f"{tweets}.csv").open(newline="", encoding="utf-8") as fh:
        out["airline"] = [t for t in (_tweet(r["text"]) for r in csv.DictReader(fh) if "?" in r["text"])
                          if len(t.split()) >= 3]
    return {name: list(dict.fromkeys(t.strip() for t in texts if t.strip())) for name, texts in out.items()}


def generic_payments(data: Path, split: str = "test") -> list[str]:
    """The SGD payment openers left out of the foreign questions as generic (`is_generic_payment`)."""
    rows = _jsonl(data / "sgd_banking" / f"{split}.jsonl")
    texts = [str(r["question"]).strip() for r in rows if r.get("turn") == 0]
    return list(dict.fromkeys(t for t in texts if t and is_generic_payment(t)))


def sample(data: Path, split: str = "test", *, per_source: int | None = None, seed: int = 13,
           banking77: str = "bank_only") -> dict[str, list[str]]:
    """At most `per_source` questions of each source, drawn with a fixed seed."""
    sets = load(data, split, banking77=banking77)
    if per_source is None:
        return sets
    rng = random.Random(seed)
    return {name: rng.sample(texts, min(per_source, len(texts))) for name, texts in sets.items()}


def uniform_sample(data: Path, split: str = "test", *, size: int, seed: int = 13,
                   banking77: str = "bank_only") -> dict[str, list[str]]:
    """`size` questions drawn with a fixed seed from all sources together, so each source keeps
    its share of the whole set and a rate on the sample estimates the rate on all of it (a
    per-source cap weights a source of 93 questions like one of 1,162)."""
    pairs = [(name, text) for name, texts in load(data, split, banking77=banking77).items() for text in texts]
    chosen = random.Random(seed).sample(pairs, min(size, len(pairs)))
    out: dict[str, list[str]] = {}
    for name, text in chosen:
        out.setdefault(name, []).append(text)
    return out
