"""The JSON Schema of models.yaml: generated from the manifest model, committed (golden),
referenced by models.yaml for editors, and in agreement with `load_manifest` on the shapes it
can state."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from tandem.errors import ManifestError
from tandem.manifest import SCHEMA_PATH, json_schema, json_schema_text, load_manifest
from tests.cli.venvs import REPO

MODELS_YAML = REPO / "models.yaml"
MANIFESTS = [MODELS_YAML, REPO / "tests" / "tandem" / "data" / "golden.yaml"]


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    schema = json.loads((REPO / SCHEMA_PATH).read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def test_committed_schema_is_the_generated_one() -> None:
    committed = (REPO / SCHEMA_PATH).read_text()
    assert committed == json_schema_text(), "regenerate: make schema"
    assert json.loads(committed) == json_schema()


def test_tandem_schema_prints_it(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "tandem", "schema", "--out", str(tmp_path / "s.json")],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "s.json").read_text() == json_schema_text()


def test_models_yaml_points_editors_at_the_schema() -> None:
    first = MODELS_YAML.read_text().splitlines()[0]
    assert first == f"# yaml-language-server: $schema={SCHEMA_PATH}"
    target = first.partition("$schema=")[2]
    assert (MODELS_YAML.parent / target).resolve() == (REPO / SCHEMA_PATH).resolve()


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_the_repositorys_manifests_validate(validator: Draft202012Validator, path: Path) -> None:
    load_manifest(path)  # valid for Tandem...
    errors = [e.message for e in validator.iter_errors(yaml.safe_load(path.read_text()))]
    assert errors == []  # ...and for an editor


def test_check_jsonschema_accepts_models_yaml() -> None:
    """The command-line validator (what CI or a pre-commit hook would run) agrees."""
    tool = Path(sys.executable).parent / "check-jsonschema"
    proc = subprocess.run(
        [str(tool), "--schemafile", str(REPO / SCHEMA_PATH), str(MODELS_YAML)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


_MODEL = {
    "name": "m",
    "framework": "tensorflow",
    "source": "pkg.mod:build",
    "inputs": [{"name": "x", "dtype": "float32", "shape": [-1, 4]}],
    "outputs": [{"name": "y", "dtype": "float32", "shape": [-1, 1]}],
}


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"replica": 2}, "replica"),  # a typo: unknown keys are refused
        ({"framework": "jax"}, "jax"),
        ({"version": 0}, "version"),
        ({"name": "9lives"}, "name"),
        ({"inputs": [{"name": "x", "dtype": "float128", "shape": [-1]}]}, "float128"),
        ({"batching": {"max_batch_size": 0}}, "max_batch_size"),
        ({"labels": {"Stable": 1}}, "Stable"),
        ({"device": {"kind": "tpu"}}, "tpu"),
    ],
)
def test_schema_and_loader_refuse_the_same_shapes(
    validator: Draft202012Validator, tmp_path: Path, change: dict[str, object], where: str
) -> None:
    doc = {"models": [{**_MODEL, **change}]}
    found = " ".join(f"{e.json_path} {e.message}" for e in validator.iter_errors(doc))
    assert where in found, found
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ManifestError):
        load_manifest(path)
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump({"models": [_MODEL]}))
    assert validator.is_valid({"models": [_MODEL]})
    load_manifest(good)
