"""The manifest, `models.yaml`: which models exist and how each one is served.

Everything else (exports, server configs, routes, deploy files) is derived from it. Loading
keeps the YAML line of every key so that each validation error can name the file, the model,
the field and the line: `models.yaml:14: model 'digits_mlp_tf': inputs[0].dtype: ...`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from gateway.route_table import (
    Admission,
    default_queue,
    twin_agreement_error,
    twin_interface_error,
)
from tandem.errors import ManifestError
from wire.dtypes import DTypeName
from wire.spec import TensorSpec as WireTensorSpec
from wire.spec import check_shape, concrete_shape

DType = DTypeName
"""The wire contract's dtype names (``wire.dtypes``): one list for manifest, routes and handler."""
Framework = Literal["tensorflow", "pytorch"]
TorchFormat = Literal["torchscript", "export", "eager"]

_NAME_RE = r"^[A-Za-z][A-Za-z0-9_\-]{0,62}$"
_ENTRY_POINT_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_ITEM_RE = re.compile(r"^\[(?P<index>\d+)\]\.(?P<fields>[\w.]+): ")


class _Strict(BaseModel):
    # Field docstrings become the JSON Schema's descriptions (editor hovers on models.yaml).
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class TensorSpec(_Strict):
    """One named input or output tensor; -1 marks the batch (or any free) dimension.

    The first dimension is the batch: -1, or a fixed size where an existing artifact's
    signature fixes it (TF Serving's TF2 half_plus_two takes `x` of shape [1]).
    """

    name: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_\-./]*$")]
    dtype: DType
    shape: list[int]

    @field_validator("shape")
    @classmethod
    def _check_shape(cls, shape: list[int]) -> list[int]:
        if not shape:
            raise ValueError("shape must list at least the batch dimension, e.g. [-1]")
        check_shape(shape)  # WireError is a ValueError: pydantic reports its message
        return shape

    @property
    def fixed_batch(self) -> int | None:
        """The batch size the signature fixes, or None when the batch is free."""
        return self.shape[0] if self.shape[0] > 0 else None

    def concrete_shape(self, batch: int) -> tuple[int, ...]:
        """The shape with a free batch set to `batch`; other free dimensions become 1."""
        return concrete_shape(self.shape, batch)

    def to_wire(self) -> WireTensorSpec:
        """This spec as the wire contract holds it (route file, the handler's spec)."""
        return WireTensorSpec(self.name, self.dtype, tuple(self.shape))


class Batching(_Strict):
    """Server-side batching: TF Serving's batcher and TorchServe's batchSize/maxBatchDelay."""

    enabled: bool = True
    max_batch_size: Annotated[int, Field(ge=1, le=4096)] = 8
    max_delay_ms: Annotated[float, Field(ge=0, le=10_000)] = 5.0
    max_enqueued_batches: Annotated[int, Field(ge=1)] = 100
    allowed_batch_sizes: list[int] | None = None

    @model_validator(mode="after")
    def _check_allowed(self) -> Batching:
        sizes = self.allowed_batch_sizes
        if sizes is not None:
            if sizes != sorted(set(sizes)) or sizes[0] < 1:
                raise ValueError("allowed_batch_sizes must be increasing positive integers")
            if sizes[-1] != self.max_batch_size:
                raise ValueError("the last allowed_batch_sizes entry must equal max_batch_size")
        return self


class AdmissionSpec(_Strict):
    """The gateway's bounds for one model (``admission: {max_in_flight, max_queue}``): past
    them a request is refused at once with 503 + ``Retry-After``. Left out, each is derived
    from the backend's workers and batch size (``gateway.route_table.Admission.derive``)."""

    max_in_flight: Annotated[int, Field(ge=1, le=100_000)] | None = None
    """Requests at the backend at once."""
    max_queue: Annotated[int, Field(ge=0, le=100_000)] | None = None
    """Requests waiting in the gateway for a slot (0: none wait; default: 4 x max_in_flight)."""


