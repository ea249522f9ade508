"""Strict validation of InferenceServices against KServe's own API types, with no file from
the kserve repository committed here.

The `kserve` wheel on PyPI ships its OpenAPI-generated models (`kserve/models/v1beta1_*.py`):
per type, `openapi_types` (field → type), `attribute_map` (field → JSON key) and a
"must not be `None`" check for each required field. The wheel is downloaded at test time
(`pip download --no-deps`, cached under build/k8s-tools/) and those models are read with
`ast`, never imported (importing kserve pulls its whole server). Kubernetes types they
reference (`V1Container`, `V1ResourceRequirements`, ...) are checked against the strict JSON
schema of Kubernetes 1.32 shipped by kubernetes-validate. Unknown keys are errors at every
level, as `kubectl apply --validate=strict` would report them against the CRD.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
from referencing import Registry, Resource

KSERVE_VERSION = "0.21.0"
K8S_VERSION = "1.32.0"
_DEFS_ID = "https://kubernetes.io/api/_definitions.json"


def kserve_wheel(cache: Path) -> Path:
    """The pinned kserve wheel, downloaded once into `cache` (PyPI, no dependencies)."""
    wheel = cache / f"kserve-{KSERVE_VERSION}-py3-none-any.whl"
    if not wheel.exists():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             f"kserve=={KSERVE_VERSION}", "-d", str(cache)],
            check=True, timeout=300,
        )  # fmt: skip
    return wheel


@dataclass(frozen=True)
class ModelType:
    fields: dict[str, str]  # JSON key → openapi type string
    required: frozenset[str]  # JSON keys


def _literal_dict(node: ast.AST) -> dict[str, str]:
    value = ast.literal_eval(node)
    assert isinstance(value, dict)
    return {str(k): str(v) for k, v in value.items()}


def read_models(wheel: Path) -> dict[str, ModelType]:
    """Class name → its JSON fields and required keys, for every kserve model in the wheel."""
    out: dict[str, ModelType] = {}
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            if not re.fullmatch(r"kserve/models/v\w+\.py", name):
                continue
            source = zf.read(name).decode()
            for cls in ast.parse(source).body:
                if not isinstance(cls, ast.ClassDef):
                    continue
                assigns = {
                    t.id: stmt.value
                    for stmt in cls.body
                    if isinstance(stmt, ast.Assign)
                    for t in stmt.targets
                    if isinstance(t, ast.Name)
                }
                if "openapi_types" not in assigns:
                    continue
                types = _literal_dict(assigns["openapi_types"])
                names = _literal_dict(assigns["attribute_map"])
                required = {
                    names[m]
                    for m in re.findall(r"Invalid value for `(\w+)`, must not be `None`", source)
                }
                out[cls.name] = ModelType(
                    fields={names[attr]: t for attr, t in types.items()},
                    required=frozenset(required),
                )
    return out


class KServeValidator:
    """Every problem in an InferenceService, as `path: message` lines."""

    def __init__(self, wheel: Path) -> None:
        self.models = read_models(wheel)
        defs_path = (
            resources.files("kubernetes_validate")
            / "kubernetes-json-schema"
            / f"v{K8S_VERSION}-local-strict"
            / "_definitions.json"
        )
        defs = json.loads(defs_path.read_text())
        self.k8s_defs: dict[str, str] = {}
        for key in defs["$defs"]:
            short = key.rsplit(".", 2)
            # core/v1 wins over other groups' v1 types of the same name
            core = key.startswith("io.k8s.api.core.v1.")
            if len(short) == 3 and short[1] == "v1" and (core or short[2] not in self.k8s_defs):
                self.k8s_defs["V1" + short[2]] = key
        self.registry: Registry = Resource.from_contents(defs) @ Registry()

    def validate(self, doc: dict[str, Any]) -> list[str]:
        if doc.get("apiVersion") != "serving.kserve.io/v1beta1":
            return [f"apiVersion {doc.get('apiVersion')!r} is not serving.kserve.io/v1beta1"]
        return list(self._check(doc, "V1beta1InferenceService", ""))

    def _check(self, value: Any, typ: str, path: str) -> Iterator[str]:
        where = path or "."
        if typ.startswith("list["):
            if not isinstance(value, list):
                yield f"{where}: expected a list"
                return
            for i, item in enumerate(value):
                yield from self._check(item, typ[5:-1], f"{path}[{i}]")
        elif typ.startswith("dict("):
            if not isinstance(value, dict):
                yield f"{where}: expected a mapping"
                return
            inner = typ[5:-1].split(", ", 1)[1]
            for k, v in value.items():
                yield from self._check(v, inner, f"{path}.{k}")
        elif typ in ("str", "int", "bool", "float", "object", "datetime"):
            expected: dict[str, type | tuple[type, ...]] = {
                "str": str,
                "int": int,
                "bool": bool,
                "float": (int, float),
            }
            if typ in expected and not isinstance(value, expected[typ]):
                yield f"{where}: expected {typ}, got {type(value).__name__}"
        elif typ in self.models:
            yield from self._check_model(value, self.models[typ], path)
        elif typ in self.k8s_defs:
            schema = {"$ref": f"{_DEFS_ID}#/$defs/{self.k8s_defs[typ]}"}
            validator = jsonschema.Draft202012Validator(schema, registry=self.registry)
            for err in validator.iter_errors(value):
                loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.path)
                yield f"{path}{loc}: {err.message}"
        else:
            yield f"{where}: no schema for type {typ}"

    def _check_model(self, value: Any, model: ModelType, path: str) -> Iterator[str]:
        if not isinstance(value, dict):
            yield f"{path or '.'}: expected an object"
            return
        for key in sorted(model.required - set(value)):
            yield f"{path}.{key}: required"
        for key, v in value.items():
            if key not in model.fields:
                yield f"{path}.{key}: unknown field"
                continue
            yield from self._check(v, model.fields[key], f"{path}.{key}")
