"""A circuit breaker: after `failures` failures in a row the server is left alone for
`cooldown` seconds (calls fail at once); then one trial call decides whether it closes again."""

from __future__ import annotations

import time
from typing import Callable


class CircuitBreaker:
    def __init__(self, *, failures: int = 5, cooldown: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        if failures < 1 or cooldown < 0:
            raise ValueError("the breaker needs failures >= 1 and cooldown >= 0")
        self.threshold, self.cooldown, self.clock = failures, cooldown, clock
        self.failures = 0
        self.opened_at: float | None = None
        self._trial_at: float | None = None  # when the half-open trial call went out

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half_open" if self.clock() - self.opened_at >= self.cooldown else "open"

    def allow(self) -> bool:
        """May a call go out now? In the half-open state only one trial call may."""
        state = self.state
        if state == "closed":
            return True
        now = self.clock()
        # one trial at a time; a trial that never reported back (cancelled) expires after a cooldown
        if state == "half_open" and (self._trial_at is None or now - self._trial_at >= self.cooldown):
            self._trial_at = now
            return True
        return False

    def success(self) -> None:
        self.failures, self.opened_at, self._trial_at = 0, None, None

    def failure(self) -> None:
        self.failures += 1
        if self._trial_at is not None or self.failures >= self.threshold:
            self.opened_at, self._trial_at = self.clock(), None

    def retry_in(self) -> float:
        """Seconds until a trial call is allowed (0 when closed)."""
        if self.opened_at is None:
            return 0.0
        return max(0.0, self.cooldown - (self.clock() - self.opened_at))
