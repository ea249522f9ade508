"""The gateway's view of ``build/config/routes.json`` (written by ``tandem export``).

Parsed once at start-up by :func:`load_route_table`; unknown keys are tolerated so the export
side can add fields without breaking the gateway. Optional gateway extras per model:
``canary_weights`` (``{"2": 0.1}``: share of unpinned traffic sent to version 2) and
``shadow_version`` (a version that receives a fire-and-forget copy of every request).
``admission`` bounds the requests in flight and waiting per model (see :class:`Admission`).

``twins`` (optional): public names served by two or more routed models (a TensorFlow and a
PyTorch build of one model, say), each a :class:`TwinRoute`: weighted split, default, shadow
variant, tensor name mapping and what "agree" means for the live comparison.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

from wire.dtypes import DTypeName
from wire.spec import TensorSpec

__all__ = [
    "Admission",
    "Agreement",
    "BackendRoute",
    "DTypeName",
    "ModelRoute",
    "RouteTable",
    "TensorSpec",
    "TwinRoute",
    "TwinVariant",
    "twin_interface_error",
]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class BackendRoute(_Lenient):
    """Where one backend server listens."""

    kind: Literal["tfserving", "torchserve"]
    grpc_target: str | None = None
    rest_url: str | None = None
    token_file: Path | None = None


def default_queue(max_in_flight: int) -> int:
    """Requests allowed to wait for a slot when the manifest names no ``max_queue``."""
    return 4 * max_in_flight


class Admission(_Lenient):
    """Per-model admission bounds of the gateway: at most ``max_in_flight`` requests at the
    backend and ``max_queue`` more waiting for a slot; past that a request is refused at once
    (503 + ``Retry-After``) instead of queueing until its caller gives up."""

    max_in_flight: int = Field(ge=1)
    max_queue: int = Field(ge=0)

    @classmethod
    def derive(cls, *, workers: int, batch_size: int) -> Admission:
        """The default bounds for a backend running ``workers`` model workers (or batch
        threads) of ``batch_size`` rows: two batches per worker in flight (one running, one
        filling) and four times that waiting (:func:`default_queue`), a short wait at the
        backend's pace. The manifest's default and the gateway's fallback for a route file
        without bounds both come from here."""
        in_flight = max(1, workers) * max(1, batch_size) * 2
        return cls(max_in_flight=in_flight, max_queue=default_queue(in_flight))


_SHAPES_LEFT_TO_THE_MODEL = frozenset({"tensorflow"})
"""Route files written before `check_shapes`: these frameworks' models decide shapes."""


class ModelRoute(_Lenient):
    """How one public model name maps onto a backend model."""

    framework: str
    backend: str
    upstream_name: str
    versions: tuple[int, ...] = Field(min_length=1)
    default_version: int
    labels: dict[str, int] = Field(default_factory=dict)
    signature_name: str | None = None
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    max_batch_size: int | None = None
    timeout_ms: int = Field(default=5000, gt=0)
    canary_weights: dict[int, float] = Field(default_factory=dict)
    shadow_version: int | None = None
    admission: Admission | None = None
    """``None`` (a route file from before admission control): derived from
    ``max_batch_size`` with one worker, see :meth:`Admission.derive`."""
    check_shapes: bool | None = None
    """Whether the gateway holds inputs to their shapes (the backend kind's rule, written by
    configgen). ``None`` (a route file from before the field): see :attr:`checks_shapes`."""

    @property
    def checks_shapes(self) -> bool:
        """The route file's `check_shapes`; a file without it keeps the old rule, that only
        TensorFlow models' shapes are left to the model."""
        if self.check_shapes is not None:
            return self.check_shapes
        return self.framework not in _SHAPES_LEFT_TO_THE_MODEL

    @property
    def admission_limits(self) -> Admission:
        """The bounds in force: the route file's, else derived."""
        if self.admission is not None:
            return self.admission
        return Admission.derive(workers=1, batch_size=self.max_batch_size or 1)

    @model_validator(mode="after")
    def _versions_consistent(self) -> ModelRoute:
        known = set(self.versions)
        if self.default_version not in known:
            raise ValueError(f"default_version {self.default_version} not in versions")
        for label, version in self.labels.items():
            if version not in known:
                raise ValueError(f"label {label!r} points at unknown version {version}")
        for version, weight in self.canary_weights.items():
            if version not in known or not 0.0 <= weight <= 1.0:
                raise ValueError(f"bad canary weight {weight} for version {version}")
        if sum(self.canary_weights.values()) > 1.0 + 1e-9:
            raise ValueError("canary weights add up to more than 1")
        return self


class TwinVariant(_Lenient):
    """One build of a twin: a routed model, its share of the split and, where its tensors are
    named differently, the twin's tensor name → this model's tensor name."""

    weight: float = Field(default=0.0, ge=0.0, le=1.0)
    inputs: dict[str, str] = Field(default_factory=dict)
    outputs: dict[str, str] = Field(default_factory=dict)


