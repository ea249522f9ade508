"""Per-caller token buckets (one event loop; no locking needed)."""

from __future__ import annotations

import time
from collections.abc import Callable

from gateway.errors import RateLimited


class RateLimiter:
    """``rate`` tokens per second refill a bucket of ``burst`` tokens per caller."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def check(self, caller: str) -> None:
        """Take one token for ``caller`` or raise :class:`RateLimited` with ``Retry-After``."""
        if self._rate <= 0:
            return
        now = self._clock()
        tokens, last = self._buckets.get(caller, (self._burst, now))
        tokens = min(self._burst, tokens + (now - last) * self._rate)
        if tokens < 1.0:
            self._buckets[caller] = (tokens, now)
            raise RateLimited("rate limit exceeded", retry_after=(1.0 - tokens) / self._rate)
        self._buckets[caller] = (tokens - 1.0, now)
