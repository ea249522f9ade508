"""`tandem promote`: the route file written at each step (pure), the manifest edited in place,
the compose command, and the command's errors."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gateway.route_table import RouteTable
from tandem.stack.promote import (
    PromoteError,
    compose_argv,
    edit_manifest,
    manifest_twin,
    parse_steps,
    promote,
    step_doc,
    step_twin,
)

IO = {
    "inputs": [{"name": "pixels", "dtype": "float32", "shape": [-1, 64]}],
    "outputs": [{"name": "label", "dtype": "int64", "shape": [-1]}],
}
DOC: dict[str, Any] = {
    "schema_version": 1,
    "backends": {"tfserving": {"kind": "tfserving"}, "torchserve": {"kind": "torchserve"}},
    "models": {
        name: {
            "framework": fw,
            "backend": fw.replace("tensorflow", "tfserving").replace("pytorch", "torchserve"),
            "upstream_name": name,
            "versions": [1],
            "default_version": 1,
            **IO,
        }
        for name, fw in (("m_tf", "tensorflow"), ("m_torch", "pytorch"))
    },
    "twins": {
        "m": {
            "variants": {"m_tf": {"weight": 0.0}, "m_torch": {"weight": 0.0}},
            "default": "m_tf",
            "shadow": "m_torch",
        }
    },
}


def _weights(doc: dict[str, Any]) -> dict[str, float]:
    return {n: v["weight"] for n, v in doc["twins"]["m"]["variants"].items()}


def test_steps_move_the_share_then_the_default() -> None:
    ten = step_doc(DOC, "m", "m_torch", 10)
    assert _weights(ten) == {"m_tf": 0.9, "m_torch": 0.1}
    assert ten["twins"]["m"]["default"] == "m_tf"
    assert DOC["twins"]["m"]["variants"]["m_torch"]["weight"] == 0.0  # input untouched
    fifty = step_doc(ten, "m", "m_torch", 50)
    assert _weights(fifty) == {"m_tf": 0.5, "m_torch": 0.5}
    done = step_doc(fifty, "m", "m_torch", 100)
    assert _weights(done) == {"m_tf": 0.0, "m_torch": 1.0}
    twin = RouteTable.model_validate(done).twins["m"]
    assert (twin.default, twin.shadow) == ("m_torch", "m_tf")  # the old build is compared


def test_promote_writes_each_step_and_waits_between(tmp_path: Path) -> None:
    path = tmp_path / "routes.json"
    path.write_text(json.dumps(DOC))
    waits: list[float] = []
    written = promote(path, "m", "m_torch", [10, 50, 100], step_s=3.0, sleep=waits.append)
    assert [w["m_torch"] for w in written] == [0.1, 0.5, 1.0]
    assert waits == [3.0, 3.0]
    assert RouteTable.model_validate_json(path.read_text()).twins["m"].default == "m_torch"


@pytest.mark.parametrize(
    ("twin", "variant", "message"),
    [("x", "m_tf", "no twin 'x'"), ("m", "nope", "has no variant 'nope'")],
)
def test_unknown_twin_or_variant(twin: str, variant: str, message: str) -> None:
    with pytest.raises(PromoteError, match=message):
        step_doc(copy.deepcopy(DOC), twin, variant, 100)


@pytest.mark.parametrize("text", ["", "50,10", "0,100", "10,150", "a,b"])
def test_bad_steps(text: str) -> None:
    with pytest.raises(PromoteError, match="--steps"):
        parse_steps(text)


def test_cli_error_is_one_line_exit_2(tmp_path: Path, repo_root: Path) -> None:
    path = tmp_path / "routes.json"
    path.write_text(json.dumps(DOC))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tandem.cli",
            "promote",
            "m",
            "nope",
            "--routes",
            str(path),
            "--no-manifest",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=repo_root,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("error:") == 1
    assert "has no variant 'nope'" in proc.stderr
    assert json.loads(path.read_text()) == DOC  # nothing written


MANIFEST = Path(__file__).resolve().parents[2] / "models.yaml"


def _twin(raw: dict[str, Any], name: str) -> dict[str, Any]:
    return next(t for t in raw["twins"] if t["name"] == name)


def test_manifest_edit_keeps_comments_and_layout(tmp_path: Path) -> None:
    import yaml

    from tandem.manifest import load_manifest

    path = tmp_path / "models.yaml"
    original = MANIFEST.read_text()
    path.write_text(original)
    spec = load_manifest(path).twin("digits_mlp")
    entry = manifest_twin(spec)
    for percent in (10, 50, 100):
        entry = step_twin(entry, "digits_mlp", "digits_mlp_torch", percent)
    assert edit_manifest(path, "digits_mlp", entry)
    text = path.read_text()
    twin = _twin(yaml.safe_load(text), "digits_mlp")
    assert twin["default"] == "digits_mlp_torch"
    assert twin["shadow"] == "digits_mlp_tf"  # the old build keeps being compared
    assert twin["variants"] == [
        {"model": "digits_mlp_tf", "weight": 0},
        {"model": "digits_mlp_torch", "weight": 100},
    ]
    # Only those values changed: every other line, comments included, is as it was.
    changed = [
        (a, b) for a, b in zip(original.splitlines(), text.splitlines(), strict=True) if a != b
    ]
    assert len(original.splitlines()) == len(text.splitlines())
    assert changed == [
        ("      - {model: digits_mlp_tf, weight: 50}", "      - {model: digits_mlp_tf, weight: 0}"),
        (
            "      - {model: digits_mlp_torch, weight: 50}",
            "      - {model: digits_mlp_torch, weight: 100}",
        ),
        ("    default: digits_mlp_tf", "    default: digits_mlp_torch"),
        ("    shadow: digits_mlp_torch", "    shadow: digits_mlp_tf"),
    ]
    assert load_manifest(path).twin("digits_mlp").default_variant == "digits_mlp_torch"
    assert not edit_manifest(path, "digits_mlp", entry)  # already says so


def test_manifest_edit_adds_missing_keys_in_each_style(tmp_path: Path) -> None:
    import yaml

    from tandem.manifest import load_manifest

    path = tmp_path / "models.yaml"
    path.write_text(MANIFEST.read_text())
    # digits_cnn224: flow-style variants without weights, no shadow.
    spec = load_manifest(path).twin("digits_cnn224")
    entry = step_twin(manifest_twin(spec), "digits_cnn224", "digits_cnn224_torch", 50)
    assert edit_manifest(path, "digits_cnn224", entry)
    twin = _twin(yaml.safe_load(path.read_text()), "digits_cnn224")
    assert twin["variants"] == [
        {"model": "digits_cnn224_tf", "weight": 50},
        {"model": "digits_cnn224_torch", "weight": 50},
    ]
    assert twin["default"] == "digits_cnn224_tf"
    assert "shadow" not in twin
    # Block style, no default: the keys are added beside name:/model:, indented alike.
    block = tmp_path / "block.yaml"
    block.write_text(
        "twins:\n"
        "  - name: t  # the twin\n"
        "    variants:\n"
        "      - model: a\n"
        "      - model: b\n"
        "        weight: 3\n"
    )
    entry = {"variants": {"a": {"weight": 0.0}, "b": {"weight": 1.0}}, "default": "b"}
    assert edit_manifest(block, "t", entry)
    assert block.read_text() == (
        "twins:\n"
        "  - name: t\n"
        "    default: b  # the twin\n"
        "    variants:\n"
        "      - model: a\n"
        "        weight: 0\n"
        "      - model: b\n"
        "        weight: 100\n"
    )


def test_manifest_edit_refuses_an_unknown_twin(tmp_path: Path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(MANIFEST.read_text())
    entry = {"variants": {"a": {"weight": 1.0}}, "default": "a"}
    with pytest.raises(PromoteError, match="no twin 'nope'"):
        edit_manifest(path, "nope", entry)
    assert path.read_text() == MANIFEST.read_text()


def test_cli_promotes_the_routes_then_the_manifest(tmp_path: Path, repo_root: Path) -> None:
    import yaml

    routes = tmp_path / "routes.json"
    doc = copy.deepcopy(DOC)
    routes.write_text(json.dumps(doc))
    manifest = tmp_path / "models.yaml"
    manifest.write_text(
        "models: []\n"
        "twins:\n"
        "  - name: m\n"
        "    variants: [{model: m_tf}, {model: m_torch}]\n"
        "    shadow: m_torch  # compared\n"
    )
    cmd = [sys.executable, "-m", "tandem.cli", "promote", "m", "m_torch", "--steps", "50,100"]
    cmd += ["--step-seconds", "0", "--routes", str(routes), "--manifest", str(manifest)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=repo_root)
    # models: [] is not a valid manifest: refused before any route changes.
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ")
    assert json.loads(routes.read_text()) == doc
    manifest.write_text(
        MANIFEST.read_text().split("twins:")[0] + "twins:\n"
        "  - name: m\n"
        "    variants: [{model: digits_mlp_tf}, {model: digits_mlp_torch}]\n"
        "    shadow: digits_mlp_torch  # compared\n"
    )
    doc["twins"] = {"m": {**doc["twins"]["m"]}}
    doc["models"] = {
        "digits_mlp_tf": DOC["models"]["m_tf"],
        "digits_mlp_torch": DOC["models"]["m_torch"],
    }
    doc["twins"]["m"] = {
        "variants": {"digits_mlp_tf": {"weight": 0.0}, "digits_mlp_torch": {"weight": 0.0}},
        "default": "digits_mlp_tf",
        "shadow": "digits_mlp_torch",
    }
    routes.write_text(json.dumps(doc))
    cmd[5] = "digits_mlp_torch"
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=repo_root)
    assert proc.returncode == 0, proc.stderr
    final = RouteTable.model_validate_json(routes.read_text()).twins["m"]
    assert (final.default, final.shadow) == ("digits_mlp_torch", "digits_mlp_tf")
    twin = _twin(yaml.safe_load(manifest.read_text()), "m")
    assert (twin["default"], twin["shadow"]) == ("digits_mlp_torch", "digits_mlp_tf")
    assert [v["weight"] for v in twin["variants"]] == [0, 100]
    assert "shadow: digits_mlp_tf  # compared" in manifest.read_text()


def test_compose_runs_the_steps_in_the_export_container(
    tmp_path: Path, repo_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import stat

    import yaml

    log = tmp_path / "docker.log"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(f'#!/bin/sh\necho "$*" >> {log}\n')
    docker.chmod(docker.stat().st_mode | stat.S_IXUSR)
    manifest = tmp_path / "models.yaml"
    manifest.write_text(MANIFEST.read_text())
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    cmd = [sys.executable, "-m", "tandem.cli", "promote", "digits_mlp", "digits_mlp_torch"]
    cmd += ["--compose", "--steps", "10,100", "--step-seconds", "5", "--manifest", str(manifest)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=repo_root, env=env)
    assert proc.returncode == 0, proc.stderr
    assert (
        log.read_text().split() == compose_argv("digits_mlp", "digits_mlp_torch", [10, 100], 5)[1:]
    )
    assert "--routes /models/config/routes.json --no-manifest" in log.read_text()
    twin = _twin(yaml.safe_load(manifest.read_text()), "digits_mlp")
    assert twin["default"] == "digits_mlp_torch"


def test_one_place_of_routes_at_a_time(repo_root: Path) -> None:
    cmd = [sys.executable, "-m", "tandem.cli", "promote", "digits_mlp", "digits_mlp_torch"]
    proc = subprocess.run(
        [*cmd, "--compose", "--k8s"], capture_output=True, text=True, timeout=120, cwd=repo_root
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: --routes, --compose and --k8s are exclusive"