class Agreement(_Lenient):
    """When two answers of a twin agree: every compared output does. Float outputs agree
    within ``atol`` (absolute, element-wise), integer/bool/string outputs exactly, and an
    output named in ``top1`` when its arg-max over the last axis is the same."""

    outputs: tuple[str, ...] = ()
    """Twin output names compared (empty: all of them)."""
    atol: float = Field(default=1e-5, ge=0.0)
    top1: tuple[str, ...] = ()
    objective: float = Field(default=0.99, gt=0.0, le=1.0)
    """Share of shadowed requests that must agree (the alert fires below it)."""


class TwinRoute(_Lenient):
    """One public name served by several routed models (its variants)."""

    variants: dict[str, TwinVariant] = Field(min_length=2)
    default: str
    shadow: str | None = None
    agreement: Agreement = Field(default_factory=Agreement)

    @model_validator(mode="after")
    def _consistent(self) -> TwinRoute:
        if self.default not in self.variants:
            raise ValueError(f"default {self.default!r} is not a variant")
        if self.shadow is not None and self.shadow not in self.variants:
            raise ValueError(f"shadow {self.shadow!r} is not a variant")
        if sum(v.weight for v in self.variants.values()) > 1.0 + 1e-5:
            raise ValueError("variant weights add up to more than 1")  # 1e-5: rounded shares
        first = next(iter(self.variants.values()))
        if first.inputs or first.outputs:
            raise ValueError("the first variant names the twin's tensors: it has no mapping")
        return self


class _Tensor(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def dtype(self) -> str: ...
    @property
    def shape(self) -> Sequence[int]: ...


def _spec_text(t: _Tensor) -> str:
    return f"{t.dtype}{list(t.shape)}"


def twin_agreement_error(
    twin: str, outputs: Sequence[_Tensor], compared: Sequence[str]
) -> str | None:
    """The one line naming outputs that a twin's agreement rule compares but its reference
    variant lacks, or None; the manifest and the route table both refuse on it."""
    unknown = sorted(set(compared) - {t.name for t in outputs})
    return f"twin {twin!r}: agreement names unknown outputs {unknown}" if unknown else None


def twin_interface_error(
    twin: str,
    first: str,
    first_io: tuple[Sequence[_Tensor], Sequence[_Tensor]],
    other: str,
    other_io: tuple[Sequence[_Tensor], Sequence[_Tensor]],
    mapping: tuple[Mapping[str, str], Mapping[str, str]],
) -> str | None:
    """One line naming both sides when ``other`` (its tensors renamed by ``mapping``, twin
    name → its name) does not take and give the same tensors as ``first``; else ``None``.

    The twin's interface is its first variant's. Called by the manifest check and by the
    route table's validation."""
    for kind, mine, theirs, names in zip(
        ("input", "output"), first_io, other_io, mapping, strict=True
    ):
        by_name = {t.name: t for t in theirs}
        for t in mine:
            their_name = names.get(t.name, t.name)
            got = by_name.pop(their_name, None)
            alias = f" (as {their_name!r})" if their_name != t.name else ""
            if got is None:
                known = sorted(x.name for x in theirs)
                return (
                    f"twin {twin!r}: {kind} {t.name!r} {_spec_text(t)} of {first!r} has no "
                    f"counterpart{alias} in {other!r} (its {kind}s: {known})"
                )
            if got.dtype != t.dtype or list(got.shape) != list(t.shape):
                return (
                    f"twin {twin!r}: {kind} {t.name!r} is {_spec_text(t)} in {first!r} but "
                    f"{_spec_text(got)}{alias} in {other!r}"
                )
        if by_name:
            return (
                f"twin {twin!r}: {other!r} has {kind}s {sorted(by_name)} that {first!r} lacks "
                f"(map names in the variant's '{kind}s:')"
            )
    return None


class RouteTable(_Lenient):
    """The whole route file."""

    schema_version: Literal[1]
    backends: dict[str, BackendRoute]
    models: dict[str, ModelRoute]
    twins: dict[str, TwinRoute] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _backends_exist(self) -> RouteTable:
        for name, model in self.models.items():
            if model.backend not in self.backends:
                raise ValueError(f"model {name!r} names unknown backend {model.backend!r}")
        for name, twin in self.twins.items():
            if name in self.models:
                raise ValueError(f"twin {name!r} has the name of a model")
            missing = [v for v in twin.variants if v not in self.models]
            if missing:
                raise ValueError(f"twin {name!r} names unknown models {missing}")
            first, *others = twin.variants
            ref = self.models[first]
            for other in others:
                route, variant = self.models[other], twin.variants[other]
                problem = twin_interface_error(
                    name,
                    first,
                    (ref.inputs, ref.outputs),
                    other,
                    (route.inputs, route.outputs),
                    (variant.inputs, variant.outputs),
                )
                if problem is not None:
                    raise ValueError(problem)
            problem = twin_agreement_error(
                name, ref.outputs, [*twin.agreement.outputs, *twin.agreement.top1]
            )
            if problem is not None:
                raise ValueError(problem)
        return self


def load_route_table(path: Path) -> RouteTable:
    """Read and validate the route file at ``path`` (raises on a missing or bad file)."""
    return RouteTable.model_validate_json(path.read_bytes())
