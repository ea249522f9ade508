"""`tandem rollout --k8s`: the three phases, their trees, and running them (kubectl is
replaced by a recording script on PATH: no cluster runs here)."""

from __future__ import annotations

import os
import stat

import pytest
import yaml

from tandem.errors import K8sError
from tandem.k8s import rollout
from tandem.k8s.kubectl import kustomize
from tandem.k8s.render import render_tree
from tandem.manifest import load_manifest
from tandem.probes.torchserve_ready import wanted
from tests.k8s import checks
from tests.k8s.checks import REPO, load_docs


@pytest.fixture
def bumped(tmp_path):
    """models.yaml with digits_mlp_torch and digits_mlp_tf at version 2, and the tree
    deployed before (version 1 everywhere)."""
    raw = yaml.safe_load((REPO / "models.yaml").read_text())
    for m in raw["models"]:
        if m["name"] in ("digits_mlp_torch", "digits_mlp_tf"):
            m["version"] = 2
            m["labels"] = {"stable": 2}
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump(raw))
    tree = tmp_path / "k8s"
    render_tree(load_manifest(REPO / "models.yaml")).write(tree)
    return load_manifest(path), tree


def _plan(bumped, tmp_path, repo="file:///bucket"):
    manifest, tree = bumped
    return rollout.plan(
        manifest, ["digits_mlp_torch", "digits_mlp_tf"], tree, tmp_path / "work", "gpu", repo,
        tmp_path / "build",
    )  # fmt: skip


def _deployment(docs, name):
    return next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == name)


def test_plan_has_three_phases_in_order(bumped, tmp_path):
    p = _plan(bumped, tmp_path)
    assert p.versions == {"digits_mlp_torch": ([1], [2]), "digits_mlp_tf": ([1], [2])}
    text = [" ".join(s.argv) for s in p.steps]
    push = p.steps[0].argv
    assert push[3:5] == ("push", str(tmp_path / "build"))
    assert set(push[6:]) == {
        "tensorflow/digits_mlp_tf/2",
        "torchserve/model-store/digits_mlp_torch.v2.mar",
    }
    phase1 = next(i for i, t in enumerate(text) if "phase1" in t)
    gateway = next(i for i, t in enumerate(text) if "tier=gateway" in t)
    final = next(i for i, t in enumerate(text) if t.startswith("kubectl apply") and " -l " not in t)
    assert 0 < phase1 < gateway < final
    assert "tandem.io/tier=backend" in text[phase1]
    waits = [t for t in text if "rollout status" in t]
    assert waits == [
        f"kubectl -n tandem rollout status deployment/{d} --timeout=15m"
        for d in ("tf-serving", "torchserve", "gateway", "tf-serving", "torchserve")
    ]
    # each wait directly follows the apply it waits for
    assert "rollout status" in text[phase1 + 1]
    assert "rollout status" in text[gateway + 1]


def test_phase_tree_serves_old_and_new(bumped, tmp_path):
    _plan(bumped, tmp_path)
    _, tree = bumped
    phase = load_docs(kustomize(tmp_path / "work" / "phase1" / "overlays" / "gpu"))
    final = load_docs(kustomize(tree / "overlays" / "gpu"))
    for check in checks.ALL_CHECKS:
        assert check(phase) == [], check.__name__
        assert check(final) == [], check.__name__

    def fetched(docs, name):
        return _deployment(docs, name)["spec"]["template"]["spec"]["initContainers"][0]["args"]

    assert {"digits_mlp_torch.mar", "digits_mlp_torch.v2.mar"} <= {
        a.rsplit("/", 1)[-1] for a in fetched(phase, "torchserve")
    }
    assert {"tensorflow/digits_mlp_tf/1", "tensorflow/digits_mlp_tf/2"} <= set(
        fetched(phase, "tf-serving")
    )
    assert "torchserve/model-store/digits_mlp_torch.mar" not in fetched(final, "torchserve")
    assert "tensorflow/digits_mlp_tf/1" not in fetched(final, "tf-serving")
    # the readiness probe waits for every version of its config.properties: both in phase 1
    config = next(
        d
        for d in phase
        if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("torchserve-config")
    )["data"]["config.properties"]
    assert set(wanted(config)["digits_mlp_torch"]) == {"1", "2"}


def test_nothing_to_roll_out_is_an_error(tmp_path):
    tree = tmp_path / "k8s"
    manifest = load_manifest(REPO / "models.yaml")
    render_tree(manifest).write(tree)
    with pytest.raises(K8sError, match="already serves versions"):
        rollout.plan(
            manifest, ["digits_cnn_tf"], tree, tmp_path / "w", "gpu", "file:///b", tmp_path
        )


def _fake_kubectl(bin_dir, log, fail_on=""):
    bin_dir.mkdir()
    script = bin_dir / "kubectl"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> {log}\n'
        f'case "$*" in *"{fail_on or "@@never@@"}"*) echo "error: boom" >&2; exit 1;; esac\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


def test_apply_runs_every_step(bumped, tmp_path, monkeypatch):
    build = tmp_path / "build"
    (build / "tensorflow" / "digits_mlp_tf" / "2").mkdir(parents=True)
    (build / "tensorflow" / "digits_mlp_tf" / "2" / "saved_model.pb").write_bytes(b"pb")
    (build / "torchserve" / "model-store").mkdir(parents=True)
    (build / "torchserve" / "model-store" / "digits_mlp_torch.v2.mar").write_bytes(b"mar")
    log = tmp_path / "kubectl.log"
    _fake_kubectl(tmp_path / "bin", log)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    p = _plan(bumped, tmp_path, repo=f"file://{tmp_path / 'bucket'}")
    rollout.apply(p.steps)
    assert (
        tmp_path / "bucket/torchserve/model-store/digits_mlp_torch.v2.mar"
    ).read_bytes() == b"mar"
    assert (tmp_path / "bucket/tensorflow/digits_mlp_tf/2/saved_model.pb").read_bytes() == b"pb"
    calls = log.read_text().splitlines()
    assert len(calls) == len(p.steps) - 1
    assert calls[-1].startswith("-n tandem rollout status deployment/torchserve")


def test_apply_stops_at_the_first_failure(bumped, tmp_path, monkeypatch):
    log = tmp_path / "kubectl.log"
    _fake_kubectl(tmp_path / "bin", log, fail_on="deployment/gateway")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    p = _plan(bumped, tmp_path)
    steps = [s for s in p.steps if s.argv[0] == "kubectl"]
    with pytest.raises(K8sError, match="wait until every gateway pod") as err:
        rollout.apply(steps)
    assert "boom" in str(err.value)
    assert not any(
        line.startswith("apply") and " -l " not in line for line in log.read_text().splitlines()
    )
