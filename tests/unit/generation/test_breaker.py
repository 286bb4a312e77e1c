"""The circuit breaker's states on a hand-driven clock."""

from __future__ import annotations

from bot.generation.breaker import CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_failures_in_a_row_then_lets_one_trial_through() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failures=3, cooldown=10, clock=clock)
    breaker.failure(), breaker.failure()
    breaker.success()  # a success resets the count
    breaker.failure(), breaker.failure()
    assert breaker.allow() and breaker.state == "closed"
    breaker.failure()
    assert breaker.state == "open" and not breaker.allow() and breaker.retry_in() == 10
    clock.now = 10
    assert breaker.state == "half_open" and breaker.allow() and not breaker.allow()  # one trial only
    breaker.failure()  # the trial failed: open again for a full cooldown
    assert breaker.state == "open" and not breaker.allow()
    clock.now = 20
    assert breaker.allow()
    breaker.success()
    assert breaker.state == "closed" and breaker.allow() and breaker.allow()


def test_a_trial_that_never_reports_back_expires() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failures=1, cooldown=5, clock=clock)
    breaker.failure()
    clock.now = 5
    assert breaker.allow() and not breaker.allow()
    clock.now = 10  # the trial was cancelled and never reported
    assert breaker.allow()
