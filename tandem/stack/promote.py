"""Move a twin's traffic to one of its variants by rewriting the gateway's route file.

Every variant of a twin is already loaded on its backend, so promotion is routing only: each
step writes ``routes.json`` atomically with the promoted variant's share raised, and the
gateway swaps the new table in on its next poll (requests in flight keep the route they
started with). No request fails for it. The last step at 100% makes the variant the twin's
default; a shadow that was the promoted variant becomes the old default, so the old build
keeps being compared.

The file is the local stack's (``build/config/routes.json``) or compose's (the ``config/``
directory that ``deploy.compose`` writes and the gateway container mounts): both gateways
poll it. On Kubernetes the routes are a generated ConfigMap: change the manifest and apply.
``models.yaml`` is not edited: a later ``tandem export`` writes its own routes again.
"""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from gateway.route_table import RouteTable
from tandem.errors import TandemError


class PromoteError(TandemError):
    """A promotion that cannot run as asked (unknown twin or variant, bad steps)."""

    exit_code = 2


def parse_steps(text: str) -> list[int]:
    """``"10,50,100"`` → ``[10, 50, 100]``: increasing percentages in (0, 100]."""
    try:
        steps = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise PromoteError(f"--steps: not a comma-separated list of percentages: {text!r}") from exc
    if not steps or steps != sorted(set(steps)) or steps[0] <= 0 or steps[-1] > 100:
        raise PromoteError(f"--steps: increasing percentages in 1..100 expected, got {text!r}")
    return steps


def step_doc(doc: dict[str, Any], twin: str, variant: str, percent: int) -> dict[str, Any]:
    """The route document with ``variant`` taking ``percent`` % of ``twin``'s traffic; the
    other variants keep their relative shares of the rest (all to the current default when
    they had none). At 100 % the variant becomes the default. Pure: ``doc`` is not changed."""
    out = copy.deepcopy(doc)
    twins = out.get("twins") or {}
    if twin not in twins:
        raise PromoteError(f"routes: no twin {twin!r} (twins: {sorted(twins)})")
    t = twins[twin]
    variants: dict[str, dict[str, Any]] = t["variants"]
    if variant not in variants:
        raise PromoteError(f"twin {twin!r} has no variant {variant!r} (variants: {list(variants)})")
    share = percent / 100.0
    others = {n: float(v.get("weight", 0.0)) for n, v in variants.items() if n != variant}
    rest = sum(others.values())
    old_default = t["default"]
    if rest <= 0 and old_default != variant:
        others = {n: (1.0 if n == old_default else 0.0) for n in others}
        rest = 1.0
    for name, v in variants.items():
        if name == variant:
            v["weight"] = round(share, 6)
        else:
            v["weight"] = round((1.0 - share) * others[name] / rest, 6) if rest > 0 else 0.0
    if percent == 100:
        t["default"] = variant
        if t.get("shadow") == variant:
            t["shadow"] = old_default if old_default != variant else None
    RouteTable.model_validate(out)  # never write a file the gateway would refuse
    return out


def write_routes(path: Path, doc: dict[str, Any]) -> None:
    """Replace the route file atomically (the gateway never reads half a file)."""
    tmp = path.with_name(f".{path.name}.promote.tmp")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def promote(
    routes_file: Path,
    twin: str,
    variant: str,
    steps: Sequence[int],
    *,
    step_s: float,
    say: Callable[[str], None] = lambda _msg: None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[dict[str, float]]:
    """Walk ``twin``'s traffic to ``variant`` through ``steps`` (percent), waiting ``step_s``
    after each but the last; returns the variant weights written at each step."""
    try:
        doc = json.loads(routes_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PromoteError(f"{routes_file}: cannot read the route file: {exc}") from exc
    written = []
    for i, percent in enumerate(steps):
        doc = step_doc(doc, twin, variant, percent)
        write_routes(routes_file, doc)
        weights = {n: v["weight"] for n, v in doc["twins"][twin]["variants"].items()}
        written.append(weights)
        say(f"{twin}: {variant} at {percent}% ({weights})")
        if i < len(steps) - 1:
            sleep(step_s)
    return written
