"""bot/server/limits.py: token buckets per address and the bound on a conversation's waiting turns."""

from __future__ import annotations

import pytest

from bot.errors import TooManyRequests
from bot.server import limits
from bot.server.limits import AddressLimiter, TurnAdmission


def test_a_burst_passes_then_the_address_waits_for_its_rate() -> None:
    limiter = AddressLimiter(rate=2.0, burst=3)
    for _ in range(3):
        limiter.take("10.0.0.1", now=100.0)
    with pytest.raises(TooManyRequests) as caught:
        limiter.take("10.0.0.1", now=100.0)
    assert caught.value.status == 429 and caught.value.retry_after == 1
    assert "10.0.0.1" in str(caught.value)
    limiter.take("10.0.0.2", now=100.0)  # another address has its own bucket
    limiter.take("10.0.0.1", now=100.5)  # half a second at 2/s: one token back
    with pytest.raises(TooManyRequests):
        limiter.take("10.0.0.1", now=100.5)


def test_retry_after_says_when_a_token_is_back() -> None:
    limiter = AddressLimiter(rate=0.1, burst=1)
    limiter.take("a", now=0.0)
    with pytest.raises(TooManyRequests) as caught:
        limiter.take("a", now=2.0)
    assert caught.value.retry_after == 8  # 0.2 of a token back, 0.8 missing at 0.1/s


def test_a_rate_of_zero_is_no_limit() -> None:
    limiter = AddressLimiter(rate=0.0, burst=1)
    for _ in range(1000):
        limiter.take("a", now=0.0)
    assert not limiter.enabled and len(limiter) == 0


def test_idle_addresses_are_forgotten_when_the_table_is_full(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_ADDRESSES", 3)
    limiter = AddressLimiter(rate=1.0, burst=2)
    for address in ("a", "b", "c"):
        limiter.take(address, now=0.0)
    limiter.take("d", now=10.0)  # a, b and c have filled up again: forgotten
    assert len(limiter) == 1
    limiter.take("e", now=10.0)
    limiter.take("e", now=10.0)
    limiter.take("f", now=10.0)
    limiter.take("g", now=10.0)  # full table, and e is not idle: kept
    with pytest.raises(TooManyRequests):
        limiter.take("e", now=10.0)


def test_one_running_and_max_waiting_turns_are_admitted_then_429() -> None:
    admission = TurnAdmission(max_waiting=2)
    with admission.admit("c1"), admission.admit("c1"), admission.admit("c1"):
        assert admission.turns("c1") == 3
        with pytest.raises(TooManyRequests) as caught:
            with admission.admit("c1"):
                pass
        assert caught.value.retry_after == 1 and "2 messages waiting" in str(caught.value)
        with admission.admit("c2"):  # another conversation is not affected
            assert admission.turns("c2") == 1
    assert admission.turns("c1") == 0
    with admission.admit("c1"):  # freed: admitted again
        pass


def test_a_failed_turn_leaves_its_place() -> None:
    admission = TurnAdmission(max_waiting=1)
    with pytest.raises(RuntimeError):
        with admission.admit("c1"):
            raise RuntimeError("turn failed")
    assert admission.turns("c1") == 0


def test_no_bound_with_zero() -> None:
    admission = TurnAdmission(max_waiting=0)
    entered = [admission.admit("c") for _ in range(100)]
    for context in entered:
        context.__enter__()
    assert admission.turns("c") == 100
