"""`tandem rollout --k8s`: a new model version on the cluster without failing a request.

The gateway asks a backend for an explicit version, so no backend may drop a version some
gateway pod still routes to, and no gateway pod may route to a version some backend pod has
not loaded. Hence three phases, each waited for with `kubectl rollout status`:

    1. backends serve the old and the new versions   (phase tree, `-l tandem.io/tier=backend`)
    2. the gateway routes to the new version          (final tree, `-l tandem.io/tier=gateway`)
    3. backends serve what the manifest says          (final tree, everything)

Within a phase, Kubernetes replaces pods one at a time; a new pod takes traffic only when its
readiness probe says every served version is loaded, and an old one drains in preStop. The
currently deployed versions are read from the committed tree's route file
(`<tree>/base/config/gateway/routes.json`), i.e. what the last render put on the cluster.
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tandem.errors import K8sError
from tandem.k8s.render import BACKEND_COMPONENTS, NAMESPACE, OVERLAYS, model_paths, render_tree
from tandem.manifest import Manifest, VersionPolicy

ROLLOUT_TIMEOUT = "15m"


@dataclass(frozen=True)
class Step:
    """One command of the procedure; `push` steps copy files, the others run kubectl."""

    what: str
    argv: tuple[str, ...]

    def __str__(self) -> str:
        return f"# {self.what}\n{shlex.join(self.argv)}"


@dataclass(frozen=True)
class Plan:
    steps: list[Step]
    versions: dict[str, tuple[list[int], list[int]]]
    """model → (versions deployed now, versions after the rollout)."""


def deployed_versions(tree: Path) -> dict[str, list[int]]:
    """Versions each model serves according to the tree's route file."""
    path = tree / "base" / "config" / "gateway" / "routes.json"
    try:
        routes = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise K8sError(f"{path}: cannot read the deployed route file ({exc})") from exc
    return {name: list(r["versions"]) for name, r in routes["models"].items()}


def transition_manifest(
    manifest: Manifest, old: dict[str, list[int]], models: Sequence[str]
) -> Manifest:
    """The manifest with each rolled-out model serving its old and new versions at once."""
    import dataclasses

    specs = []
    for m in manifest.models:
        if m.name in models:
            both = sorted(set(old.get(m.name, [])) | set(m.served_versions))
            m = m.model_copy(
                update={"version_policy": VersionPolicy(policy="specific", versions=both)}
            )
        specs.append(m)
    return dataclasses.replace(manifest, data=manifest.data.model_copy(update={"models": specs}))


def plan(
    manifest: Manifest,
    models: Sequence[str],
    tree: Path,
    work: Path,
    overlay: str,
    repository: str,
    build: Path,
) -> Plan:
    """Write the phase tree under `work` and the final tree into `tree`; return the steps."""
    if overlay not in OVERLAYS:
        raise K8sError(f"unknown overlay {overlay!r} (known: {', '.join(OVERLAYS)})")
    old = deployed_versions(tree)
    versions: dict[str, tuple[list[int], list[int]]] = {}
    for name in models:
        spec = manifest.model(name)
        before = old.get(name, [])
        if before == spec.served_versions:
            raise K8sError(f"{name}: the cluster already serves versions {before}")
        versions[name] = (before, spec.served_versions)
    phase = transition_manifest(manifest, old, models)
    phase_tree = work / "phase1"
    render_tree(phase, repository).write(phase_tree)
    render_tree(manifest, repository).write(tree)

    new_paths = [
        path
        for name in models
        for path in _paths(manifest, name)
        if _version_of(path) not in versions[name][0]
    ]
    backends = sorted({BACKEND_COMPONENTS[manifest.model(n).framework] for n in models})
    kubectl = ("kubectl", "-n", NAMESPACE)

    def wait(deployments: list[str]) -> list[Step]:
        return [
            Step(
                f"wait until every {d} pod is replaced and ready",
                (*kubectl, "rollout", "status", f"deployment/{d}", f"--timeout={ROLLOUT_TIMEOUT}"),
            )
            for d in deployments
        ]

    steps = [
        Step(
            "push the new versions to the model repository (old versions stay)",
            (
                sys.executable,
                "-m",
                "tandem.k8s.storage",
                "push",
                str(build),
                repository,
                *new_paths,
            ),
        ),
        Step(
            "phase 1: backends serve old and new versions",
            (
                "kubectl",
                "apply",
                "-k",
                str(phase_tree / "overlays" / overlay),
                "-l",
                "tandem.io/tier=backend",
            ),
        ),
        *wait(backends),
        Step(
            "phase 2: the gateway routes to the new versions",
            (
                "kubectl",
                "apply",
                "-k",
                str(tree / "overlays" / overlay),
                "-l",
                "tandem.io/tier=gateway",
            ),
        ),
        *wait(["gateway"]),
        Step(
            "phase 3: backends serve what the manifest says (old versions retired)",
            ("kubectl", "apply", "-k", str(tree / "overlays" / overlay)),
        ),
        *wait(backends),
    ]
    return Plan(steps=steps, versions=versions)


def _paths(manifest: Manifest, name: str) -> list[str]:
    """Repository paths of one model's served versions."""
    import dataclasses

    only = dataclasses.replace(
        manifest, data=manifest.data.model_copy(update={"models": [manifest.model(name)]})
    )
    return model_paths(only, manifest.model(name).framework)


def _version_of(path: str) -> int:
    """`tensorflow/m/3` → 3; `torchserve/model-store/m.v3.mar` → 3; `m.mar` → 1."""
    last = path.rsplit("/", 1)[-1]
    if last.isdigit():
        return int(last)
    stem = last.removesuffix(".mar").rsplit(".v", 1)
    return int(stem[1]) if len(stem) == 2 and stem[1].isdigit() else 1


def apply(steps: Sequence[Step], timeout_s: float = 1200.0) -> None:
    """Run the steps in order; the first failure stops with a K8sError naming the step."""
    import subprocess

    for step in steps:
        try:
            done = subprocess.run(
                step.argv, capture_output=True, text=True, timeout=timeout_s, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise K8sError(f"{step.what}: {exc}") from exc
        if done.returncode != 0:
            first = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
            raise K8sError(f"{step.what}: {shlex.join(step.argv[:4])}...: {first}")
