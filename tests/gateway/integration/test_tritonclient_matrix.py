"""An unmodified ``tritonclient.http`` through the gateway (issue 12): both backends x
binary inputs on/off x binary outputs on/off x outputs requested or not, exact answers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

pytestmark = pytest.mark.integration

BACKENDS = {"tfserving": "digits_mlp_tf", "torchserve": "digits_mlp_torch"}
# (backend, binary inputs, binary outputs, outputs requested). Without requested outputs an
# unmodified tritonclient always sets binary_data_output, so "JSON outputs, none requested"
# cannot be sent by it: 12 cells.
MATRIX = [
    cell
    for cell in itertools.product(BACKENDS, (True, False), (True, False), (True, False))
    if cell[3] or cell[2]
]


@pytest.fixture(scope="module")
def triton(gateway_server):
    tritonclient_http = pytest.importorskip("tritonclient.http")
    client = tritonclient_http.InferenceServerClient(
        url=gateway_server.url.removeprefix("http://"),
        connection_timeout=5.0,
        network_timeout=10.0,
    )
    yield tritonclient_http, client
    client.close()


def _images(gateway_server, model: str) -> tuple[str, np.ndarray]:
    (spec,) = gateway_server.table.models[model].inputs
    shape = tuple(3 if d < 0 else d for d in spec.shape)
    return spec.name, np.random.default_rng(7).random(shape, dtype=np.float32)


@pytest.mark.parametrize(
    ("backend", "binary_in", "binary_out", "requested"),
    MATRIX,
    ids=[
        f"{b}-in_{'bin' if i else 'json'}-out_{'bin' if o else 'json'}-{'req' if r else 'all'}"
        for b, i, o, r in MATRIX
    ],
)
def test_tritonclient_matrix(
    triton, gateway_server, http, backend, binary_in, binary_out, requested
):
    tritonclient_http, client = triton
    model = BACKENDS[backend]
    if model not in gateway_server.table.models:
        pytest.skip(f"{model} is not routed")
    name, images = _images(gateway_server, model)
    # The reference: the same images over plain v2 JSON (float32 text round-trips exactly).
    reference = http.post(
        f"/v2/models/{model}/infer",
        json={
            "inputs": [
                {
                    "name": name,
                    "datatype": "FP32",
                    "shape": list(images.shape),
                    "data": images.reshape(-1).tolist(),
                }
            ]
        },
    )
    assert reference.status_code == 200, reference.text
    want = {o["name"]: o for o in reference.json()["outputs"]}
    want_p = np.asarray(want["probabilities"]["data"], np.float32).reshape(3, 10)

    inp = tritonclient_http.InferInput(name, list(images.shape), "FP32")
    inp.set_data_from_numpy(images, binary_data=binary_in)
    outputs = None
    if requested:
        outputs = [
            tritonclient_http.InferRequestedOutput("probabilities", binary_data=binary_out),
            tritonclient_http.InferRequestedOutput("label", binary_data=binary_out),
        ]
    result = client.infer(model, [inp], outputs=outputs, headers=dict(gateway_server.headers))
    probabilities = result.as_numpy("probabilities")
    labels = result.as_numpy("label")
    assert probabilities.dtype == np.float32
    np.testing.assert_array_equal(probabilities, want_p)
    assert labels.tolist() == want["label"]["data"]
    raw = result.get_response()
    by_name = {o["name"]: o for o in raw["outputs"]}
    for out in ("probabilities", "label"):
        assert ("binary_data_size" in by_name[out].get("parameters", {})) == binary_out
