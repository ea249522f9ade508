"""Input validation table: the message names the expected name, dtype and shape."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.dataplane.validation import validate_inputs
from gateway.errors import InvalidTensor
from gateway.route_table import TensorSpec

SPECS = (TensorSpec(name="pixels", dtype="float32", shape=(-1, 64)),)


def test_valid():
    out = validate_inputs(SPECS, {"pixels": np.zeros((3, 64), np.float32)}, max_batch_size=8)
    assert list(out) == ["pixels"]


@pytest.mark.parametrize(
    ("inputs", "fragment"),
    [
        ({}, "missing input 'pixels' float32 (FP32) [-1, 64]"),
        ({"pixels": np.zeros((1, 64), np.float32), "x": np.zeros(1)}, "unknown input 'x'"),
        ({"pixels": np.zeros((1, 64), np.float64)}, "got float64 (FP64) [1, 64]"),
        ({"pixels": np.zeros((1, 63), np.float32)}, "got shape [1, 63]"),
        ({"pixels": np.zeros(64, np.float32)}, "got shape [64]"),
        ({"pixels": np.zeros((9, 64), np.float32)}, "exceeds max_batch_size 8"),
    ],
)
def test_invalid(inputs, fragment):
    with pytest.raises(InvalidTensor) as info:
        validate_inputs(SPECS, inputs, max_batch_size=8)
    assert fragment in info.value.message
    assert "pixels" in info.value.message
