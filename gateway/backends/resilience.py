"""Circuit breaker and connect-retry wrapper around any :class:`Backend`.

The breaker counts consecutive *availability* failures of one backend (unreachable,
timeouts, upstream 5xx); bad input never trips it. Open: calls fail at once with
:class:`CircuitOpen` (503) for ``reset_s``; then one probe call is let through (half-open)
and its outcome closes or re-opens the circuit.

An inference's probe first asks the backend whether the model is ready, and waits at most
``probe_wait_s`` for the answer: a backend coming back after a crash (TorchServe loading its
models) queues requests instead of refusing them, and no caller should wait out the model's
timeout there (a 504) when a prompt 503 is the truth. The readiness check goes on in the
background and closes the circuit the moment the model answers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from gateway.backends.base import (
    Backend,
    ExampleCall,
    InferCall,
    InferResult,
    ModelMetadata,
    SupportsExamples,
)
from gateway.errors import (
    BackendUnavailable,
    CircuitOpen,
    GatewayError,
    ServiceUnavailable,
    UpstreamError,
    UpstreamTimeout,
)
from gateway.route_table import ModelRoute

T = TypeVar("T")

_TRIPPING = (ServiceUnavailable, UpstreamTimeout, UpstreamError)


class CircuitBreaker:
    """Consecutive-failure breaker for one backend (not thread-safe; one event loop)."""

    def __init__(
        self, name: str, failures: int, reset_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.name = name
        self._threshold = failures
        self._reset_s = reset_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probe_in_flight = False

    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``half_open``."""
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self._reset_s:
            return "half_open"
        return "open"

    def before_call(self) -> None:
        """Raise :class:`CircuitOpen` unless a call may go out now."""
        state = self.state
        if state == "closed":
            return
        if state == "half_open" and not self._probe_in_flight:
            self._probe_in_flight = True
            return
        raise CircuitOpen(f"backend {self.name!r} is unavailable (circuit open)")

    def release_probe(self) -> None:
        """Forget an in-flight probe whose caller went away without an outcome."""
        self._probe_in_flight = False

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._probe_in_flight = False

    def record_failure(self) -> None:
        self._probe_in_flight = False
        self._failures += 1
        if self._opened_at is not None or self._failures >= self._threshold:
            self._opened_at = self._clock()


class ResilientBackend:
    """A :class:`Backend` wrapper adding the circuit breaker and connect retries."""

    def __init__(
        self, inner: Backend, breaker: CircuitBreaker, retries: int, probe_wait_s: float = 0.5
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.breaker = breaker
        self._retries = retries
        self._probe_wait_s = probe_wait_s
        self._probes: set[asyncio.Task[bool]] = set()

    async def _guard(self, call: Callable[[], Awaitable[T]]) -> T:
        attempt = 0
        while True:
            self.breaker.before_call()
            try:
                result = await call()
            except BackendUnavailable as exc:
                self.breaker.record_failure()
                if exc.sent or attempt >= self._retries:
                    raise
                attempt += 1
                await asyncio.sleep(0.02 * attempt)
                continue
            except _TRIPPING:
                self.breaker.record_failure()
                raise
            except GatewayError:
                # The backend answered (e.g. rejected the input): it is healthy.
                self.breaker.record_success()
                raise
            except asyncio.CancelledError:
                self.breaker.release_probe()
                raise
            except Exception:
                self.breaker.record_failure()
                raise
            self.breaker.record_success()
            return result

    async def infer(self, call: InferCall) -> InferResult:
        if self.breaker.state == "half_open":
            await self._probe_ready(call)
        return await self._guard(lambda: self.inner.infer(call))

    async def _probe_ready(self, call: InferCall) -> None:
        """Half-open: take the probe slot (else CircuitOpen) and return once the model is
        ready, or raise CircuitOpen after ``probe_wait_s`` while the check goes on."""
        self.breaker.before_call()
        probe = asyncio.create_task(self._readiness(call.route, call.version, call.timeout_s))
        self._probes.add(probe)
        probe.add_done_callback(self._probes.discard)
        done, _ = await asyncio.wait({probe}, timeout=self._probe_wait_s)
        if not done or not probe.result():
            raise CircuitOpen(f"backend {self.name!r} is unavailable (not ready yet; circuit open)")

    async def _readiness(self, route: ModelRoute, version: int, timeout_s: float) -> bool:
        try:
            ok = await self.inner.ready(route, version, timeout_s)
        except asyncio.CancelledError:
            self.breaker.release_probe()
            raise
        except Exception:  # a probe that fails in any way means "not ready"
            ok = False
        if ok:
            self.breaker.record_success()
        else:
            self.breaker.record_failure()
        return ok

    async def metadata(self, route: ModelRoute, version: int, timeout_s: float) -> ModelMetadata:
        return await self._guard(lambda: self.inner.metadata(route, version, timeout_s))

    async def ready(self, route: ModelRoute, version: int, timeout_s: float) -> bool:
        # Readiness probes bypass the breaker so that recovery is seen at once.
        try:
            ok = await self.inner.ready(route, version, timeout_s)
        except (ServiceUnavailable, UpstreamTimeout, UpstreamError):
            return False
        if ok and self.breaker.state != "closed":
            self.breaker.record_success()
        return ok

    @property
    def supports_examples(self) -> bool:
        """Whether the wrapped adapter has the :class:`SupportsExamples` capability."""
        return isinstance(self.inner, SupportsExamples)

    async def examples(self, call: ExampleCall) -> dict[str, Any]:
        inner = self.inner
        assert isinstance(inner, SupportsExamples), "check supports_examples first"
        return await self._guard(lambda: inner.examples(call))

    async def aclose(self) -> None:
        for probe in list(self._probes):
            probe.cancel()
        await asyncio.gather(*self._probes, return_exceptions=True)
        await self.inner.aclose()
