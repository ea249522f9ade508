"""Strict schema validation of every overlay for Kubernetes 1.29 and 1.32
(kubernetes-validate's offline schemas): every error is listed, an unknown field is an error,
and a kind without a schema is a failure, not a warning."""

from __future__ import annotations

import copy
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest

from tandem.k8s.render import OVERLAYS
from tests.k8s.checks import load_docs

VERSIONS = ("1.29.0", "1.32.0")


def strict_errors(docs: list[dict[str, Any]], version: str) -> list[str]:
    errors = []
    for doc in docs:
        name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            errors.append(f"{name}: no schema for {doc.get('apiVersion')} in {version}")
        except kubernetes_validate.ValidationError as exc:
            loc = ".".join(str(p) for p in exc.path)
            errors.append(f"{name}: {loc}: {exc.message}")
    return errors


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_validates_strictly(built, overlay, version):
    docs = load_docs(built[overlay])
    assert len(docs) >= 15
    assert strict_errors(docs, version) == []


@pytest.mark.parametrize("version", VERSIONS)
def test_unknown_field_fails(built, version):
    docs = copy.deepcopy(load_docs(built["gpu"]))
    dep = next(d for d in docs if d["kind"] == "Deployment")
    dep["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    svc = next(d for d in docs if d["kind"] == "Service")
    svc["spec"]["ports"][0]["targetPortt"] = 1
    errors = strict_errors(docs, version)
    assert len(errors) == 2, errors
    assert any("readinessProbes" in e for e in errors)
    assert any("targetPortt" in e for e in errors)


def test_wrong_type_fails(built):
    docs = copy.deepcopy(load_docs(built["cpu"]))
    hpa = next(d for d in docs if d["kind"] == "HorizontalPodAutoscaler")
    hpa["spec"]["minReplicas"] = "two"
    assert any("minReplicas" in e for e in strict_errors(docs, "1.32.0"))


def test_missing_schema_is_a_failure():
    isvc = {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": "x"}, "spec": {}}  # fmt: skip
    old_api = {"apiVersion": "autoscaling/v2beta2", "kind": "HorizontalPodAutoscaler",
               "metadata": {"name": "x"}, "spec": {}}  # fmt: skip
    errors = strict_errors([isvc, old_api], "1.32.0")
    assert len(errors) == 2
    assert all("no schema" in e for e in errors)
