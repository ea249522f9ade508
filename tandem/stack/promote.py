"""Move a twin's traffic to one of its variants: the route file step by step, then the
manifest.

Every variant of a twin is already loaded on its backend, so promotion is routing only: each
step writes ``routes.json`` atomically with the promoted variant's share raised, and the
gateway swaps the new table in on its next poll (requests in flight keep the route they
started with). No request fails for it. The last step at 100% makes the variant the twin's
default; a shadow that was the promoted variant becomes the old default, so the old build
keeps being compared.

Where the route file lives: the local stack's ``build/config/routes.json``; compose's
``/models/config/routes.json`` in the ``models`` volume (the same command, run in the export
container: :func:`compose_argv`); on Kubernetes a generated ConfigMap (``tandem.k8s.promote``).

The manifest is the one source of every route (``tandem export``/``configs``/``make up`` and
``tandem k8s render`` write the route file from it), so once the route file says the new
default, :func:`edit_manifest` writes the same default, shadow and weights into ``models.yaml``:
otherwise the next render would quietly move the traffic back. The edit replaces those few
values in place (comments and layout stay), and is checked by reading the result back.
"""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from gateway.route_table import RouteTable
from tandem.errors import TandemError
from tandem.manifest import TwinSpec


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
    """The route document with ``variant`` taking ``percent`` % of ``twin``'s traffic (see
    :func:`step_twin`), checked as the gateway would. Pure: ``doc`` is not changed."""
    out = copy.deepcopy(doc)
    twins = out.get("twins") or {}
    if twin not in twins:
        raise PromoteError(f"routes: no twin {twin!r} (twins: {sorted(twins)})")
    twins[twin] = step_twin(twins[twin], twin, variant, percent)
    RouteTable.model_validate(out)  # never write a file the gateway would refuse
    return out


def step_twin(t: dict[str, Any], twin: str, variant: str, percent: int) -> dict[str, Any]:
    """One twin's route entry (``variants`` with weights, ``default``, ``shadow``) with
    ``variant`` taking ``percent`` % of the traffic; the other variants keep their relative
    shares of the rest (all to the current default when they had none). At 100 % the variant
    becomes the default. Pure: ``t`` is not changed."""
    t = copy.deepcopy(t)
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
    return t


def manifest_twin(spec: TwinSpec) -> dict[str, Any]:
    """A twin of the manifest as a route entry (what :func:`step_twin` takes)."""
    return {
        "variants": {
            v.model: {"weight": w}
            for v, w in zip(spec.variants, spec.weights.values(), strict=True)
        },
        "default": spec.default_variant,
        "shadow": spec.shadow,
    }


def write_routes(path: Path, doc: dict[str, Any]) -> None:
    """Replace the route file atomically (the gateway never reads half a file)."""
    tmp = path.with_name(f".{path.name}.promote.tmp")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def step_docs(
    doc: dict[str, Any], twin: str, variant: str, steps: Sequence[int]
) -> list[dict[str, Any]]:
    """The route document after each step, in order (pure; every one checked, none written)."""
    out = []
    for percent in steps:
        doc = step_doc(doc, twin, variant, percent)
        out.append(doc)
    return out


def read_routes(path: Path) -> dict[str, Any]:
    """The route document of ``path``; PromoteError when it cannot be read."""
    try:
        doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PromoteError(f"{path}: cannot read the route file: {exc}") from exc
    return doc


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
    docs = step_docs(read_routes(routes_file), twin, variant, steps)
    written = []
    for i, (percent, doc) in enumerate(zip(steps, docs, strict=True)):
        write_routes(routes_file, doc)
        weights = {n: v["weight"] for n, v in doc["twins"][twin]["variants"].items()}
        written.append(weights)
        say(f"{twin}: {variant} at {percent}% ({weights})")
        if i < len(steps) - 1:
            sleep(step_s)
    return written


def twin_state(t: dict[str, Any]) -> tuple[str, str | None, dict[str, float]]:
    """A twin route entry's default, shadow and variant weights in percent."""
    weights = {n: round(100.0 * float(v.get("weight", 0.0)), 4) for n, v in t["variants"].items()}
    return t["default"], t.get("shadow"), weights


