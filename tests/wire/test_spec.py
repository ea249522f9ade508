"""Input validation table: the message names the expected name, dtype and shape."""

from __future__ import annotations

import numpy as np
import pytest

from wire import WireError
from wire.spec import ModelIO, TensorSpec, check_shape, concrete_shape, validate_inputs

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
    with pytest.raises(WireError) as info:
        validate_inputs(SPECS, inputs, max_batch_size=8)
    assert info.value.tensor is not None
    assert fragment in info.value.message
    assert "pixels" in info.value.message


@pytest.mark.parametrize("shape", [(3,), (3, 1), (1, 3, 1)])
def test_shapes_left_to_the_model(shape):
    # TF Serving accepts [3] for x: [-1, 1]; the model's ops decide.
    specs = (TensorSpec(name="x", dtype="float32", shape=(-1, 1)),)
    array = np.zeros(shape, np.float32)
    out = validate_inputs(specs, {"x": array}, max_batch_size=8, shapes=False)
    assert out["x"] is array


def test_lenient_leaves_every_shape_to_the_model():
    for shape in [(1, 3), (2, 2, 64)]:  # TF Serving feeds them; the ops decide
        array = np.zeros(shape, np.float32)
        assert validate_inputs(SPECS, {"pixels": array}, shapes=False)["pixels"] is array


def test_batched_inputs_agree_on_the_batch():
    specs = (TensorSpec("a", "float32", (-1, 2)), TensorSpec("b", "int64", (-1,)))
    with pytest.raises(WireError, match="batch size"):
        validate_inputs(specs, {"a": np.zeros((2, 2), np.float32), "b": np.zeros(1, np.int64)})


def test_model_io_json_round_trip_and_unknown_dtype():
    io = ModelIO("m", "1", "export", "model.pt2", SPECS, (TensorSpec("y", "int64", (-1,)),))
    assert ModelIO.from_json(io.to_json()) == io
    bad = {**io.to_json(), "inputs": [{"name": "x", "dtype": "complex64", "shape": [1]}]}
    with pytest.raises(WireError, match="unknown dtype"):
        ModelIO.from_json(bad)


@pytest.mark.parametrize(
    ("shape", "checked"),
    [([-1, 64], (-1, 64)), ((1,), (1,)), ([-1, -1, 3], (-1, -1, 3)), ([], ())],
)
def test_check_shape_accepts_sizes_and_any(shape, checked):
    assert check_shape(shape) == checked


@pytest.mark.parametrize("shape", [[0], [-1, 0], [-2, 3]])
def test_check_shape_refuses_zero_and_below_minus_one(shape):
    with pytest.raises(WireError, match="positive sizes or -1"):
        check_shape(shape)
    with pytest.raises(WireError, match="tensor 'x': dimensions are positive sizes or -1"):
        TensorSpec.from_json({"name": "x", "dtype": "float32", "shape": shape})


@pytest.mark.parametrize(
    ("shape", "batch", "concrete"),
    [((-1, 64), 4, (4, 64)), ((1,), 4, (1,)), ((-1, -1, 3), 2, (2, 1, 3)), ((), 3, ())],
)
def test_concrete_shape_sets_the_batch_and_other_free_dims_to_one(shape, batch, concrete):
    assert concrete_shape(shape, batch) == concrete
