"""What the status page (``GET /ui``) shows, computed from the gateway's own metrics.

Figures are per model, over every version, backend, protocol and status: requests and errors
since start, and over a sliding window (requests per second, p50/p99 from the latency
histogram's bucket deltas, Prometheus' ``histogram_quantile`` rule). The window is built from
snapshots taken when the page polls, so an idle gateway does no work for it.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from gateway.dataplane.service import DataPlane
from gateway.metrics import GatewayMetrics
from gateway.schemas.status import (
    BackendStatus,
    DisagreementEntry,
    ModelStatus,
    StatusReport,
    TwinStatus,
    TwinVariantStatus,
)

WINDOW_S = 60.0
MIN_SPACING_S = 1.0
"""Snapshots closer together than this are not kept (many open pages cost no more)."""


@dataclass(frozen=True, slots=True)
class ModelCounts:
    """Cumulative figures of one model at one instant."""

    requests: float
    errors: float
    buckets: tuple[float, ...]
    """Cumulative count per upper bound of :attr:`Snapshot.bounds`."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    at: float
    bounds: tuple[float, ...]
    models: dict[str, ModelCounts]


@dataclass(frozen=True, slots=True)
class ModelFigures:
    requests: int
    errors: int
    rps: float | None
    p50_ms: float | None
    p99_ms: float | None


def quantile(q: float, bounds: Sequence[float], cumulative: Sequence[float]) -> float | None:
    """``histogram_quantile`` over cumulative bucket counts (``bounds`` end with +Inf);
    ``None`` for an empty histogram."""
    total = cumulative[-1] if cumulative else 0.0
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for bound, count in zip(bounds, cumulative, strict=True):
        if count >= rank:
            if math.isinf(bound):
                return lower  # as Prometheus: the highest finite bound
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower


def snapshot(metrics: GatewayMetrics, now: float) -> Snapshot:
    """Cumulative per-model figures read from the latency histogram (its ``_count`` is the
    request count; statuses >= 400 are errors)."""
    per_bucket: dict[str, dict[float, float]] = {}
    requests: dict[str, float] = {}
    errors: dict[str, float] = {}
    for family in metrics.latency.collect():
        for sample in family.samples:
            model = sample.labels.get("model", "")
            if sample.name.endswith("_bucket"):
                le = float(sample.labels["le"])
                buckets = per_bucket.setdefault(model, {})
                buckets[le] = buckets.get(le, 0.0) + sample.value
            elif sample.name.endswith("_count"):
                requests[model] = requests.get(model, 0.0) + sample.value
                if int(sample.labels.get("status", "0") or 0) >= 400:
                    errors[model] = errors.get(model, 0.0) + sample.value
    bounds = tuple(sorted({le for b in per_bucket.values() for le in b}))
    models = {
        model: ModelCounts(
            requests=requests.get(model, 0.0),
            errors=errors.get(model, 0.0),
            buckets=tuple(per_bucket[model].get(le, 0.0) for le in bounds),
        )
        for model in per_bucket
    }
    return Snapshot(now, bounds, models)


