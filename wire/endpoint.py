"""One endpoint for every protocol: a request body that may be TF Serving v1 (row or
columnar) or OIP v2 (JSON or binary extension), validated against a model's spec, and its
answer in the shape it was asked in. TorchServe's ``/predictions`` is such an endpoint (the
handler calls this); so is anything that serves a model from its :class:`ModelIO`.

- TF Serving row format      ``{"instances": [...]}``      -> ``{"predictions": [...]}``
- TF Serving columnar format ``{"inputs": {...} | value}`` -> ``{"outputs": {...} | value}``
- Open Inference Protocol v2 ``{"inputs": [{"name", "datatype", "shape", ...}]}`` -> v2
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from wire import v1, v2
from wire.errors import WireError
from wire.spec import ModelIO, check_outputs, validate_inputs

Protocol = Literal["v1_row", "v1_columnar", "v2"]


@dataclass(slots=True)
class Decoded:
    """One request, validated: input arrays in spec order, all with the same batch size."""

    protocol: Protocol
    arrays: list[np.ndarray[Any, Any]]
    batch: int
    request: v2.V2InferRequest | None = None  # the v2 request (id, outputs asked for)


def decode_request(doc: Any, io: ModelIO, tail: memoryview | None = None) -> Decoded:
    """Turn one parsed request into validated arrays in spec order, or raise WireError."""
    if not isinstance(doc, dict):
        raise WireError(
            "request must be a JSON object with 'instances' (row), 'inputs' (columnar) "
            "or 'inputs' as a list of v2 tensors"
        )
    inputs = doc.get("inputs")
    request: v2.V2InferRequest | None = None
    protocol: Protocol
    if (
        "instances" not in doc
        and isinstance(inputs, list)
        and inputs
        and all(isinstance(t, dict) and "datatype" in t for t in inputs)
    ):
        request = v2.decode_infer_request(doc, tail)
        arrays = request.inputs
        if request.outputs:
            check_outputs(io.outputs, [o.name for o in request.outputs])
        protocol = "v2"
    else:
        decoded = v1.decode_predict(doc, {s.name: s.dtype for s in io.inputs})
        arrays, protocol = decoded.inputs, f"v1_{decoded.layout}"  # type: ignore[assignment]
    ordered = list(validate_inputs(io.inputs, arrays).values())
    batch = ordered[0].shape[0] if ordered and ordered[0].ndim else 1
    if batch == 0:
        raise WireError("batch size is 0: send at least one instance")
    return Decoded(protocol, ordered, int(batch), request)


def encode_response(
    decoded: Decoded,
    outputs: list[np.ndarray[Any, Any]],
    io: ModelIO,
    model_version: str | None = None,
) -> tuple[bytes, int | None]:
    """The answer to one request in the protocol it was asked in: ``(body, header_length)``,
    the length set only for a v2 binary-extension answer."""
    by_name = {s.name: o for s, o in zip(io.outputs, outputs, strict=True)}
    request = decoded.request
    if request is None:
        layout: v1.Layout = "row" if decoded.protocol == "v1_row" else "columnar"
        return v1.encode_predict(by_name, layout), None
    if request.outputs:
        by_name = {o.name: by_name[o.name] for o in request.outputs}
    return v2.encode_infer_response(
        model_name=io.name,
        model_version=model_version or io.version,
        outputs=by_name,
        request_id=request.id,
        requested=request.outputs,
        binary_output=request.binary_output,
    )
