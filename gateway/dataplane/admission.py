"""Admission control: per model, a bounded number of requests in flight and waiting.

Without a bound every queue in front of a saturated backend just grows until callers give
up, and the backend keeps working on requests whose callers have left. An
:class:`AdmissionGate` lets ``max_in_flight`` requests through to the backend and
``max_queue`` more wait (first come, first served) for a slot; the request past that is
refused at once with :class:`~gateway.errors.Overloaded` (503 + ``Retry-After``), and a
waiting request whose deadline passes leaves the queue without ever being sent on.

Single event loop, no locks: the fast path (a free slot, nobody waiting) is two comparisons
and an increment. A freed slot is handed straight to the oldest waiter, so a newcomer can
never overtake the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque

from gateway.errors import Overloaded
from gateway.metrics import SHED_REASONS
from gateway.route_table import Admission

QUEUE_FULL, DEADLINE = SHED_REASONS


class AdmissionGate:
    """The bounds of one model; created by the dataplane per routed model."""

    __slots__ = ("_waiters", "in_flight", "limits", "model")

    def __init__(self, model: str, limits: Admission) -> None:
        self.model = model
        self.limits = limits
        self.in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        """Requests queued for a slot now."""
        return len(self._waiters)

    async def acquire(self, deadline: float) -> None:
        """Take a slot, waiting at most until ``deadline`` (``time.monotonic()``).

        Raises :class:`Overloaded` at once when the queue is full (``queue_full``), or when
        the deadline passes first (``deadline``). Every successful call must be paired with
        one :meth:`release`."""
        if self.in_flight < self.limits.max_in_flight and not self._waiters:
            self.in_flight += 1
            return
        if len(self._waiters) >= self.limits.max_queue:
            raise Overloaded(
                f"model {self.model!r} is at capacity ({self.limits.max_in_flight} in flight, "
                f"{self.limits.max_queue} waiting): retry later",
                reason=QUEUE_FULL,
            )
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise self._late()
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        self._waiters.append(waiter)
        # A timer on the waiter itself: cheaper than an asyncio.timeout() scope per wait.
        timer = loop.call_later(remaining, _expire, waiter)
        try:
            await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self.release()  # granted in the same instant it gave up: pass the slot on
            else:
                self._discard(waiter)
            if isinstance(exc, TimeoutError):
                raise self._late() from None
            raise  # cancelled: the caller went away
        finally:
            timer.cancel()

    def release(self) -> None:
        """Give a slot back: to the oldest waiter still waiting, else to the pool."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot changes hands; in_flight stays
                return
        self.in_flight -= 1

    def _discard(self, waiter: asyncio.Future[None]) -> None:
        with contextlib.suppress(ValueError):  # already popped by release()
            self._waiters.remove(waiter)

    def _late(self) -> Overloaded:
        return Overloaded(
            f"model {self.model!r}: the request's deadline passed while it waited for a slot",
            reason=DEADLINE,
        )


def _expire(waiter: asyncio.Future[None]) -> None:
    """The deadline passed while waiting for a slot (a granted slot is kept)."""
    if not waiter.done():
        waiter.set_exception(TimeoutError())
