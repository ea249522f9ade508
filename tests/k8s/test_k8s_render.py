"""The committed k8s/ tree is exactly what `tandem k8s render` makes of models.yaml, and
every overlay builds with the real kustomize."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tandem.k8s.render import OVERLAYS, render_tree
from tests.k8s.checks import REPO, load_docs

HAND_KEPT = {"README.md", ".checkov.yaml", "Dockerfile"}


def test_committed_tree_is_the_render_of_models_yaml(manifest):
    rendered = render_tree(manifest).files
    committed = {
        str(p.relative_to(REPO / "k8s")): p.read_text()
        for p in (REPO / "k8s").rglob("*")
        if p.is_file() and p.name not in HAND_KEPT
    }
    stale = sorted(set(committed) - set(rendered))
    missing = sorted(set(rendered) - set(committed))
    changed = sorted(k for k in set(rendered) & set(committed) if rendered[k] != committed[k])
    assert (stale, missing, changed) == ([], [], []), "run `tandem k8s render` and commit k8s/"


def test_render_is_deterministic(manifest):
    assert render_tree(manifest).files == render_tree(manifest).files


def test_every_overlay_builds(built):
    for overlay in OVERLAYS:
        kinds = sorted({d["kind"] for d in load_docs(built[overlay])})
        assert {"Deployment", "Service", "ConfigMap", "NetworkPolicy"} <= set(kinds), overlay
        assert "HorizontalPodAutoscaler" in kinds
        assert "PodDisruptionBudget" in kinds


def test_pvc_overlay_replaces_the_fetch(built):
    docs = load_docs(built["gpu-pvc"])
    backends = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] != "gateway"]
    assert backends
    for d in backends:
        spec = d["spec"]["template"]["spec"]
        assert "initContainers" not in spec
        models = next(v for v in spec["volumes"] if v["name"] == "models")
        assert models == {
            "name": "models",
            "persistentVolumeClaim": {"claimName": "tandem-models", "readOnly": True},
        }
    assert any(d["kind"] == "PersistentVolumeClaim" for d in docs)
    fetch = [d for d in load_docs(built["gpu"]) if d["kind"] == "Deployment"]
    assert all(
        d["spec"]["template"]["spec"]["initContainers"][0]["name"] == "model-fetch"
        for d in fetch
        if d["metadata"]["name"] != "gateway"
    )


def test_fetch_lists_every_served_version(built, manifest):
    docs = load_docs(built["cpu"])
    args = {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]["initContainers"][0]["args"]
        for d in docs
        if d["kind"] == "Deployment" and d["metadata"]["name"] != "gateway"
    }
    tf = [f"tensorflow/{m.name}/1" for m in manifest.models if m.framework == "tensorflow"]
    assert args["tf-serving"][3:] == tf
    assert all(a.startswith("torchserve/model-store/") for a in args["torchserve"][3:])


def test_cli_render_writes_tree_and_built_yaml(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tandem.cli",
            "k8s",
            "render",
            "--tree",
            str(tmp_path / "tree"),
            "--out",
            str(tmp_path / "out"),
            "--overlay",
            "gpu",
            "--kserve",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "tree" / "overlays" / "gpu" / "kustomization.yaml").is_file()
    gpu = load_docs((tmp_path / "out" / "gpu.yaml").read_text())
    assert any(d["kind"] == "Deployment" for d in gpu)
    assert not (tmp_path / "out" / "cpu.yaml").exists()
    assert any(
        d["kind"] == "InferenceService"
        for d in load_docs((tmp_path / "out" / "kserve.yaml").read_text())
    )


def test_cli_unknown_overlay_is_one_line(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tandem.cli",
            "k8s",
            "render",
            "--tree",
            str(tmp_path / "t"),
            "--out",
            str(tmp_path / "o"),
            "--overlay",
            "tpu",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 1
    assert "unknown overlay 'tpu'" in done.stderr
    assert "Traceback" not in done.stderr


def test_kustomize_failure_is_one_line(tmp_path):
    import pytest

    from tandem.errors import K8sError
    from tandem.k8s.kubectl import kustomize

    (tmp_path / "kustomization.yaml").write_text("resources: [missing.yaml]\n")
    with pytest.raises(K8sError, match="kubectl kustomize"):
        kustomize(Path(tmp_path))


def test_rerender_keeps_the_model_repository(tmp_path):
    from tandem.k8s.render import DEFAULT_MODEL_REPOSITORY, current_repository

    tree = tmp_path / "tree"
    assert current_repository(tree) is None
    args = [sys.executable, "-m", "tandem.cli", "k8s", "render", "--tree", str(tree), "--out",
            str(tmp_path / "out"), "--overlay", "cpu"]  # fmt: skip
    first = subprocess.run(
        [*args, "--model-repository", "gs://bucket/m"], capture_output=True, text=True,
        timeout=120, cwd=REPO, check=False,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    again = subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=REPO, check=False)
    assert again.returncode == 0, again.stderr
    assert current_repository(tree) == "gs://bucket/m"
    assert "TANDEM_MODEL_REPOSITORY: gs://bucket/m" in (tmp_path / "out" / "cpu.yaml").read_text()
    assert current_repository(REPO / "k8s") == DEFAULT_MODEL_REPOSITORY