def edit_manifest(path: Path, twin: str, t: dict[str, Any]) -> bool:
    """Write ``twin``'s default, shadow and weights (percent) from its route entry ``t``
    into the manifest at ``path``, replacing only those values (comments and layout stay; a
    missing ``default:`` or ``weight:`` is added beside ``name:``/``model:``). False when the
    manifest said so already. PromoteError when the twin is not there or the result would
    not read back as asked (nothing is written then)."""
    default, shadow, weights = twin_state(t)
    try:
        text = path.read_text(encoding="utf-8")
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except (OSError, yaml.YAMLError) as exc:
        raise PromoteError(f"{path}: cannot read the manifest: {exc}") from exc
    node = _twin_node(root, twin)
    if node is None:
        raise PromoteError(f"{path.name}: no twin {twin!r} to record the promotion in")
    edits: list[tuple[int, int, str]] = []
    _set(edits, node, "name", "default", default)
    if shadow is not None and _value(node, "shadow") is not None:
        _set(edits, node, "name", "shadow", shadow)
    variants = _value(node, "variants")
    if not isinstance(variants, yaml.SequenceNode):
        raise PromoteError(f"{path.name}: twin {twin!r} has no list of variants")
    for item in variants.value:
        model = _value(item, "model")
        if isinstance(model, yaml.ScalarNode) and model.value in weights:
            _set(edits, item, "model", "weight", f"{weights[model.value]:g}")
    new = text
    for start, end, replacement in sorted(edits, reverse=True):
        new = new[:start] + replacement + new[end:]
    if new == text:
        return False
    _check_edit(path, new, twin, default, shadow, weights)
    tmp = path.with_name(f".{path.name}.promote.tmp")
    tmp.write_text(new, encoding="utf-8")
    os.replace(tmp, path)
    return True


def _twin_node(root: yaml.Node | None, twin: str) -> yaml.MappingNode | None:
    twins = _value(root, "twins")
    if not isinstance(twins, yaml.SequenceNode):
        return None
    for item in twins.value:
        name = _value(item, "name")
        if (
            isinstance(item, yaml.MappingNode)
            and isinstance(name, yaml.ScalarNode)
            and name.value == twin
        ):
            return item
    return None


def _value(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            found: yaml.Node = v
            return found
    return None


def _set(
    edits: list[tuple[int, int, str]], node: yaml.MappingNode, anchor: str, key: str, value: str
) -> None:
    """Replace ``key``'s scalar value in ``node``, or add ``key: value`` right after the
    value of ``anchor`` (a key every such mapping has), in the mapping's own style."""
    current = _value(node, key)
    if isinstance(current, yaml.ScalarNode):
        if current.value != value:
            edits.append((current.start_mark.index, current.end_mark.index, value))
        return
    if current is not None:
        raise PromoteError(f"line {current.start_mark.line + 1}: {key!r} is not a plain value")
    after = _value(node, anchor)
    assert after is not None  # the manifest schema requires it
    at = after.end_mark.index
    if node.flow_style:
        edits.append((at, at, f", {key}: {value}"))
    else:
        column = next(k for k, _ in node.value).start_mark.column
        edits.append((at, at, f"\n{' ' * column}{key}: {value}"))


def _check_edit(
    path: Path,
    text: str,
    twin: str,
    default: str,
    shadow: str | None,
    weights: dict[str, float],
) -> None:
    """Refuse an edit that does not read back as the twin's new default, shadow and weights."""
    try:
        raw = yaml.safe_load(text)
        t = next(t for t in raw["twins"] if t["name"] == twin)
        ok = (
            t.get("default") == default
            and (shadow is None or t.get("shadow") in (None, shadow))
            and {v["model"]: float(v.get("weight", 0)) for v in t["variants"]}
            == {m: float(w) for m, w in weights.items()}
        )
    except (yaml.YAMLError, KeyError, TypeError, StopIteration):
        ok = False
    if not ok:
        raise PromoteError(f"{path.name}: could not record twin {twin!r}'s promotion in place")


COMPOSE_ROUTES = "/models/config/routes.json"
"""Where the compose stack's gateway reads its routes (the ``models`` volume)."""


def compose_argv(twin: str, variant: str, steps: Sequence[int], step_s: float) -> list[str]:
    """The command that walks the compose stack's route file: this same promotion run in the
    export service's container, the one that writes that volume (the gateway mounts it
    read-only); the manifest is edited here, on the host."""
    return [
        "docker",
        "compose",
        "run",
        "--rm",
        "--no-deps",
        "--entrypoint",
        "python",
        "export",
        "-m",
        "tandem.cli",
        "promote",
        twin,
        variant,
        "--steps",
        ",".join(str(s) for s in steps),
        "--step-seconds",
        f"{step_s:g}",
        "--routes",
        COMPOSE_ROUTES,
        "--no-manifest",
    ]
