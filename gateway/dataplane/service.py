"""The dataplane: routing, validation, admission, backend calls, shadow copies, readiness and
metadata.

Routers (v1, v2; any other front end alike) call this; it calls the adapters. It knows nothing
about HTTP. Public methods a front end uses: :meth:`DataPlane.resolve`, :meth:`DataPlane.infer`
(with an optional ``deadline_s``), :meth:`DataPlane.example_method`,
:meth:`DataPlane.metadata`, :meth:`DataPlane.model_ready` / :meth:`DataPlane.require_ready`,
:meth:`DataPlane.readiness`, :meth:`DataPlane.summaries`, :meth:`DataPlane.admission`.

Twins: a twin's public name resolves to one of its variants (:meth:`DataPlane.resolve`);
:meth:`DataPlane.infer` renames tensors for a variant that names them differently and, when
the twin has a shadow variant, sends it a copy and compares both answers in the shadow task,
off the request path (:mod:`gateway.dataplane.twins`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from gateway.backends.base import ExampleCall, ExampleMethod, InferCall, InferResult, ModelMetadata
from gateway.backends.resilience import ResilientBackend
from gateway.dataplane import twins
from gateway.dataplane.admission import DEADLINE, AdmissionGate
from gateway.dataplane.routing import Target, pick_variant, resolve
from gateway.errors import (
    GatewayError,
    ModelNotReady,
    Overloaded,
    UnsupportedSignature,
    UpstreamRejected,
    from_wire,
)
from gateway.metrics import Disagreement, GatewayMetrics
from gateway.route_table import BackendRoute, RouteTable, TwinRoute
from gateway.settings import GatewaySettings
from gateway.tracing import Tracing
from wire import WireError
from wire.spec import check_outputs, validate_inputs

log = logging.getLogger("gateway.dataplane")

_KEEP_INPUT_BYTES = 64 * 1024

_EXAMPLE_METHODS = {
    "classify": "tensorflow/serving/classify",
    "regress": "tensorflow/serving/regress",
}


@dataclass(frozen=True, slots=True)
class ModelSummary:
    """One line of ``GET /v1/models``."""

    name: str
    framework: str
    backend: str
    versions: tuple[int, ...]
    default_version: int
    labels: dict[str, int]
    ready: bool


class DataPlane:
    """Serves inference and metadata for every routed model."""

    def __init__(
        self,
        table: RouteTable,
        backends: Mapping[str, ResilientBackend],
        settings: GatewaySettings,
        metrics: GatewayMetrics,
        *,
        rng: random.Random | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self.table = table
        self._tracing = tracing
        self.backends = dict(backends)
        self._settings = settings
        self._metrics = metrics
        self._rng = rng or random.Random()
        self._ready_cache: dict[tuple[str, int], tuple[float, bool]] = {}
        self._metadata_cache: dict[tuple[str, int], ModelMetadata] = {}
        self._shadow_tasks: set[asyncio.Task[None]] = set()
        self._retiring: set[asyncio.Task[None]] = set()
        self._gates = self._build_gates(table, {})
        for name in table.models:
            metrics.declare_model(name)

        metrics.keep_disagreements(settings.twin_disagreements_kept)
        self._publish_twins(table)

    @staticmethod
    def _build_gates(
        table: RouteTable, old: Mapping[str, AdmissionGate]
    ) -> dict[str, AdmissionGate]:
        """One gate per model; a model whose bounds did not change keeps its gate (and its
        count of requests in flight); a request holds the gate it entered through."""
        gates = {}
        for name, route in table.models.items():
            limits = route.admission_limits
            kept = old.get(name)
            gates[name] = (
                kept if kept is not None and kept.limits == limits else AdmissionGate(name, limits)
            )
        return gates

    def admission(self, model: str) -> AdmissionGate | None:
        """The admission gate of a routed model (for the status page and tests)."""
        return self._gates.get(model)

    def _publish_twins(self, table: RouteTable) -> None:
        self._metrics.twin_objective.clear()  # a twin gone from the table has no objective
        for name, twin in table.twins.items():
            self._metrics.twin_objective.labels(name).set(twin.agreement.objective)

    # -- route table -----------------------------------------------------------------------

    def replace_table(
        self,
        table: RouteTable,
        build: Callable[[str, BackendRoute], ResilientBackend] | None,
    ) -> None:
        """Serve new requests from ``table`` (called by the route file watcher).

        Backends whose entry is unchanged keep their adapter (and connections); new or changed
        ones get one from ``build`` (``None``: adapters were injected and cannot be rebuilt,
        so such a table raises ``ValueError`` and the old one stays). Both attributes are set
        without an ``await`` in between, so a request sees either the old table or the new
        one; in-flight requests hold their old route and adapter, and replaced adapters are
        closed only once the longest upstream timeout has passed."""
        old = self.table
        backends: dict[str, ResilientBackend] = {}
        for name, cfg in table.backends.items():
            if name in self.backends and old.backends.get(name) == cfg:
                backends[name] = self.backends[name]
            elif build is None:
                raise ValueError(f"backend {name!r} is new or changed; adapters were injected")
            else:
                backends[name] = build(name, cfg)
        retired = [b for n, b in self.backends.items() if backends.get(n) is not b]
        self.table, self.backends = table, backends
        self._gates = self._build_gates(table, self._gates)
        for name in table.models:
            self._metrics.declare_model(name)
        self._publish_twins(table)
        self._ready_cache.clear()
        self._metadata_cache.clear()
        for backend in retired:
            task = asyncio.get_running_loop().create_task(self._retire(backend))
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)

    async def _retire(self, backend: ResilientBackend) -> None:
        try:
            await asyncio.sleep(self._settings.max_timeout_ms / 1000.0)
        finally:
            await backend.aclose()

    # -- routing ---------------------------------------------------------------------------

    def resolve(
        self,
        model: str,
        *,
        version: str | int | None = None,
        label: str | None = None,
        sticky_key: str | None = None,
        variant: str | None = None,
    ) -> Target:
        """Pick the model version that serves a request (404 for unknown names).

        For a twin's name, first the variant (``variant`` pins one; else sticky or weighted
        split, else the twin's default), then the version of that model; the chosen variant
        is noted for the response header. ``variant`` is ignored for a plain model."""
        table = self.table
        twin = model if model in table.twins else None
        if twin is not None:
            model = pick_variant(
                table, twin, variant=variant or None, sticky_key=sticky_key, rng=self._rng.random
            )
            twins.note_variant(model)
        target = resolve(
            table,
            model,
            version=version,
            label=label,
            canary=self._settings.canary_weights.get(model),
            sticky_key=sticky_key,
            rng=self._rng.random,
        )
        return target if twin is None else replace(target, twin=twin)

    def twin_of(self, target: Target) -> TwinRoute | None:
        """The twin a target was resolved through (``None`` for a plain model)."""
        return self.table.twins.get(target.twin) if target.twin is not None else None

    def backend_of(self, target: Target) -> ResilientBackend:
        return self.backends[target.route.backend]

    def _timeout_s(self, target: Target, deadline_s: float | None = None) -> float:
        ms = min(
            target.route.timeout_ms or self._settings.default_timeout_ms,
            self._settings.max_timeout_ms,
        )
        # A client's own deadline (gRPC) caps the backend call: no work past it.
        return ms / 1000.0 if deadline_s is None else max(0.0, min(ms / 1000.0, deadline_s))

    # -- inference -------------------------------------------------------------------------

    def validate(
        self, target: Target, inputs: Mapping[str, np.ndarray], *, shapes: bool | None = None
    ) -> dict[str, np.ndarray]:
        """Check the inputs against the route's input spec (400 with the expected spec).

        TF Serving does not hold inputs to the signature's shapes (the model's ops decide: its
        quickstart sends ``[1.0, 2.0, 5.0]`` to ``x: [-1, 1]``), so by default shapes are left
        to TF models; TorchServe models are held to their spec."""
        if shapes is None:
            shapes = target.route.checks_shapes
        try:
            return validate_inputs(
                target.route.inputs,
                inputs,
                max_batch_size=target.route.max_batch_size,
                shapes=shapes,
            )
        except WireError as exc:
            raise from_wire(exc) from exc

    async def infer(
        self,
        target: Target,
        inputs: Mapping[str, np.ndarray],
        *,
        output_names: tuple[str, ...] | None,
        request_id: str,
        signature_name: str | None = None,
        v2_body: tuple[bytes, int] | None = None,
        deadline_s: float | None = None,
    ) -> InferResult:
        """Check signature and inputs, pass admission, call the backend, start the shadow
        copy; returns the backend's result with exactly the requested outputs (all of them
        when none are named).

        ``v2_body`` is the client's v2 binary body that ``inputs`` were decoded from: a
        v2-speaking backend forwards it as it came. ``deadline_s``: seconds the client still
        waits (gRPC's deadline, REST's ``X-Request-Timeout``); the model's timeout bounds it
        either way. A request that cannot get an admission slot within that time, or whose
        time is up before it is sent, raises :class:`Overloaded` and never reaches the
        backend; the backend is given what is left as its timeout.

        For a twin, tensors carry the twin's names in and out (renamed for a variant that
        names them differently); a shadow variant gets a copy and the two answers are
        compared off the request path."""
        twin = self.twin_of(target)
        if twin is None:
            return await self._infer(
                target,
                inputs,
                output_names=output_names,
                request_id=request_id,
                signature_name=signature_name,
                v2_body=v2_body,
                deadline_s=deadline_s,
            )
        assert target.twin is not None
        self._metrics.twin_requests.labels(target.twin, target.model).inc()
        primary: asyncio.Future[dict[str, np.ndarray] | None] | None = None
        if twin.shadow is not None and twin.shadow != target.model:
            primary = asyncio.get_running_loop().create_future()
            self._shadow_twin(target, twin, twin.shadow, inputs, output_names, primary, request_id)
        in_names, out_names = twins.variant_names(twin.variants.get(target.model))
        if in_names or out_names:
            inputs = twins.to_variant(in_names, inputs)
            if output_names:
                output_names = tuple(out_names.get(n, n) for n in output_names)
            v2_body = None  # the body names the twin's tensors, not this variant's
        answer: dict[str, np.ndarray] | None = None
        try:
            result = await self._infer(
                target,
                inputs,
                output_names=output_names,
                request_id=request_id,
                signature_name=signature_name,
                v2_body=v2_body,
                deadline_s=deadline_s,
            )
            result.outputs = answer = twins.from_variant(out_names, result.outputs)
            return result
        finally:
            if primary is not None and not primary.done():
                primary.set_result(answer)

    async def _infer(
        self,
        target: Target,
        inputs: Mapping[str, np.ndarray],
        *,
        output_names: tuple[str, ...] | None,
        request_id: str,
        signature_name: str | None,
        v2_body: tuple[bytes, int] | None,
        deadline_s: float | None,
    ) -> InferResult:
        expected_signature = target.route.signature_name or "serving_default"
        if signature_name not in (None, "", expected_signature):
            raise UnsupportedSignature(
                f"model {target.model!r} serves signature {expected_signature!r}, "
                f"not {signature_name!r}"
            )
        checked = self.validate(target, inputs)
        if output_names:
            try:
                check_outputs(target.route.outputs, output_names)
            except WireError as exc:
                raise UnsupportedSignature(exc.message) from exc
        deadline = time.monotonic() + self._timeout_s(target, deadline_s)
        gate = self._gates.get(target.model)
        if gate is not None:  # None: a request resolved against a table replaced since
            try:
                await gate.acquire(deadline)
            except Overloaded as exc:
                self._metrics.observe_shed(target.model, exc.reason)
                raise
        try:
            return await self._send(
                target, checked, inputs, output_names, request_id, v2_body, deadline
            )
        finally:
            if gate is not None:
                gate.release()

    async def _send(
        self,
        target: Target,
        checked: dict[str, np.ndarray],
        inputs: Mapping[str, np.ndarray],
        output_names: tuple[str, ...] | None,
        request_id: str,
        v2_body: tuple[bytes, int] | None,
        deadline: float,
    ) -> InferResult:
        """The backend call of :meth:`infer`, holding an admission slot."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            self._metrics.observe_shed(target.model, DEADLINE)
            raise Overloaded(
                f"model {target.model!r}: the request's deadline passed before it was sent",
                reason=DEADLINE,
            )
        call = InferCall(
            route=target.route,
            version=target.version,
            inputs=checked,
            output_names=output_names,
            request_id=request_id,
            timeout_s=remaining,
            v2_body=v2_body,
            latest=not target.pinned and not target.split and self._shadow_of(target) is None,
        )
        backend = self.backend_of(target)
        self._maybe_shadow(target, call)
        started = time.perf_counter()
        outcome = "ok"
        try:
            try:
                if self._tracing is None:
                    result = await backend.infer(call)
                else:
                    attributes = {"tandem.model": target.model, "tandem.version": target.version}
                    attributes["tandem.backend"] = backend.name
                    with self._tracing.start_span(
                        "upstream infer", server=False, attributes=attributes
                    ):
                        call.trace = self._tracing.headers()
                        result = await backend.infer(call)
            except UpstreamRejected:
                # Name the expected spec when the model refused a shape we let through.
                self.validate(target, inputs, shapes=True)
                raise
            if output_names:
                result.outputs = {n: result.outputs[n] for n in output_names if n in result.outputs}
            return result
        except GatewayError as exc:
            outcome = str(int(exc.status))
            raise
        finally:
            self._metrics.observe_upstream(
                model=target.model,
                version=target.version,
                backend=backend.name,
                outcome=outcome,
                seconds=time.perf_counter() - started,
            )
            self._metrics.set_breaker_open(backend.name, backend.breaker.state != "closed")

    def _shadow_twin(
        self,
        target: Target,
        twin: TwinRoute,
        shadow: str,
        inputs: Mapping[str, np.ndarray],
        output_names: tuple[str, ...] | None,
        primary: asyncio.Future[dict[str, np.ndarray] | None],
        request_id: str,
    ) -> None:
        """Start the shadow variant's copy of a twin request (twin tensor names in; dropped,
        never queued, beyond ``shadow_max_inflight``); its task compares the answers once
        both are in."""
        assert target.twin is not None
        if len(self._shadow_tasks) >= self._settings.shadow_max_inflight:
            self._metrics.shadow.labels(shadow, "", "dropped").inc()
            primary.cancel()
            return
        # The shadow variant's routed version (its default or its own canary split).
        shadow_target = replace(resolve(self.table, shadow, rng=self._rng.random), twin=target.twin)
        s_in, s_out = twins.variant_names(twin.variants.get(shadow))
        copy = InferCall(
            route=shadow_target.route,
            version=shadow_target.version,
            inputs=twins.to_variant(s_in, inputs),
            output_names=tuple(s_out.get(n, n) for n in output_names) if output_names else None,
            request_id=f"{request_id}-shadow",
            timeout_s=self._timeout_s(shadow_target),
        )
        origin = twins.TwinOrigin(variant=target.model, request_id=request_id, inputs=dict(inputs))
        task = asyncio.get_running_loop().create_task(
            self._twin_shadow(shadow_target, twin, copy, primary, origin)
        )
        self._shadow_tasks.add(task)
        task.add_done_callback(self._shadow_tasks.discard)

    @staticmethod
    def _out_names(twin: TwinRoute, variant: str) -> Mapping[str, str]:
        return twins.variant_names(twin.variants.get(variant))[1]

    async def _twin_shadow(
        self,
        target: Target,
        twin: TwinRoute,
        call: InferCall,
        primary: asyncio.Future[dict[str, np.ndarray] | None],
        origin: twins.TwinOrigin,
    ) -> None:
        """Send ``call`` (the copy) to the shadow variant ``target``, then compare its answer
        with the primary's once that is in; count, and keep a bounded record of disagreements."""
        assert target.twin is not None
        answer: dict[str, np.ndarray] | None = None
        primary_name, request_id, twin_inputs = origin.variant, origin.request_id, origin.inputs
        try:
            call.inputs = self.validate(target, call.inputs)
            result = await self.backend_of(target).infer(call)
            answer = twins.from_variant(self._out_names(twin, target.model), result.outputs)
            outcome = "ok"
        except GatewayError as exc:
            outcome = str(int(exc.status))
        except Exception:  # a shadow must never take anything down with it
            log.exception("twin shadow request failed", extra={"model": target.model})
            outcome = "error"
        self._metrics.shadow.labels(target.model, str(target.version), outcome).inc()
        first = await primary
        if first is None or answer is None:
            self._metrics.observe_comparison(
                twin=target.twin, primary=primary_name, shadow=target.model, agree=None
            )
            return
        verdict = twins.compare(twin.agreement, first, answer)
        self._metrics.observe_comparison(
            twin=target.twin,
            primary=primary_name,
            shadow=target.model,
            agree=verdict.agree,
            outputs=[(o.name, o.agree, o.max_abs_diff) for o in verdict.outputs],
        )
        if not verdict.agree:
            keep = self._settings.twin_keep_inputs
            self._metrics.disagreements.append(
                Disagreement(
                    at=time.time(),
                    twin=target.twin,
                    primary=primary_name,
                    shadow=target.model,
                    request_id=request_id,
                    outputs=tuple(verdict.disagreeing),
                    max_abs_diff={
                        o.name: o.max_abs_diff
                        for o in verdict.outputs
                        if o.max_abs_diff is not None
                    },
                    inputs={k: list(v.shape) for k, v in twin_inputs.items()},
                    payload={
                        k: v.tolist()
                        for k, v in twin_inputs.items()
                        if v.nbytes <= _KEEP_INPUT_BYTES
                    }
                    if keep
                    else None,
                )
            )

    def _shadow_of(self, target: Target) -> int | None:
        return self._settings.shadow_versions.get(target.model, target.route.shadow_version)

    def _maybe_shadow(self, target: Target, call: InferCall) -> None:
        shadow = self._shadow_of(target)
        if shadow is None or shadow == target.version or shadow not in target.route.versions:
            return
        if len(self._shadow_tasks) >= self._settings.shadow_max_inflight:
            self._metrics.shadow.labels(target.model, str(shadow), "dropped").inc()
            return
        copy = InferCall(
            route=call.route,
            version=shadow,
            inputs=call.inputs,  # arrays are never mutated downstream: share, do not copy
            output_names=call.output_names,
            request_id=f"{call.request_id}-shadow",
            timeout_s=call.timeout_s,
            v2_body=call.v2_body,
        )  # pinned: the shadow version, never the backend's default
        task = asyncio.get_running_loop().create_task(self._shadow(target, copy))
        self._shadow_tasks.add(task)
        task.add_done_callback(self._shadow_tasks.discard)

    async def _shadow(self, target: Target, call: InferCall) -> None:
        try:
            await self.backend_of(target).infer(call)
            outcome = "ok"
        except GatewayError as exc:
            outcome = str(int(exc.status))
        except Exception:  # a shadow must never take anything down with it
            log.exception("shadow request failed", extra={"model": target.model})
            outcome = "error"
        self._metrics.shadow.labels(target.model, str(call.version), outcome).inc()

    async def example_method(
        self,
        target: Target,
        method: ExampleMethod,
        body: dict[str, Any],
        request_id: str,
        *,
        deadline_s: float | None = None,
    ) -> dict[str, Any]:
        """``:classify`` / ``:regress`` on a signature that implements the method
        (``deadline_s`` as in :meth:`infer`)."""
        meta = await self.metadata(target)
        signature = body.get("signature_name") or meta.default_signature
        sig = meta.signatures.get(str(signature))
        if sig is None or sig.method_name != _EXAMPLE_METHODS[method]:
            raise UnsupportedSignature(
                f"signature {signature!r} of model {target.model!r} does not support :{method}"
            )
        backend = self.backend_of(target)
        if not backend.supports_examples:
            raise UnsupportedSignature(
                f"model {target.model!r} is served by {backend.name!r}, which has no :{method}"
            )
        call = ExampleCall(
            target.route,
            target.version,
            method,
            body,
            request_id,
            self._timeout_s(target, deadline_s),
        )
        if self._tracing is None:
            return await backend.examples(call)
        attributes = {"tandem.model": target.model, "tandem.version": target.version}
        attributes["tandem.backend"] = backend.name
        with self._tracing.start_span(f"upstream {method}", server=False, attributes=attributes):
            call.trace = self._tracing.headers()
            return await backend.examples(call)

    # -- metadata and readiness ------------------------------------------------------------

    async def metadata(self, target: Target) -> ModelMetadata:
        """Normalised metadata of one model version (cached after the first answer)."""
        key = (target.model, target.version)
        cached = self._metadata_cache.get(key)
        if cached is not None:
            return cached
        meta = await self.backend_of(target).metadata(
            target.route, target.version, self._timeout_s(target)
        )
        self._metadata_cache[key] = meta
        return meta

    async def model_ready(self, target: Target) -> bool:
        """Whether the version answers on its backend now (cached ``ready_cache_s``)."""
        key = (target.model, target.version)
        now = time.monotonic()
        cached = self._ready_cache.get(key)
        if cached is not None and now - cached[0] < self._settings.ready_cache_s:
            return cached[1]
        timeout = min(self._timeout_s(target), 2.0)
        try:
            ok = await asyncio.wait_for(
                self.backend_of(target).ready(target.route, target.version, timeout), timeout + 0.5
            )
        except (TimeoutError, GatewayError):
            ok = False
        self._ready_cache[key] = (time.monotonic(), ok)
        if target.version == target.route.default_version:
            self._metrics.set_model_ready(target.model, target.route.backend, ok)
        return ok

    async def require_ready(self, target: Target) -> None:
        """Raise :class:`ModelNotReady` (503) unless the version is ready."""
        if not await self.model_ready(target):
            raise ModelNotReady(f"model {target.model!r} version {target.version} is not ready")

    async def readiness(self) -> dict[str, bool]:
        """Readiness of every routed model's default version, probed concurrently."""
        targets = [
            self.resolve(name, version=r.default_version) for name, r in self.table.models.items()
        ]
        results = await asyncio.gather(*(self.model_ready(t) for t in targets))
        return {t.model: ok for t, ok in zip(targets, results, strict=True)}

    async def summaries(self) -> list[ModelSummary]:
        """Every routed model with its readiness (for ``GET /v1/models``)."""
        table = self.table  # the one listed, even if a reload lands while probes run
        ready = await self.readiness()
        return [
            ModelSummary(
                name,
                r.framework,
                r.backend,
                r.versions,
                r.default_version,
                dict(r.labels),
                ready.get(name, False),
            )
            for name, r in table.models.items()
        ]

    async def aclose(self) -> None:
        """Cancel shadow copies and close every backend."""
        for task in list(self._shadow_tasks):
            task.cancel()
        if self._shadow_tasks:
            await asyncio.gather(*self._shadow_tasks, return_exceptions=True)
        for task in list(self._retiring):
            task.cancel()  # closes the replaced adapter now
        if self._retiring:
            await asyncio.gather(*self._retiring, return_exceptions=True)
        await asyncio.gather(*(b.aclose() for b in self.backends.values()), return_exceptions=True)
