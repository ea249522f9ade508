"""checkov's Kubernetes policies on every rendered overlay: no failed check; each skipped
check (k8s/.checkov.yaml) is listed with its reason in k8s/README.md. checkov lives in its
own venv (`make k8s-tools` → .venv-tools/) since its pinned dependencies would fight the
project's; a missing install is a failure, not a skip."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
import yaml

from tests.k8s.checks import REPO

CHECKOV = REPO / ".venv-tools" / "bin" / "checkov"
CONFIG = REPO / "k8s" / ".checkov.yaml"


def run_checkov(*files) -> list[dict[str, Any]]:
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV} missing: run `make k8s-tools`")
    args = [str(CHECKOV), "--config-file", str(CONFIG), "-o", "json"]
    for f in files:
        args += ["-f", str(f)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
    assert done.stdout.strip(), done.stderr[-2000:]
    reports = json.loads(done.stdout)
    return reports if isinstance(reports, list) else [reports]


def test_checkov_passes_every_overlay(built_files):
    reports = run_checkov(*built_files.values())
    failed = [
        f"{f['check_id']} {f['resource']}: {f['check_name']}"
        for r in reports
        for f in r["results"]["failed_checks"]
    ]
    assert failed == []
    summary = reports[0]["summary"]
    assert summary["passed"] > 100
    assert summary["parsing_errors"] == 0


def test_every_skip_has_a_reason_in_the_readme():
    skips = yaml.safe_load(CONFIG.read_text())["skip-check"]
    readme = (REPO / "k8s" / "README.md").read_text()
    for check in skips:
        line = next((ln for ln in readme.splitlines() if ln.startswith(f"| {check} |")), None)
        assert line is not None, f"{check}: not listed in k8s/README.md"
        assert len(line) > 40, f"{check}: no reason given in k8s/README.md"


def test_checkov_fails_a_broken_fixture(built, tmp_path):
    docs = [d for d in yaml.safe_load_all(built["cpu"]) if d]
    dep = next(d for d in docs if d["kind"] == "Deployment")
    c = dep["spec"]["template"]["spec"]["containers"][0]
    c["securityContext"]["privileged"] = True
    c["securityContext"]["allowPrivilegeEscalation"] = True
    del c["readinessProbe"]
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump_all(docs))
    failed = {f["check_id"] for r in run_checkov(broken) for f in r["results"]["failed_checks"]}
    assert {"CKV_K8S_16", "CKV_K8S_20", "CKV_K8S_9"} <= failed, failed
