"""The generic handler, in-process on a real exported .mar with TorchServe's own Context."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from torchserve.handler import TandemHandler

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning"),
]


@pytest.fixture(
    scope="module", params=["digits_mlp_torch", "digits_cnn_torch", "digits_dynamic_torch"]
)
def loaded(
    request: pytest.FixtureRequest, demo_build: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[TandemHandler, Any]:
    from ts.context import Context

    name = request.param
    model_dir = tmp_path_factory.mktemp(name)
    with zipfile.ZipFile(demo_build / "torchserve" / "model-store" / f"{name}.mar") as zf:
        zf.extractall(model_dir)
    manifest = json.loads((model_dir / "MAR-INF" / "MANIFEST.json").read_text())
    ctx = Context(name, str(model_dir), manifest, 8, None, "test")
    handler = TandemHandler()
    handler.initialize(ctx)
    return handler, ctx


def _run(
    handler: TandemHandler,
    ctx: Any,
    requests: list[dict[str, Any]],
    headers: list[dict[str, str]] | None = None,
) -> tuple[list[Any], list[int]]:
    from ts.context import RequestProcessor

    ctx.request_processor = [RequestProcessor(h) for h in (headers or [{} for _ in requests])]
    answers = handler.handle(requests, ctx)
    statuses = [ctx.get_response_status(i)[0] for i in range(len(requests))]
    return [json.loads(a) for a in answers], statuses


def _images(handler: TandemHandler, n: int) -> np.ndarray:
    from examples.digits.data import sample_images

    assert handler.io is not None
    shape = handler.io.inputs[0].shape
    return sample_images(n).reshape(n, *shape[1:])


def test_device_is_cpu_without_gpu_id(loaded: tuple[TandemHandler, Any]) -> None:
    handler, _ = loaded
    assert str(handler.device) == "cpu"


def test_mixed_batch_answers_each_request_on_its_own(loaded: tuple[TandemHandler, Any]) -> None:
    handler, ctx = loaded
    assert handler.io is not None
    name = handler.io.inputs[0].name
    x = _images(handler, 3)
    raw = x.astype("<f4").tobytes()
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": name,
                    "datatype": "FP32",
                    "shape": list(x.shape),
                    "parameters": {"binary_data_size": len(raw)},
                }
            ]
        }
    ).encode()
    requests = [
        {"body": {"instances": x[:2].tolist()}},  # already parsed, as TorchServe does for JSON
        {"body": json.dumps({"instances": [[1.0, 2.0]]}).encode()},  # wrong shape
        {"body": b"not json"},
        {"body": header + raw, "inference-header-content-length": str(len(header)).encode()},
        {"body": json.dumps({"inputs": {name: x[2:].tolist()}}).encode()},
        {"body": b""},
    ]
    answers, statuses = _run(handler, ctx, requests)
    assert statuses == [200, 400, 400, 200, 200, 400]
    assert len(answers[0]["predictions"]) == 2
    assert "expected shape" in answers[1]["error"]
    assert name in answers[1]["error"]
    assert "not valid JSON" in answers[2]["error"]
    v2 = {o["name"]: o for o in answers[3]["outputs"]}
    assert v2["probabilities"]["shape"] == [3, 10]
    assert v2["probabilities"]["datatype"] == "FP32"
    assert v2["label"]["datatype"] == "INT64"
    assert answers[3]["model_name"] == handler.io.name
    assert "empty request body" in answers[5]["error"]
    # Same images, same answers, whichever protocol and batch position they came in.
    labels_v2 = v2["label"]["data"]
    assert [p["label"] for p in answers[0]["predictions"]] == labels_v2[:2]
    assert answers[4]["outputs"]["label"] == labels_v2[2:]


def test_binary_header_length_from_rest_header(loaded: tuple[TandemHandler, Any]) -> None:
    handler, ctx = loaded
    assert handler.io is not None
    x = _images(handler, 1)
    raw = x.astype("<f4").tobytes()
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": handler.io.inputs[0].name,
                    "datatype": "FP32",
                    "shape": list(x.shape),
                    "parameters": {"binary_data_size": len(raw)},
                }
            ],
            "outputs": [{"name": "label"}],
        }
    ).encode()
    answers, statuses = _run(
        handler,
        ctx,
        [{"body": header + raw}],
        [{"inference-header-content-length": str(len(header))}],
    )
    assert statuses == [200]
    assert [o["name"] for o in answers[0]["outputs"]] == ["label"]


def test_form_body_is_rejected_with_a_hint(loaded: tuple[TandemHandler, Any]) -> None:
    handler, ctx = loaded
    answers, statuses = _run(handler, ctx, [{"notjson": ""}])
    assert statuses == [400]
    assert "Content-Type: application/json" in answers[0]["error"]


def test_all_bad_batch_skips_inference(loaded: tuple[TandemHandler, Any]) -> None:
    handler, ctx = loaded
    answers, statuses = _run(handler, ctx, [{"body": b"[]"}, {"body": b"{}"}])
    assert statuses == [400, 400]
    assert all("error" in a for a in answers)


def test_labels_are_correct_on_real_digits(loaded: tuple[TandemHandler, Any]) -> None:
    from examples.digits.data import load_split

    handler, ctx = loaded
    assert handler.io is not None
    split = load_split()
    x = split.x_test[:50].reshape(50, *handler.io.inputs[0].shape[1:])
    answers, statuses = _run(handler, ctx, [{"body": {"inputs": x.tolist()}}])
    assert statuses == [200]
    labels = np.asarray(answers[0]["outputs"]["label"])
    assert float((labels == split.y_test[:50]).mean()) >= 0.9


def test_gpu_id_falls_back_to_cpu_without_cuda(demo_build: Path, tmp_path: Path) -> None:
    """TorchServe passes gpu_id when number_of_gpu > 0; without CUDA the handler uses the CPU."""
    import torch
    from ts.context import Context

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with zipfile.ZipFile(demo_build / "torchserve" / "model-store" / "digits_cnn_torch.mar") as zf:
        zf.extractall(tmp_path)
    manifest = json.loads((tmp_path / "MAR-INF" / "MANIFEST.json").read_text())
    handler = TandemHandler()
    handler.initialize(Context("digits_cnn_torch", str(tmp_path), manifest, 8, 0, "test"))
    assert str(handler.device) == "cpu"


def test_intra_op_threads_come_from_the_environment(
    demo_build: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``tandem up`` sets TANDEM_TORCH_THREADS (cores over workers); the handler applies it."""
    import torch
    from ts.context import Context

    from torchserve.handler import THREADS_ENV

    with zipfile.ZipFile(demo_build / "torchserve" / "model-store" / "digits_mlp_torch.mar") as zf:
        zf.extractall(tmp_path)
    manifest = json.loads((tmp_path / "MAR-INF" / "MANIFEST.json").read_text())
    before = torch.get_num_threads()
    monkeypatch.setenv(THREADS_ENV, "1")
    try:
        TandemHandler().initialize(Context("m", str(tmp_path), manifest, 8, None, "test"))
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
