"""TF Serving REST API (v1) wire shapes. https://www.tensorflow.org/tfx/serving/api_rest"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

_PIXELS: list[Any] = [[0.0] * 64]


class PredictRequest(BaseModel):
    """Row (``instances``) or columnar (``inputs``) predict body; ``{"b64": ...}`` for bytes."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"instances": _PIXELS},
                {"inputs": {"pixels": _PIXELS}},
            ]
        }
    )
    signature_name: str | None = None
    instances: list[Any] | None = None
    inputs: Any | None = None


class PredictResponse(BaseModel):
    """``predictions`` answers a row request, ``outputs`` a columnar one."""

    predictions: list[Any] | None = None
    outputs: Any | None = None


class ExampleRequest(BaseModel):
    """``:classify`` / ``:regress`` body (tf.Example features as JSON)."""

    model_config = ConfigDict(extra="allow")
    signature_name: str | None = None
    context: dict[str, Any] | None = None
    examples: list[dict[str, Any]]


class ExampleResponse(BaseModel):
    """``:classify`` / ``:regress`` answer."""

    model_config = ConfigDict(extra="allow")
    result: Any


class Status(BaseModel):
    error_code: str = "OK"
    error_message: str = ""


class VersionStatus(BaseModel):
    version: str
    state: str
    status: Status = Field(default_factory=Status)


class ModelStatusResponse(BaseModel):
    """``GET /v1/models/{model}[/versions/{v}]``."""

    model_version_status: list[VersionStatus]


class ModelSpec(BaseModel):
    name: str
    signature_name: str = ""
    version: str


class TensorShape(BaseModel):
    dim: list[dict[str, str]]
    unknown_rank: bool = False


class TensorInfo(BaseModel):
    dtype: str
    tensor_shape: TensorShape
    name: str


class SignatureDef(BaseModel):
    inputs: dict[str, TensorInfo]
    outputs: dict[str, TensorInfo]
    method_name: str


class SignatureDefMap(BaseModel):
    signature_def: dict[str, SignatureDef]


class ModelMetadata(BaseModel):
    signature_def: SignatureDefMap


class MetadataResponse(BaseModel):
    """``GET /v1/models/{model}[/versions/{v}]/metadata`` (TF Serving's format, also for
    PyTorch models)."""

    model_spec: ModelSpec
    metadata: ModelMetadata


class ModelInfo(BaseModel):
    """One routed model (gateway extension)."""

    name: str
    framework: str
    backend: str
    versions: list[int]
    default_version: int
    labels: dict[str, int]
    state: str


class TwinVariantInfo(BaseModel):
    """One variant of a twin: a model of ``models`` and its share of the split."""

    name: str
    weight: float
    role: Literal["default", "shadow", "variant"]


class TwinInfo(BaseModel):
    """One public name served by several routed models (gateway extension): callers use
    ``name``; ``X-Tandem-Variant`` pins one of ``variants``."""

    name: str
    default: str
    shadow: str | None
    variants: list[TwinVariantInfo]
    state: str
    """AVAILABLE when every variant that answers traffic (the default and every weighted one)
    is available."""


class ModelList(BaseModel):
    """``GET /v1/models`` (gateway extension): the routed models, then the twins."""

    models: list[ModelInfo]
    twins: list[TwinInfo] = Field(default_factory=list)
