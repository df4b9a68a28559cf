"""A token bucket, so a flood of inbound MQTT messages costs the device almost nothing."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RateLimit:
    """Allow `burst` messages at once and `per_minute` on average."""

    burst: int
    per_minute: float


class TokenBucket:
    """Counts what `RateLimit` allows; `clock` is injectable for tests."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = limit
        self._clock = clock
        self._tokens = float(limit.burst)
        self._last = clock()

    def allow(self) -> bool:
        """Take one token if there is one; False means drop the message."""
        now = self._clock()
        refill = (now - self._last) * self._limit.per_minute / 60.0
        self._tokens = min(float(self._limit.burst), self._tokens + max(0.0, refill))
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False