class StatusSampler:
    """Keeps the snapshots of the last :data:`WINDOW_S` seconds; one per app."""

    def __init__(
        self, metrics: GatewayMetrics, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._metrics = metrics
        self._clock = clock
        self._history: deque[Snapshot] = deque()

    def figures(self) -> tuple[float, dict[str, ModelFigures]]:
        """(window seconds, figures per model seen so far)."""
        now = self._clock()
        current = snapshot(self._metrics, now)
        # The base is the newest snapshot at least WINDOW_S old (or the oldest one kept).
        while len(self._history) > 1 and now - self._history[1].at >= WINDOW_S:
            self._history.popleft()
        base = self._history[0] if self._history else None
        if not self._history or now - self._history[-1].at >= MIN_SPACING_S:
            self._history.append(current)
        window = now - base.at if base is not None else 0.0
        out: dict[str, ModelFigures] = {}
        for model, counts in current.models.items():
            rps = p50 = p99 = None
            if base is not None and window > 0:
                before = base.models.get(model)
                if before is not None and before.buckets and base.bounds != current.bounds:
                    before = None  # cannot happen with fixed buckets; be safe anyway
                old_requests = before.requests if before else 0.0
                rps = (counts.requests - old_requests) / window
                old = before.buckets if before else (0.0,) * len(counts.buckets)
                delta = [c - o for c, o in zip(counts.buckets, old, strict=True)]
                p50 = quantile(0.5, current.bounds, delta)
                p99 = quantile(0.99, current.bounds, delta)
            out[model] = ModelFigures(
                requests=int(counts.requests),
                errors=int(counts.errors),
                rps=rps,
                p50_ms=p50 * 1000 if p50 is not None else None,
                p99_ms=p99 * 1000 if p99 is not None else None,
            )
        return window, out


async def status_report(
    dataplane: DataPlane, sampler: StatusSampler, metrics: GatewayMetrics
) -> StatusReport:
    """Every routed model with its readiness (probed, cached) and figures, each backend's
    circuit and ready count, and the recent errors, newest first."""
    summaries = await dataplane.summaries()
    window, figures = sampler.figures()
    by_protocol: dict[str, dict[str, int]] = {}
    for family in metrics.requests.collect():
        for sample in family.samples:
            if sample.name.endswith("_total"):
                counts = by_protocol.setdefault(sample.labels["model"], {})
                protocol = sample.labels["protocol"]
                counts[protocol] = counts.get(protocol, 0) + int(sample.value)
    idle = ModelFigures(0, 0, 0.0 if window > 0 else None, None, None)
    shed = metrics.shed_counts()
    models = []
    for s in summaries:
        f = figures.get(s.name, idle)
        gate = dataplane.admission(s.name)
        models.append(
            ModelStatus(
                name=s.name,
                framework=s.framework,
                backend=s.backend,
                versions=list(s.versions),
                default_version=s.default_version,
                labels=s.labels,
                ready=s.ready,
                requests=f.requests,
                errors=f.errors,
                by_protocol=dict(sorted(by_protocol.get(s.name, {}).items())),
                rps=f.rps,
                p50_ms=f.p50_ms,
                p99_ms=f.p99_ms,
                shed=shed.get(s.name, 0),
                in_flight=gate.in_flight if gate is not None else 0,
                waiting=gate.waiting if gate is not None else 0,
                max_in_flight=gate.limits.max_in_flight if gate is not None else 0,
                max_queue=gate.limits.max_queue if gate is not None else 0,
            )
        )
    backends = []
    for name, route in dataplane.table.backends.items():
        served = [m for m in models if m.backend == name]
        wrapped = dataplane.backends.get(name)
        backends.append(
            BackendStatus(
                name=name,
                kind=route.kind,
                circuit=wrapped.breaker.state if wrapped is not None else "closed",
                models_ready=sum(m.ready for m in served),
                models=len(served),
            )
        )
    errors = list(reversed(metrics.recent_errors))
    twins = twin_statuses(dataplane, metrics, {m.name: m for m in models})
    return StatusReport(
        window_s=window, models=models, backends=backends, recent_errors=errors, twins=twins
    )


def _comparisons(metrics: GatewayMetrics) -> dict[str, tuple[int, int]]:
    """Twin → (compared, agreed) from the comparison counter."""
    out: dict[str, tuple[int, int]] = {}
    for family in metrics.twin_comparisons.collect():
        for sample in family.samples:
            if not sample.name.endswith("_total"):
                continue
            result = sample.labels["result"]
            if result == "error":
                continue
            compared, agreed = out.get(sample.labels["twin"], (0, 0))
            n = int(sample.value)
            out[sample.labels["twin"]] = (compared + n, agreed + (n if result == "agree" else 0))
    return out


def twin_statuses(
    dataplane: DataPlane, metrics: GatewayMetrics, models: dict[str, ModelStatus]
) -> list[TwinStatus]:
    """Every twin of the route table, its variants side by side (from ``models``, the
    per-model rows of the same report) and its agreement so far."""
    counts = _comparisons(metrics)
    out = []
    for name, twin in dataplane.table.twins.items():
        variants = []
        for variant, spec in twin.variants.items():
            m = models.get(variant)
            if m is None:
                continue
            role = (
                "default"
                if variant == twin.default
                else "shadow"
                if variant == twin.shadow
                else "split"
            )
            variants.append(
                TwinVariantStatus(
                    name=variant,
                    framework=m.framework,
                    backend=m.backend,
                    weight=spec.weight,
                    role=role,
                    ready=m.ready,
                    requests=m.requests,
                    errors=m.errors,
                    rps=m.rps,
                    p50_ms=m.p50_ms,
                    p99_ms=m.p99_ms,
                )
            )
        compared, agreed = counts.get(name, (0, 0))
        kept = [
            DisagreementEntry(**{**asdict(d), "outputs": list(d.outputs)})
            for d in reversed(metrics.disagreements)
            if d.twin == name
        ]
        out.append(
            TwinStatus(
                name=name,
                default=twin.default,
                shadow=twin.shadow,
                objective=twin.agreement.objective,
                compared=compared,
                agreed=agreed,
                agreement=agreed / compared if compared else None,
                variants=variants,
                disagreements=kept,
            )
        )
    return out
