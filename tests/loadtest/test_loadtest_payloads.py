"""Load-test bodies come from the export's one sample builder (rounded for short JSON)."""

from __future__ import annotations

import numpy as np

from gateway.route_table import ModelRoute, TensorSpec
from tandem.export.samples import sample_inputs
from tandem.loadtest import payloads


def test_loadtest_inputs_are_the_export_samples_at_batch_one() -> None:
    inputs = (
        TensorSpec("pixels", "float32", (-1, 64)),
        TensorSpec("ids", "int64", (-1, 3)),
        TensorSpec("mask", "bool", (-1,)),
        TensorSpec("text", "string", (-1,)),
        TensorSpec("fixed", "uint16", (2, -1)),
    )
    route = ModelRoute(
        framework="tensorflow",
        backend="tfserving",
        upstream_name="m",
        versions=(1,),
        default_version=1,
        inputs=inputs,
        outputs=(TensorSpec("y", "float32", (-1,)),),
    )
    got = payloads.sample_inputs(route, seed=3)
    expected = sample_inputs(inputs, batch=1, seed=3)
    assert list(got) == [s.name for s in inputs]
    for spec, want in zip(inputs, expected, strict=True):
        array = got[spec.name]
        assert (array.dtype, array.shape) == (want.dtype, want.shape)
        if array.dtype.kind == "f":
            np.testing.assert_array_equal(array, want.round(4))
        else:
            np.testing.assert_array_equal(array, want)
    assert got["fixed"].shape == (2, 1)
