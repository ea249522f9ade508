"""Sample inputs that follow a model's declared specs: the one builder, for parity checks,
warmup files, the stack's sample requests and the load tests' bodies."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from wire.dtypes import NAME_TO_NUMPY as NUMPY_DTYPES
from wire.spec import concrete_shape


class Spec(Protocol):
    """A tensor spec: the manifest's (``tandem.manifest.TensorSpec``) or the route file's
    (``wire.spec.TensorSpec``)."""

    @property
    def name(self) -> str: ...

    @property
    def dtype(self) -> str: ...

    @property
    def shape(self) -> Sequence[int]: ...


def sample_inputs(specs: Sequence[Spec], batch: int, seed: int = 0) -> list[npt.NDArray[Any]]:
    """Deterministic random arrays of the declared dtype and shape, `batch` rows each (a
    fixed first dimension stays; other free dimensions are 1), in the order of `specs`."""
    rng = np.random.default_rng(seed)
    out: list[npt.NDArray[Any]] = []
    for spec in specs:
        shape = concrete_shape(spec.shape, batch)
        if spec.dtype.startswith("float"):
            out.append(rng.random(shape).astype(NUMPY_DTYPES[spec.dtype]))
        elif spec.dtype == "bool":
            out.append(rng.random(shape) > 0.5)
        elif spec.dtype == "string":
            out.append(np.array([b"tandem"] * int(np.prod(shape)), dtype=object).reshape(shape))
        else:
            out.append(rng.integers(0, 10, size=shape).astype(NUMPY_DTYPES[spec.dtype]))
    return out


def max_abs_diff(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> float:
    if a.shape != b.shape:
        return float("inf")
    if a.dtype.kind in "OSU" or b.dtype.kind in "OSU":
        return 0.0 if (a == b).all() else float("inf")
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)), initial=0.0))


def request_bodies(specs: Sequence[Spec], arrays: list[npt.NDArray[Any]]) -> tuple[bytes, bytes]:
    """The v1 (row format) and v2 JSON request bodies carrying `arrays` as `specs` name them.

    The one place in tandem.export that writes wire bodies (for the handler parity check);
    the encoding itself is the wire package's.
    """
    from wire.arrays import array_to_json, dumps
    from wire.v2 import encode_infer_request

    names = [s.name for s in specs]
    if len(names) == 1:
        v1: dict[str, Any] = {"instances": array_to_json(arrays[0])}
    else:
        columns = [array_to_json(a) for a in arrays]
        v1 = {
            "instances": [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]
        }
    v2, _ = encode_infer_request(dict(zip(names, arrays, strict=True)), binary=False)
    return dumps(v1), v2
