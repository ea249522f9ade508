"""The KServe render validates against KServe's API types (the kserve wheel's generated
models, see kserve_schema.py) and the rest of it against Kubernetes 1.29/1.32 strictly."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tandem.k8s.kserve import render_kserve, repository_files
from tests.k8s.checks import REPO, check_images, check_security, load_docs
from tests.k8s.kserve_schema import KServeValidator, kserve_wheel
from tests.k8s.test_k8s_validate import strict_errors


@pytest.fixture(scope="module")
def validator() -> KServeValidator:
    return KServeValidator(kserve_wheel(REPO / "build" / "k8s-tools"))


@pytest.fixture(scope="module")
def docs(manifest) -> list[dict[str, Any]]:
    return load_docs(render_kserve(manifest, "s3://bucket/tandem"))


def _isvcs(docs):
    return [d for d in docs if d["kind"] == "InferenceService"]


def test_the_wheel_knows_the_inference_service(validator):
    isvc = validator.models["V1beta1InferenceService"]
    assert {"apiVersion", "kind", "metadata", "spec", "status"} <= set(isvc.fields)
    assert "predictor" in validator.models["V1beta1InferenceServiceSpec"].required
    assert {"storageUri", "runtime", "modelFormat"} <= set(
        validator.models["V1beta1ModelSpec"].fields
    )


def test_one_isvc_per_model_on_stock_runtimes(docs, manifest, validator):
    isvcs = _isvcs(docs)
    assert len(isvcs) == len(manifest.models)
    for d in isvcs:
        assert validator.validate(d) == []
        model = d["spec"]["predictor"]["model"]
        assert model["runtime"] in {"kserve-tensorflow-serving", "kserve-torchserve"}
        assert model["storageUri"].startswith("s3://bucket/tandem/")


@pytest.mark.parametrize("version", ["1.29.0", "1.32.0"])
def test_the_rest_validates_strictly(docs, version):
    others = [d for d in docs if d["kind"] != "InferenceService"]
    assert {d["kind"] for d in others} >= {"Deployment", "Service", "ConfigMap"}
    assert strict_errors(others, version) == []
    assert check_images(others) == []
    assert check_security(others) == []


def test_gpu_model_gets_gpu_limits(manifest, validator):
    from tandem.k8s.kserve import inference_service
    from tandem.manifest import Device

    m = manifest.models[0].model_copy(update={"device": Device(kind="gpu", count=2)})
    d = inference_service(m, "gs://b/x")
    assert d["spec"]["predictor"]["model"]["resources"]["limits"]["nvidia.com/gpu"] == 2
    assert validator.validate(d) == []
    cpu = inference_service(manifest.models[0], "gs://b/x")
    assert "nvidia.com/gpu" not in cpu["spec"]["predictor"]["model"]["resources"]["limits"]


def test_broken_isvcs_fail(docs, validator):
    d = copy.deepcopy(_isvcs(docs)[0])
    d["spec"]["predictor"]["model"]["storageURI"] = d["spec"]["predictor"]["model"].pop(
        "storageUri"
    )
    d["spec"]["predictor"]["model"]["resources"]["limits"]["cpus"] = {"a": 1}
    d["spec"]["predictor"]["minReplicas"] = "one"
    errors = validator.validate(d)
    assert any("storageURI: unknown field" in e for e in errors), errors
    assert any("minReplicas: expected int" in e for e in errors), errors
    assert any("limits.cpus" in e or "cpus" in e for e in errors), errors
    missing = copy.deepcopy(_isvcs(docs)[0])
    del missing["spec"]["predictor"]
    assert any(".spec.predictor: required" in e for e in validator.validate(missing))


def test_torchserve_properties_name_the_mar(manifest, tmp_path):
    torch = next(m for m in manifest.models if m.framework == "pytorch")
    props = repository_files(manifest, tmp_path)[f"kserve/{torch.name}/config/config.properties"]
    assert f'"marName":"{torch.name}.mar"' in props
    assert "model_store=/mnt/models/model-store" in props


def test_write_kserve_lays_out_the_torchserve_repository(manifest, tmp_path):
    from tandem.k8s.kserve import write_kserve

    build = tmp_path / "build"
    (build / "torchserve" / "model-store").mkdir(parents=True)
    (build / "torchserve" / "model-store" / "digits_mlp_torch.mar").write_bytes(b"mar")
    path = write_kserve(manifest, tmp_path / "out", "gs://b/t", build)
    assert path.name == "kserve.yaml"
    root = tmp_path / "out" / "kserve-repository" / "kserve"
    assert (
        root / "digits_mlp_torch" / "model-store" / "digits_mlp_torch.mar"
    ).read_bytes() == b"mar"
    torch = [m.name for m in manifest.models if m.framework == "pytorch"]
    assert sorted(p.name for p in root.iterdir()) == sorted(torch)
    for name in torch:
        props = (root / name / "config" / "config.properties").read_text()
        assert "disable_token_authorization=true" in props
        assert "inference_address=http://0.0.0.0:8085" in props
