"""The adapter interface every backend implements, and the values that cross it.

:class:`Backend` is four calls (``infer``, ``metadata``, ``ready``, ``aclose``). TF Serving's
``:classify``/``:regress`` are a capability, :class:`SupportsExamples`, that only the TF
adapter has; the dataplane asks for it instead of every adapter carrying a refusal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from gateway.route_table import ModelRoute, TensorSpec


@dataclass(slots=True)
class InferCall:
    """One inference as the dataplane hands it to an adapter (inputs already validated)."""

    route: ModelRoute
    version: int
    inputs: dict[str, np.ndarray]
    output_names: tuple[str, ...] | None
    request_id: str
    timeout_s: float
    v2_body: tuple[bytes, int] | None = None
    """The client's v2 binary-extension body and header length, for a v2-speaking backend to
    forward without re-encoding (``inputs`` were decoded from it and validated)."""
    latest: bool = False
    """Ask the backend without a version, so its current default answers (a new version goes
    live there before the gateway's route file names it); ``version`` is then the route's
    default, reported when the backend does not say which version answered."""
    trace: dict[str, str] | None = None
    """W3C ``traceparent``/``tracestate`` of the gateway's span, for the backend call's
    headers or metadata (set by the dataplane when tracing is on)."""


@dataclass(slots=True)
class InferResult:
    """Output arrays by name and the version that answered."""

    outputs: dict[str, np.ndarray]
    version: int


@dataclass(frozen=True, slots=True)
class Signature:
    """One callable signature of a model, normalised across frameworks."""

    method_name: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]


@dataclass(frozen=True, slots=True)
class ModelMetadata:
    """What a backend says about one model version, normalised across frameworks."""

    platform: str
    default_signature: str
    signatures: dict[str, Signature] = field(default_factory=dict)


ExampleMethod = Literal["classify", "regress"]


@dataclass(slots=True)
class ExampleCall:
    """One ``:classify``/``:regress`` call: the public JSON body, forwarded as it is."""

    route: ModelRoute
    version: int
    method: ExampleMethod
    body: dict[str, Any]
    request_id: str
    timeout_s: float
    trace: dict[str, str] | None = None
    """As :attr:`InferCall.trace`."""


class Backend(Protocol):
    """A serving system the gateway forwards to.

    Implementations translate every foreign error (grpc, HTTP connections, server error bodies) into
    :mod:`gateway.errors` at this boundary. A call that never reached the server raises
    :class:`gateway.errors.BackendUnavailable` with ``sent=False`` so callers may retry it.
    """

    name: str

    async def infer(self, call: InferCall) -> InferResult:
        """Run one inference."""
        ...

    async def metadata(self, route: ModelRoute, version: int, timeout_s: float) -> ModelMetadata:
        """Describe one model version."""
        ...

    async def ready(self, route: ModelRoute, version: int, timeout_s: float) -> bool:
        """Whether the model version answers on this backend now."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


@runtime_checkable
class SupportsExamples(Protocol):
    """A backend that runs TF Serving ``:classify``/``:regress`` (tf.Example inputs)."""

    async def examples(self, call: ExampleCall) -> dict[str, Any]:
        """Run one ``:classify``/``:regress`` body and return the server's JSON answer."""
        ...


def route_metadata(route: ModelRoute, platform: str) -> ModelMetadata:
    """Metadata derived from the route file alone (for servers without a metadata API)."""
    signature = route.signature_name or "serving_default"
    return ModelMetadata(
        platform=platform,
        default_signature=signature,
        signatures={
            signature: Signature("tensorflow/serving/predict", route.inputs, route.outputs)
        },
    )
