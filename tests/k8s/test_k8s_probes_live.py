"""The readiness probes of the rendered pods, run against the real servers of the live demo
stack: TorchServe's ready.py (the one readiness rule, on a config.properties rendered for the
manifest) and TF Serving's model-status path."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest

from tandem.backend_kinds import TORCHSERVE
from tandem.configgen import torchserve_properties
from tandem.k8s.render import torchserve_ready_script
from tandem.manifest import Manifest, ModelSpec
from tandem.placement import local
from tests.k8s.checks import REPO

pytestmark = pytest.mark.integration


def _run_probe(manifest: Manifest, tmp_path, live, cwd) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "ready.py"
    path.write_text(torchserve_ready_script())
    config = tmp_path / "config.properties"
    config.write_text(torchserve_properties(TORCHSERVE.models(manifest), local(manifest, live.out)))
    env = {
        **os.environ,
        "TANDEM_TORCHSERVE_MANAGEMENT_URL": live.ts_management,
        "TANDEM_TS_CONFIG": str(config),
    }
    return subprocess.run(
        [sys.executable, str(path)], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=30, check=False,
    )  # fmt: skip


def test_torchserve_probe_passes_when_every_version_is_ready(live_stack, tmp_path):
    key_dir = live_stack.stack.torchserve.key_file.parent
    done = _run_probe(live_stack.manifest, tmp_path, live_stack, key_dir)
    assert done.returncode == 0, done.stdout + done.stderr


def test_torchserve_probe_fails_for_a_version_not_loaded(live_stack, tmp_path):
    import dataclasses

    m = live_stack.manifest
    models: list[ModelSpec] = [
        x.model_copy(update={"version": 2}) if x.name == "digits_mlp_torch" else x for x in m.models
    ]
    later = dataclasses.replace(m, data=m.data.model_copy(update={"models": models}))
    key_dir = live_stack.stack.torchserve.key_file.parent
    done = _run_probe(later, tmp_path, live_stack, key_dir)
    assert done.returncode == 1
    assert "digits_mlp_torch v2: not registered" in done.stdout


def test_torchserve_probe_fails_without_the_key(live_stack, tmp_path):
    done = _run_probe(live_stack.manifest, tmp_path, live_stack, tmp_path)
    assert done.returncode == 1


def test_tf_status_path_answers_available(live_stack):
    first = next(m for m in live_stack.manifest.models if m.framework == "tensorflow")
    r = httpx.get(f"{live_stack.tf_rest}/v1/models/{first.name}", timeout=10)
    assert r.status_code == 200
    assert r.json()["model_version_status"][0]["state"] == "AVAILABLE"
    missing = httpx.get(f"{live_stack.tf_rest}/v1/models/no_such_model", timeout=10)
    assert missing.status_code == 404


def test_tf_serving_healthcheck_passes_on_the_live_server(live_stack):
    """The TF image's healthcheck, which is also its Kubernetes startup/readiness probe."""
    script = REPO / "deploy" / "healthchecks" / "tf_serving.sh"
    env = {
        **os.environ,
        "TANDEM_TF_MODELS_CONFIG": str(live_stack.out / "config" / "models.config"),
        "TANDEM_TF_REST_PORT": live_stack.tf_rest.rsplit(":", 1)[1],
    }
    done = subprocess.run(
        ["bash", str(script)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    env["TANDEM_TF_REST_PORT"] = live_stack.ts_rest.rsplit(":", 1)[1]  # not TF Serving
    wrong = subprocess.run(
        ["bash", str(script)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert wrong.returncode == 1
