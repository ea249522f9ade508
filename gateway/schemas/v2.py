"""Open Inference Protocol (v2) REST wire shapes, incl. the binary-data parameters.
https://github.com/kserve/open-inference-protocol"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Parameters(BaseModel):
    model_config = ConfigDict(extra="allow")
    binary_data_size: int | None = Field(default=None, ge=0)
    binary_data: bool | None = None
    binary_data_output: bool | None = None


class RequestInput(BaseModel):
    name: str
    shape: list[int] = Field(json_schema_extra={"items": {"minimum": 0}})
    datatype: str
    parameters: Parameters | None = None
    data: list[Any] | None = None


class RequestOutput(BaseModel):
    name: str
    parameters: Parameters | None = None


class InferenceRequest(BaseModel):
    """``POST /v2/models/{m}[/versions/{v}]/infer``; with the binary extension the body is
    this JSON followed by tensor bytes (``Inference-Header-Content-Length``)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "42",
                    "inputs": [
                        {"name": "pixels", "shape": [1, 64], "datatype": "FP32", "data": [0.0] * 64}
                    ],
                }
            ]
        }
    )
    id: str | None = None
    parameters: Parameters | None = None
    inputs: list[RequestInput]
    outputs: list[RequestOutput] | None = None


class ResponseOutput(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    parameters: Parameters | None = None
    data: list[Any] | None = None


class InferenceResponse(BaseModel):
    model_name: str
    model_version: str | None = None
    id: str | None = None
    parameters: Parameters | None = None
    outputs: list[ResponseOutput]


class MetadataTensor(BaseModel):
    name: str
    datatype: str
    shape: list[int]


class ModelMetadataResponse(BaseModel):
    """``GET /v2/models/{m}[/versions/{v}]``."""

    name: str
    versions: list[str] | None = None
    platform: str
    inputs: list[MetadataTensor]
    outputs: list[MetadataTensor]


class ServerMetadataResponse(BaseModel):
    """``GET /v2``."""

    name: str
    version: str
    extensions: list[str]


class ModelReadyResponse(BaseModel):
    name: str
    ready: bool
