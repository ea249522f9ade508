"""`tandem promote --k8s`: a twin's traffic moved on the cluster step by step, failing no
request.

On Kubernetes the gateway's routes are the generated ConfigMap ``gateway-routes`` (from
``<tree>/base/config/gateway/routes.json``): a new route file is a new ConfigMap name, so the
gateway Deployment rolls, one pod at a time, each new pod taking traffic once ready and each
old one draining in preStop (as in phase 2 of ``tandem rollout --k8s``). Every variant is
already loaded on its backend, so only the gateway tier is applied. One tree per step but the
last is written under ``work`` (a copy of the deployed tree with that step's route file); the
last step's route file goes into the deployed tree itself, which then says what runs.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tandem.errors import K8sError
from tandem.k8s.render import NAMESPACE, OVERLAYS
from tandem.k8s.rollout import ROLLOUT_TIMEOUT, Step
from tandem.stack.promote import read_routes, step_docs, write_routes

ROUTES = Path("base") / "config" / "gateway" / "routes.json"


@dataclass(frozen=True)
class PromotePlan:
    steps: list[Step]
    final: dict[str, Any]
    """The route document of the last step (what the deployed tree now says)."""


def plan(
    tree: Path,
    twin: str,
    variant: str,
    percents: Sequence[int],
    work: Path,
    overlay: str,
    step_s: float,
) -> PromotePlan:
    """Write each step's tree (the last into ``tree``) and return the kubectl steps: apply
    the gateway tier of one step's tree, wait for the gateway's rollout, wait ``step_s``."""
    if overlay not in OVERLAYS:
        raise K8sError(f"unknown overlay {overlay!r} (known: {', '.join(OVERLAYS)})")
    docs = step_docs(read_routes(tree / ROUTES), twin, variant, percents)
    steps: list[Step] = []
    for i, (percent, doc) in enumerate(zip(percents, docs, strict=True)):
        last = i == len(docs) - 1
        step_tree = tree if last else work / f"{twin}-{percent}"
        if not last:
            if step_tree.exists():
                shutil.rmtree(step_tree)
            shutil.copytree(tree, step_tree)
        write_routes(step_tree / ROUTES, doc)
        steps += [
            Step(
                f"the gateway sends {percent}% of {twin} to {variant}",
                (
                    "kubectl",
                    "apply",
                    "-k",
                    str(step_tree / "overlays" / overlay),
                    "-l",
                    "tandem.io/tier=gateway",
                ),
            ),
            Step(
                "wait until every gateway pod is replaced and ready",
                (
                    "kubectl",
                    "-n",
                    NAMESPACE,
                    "rollout",
                    "status",
                    "deployment/gateway",
                    f"--timeout={ROLLOUT_TIMEOUT}",
                ),
            ),
        ]
        if not last:
            steps.append(Step(f"let {percent}% run for {step_s:g} s", ("sleep", f"{step_s:g}")))
    return PromotePlan(steps=steps, final=docs[-1])
