"""`kubectl kustomize` and `kubectl apply`: the only places Tandem runs kubectl, each bounded
by a timeout and turned into a one-line K8sError on failure."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from tandem.errors import K8sError

TIMEOUT_S = 120.0


def kubectl() -> str:
    """Path of kubectl (with its built-in kustomize); K8sError when it is not installed."""
    path = shutil.which("kubectl")
    if path is None:
        raise K8sError("kubectl not found on PATH (v1.27+ with its built-in kustomize)")
    return path


def run(args: Sequence[str], timeout: float = TIMEOUT_S) -> str:
    """Run `kubectl ARGS`; its stdout, or K8sError with the first line of its stderr."""
    cmd = [kubectl(), *args]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise K8sError(f"kubectl {' '.join(args)}: no answer in {timeout:.0f} s") from exc
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or ["(no message)"])[0]
        raise K8sError(f"kubectl {' '.join(args)}: {first}")
    return done.stdout


def kustomize(directory: Path) -> str:
    """The built YAML of one kustomization directory."""
    return run(["kustomize", str(directory)])
