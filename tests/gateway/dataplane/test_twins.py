"""Twins in the dataplane: variant choice (pin, sticky, weighted split), tensor renaming, the
answering variant in a header, shadow copies compared off the request path, agreement
metrics and the kept disagreements. In-process, over the failure-injecting fake adapter."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import numpy as np
import pytest
from gateway_testkit import ROUTES, FakeBackend, pixels

from gateway.backends.base import InferCall, InferResult
from gateway.dataplane.routing import pick_variant
from gateway.dataplane.twins import compare
from gateway.errors import VariantNotFound
from gateway.route_table import Agreement, RouteTable

TWIN: dict[str, Any] = {
    "variants": {
        "digits_mlp_tf": {"weight": 0.5},
        "digits_mlp_torch": {"weight": 0.5},
    },
    "default": "digits_mlp_tf",
    "shadow": "digits_mlp_torch",
    "agreement": {"outputs": ["label", "probabilities"], "atol": 1e-6, "objective": 0.9},
}


def _table(twin: dict[str, Any] = TWIN, **model_changes: Any) -> RouteTable:
    doc = copy.deepcopy(ROUTES)
    for model, changes in model_changes.items():
        doc["models"][model].update(changes)
    doc["twins"] = {"digits": twin}
    return RouteTable.model_validate(doc)


@pytest.fixture
def route_table() -> RouteTable:
    return _table()


class ConstantBackend(FakeBackend):
    """A deliberately different model: always answers class 0 with certainty."""

    async def infer(self, call: InferCall) -> InferResult:
        self.calls.append(call)
        (array,) = call.inputs.values()
        probabilities = np.zeros((array.shape[0], 10), np.float32)
        probabilities[:, 0] = 1.0
        return InferResult(
            {"probabilities": probabilities, "label": np.zeros(array.shape[0], np.int64)},
            call.version,
        )


async def _settled(metrics_text: Any, needle: str) -> str:
    """The metrics page once ``needle`` is on it (the comparison runs in a task; the bound
    only catches a hang)."""
    for _ in range(200):
        text = (await metrics_text()).text
        if needle in text:
            return text
        await asyncio.sleep(0.01)
    raise AssertionError(f"{needle!r} never appeared")


# -- pure routing ----------------------------------------------------------------------------


def test_pinned_variant_wins_and_unknown_is_404(route_table: RouteTable) -> None:
    def pick(**kw: Any) -> str:
        return pick_variant(route_table, "digits", rng=lambda: 0.0, **kw)

    assert pick(variant="digits_mlp_torch") == "digits_mlp_torch"
    with pytest.raises(VariantNotFound, match="no variant 'x'"):
        pick(variant="x")


def test_weighted_split_follows_the_weights() -> None:
    table = _table(
        {
            **TWIN,
            "variants": {"digits_mlp_tf": {"weight": 0.3}, "digits_mlp_torch": {"weight": 0.7}},
        }
    )
    points = iter(i / 1000 for i in range(1000))
    chosen = [pick_variant(table, "digits", rng=lambda: next(points)) for _ in range(1000)]
    assert chosen.count("digits_mlp_tf") == 300


def test_zero_weights_send_everything_to_the_default() -> None:
    table = _table(
        {
            **TWIN,
            "variants": {"digits_mlp_tf": {}, "digits_mlp_torch": {}},
            "default": "digits_mlp_torch",
            "shadow": None,
        }
    )
    assert {pick_variant(table, "digits", rng=lambda: 0.99) for _ in range(5)} == {
        "digits_mlp_torch"
    }


def test_sticky_callers_stay_and_spread(route_table: RouteTable) -> None:
    def pick(key: str) -> str:
        return pick_variant(route_table, "digits", sticky_key=key, rng=lambda: 0.0)

    assert all(pick(f"caller-{i}") == pick(f"caller-{i}") for i in range(200))
    share = sum(pick(f"caller-{i}") == "digits_mlp_tf" for i in range(2000)) / 2000
    assert abs(share - 0.5) < 0.05  # deterministic: the hash of fixed keys


# -- pure comparison -------------------------------------------------------------------------


def test_compare_rules() -> None:
    a = {"p": np.array([[0.1, 0.9]], np.float32), "label": np.array([1])}
    near = {"p": np.array([[0.1, 0.9 + 1e-7]], np.float32), "label": np.array([1])}
    far = {"p": np.array([[0.4, 0.6]], np.float32), "label": np.array([1])}
    flipped = {"p": np.array([[0.6, 0.4]], np.float32), "label": np.array([0])}
    assert compare(Agreement(atol=1e-5), a, near).agree
    verdict = compare(Agreement(atol=1e-5), a, far)
    assert verdict.disagreeing == ["p"]
    assert verdict.outputs[0].max_abs_diff == pytest.approx(0.3, abs=1e-6)
    assert compare(Agreement(top1=("p",)), a, far).agree  # same arg-max
    assert compare(Agreement(top1=("p",)), a, flipped).disagreeing == ["p", "label"]
    assert compare(Agreement(outputs=("label",)), a, far).agree
    assert compare(Agreement(outputs=("label",)), a, {"p": a["p"]}).disagreeing == ["label"]


# -- through the gateway ---------------------------------------------------------------------


async def test_pinned_request_says_which_variant_answered(client, fakes) -> None:
    response = await client.post(
        "/v1/models/digits:predict",
        json={"instances": pixels()},
        headers={"X-Tandem-Variant": "digits_mlp_tf"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-tandem-variant"] == "digits_mlp_tf"
    assert [c.route.upstream_name for c in fakes["tfserving"].calls] == ["digits_mlp_tf"]

    bad = await client.post(
        "/v1/models/digits:predict",
        json={"instances": pixels()},
        headers={"X-Tandem-Variant": "nope"},
    )
    assert bad.status_code == 404
    assert "no variant 'nope'" in bad.json()["error"]


async def test_v2_answers_under_the_public_name(client) -> None:
    body = {
        "inputs": [
            {
                "name": "pixels",
                "datatype": "FP32",
                "shape": [2, 64],
                "data": np.ravel(pixels()).tolist(),
            }
        ]
    }
    response = await client.post(
        "/v2/models/digits/infer", json=body, headers={"X-Tandem-Variant": "digits_mlp_torch"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["model_name"] == "digits"
    assert response.headers["x-tandem-variant"] == "digits_mlp_torch"
    meta = await client.get("/v2/models/digits", headers={"X-Tandem-Variant": "digits_mlp_torch"})
    assert meta.json()["name"] == "digits"


async def test_the_model_list_names_the_twin_beside_its_variants(client, fakes) -> None:
    listing = (await client.get("/v1/models")).json()
    assert {"digits_mlp_tf", "digits_mlp_torch"} <= {m["name"] for m in listing["models"]}
    (twin,) = listing["twins"]
    assert twin == {
        "name": "digits",
        "default": "digits_mlp_tf",
        "shadow": "digits_mlp_torch",
        "variants": [
            {"name": "digits_mlp_tf", "weight": 0.5, "role": "default"},
            {"name": "digits_mlp_torch", "weight": 0.5, "role": "shadow"},
        ],
        "state": "AVAILABLE",
    }
    fakes["torchserve"].ready_value = False  # a weighted variant down: the twin's callers notice
    listing = (await client.get("/v1/models")).json()
    assert listing["twins"][0]["state"] == "UNAVAILABLE"
    # ... and the twin's own status and metadata answer under its name
    assert (await client.get("/v1/models/digits")).status_code == 200
    assert (await client.get("/v1/models/digits/metadata")).json()["model_spec"]["name"] == "digits"


async def test_sticky_caller_gets_one_variant(client) -> None:
    seen = set()
    for _ in range(10):
        response = await client.post(
            "/v1/models/digits:predict",
            json={"instances": pixels()},
            headers={"X-Tandem-Sticky-Key": "alice"},
        )
        seen.add(response.headers["x-tandem-variant"])
    assert len(seen) == 1


async def test_shadow_copies_are_compared_and_agree(client, fakes) -> None:
    for _ in range(3):
        response = await client.post(
            "/v1/models/digits:predict",
            json={"instances": pixels()},
            headers={"X-Tandem-Variant": "digits_mlp_tf"},
        )
        assert response.status_code == 200
    text = await _settled(
        lambda: client.get("/metrics"),
        'tandem_twin_comparisons_total{primary="digits_mlp_tf",result="agree",'
        'shadow="digits_mlp_torch",twin="digits"} 3.0',
    )
    assert 'tandem_twin_agreement_objective{twin="digits"} 0.9' in text
    assert 'tandem_twin_requests_total{twin="digits",variant="digits_mlp_tf"} 3.0' in text
    assert 'tandem_twin_max_abs_diff{output="probabilities",twin="digits"} 0.0' in text
    assert len(fakes["torchserve"].calls) == 3  # the shadow copies
    # A request the shadow variant answers itself is not copied to it.
    await client.post(
        "/v1/models/digits:predict",
        json={"instances": pixels()},
        headers={"X-Tandem-Variant": "digits_mlp_torch"},
    )
    await asyncio.sleep(0.05)
    assert len(fakes["torchserve"].calls) == 4


async def test_a_different_model_drops_agreement_and_is_kept(
    make_client, settings, route_table
) -> None:
    import httpx
    from gateway_testkit import API_KEY

    from gateway.app import create_app

    backends = {"tfserving": FakeBackend("tfserving"), "torchserve": ConstantBackend("torchserve")}
    app = create_app(
        settings.model_copy(update={"twin_keep_inputs": True, "twin_disagreements_kept": 2}),
        table=route_table,
        backends=backends,
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://gateway",
        headers={"Authorization": f"Bearer {API_KEY}"},
    ) as client:
        inputs = np.zeros((1, 64), np.float32)
        inputs[0, 3] = 5.0  # the reference answers class 3, the constant model class 0
        for _ in range(3):
            response = await client.post(
                "/v1/models/digits:predict",
                json={"instances": inputs.tolist()},
                headers={"X-Tandem-Variant": "digits_mlp_tf"},
            )
            assert response.status_code == 200
            assert response.json()["predictions"][0]["label"] == 3  # the answer is the primary's
        await _settled(
            lambda: client.get("/metrics"),
            'result="disagree",shadow="digits_mlp_torch",twin="digits"} 3.0',
        )
        status = (await client.get("/ui/status")).json()
    (twin,) = status["twins"]
    assert (twin["compared"], twin["agreed"], twin["agreement"]) == (3, 0, 0.0)
    assert [v["name"] for v in twin["variants"]] == ["digits_mlp_tf", "digits_mlp_torch"]
    assert twin["variants"][0]["role"] == "default"
    kept = twin["disagreements"]
    assert len(kept) == 2  # bounded
    assert kept[0]["outputs"] == ["label", "probabilities"]
    assert kept[0]["inputs"] == {"pixels": [1, 64]}
    assert kept[0]["max_abs_diff"]["label"] == 3.0
    assert kept[0]["payload"]["pixels"][0][3] == 5.0


async def test_a_variant_with_other_tensor_names_gets_its_own(make_client, settings, fakes) -> None:
    renamed = [{"name": "x", "dtype": "float32", "shape": [-1, 64]}]
    twin = copy.deepcopy(TWIN)
    twin["variants"]["digits_mlp_torch"]["inputs"] = {"pixels": "x"}
    twin["variants"]["digits_mlp_torch"]["outputs"] = {"label": "y"}
    outputs = [
        {"name": "probabilities", "dtype": "float32", "shape": [-1, 10]},
        {"name": "y", "dtype": "int64", "shape": [-1]},
    ]
    table = _table(twin, digits_mlp_torch={"inputs": renamed, "outputs": outputs})

    def answer_y(call: InferCall) -> None:
        assert set(call.inputs) == {"x"}

    fakes["torchserve"].hook = answer_y
    import httpx
    from gateway_testkit import API_KEY

    from gateway.app import create_app

    class Renaming(FakeBackend):
        async def infer(self, call: InferCall) -> InferResult:
            result = await super().infer(call)
            result.outputs["y"] = result.outputs.pop("label")
            return result

    backends = {
        "tfserving": fakes["tfserving"],
        "torchserve": Renaming("torchserve", hook=answer_y),
    }
    app = create_app(settings, table=table, backends=backends)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://gateway",
        headers={"Authorization": f"Bearer {API_KEY}"},
    ) as client:
        response = await client.post(
            "/v1/models/digits:predict",
            json={"instances": pixels()},
            headers={"X-Tandem-Variant": "digits_mlp_torch"},
        )
        assert response.status_code == 200, response.text
        assert set(response.json()["predictions"][0]) == {"probabilities", "label"}
        # Pinned to the other side: the renamed variant is the shadow and still agrees.
        await client.post(
            "/v1/models/digits:predict",
            json={"instances": pixels()},
            headers={"X-Tandem-Variant": "digits_mlp_tf"},
        )
        await _settled(lambda: client.get("/metrics"), 'result="agree",shadow="digits_mlp_torch"')


def test_mismatched_route_file_twin_is_refused() -> None:
    doc = copy.deepcopy(ROUTES)
    doc["twins"] = {
        "t": {
            "variants": {"digits_mlp_tf": {}, "digits_cnn_tf": {"inputs": {"pixels": "image"}}},
            "default": "digits_mlp_tf",
        }
    }
    with pytest.raises(
        ValueError,
        match="'pixels' is float32\\[-1, 64\\] in 'digits_mlp_tf' but float32\\[-1, 8, 8, 1\\]",
    ):
        RouteTable.model_validate(doc)
