"""Request bodies for a model, built from its input spec: batch-1 sample inputs, TF Serving's
v1 row format and (via the gateway's codec) OIP v2 JSON or binary.

Who calls it: :mod:`tandem.loadtest.targets` (pure: nothing here opens a connection).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from gateway.route_table import ModelRoute
from tandem.export import samples
from wire import v2


def sample_inputs(route: ModelRoute, seed: int = 0) -> dict[str, np.ndarray]:
    """One request's worth of input (batch 1) shaped and typed per the model's spec, by the
    export's sample builder."""
    arrays = samples.sample_inputs(route.inputs, batch=1, seed=seed)
    # Floats rounded to 4 decimals: JSON bodies stay short, so the load test measures the
    # servers rather than float printing.
    return {
        spec.name: a.round(4) if a.dtype.kind == "f" else a
        for spec, a in zip(route.inputs, arrays, strict=True)
    }


def v1_body(arrays: dict[str, np.ndarray]) -> bytes:
    """TF Serving's row format (the body users curl to either backend or the gateway)."""
    columns = {k: _jsonable(a) for k, a in arrays.items()}
    if len(columns) == 1:
        return orjson.dumps({"instances": next(iter(columns.values()))})
    return orjson.dumps({"inputs": columns})


def _jsonable(a: np.ndarray) -> Any:
    if a.dtype == object:
        return [x.decode() if isinstance(x, bytes) else x for x in a.ravel()]
    return a.tolist()


def v2_body(arrays: dict[str, np.ndarray], binary: bool) -> tuple[bytes, dict[str, str]]:
    """An OIP v2 infer body and its content headers (binary: the tensor extension)."""
    body, header_length = v2.encode_infer_request(arrays, binary=binary)
    if header_length is None:
        return body, {"Content-Type": "application/json"}
    return body, {
        "Content-Type": "application/octet-stream",
        "Inference-Header-Content-Length": str(header_length),
    }