class Device(_Strict):
    kind: Literal["cpu", "gpu"] = "cpu"
    count: Annotated[int, Field(ge=0, le=16)] = 0

    @model_validator(mode="after")
    def _check_count(self) -> Device:
        if self.kind == "gpu" and self.count < 1:
            raise ValueError("a gpu device needs count >= 1")
        if self.kind == "cpu" and self.count != 0:
            raise ValueError("count is only for kind: gpu")
        return self


class VersionPolicy(_Strict):
    """Which versions the servers keep loaded, as in TF Serving's model_version_policy."""

    policy: Literal["latest", "all", "specific"] = "latest"
    num_versions: Annotated[int, Field(ge=1)] = 1
    versions: list[Annotated[int, Field(ge=1)]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> VersionPolicy:
        if self.policy == "specific" and not self.versions:
            raise ValueError("policy 'specific' needs a non-empty 'versions' list")
        if self.policy != "specific" and self.versions:
            raise ValueError("'versions' is only for policy 'specific'")
        return self


class Objectives(_Strict):
    """Service objectives the generated alert rules check (monitoring only: changing them
    never re-exports the model)."""

    p99_ms: Annotated[int, Field(ge=1, le=600_000)] | None = None
    """p99 gateway latency objective; default: half of the model's ``timeout_ms``."""
    error_ratio: Annotated[float, Field(gt=0, le=1)] = 0.05
    """Largest tolerated share of requests answered 5xx (over 5 minutes)."""


class ModelSpec(_Strict):
    """One servable model."""

    name: Annotated[str, Field(pattern=_NAME_RE)]
    framework: Framework
    source: Annotated[str, Field(min_length=1)]
    """`module:function` returning a trained model (or `(model, metrics)`), or a path to a
    SavedModel directory, a TorchScript file, a `.pt2` program or a state_dict file."""
    format: TorchFormat | None = None
    """PyTorch only: how the model is packaged for TorchServe. For a file source it defaults
    to the file's own kind (`.pt2` → export, TorchScript → torchscript, state_dict → eager)."""
    signature: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_\-./]*$")] = "serving_default"
    """TensorFlow only: the SavedModel signature that serves predict (and is read for the
    inputs and outputs of an existing SavedModel)."""
    model_class: str | None = None
    """PyTorch `module:Class` to rebuild a model from a state_dict (eager format)."""
    version: Annotated[int, Field(ge=1)] = 1
    version_policy: VersionPolicy = Field(default_factory=VersionPolicy)
    labels: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_\-]*$")], int] = Field(
        # pydantic states the key pattern as patternProperties only; other keys are refused too.
        default_factory=dict,
        json_schema_extra={"additionalProperties": False},
    )
    inputs: list[TensorSpec] = Field(default_factory=list, validate_default=True)
    """Optional for a file source: read from its signature when left out (`tandem inspect`)."""
    outputs: list[TensorSpec] = Field(default_factory=list, validate_default=True)
    batching: Batching = Field(default_factory=Batching)
    workers: Annotated[int, Field(ge=1, le=64)] = 1
    max_workers: Annotated[int, Field(ge=1, le=64)] | None = None
    replicas: Annotated[int, Field(ge=1, le=100)] = 1
    device: Device = Field(default_factory=Device)
    timeout_ms: Annotated[int, Field(ge=10, le=600_000)] = 5000
    parity_tolerance: Annotated[float, Field(gt=0, le=1)] = 1e-5
    min_accuracy: Annotated[float, Field(ge=0, le=1)] | None = None
    objectives: Objectives = Field(default_factory=Objectives)
    admission: AdmissionSpec = Field(default_factory=AdmissionSpec)

    @field_validator("inputs", "outputs")
    @classmethod
    def _check_tensors(cls, specs: list[TensorSpec], info: ValidationInfo) -> list[TensorSpec]:
        source = info.data.get("source")
        from_code = isinstance(source, str) and _ENTRY_POINT_RE.match(source) is not None
        if from_code and not specs:
            raise ValueError(
                f"Field required for a model built by code ({source}); only a file "
                "source's own signature can stand in for it"
            )
        for i, spec in enumerate(specs):
            if from_code and spec.fixed_batch is not None:
                raise ValueError(
                    f"[{i}].shape: the first dimension is the batch and must be -1 for a model "
                    "that Tandem exports from code"
                )
        return specs

    @model_validator(mode="after")
    def _check(self) -> ModelSpec:
        if self.framework == "pytorch" and self.format is None and self.is_entry_point:
            raise ValueError("format: required for pytorch (torchscript | export | eager)")
        if self.framework == "tensorflow" and self.format is not None:
            raise ValueError("format: only for pytorch models")
        if self.framework == "pytorch" and self.signature != "serving_default":
            raise ValueError("signature: only for tensorflow models")
        if self.model_class is not None and not _ENTRY_POINT_RE.match(self.model_class):
            raise ValueError("model_class: expected 'package.module:ClassName'")
        if self.framework == "tensorflow" and self.model_class is not None:
            raise ValueError("model_class: only for pytorch models")
        names = [t.name for t in self.inputs] + [t.name for t in self.outputs]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"tensor names must be unique across inputs and outputs: {dup}")
        if self.framework == "pytorch" and any(t.dtype == "string" for t in self.inputs):
            raise ValueError("inputs: pytorch models take numeric tensors, not string")
        if self.max_workers is not None and self.max_workers < self.workers:
            raise ValueError("max_workers must be >= workers")
        for label, v in self.labels.items():
            if v not in self.served_versions:
                raise ValueError(
                    f"labels.{label}: version {v} is not among the served versions "
                    f"{self.served_versions}"
                )
        return self

    @property
    def is_entry_point(self) -> bool:
        return bool(_ENTRY_POINT_RE.match(self.source))

    @property
    def has_io(self) -> bool:
        """False for a file source whose inputs or outputs are still to be read from it."""
        return bool(self.inputs) and bool(self.outputs)

    @property
    def served_versions(self) -> list[int]:
        """Versions the servers load, derived from the version policy alone."""
        p = self.version_policy
        if p.policy == "specific":
            return sorted(p.versions)
        if p.policy == "all":
            return list(range(1, self.version + 1))
        return list(range(max(1, self.version - p.num_versions + 1), self.version + 1))

    @property
    def max_workers_effective(self) -> int:
        return self.max_workers or self.workers

    @property
    def p99_objective_ms(self) -> int:
        """The p99 latency objective, defaulting to half the upstream timeout."""
        return self.objectives.p99_ms or max(1, self.timeout_ms // 2)

    @property
    def admission_bounds(self) -> tuple[int, int]:
        """(max_in_flight, max_queue) in force: the manifest's, else derived from the
        backend's capacity, ``max_workers x replicas`` workers of one batch each
        (:meth:`gateway.route_table.Admission.derive`); the queue defaults to four times the
        in-flight bound."""
        rows = self.batching.max_batch_size if self.batching.enabled else 1
        derived = Admission.derive(
            workers=self.max_workers_effective * self.replicas, batch_size=rows
        )
        in_flight = self.admission.max_in_flight or derived.max_in_flight
        queue = self.admission.max_queue
        return in_flight, default_queue(in_flight) if queue is None else queue

    def fingerprint(self) -> str:
        """Stable hash of the spec: an export is stale when this changes (objectives and
        admission bounds are the gateway's and monitoring's only, and left out)."""
        spec = self.model_dump(mode="json", exclude={"objectives", "admission"})
        data = orjson.dumps(spec, option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(data).hexdigest()[:16]


class TFServingServer(_Strict):
    host: str = "127.0.0.1"
    grpc_port: Annotated[int, Field(ge=1, le=65535)] = 8500
    rest_port: Annotated[int, Field(ge=1, le=65535)] = 8501


class TorchServeServer(_Strict):
    host: str = "127.0.0.1"
    inference_port: Annotated[int, Field(ge=1, le=65535)] = 8080
    management_port: Annotated[int, Field(ge=1, le=65535)] = 8081
    metrics_port: Annotated[int, Field(ge=1, le=65535)] = 8082
    grpc_inference_port: Annotated[int, Field(ge=1, le=65535)] = 7070
    grpc_management_port: Annotated[int, Field(ge=1, le=65535)] = 7071
    token_expiration_min: Annotated[int, Field(ge=1, le=525_600)] = 1440
    """TorchServe's tokens expire (default there: 60 min); a restart issues new ones."""


class GatewayServer(_Strict):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8000
    grpc_port: Annotated[int, Field(ge=1, le=65535)] = 8001
    """The gateway's gRPC front door (OIP v2 and TF Serving gRPC); 8001 as Triton's."""


class Servers(_Strict):
    tfserving: TFServingServer = Field(default_factory=TFServingServer)
    torchserve: TorchServeServer = Field(default_factory=TorchServeServer)
    gateway: GatewayServer = Field(default_factory=GatewayServer)


class TwinVariantSpec(_Strict):
    """One build of a twin: a model of this manifest and its share of the traffic."""

    model: Annotated[str, Field(pattern=_NAME_RE)]
    weight: Annotated[float, Field(ge=0)] = 0.0
    """Relative share of the split (normalised over the variants; all 0: the default takes
    everything)."""
    inputs: dict[str, str] = Field(default_factory=dict)
    """Twin input name → this model's input name, where they differ."""
    outputs: dict[str, str] = Field(default_factory=dict)
    """Twin output name → this model's output name, where they differ."""


class AgreementSpec(_Strict):
    """What "the variants agree" means, live (shadowed requests) and at export."""

    outputs: list[str] = Field(default_factory=list)
    """Outputs compared (default: all)."""
    atol: Annotated[float, Field(ge=0)] = 1e-5
    """Absolute tolerance for float outputs (integer, bool and string outputs: exact)."""
    top1: list[str] = Field(default_factory=list)
    """Outputs compared by their arg-max over the last axis (class scores)."""
    objective: Annotated[float, Field(gt=0, le=1)] = 0.99
    """Share of compared requests (or export samples) that must agree."""
    samples: Annotated[int, Field(ge=1, le=10_000)] = 64
    """Sample inputs both variants answer at export (``tandem export`` refuses below the
    objective)."""
    sample_inputs: str | None = None
    """``module:function`` taking a count and returning that many inputs (an array for a
    one-input twin, else a dict by twin input name): real data, where random inputs would
    say little about agreement. Default: deterministic random inputs of the declared
    shapes."""


class TwinSpec(_Strict):
    """One public model name served by two or more models of the manifest (typically a
    TensorFlow and a PyTorch build): weighted split, sticky callers, pinning, shadow."""

    name: Annotated[str, Field(pattern=_NAME_RE)]
    variants: Annotated[list[TwinVariantSpec], Field(min_length=2)]
    default: str | None = None
    """The variant that answers unsplit traffic (default: the first)."""
    shadow: str | None = None
    """A variant that gets a fire-and-forget copy of every request another one answers; the
    two answers are compared off the request path."""
    agreement: AgreementSpec = Field(default_factory=AgreementSpec)

    @property
    def default_variant(self) -> str:
        return self.default or self.variants[0].model

    @property
    def weights(self) -> dict[str, float]:
        """Variant → share in [0, 1] (sums to 1, or all 0)."""
        total = sum(v.weight for v in self.variants)
        return {v.model: (v.weight / total if total else 0.0) for v in self.variants}


class ManifestData(_Strict):
    """A Tandem manifest: the models to serve and the ports of the servers that serve them
    (exports, server configs, routes and deploy files are all derived from it)."""

    servers: Servers = Field(default_factory=Servers)
    models: Annotated[list[ModelSpec], Field(min_length=1)]
    twins: list[TwinSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> ManifestData:
        seen: set[str] = set()
        for m in self.models:
            if m.name in seen:
                raise ValueError(f"model name {m.name!r} is declared twice")
            seen.add(m.name)
        return self


#: Where the generated schema is committed, relative to the repository root; models.yaml's
#: first line points editors at it (yaml-language-server).
SCHEMA_PATH = "schemas/models.schema.json"


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a manifest, generated from :class:`ManifestData`.

    It states the shape (fields, types, ranges, patterns); the cross-field rules of the
    validators (a pytorch model's `format`, labels among the served versions) stay with
    :func:`load_manifest`. `tandem schema` prints it; tests keep the committed copy equal.
    """
    schema = ManifestData.model_json_schema(mode="validation")
    defs = schema.pop("$defs", {})
    schema.pop("title", None)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Tandem manifest (models.yaml)",
        **schema,
        "$defs": defs,
    }


def json_schema_text() -> str:
    """:func:`json_schema` as the committed file holds it (2-space indent, final newline)."""
    return orjson.dumps(json_schema(), option=orjson.OPT_INDENT_2).decode() + "\n"


LinePath = tuple[str | int, ...]


@dataclass(frozen=True)
class Manifest:
    """A validated manifest plus where it came from, for error messages and relative paths."""

    path: Path
    data: ManifestData
    lines: Mapping[LinePath, int] = field(default_factory=dict)

    @property
    def models(self) -> list[ModelSpec]:
        return self.data.models

    @property
    def root(self) -> Path:
        """Directory that relative sources are resolved against."""
        return self.path.parent

    @property
    def twins(self) -> list[TwinSpec]:
        return self.data.twins

    def twin(self, name: str) -> TwinSpec:
        for t in self.twins:
            if t.name == name:
                return t
        known = ", ".join(t.name for t in self.twins) or "none"
        raise ManifestError(f"{self.path.name}: no twin named {name!r} (known: {known})")

    def check_twins(self) -> None:
        """Raise a one-line :class:`ManifestError` for a twin whose variants are unknown,
        repeated or do not share one tensor interface (the mismatch names both sides).
        Run at load and again once file sources' signatures are read (``configgen``)."""
        models = {m.name: m for m in self.models}
        seen: set[str] = set(models)
        for i, twin in enumerate(self.twins):
            line = _line_for(self.lines, ("twins", i))
            at = f"{self.path.name}:{line}" if line else self.path.name

            def fail(message: str, *, at: str = at) -> ManifestError:
                return ManifestError(f"{at}: {message}")

            if twin.name in seen:
                raise fail(f"twin {twin.name!r}: the name is already a model or twin")
            seen.add(twin.name)
            names = [v.model for v in twin.variants]
            for name in names:
                if name not in models:
                    raise fail(f"twin {twin.name!r}: variant {name!r} is not a model")
            if len(set(names)) != len(names):
                raise fail(f"twin {twin.name!r}: a variant is listed twice")
            for role, value in (("default", twin.default), ("shadow", twin.shadow)):
                if value is not None and value not in names:
                    raise fail(f"twin {twin.name!r}: {role} {value!r} is not one of {names}")
            if twin.shadow is not None and twin.shadow == twin.default_variant:
                raise fail(f"twin {twin.name!r}: the shadow must not be the default variant")
            first, *others = twin.variants
            if first.inputs or first.outputs:
                raise fail(
                    f"twin {twin.name!r}: the first variant names the twin's tensors; "
                    "map names on the others"
                )
            ref = models[first.model]
            if not ref.has_io:
                continue
            for v in others:
                other = models[v.model]
                if not other.has_io:
                    continue
                problem = twin_interface_error(
                    twin.name,
                    ref.name,
                    (ref.inputs, ref.outputs),
                    other.name,
                    (other.inputs, other.outputs),
                    (v.inputs, v.outputs),
                )
                if problem is not None:
                    raise fail(problem)
            problem = twin_agreement_error(
                twin.name, ref.outputs, [*twin.agreement.outputs, *twin.agreement.top1]
            )
            if problem is not None:
                raise fail(problem)

    def model(self, name: str) -> ModelSpec:
        for m in self.models:
            if m.name == name:
                return m
        known = ", ".join(m.name for m in self.models)
        raise ManifestError(f"{self.path.name}: no model named {name!r} (known: {known})")

    def where(self, model: ModelSpec, field_name: str | None = None) -> str:
        """`file:line: model 'x'` prefix for errors about one model (or one of its fields)."""
        # By name: a resolved copy of a spec (inputs read from its file) is the same model.
        idx = next(i for i, m in enumerate(self.models) if m.name == model.name)
        path: LinePath = ("models", idx) if field_name is None else ("models", idx, field_name)
        line = _line_for(self.lines, path)
        loc = f"{self.path.name}:{line}" if line else self.path.name
        return f"{loc}: model {model.name!r}"


def _line_for(lines: Mapping[LinePath, int], path: Sequence[str | int]) -> int | None:
    for end in range(len(path), 0, -1):
        line = lines.get(tuple(path[:end]))
        if line is not None:
            return line
    return None


def _walk_lines(node: yaml.Node, prefix: LinePath, out: dict[LinePath, int]) -> None:
    out.setdefault(prefix, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            out[(*prefix, key)] = key_node.start_mark.line + 1
            _walk_lines(value_node, (*prefix, key), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out[(*prefix, i)] = item.start_mark.line + 1
            _walk_lines(item, (*prefix, i), out)


def _parse_yaml(text: str, name: str) -> tuple[Any, dict[LinePath, int]]:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise ManifestError(f"{name}: the manifest is empty")
        lines: dict[LinePath, int] = {}
        _walk_lines(node, (), lines)
        return loader.construct_document(node), lines
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ManifestError(f"{name}{line}: not valid YAML: {exc.problem}") from exc
    except yaml.YAMLError as exc:
        raise ManifestError(f"{name}: not valid YAML: {exc}") from exc
    finally:
        loader.dispose()


def _format_loc(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _describe(exc: ValidationError, raw: Any, name: str, lines: Mapping[LinePath, int]) -> str:
    err = exc.errors()[0]
    # pydantic puts union/literal tags into loc; drop the ones that are not data keys.
    loc = [p for p in err["loc"] if isinstance(p, int) or not str(p).startswith("function-")]
    msg = err["msg"].removeprefix("Value error, ")
    # A list validator points at one item by starting its message with `[i].field: `.
    deeper = _ITEM_RE.match(msg)
    if deeper:
        loc = [*loc, int(deeper["index"]), *deeper["fields"].split(".")]
        msg = msg[deeper.end() :]
    line = _line_for(lines, loc)
    where = f"{name}:{line}" if line else name
    model = ""
    if len(loc) >= 2 and loc[0] in ("models", "twins") and isinstance(loc[1], int):
        kind = "model" if loc[0] == "models" else "twin"
        try:
            model_name = raw[loc[0]][loc[1]].get("name")
        except (KeyError, IndexError, TypeError, AttributeError):
            model_name = None
        model = f" {kind} {model_name!r}:" if model_name else f" {loc[0]}[{loc[1]}]:"
        loc = loc[2:]
    field_txt = f" {_format_loc(loc)}:" if loc else ""
    more = len(exc.errors()) - 1
    tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"{where}:{model}{field_txt} {msg}{tail}"


def load_manifest(path: str | Path) -> Manifest:
    """Read and validate a manifest; raises ManifestError with a one-line message."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ManifestError(f"{p}: manifest not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{p}: cannot read manifest: {exc}") from exc
    raw, lines = _parse_yaml(text, p.name)
    if not isinstance(raw, dict):
        raise ManifestError(f"{p.name}:1: the manifest must be a mapping with a 'models' list")
    try:
        data = ManifestData.model_validate(raw)
    except ValidationError as exc:
        raise ManifestError(_describe(exc, raw, p.name, lines)) from exc
    manifest = Manifest(path=p.resolve(), data=data, lines=lines)
    manifest.check_twins()
    return manifest


def select(manifest: Manifest, names: Sequence[str]) -> Iterator[ModelSpec]:
    """The named models (all when `names` is empty), in manifest order."""
    if not names:
        yield from manifest.models
        return
    wanted = [manifest.model(n) for n in names]
    yield from (m for m in manifest.models if m in wanted)
