"""`tandem promote --k8s`: one tree per step whose gateway ConfigMap carries that step's
routes (built with the real `kubectl kustomize`), and the steps run in order (kubectl is a
recording script on PATH: no cluster runs here)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tandem.errors import K8sError
from tandem.k8s import promote
from tandem.k8s.kubectl import kustomize
from tandem.k8s.render import render_tree
from tandem.k8s.rollout import apply
from tandem.manifest import load_manifest
from tandem.stack.promote import PromoteError
from tests.k8s import checks
from tests.k8s.checks import REPO, load_docs

TWIN, TF, TORCH = "digits_mlp", "digits_mlp_tf", "digits_mlp_torch"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    dest = tmp_path / "k8s"
    render_tree(load_manifest(REPO / "models.yaml")).write(dest)
    return dest


def _routes_configmap(docs: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    cm = next(
        d
        for d in docs
        if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("gateway-routes")
    )
    return cm["metadata"]["name"], json.loads(cm["data"]["routes.json"])


def _gateway_configmap_ref(docs: list[dict[str, Any]]) -> str:
    gw = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "gateway")
    volumes = gw["spec"]["template"]["spec"]["volumes"]
    return str(next(v["configMap"]["name"] for v in volumes if "configMap" in v))


def test_each_step_rolls_the_gateway_onto_its_routes(tree: Path, tmp_path: Path) -> None:
    p = promote.plan(tree, TWIN, TORCH, [10, 50, 100], tmp_path / "work", "cpu", 30)
    text = [" ".join(s.argv) for s in p.steps]
    applies = [t for t in text if t.startswith("kubectl apply")]
    assert applies == [
        f"kubectl apply -k {tmp_path}/work/{TWIN}-10/overlays/cpu -l tandem.io/tier=gateway",
        f"kubectl apply -k {tmp_path}/work/{TWIN}-50/overlays/cpu -l tandem.io/tier=gateway",
        f"kubectl apply -k {tree}/overlays/cpu -l tandem.io/tier=gateway",
    ]
    for i in (0, 3, 6):  # each apply is followed by the wait for the gateway's rollout
        assert text[i + 1] == "kubectl -n tandem rollout status deployment/gateway --timeout=15m"
    assert [t for t in text if t.startswith("sleep")] == ["sleep 30", "sleep 30"]
    names = []
    for step_tree, share in (
        (tmp_path / "work" / f"{TWIN}-10", 0.1),
        (tmp_path / "work" / f"{TWIN}-50", 0.5),
        (tree, 1.0),
    ):
        docs = load_docs(kustomize(step_tree / "overlays" / "cpu"))
        for check in checks.ALL_CHECKS:
            assert check(docs) == [], check.__name__
        name, routes = _routes_configmap(docs)
        assert _gateway_configmap_ref(docs) == name  # a new name: the gateway pods roll
        names.append(name)
        twin = routes["twins"][TWIN]
        assert twin["variants"][TORCH]["weight"] == share
        assert twin["variants"][TF]["weight"] == round(1 - share, 6)
    assert len(set(names)) == 3
    assert p.final["twins"][TWIN]["default"] == TORCH
    assert p.final["twins"][TWIN]["shadow"] == TF


def test_unknown_variant_writes_nothing(tree: Path, tmp_path: Path) -> None:
    before = (tree / promote.ROUTES).read_text()
    with pytest.raises(PromoteError, match="has no variant 'nope'"):
        promote.plan(tree, TWIN, "nope", [100], tmp_path / "work", "cpu", 1)
    assert (tree / promote.ROUTES).read_text() == before
    with pytest.raises(K8sError, match="unknown overlay"):
        promote.plan(tree, TWIN, TORCH, [100], tmp_path / "work", "mars", 1)


def test_cli_prints_applies_and_records_in_the_manifest(tree: Path, tmp_path: Path) -> None:
    log = tmp_path / "kubectl.log"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("kubectl", "sleep"):  # recorded, not run: no cluster, no waiting
        script = bin_dir / tool
        script.write_text(f'#!/bin/sh\necho "{tool} $*" >> {log}\n')
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    manifest = tmp_path / "models.yaml"
    manifest.write_text((REPO / "models.yaml").read_text())
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    cmd = [sys.executable, "-m", "tandem.cli", "promote", TWIN, TORCH, "--k8s", "--apply"]
    cmd += ["--steps", "50,100", "--overlay", "cpu", "--tree", str(tree)]
    cmd += ["--manifest", str(manifest), "--out", str(tmp_path / "build")]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=120, cwd=REPO, env=env, check=False
    )
    assert proc.returncode == 0, proc.stderr
    calls = log.read_text().splitlines()
    assert [c.split()[:2] for c in calls] == [
        ["kubectl", "apply"], ["kubectl", "-n"], ["sleep", "10"],
        ["kubectl", "apply"], ["kubectl", "-n"],
    ]  # fmt: skip
    assert "promoted." in proc.stdout
    twin = next(t for t in yaml.safe_load(manifest.read_text())["twins"] if t["name"] == TWIN)
    assert (twin["default"], twin["shadow"]) == (TORCH, TF)
    # What `tandem k8s render` writes from the edited manifest is what the cluster now runs.
    again = tmp_path / "again"
    render_tree(load_manifest(manifest)).write(again)
    assert (
        json.loads((again / promote.ROUTES).read_text())["twins"][TWIN]
        == json.loads((tree / promote.ROUTES).read_text())["twins"][TWIN]
    )
    # The steps were also printed, to run by hand.
    assert proc.stdout.count("kubectl apply -k") == 2


def test_apply_stops_at_a_failed_rollout(
    tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "kubectl"
    script.write_text(
        '#!/bin/sh\ncase "$*" in *rollout*) echo "error: timed out" >&2; exit 1;; esac\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    p = promote.plan(tree, TWIN, TORCH, [10, 100], tmp_path / "work", "cpu", 0)
    with pytest.raises(K8sError, match=r"wait until every gateway pod.*timed out"):
        apply(p.steps)
