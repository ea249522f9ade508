"""Offline agreement of a twin: every variant's exported artifact answers the same sample
inputs, and the answers are compared by the twin's agreement rule (the one the gateway
applies to shadowed requests, :func:`gateway.dataplane.twins.compare`), sample by sample.

``tandem export`` runs :func:`check_twins` after the artifacts are in place and before any
config is written, so a twin whose variants disagree is never routed.
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from gateway.dataplane.twins import compare, from_variant, to_variant
from tandem.backend_kinds import kind_for
from tandem.errors import ExportError, TwinDisagreement
from tandem.export.samples import sample_inputs
from tandem.export.sources import import_object, one_line
from tandem.layout import Layout
from tandem.manifest import Manifest, ModelSpec, TwinSpec

Arrays = dict[str, npt.NDArray[Any]]


@dataclass(frozen=True)
class TwinCheck:
    """How often the variants of one twin agreed on the sample inputs."""

    twin: str
    reference: str
    samples: int
    objective: float
    agreed: dict[str, int] = field(default_factory=dict)
    """Variant (other than the reference, the twin's first) → samples that agreed with it."""
    disagreeing: dict[str, dict[str, int]] = field(default_factory=dict)
    """Variant → output → samples on which that output disagreed."""
    max_abs_diff: dict[str, dict[str, float]] = field(default_factory=dict)
    """Variant → numeric output → largest |difference| over all samples."""

    def ratio(self, variant: str) -> float:
        return self.agreed.get(variant, 0) / self.samples if self.samples else 1.0

    @property
    def worst(self) -> tuple[str, float]:
        """The least agreeing variant and its share of agreeing samples."""
        return min(((v, self.ratio(v)) for v in self.agreed), key=lambda x: x[1])

    @property
    def ok(self) -> bool:
        return self.worst[1] >= self.objective


def _samples(manifest: Manifest, twin: TwinSpec, ref: ModelSpec) -> Arrays:
    a = twin.agreement
    if a.sample_inputs is None:
        arrays = sample_inputs(ref.inputs, a.samples, seed=0)
        return {s.name: x for s, x in zip(ref.inputs, arrays, strict=True)}
    fn: Callable[[int], Any] = import_object(a.sample_inputs, manifest.root)
    got = fn(a.samples)
    if isinstance(got, Mapping):
        return {str(k): np.asarray(v) for k, v in got.items()}
    if len(ref.inputs) != 1:
        raise ExportError(f"twin {twin.name!r}: sample_inputs must return a dict by input name")
    return {ref.inputs[0].name: np.asarray(got)}


def run_artifact(spec: ModelSpec, artifact: Path, inputs: Arrays) -> Arrays:
    """Run an exported artifact in-process: a SavedModel's serving signature, or the model
    inside a ``.mar`` rebuilt the way the TorchServe handler rebuilds it."""
    if spec.framework == "tensorflow":
        import tensorflow as tf

        fn = tf.saved_model.load(str(artifact)).signatures[spec.signature]
        got = fn(**{s.name: tf.constant(inputs[s.name]) for s in spec.inputs})
        return {o.name: np.asarray(got[o.name]) for o in spec.outputs}
    import torch

    from tandem.export.pytorch import _run
    from torchserve.handler import load_model
    from wire.spec import SPEC_FILE, ModelIO

    with tempfile.TemporaryDirectory(prefix="tandem-twin-") as tmp:
        with zipfile.ZipFile(artifact) as zf:
            zf.extractall(tmp)
        io = ModelIO.from_json(json.loads((Path(tmp) / SPEC_FILE).read_text()))
        model = load_model(Path(tmp), io, torch.device("cpu"))
        outputs = _run(model, [inputs[s.name] for s in spec.inputs])
    return {o.name: a for o, a in zip(spec.outputs, outputs, strict=True)}


def check_twin(manifest: Manifest, twin: TwinSpec, out: Path) -> TwinCheck:
    """Answer the twin's sample inputs with every variant's artifact under ``out`` and compare
    each variant with the first, sample by sample. ``manifest`` must be resolved."""
    from tandem.configgen import twin_route

    agreement = twin_route(twin).agreement
    specs = {v.model: manifest.model(v.model) for v in twin.variants}
    first, *others = twin.variants
    ref = specs[first.model]
    inputs = _samples(manifest, twin, ref)
    n = len(next(iter(inputs.values())))
    layout = Layout(out)

    def answer(name: str, ins: Mapping[str, str], outs: Mapping[str, str]) -> Arrays:
        spec = specs[name]
        artifact = kind_for(spec.framework).artifact(layout, spec.name, spec.version)
        if not artifact.exists():
            raise ExportError(f"twin {twin.name!r}: {name!r} is not exported (run tandem export)")
        try:
            got = run_artifact(spec, artifact, to_variant(ins, inputs))
        except ExportError:
            raise
        except Exception as exc:
            raise ExportError(
                f"twin {twin.name!r}: {name!r} cannot answer the sample inputs: {one_line(exc)}"
            ) from exc
        return from_variant(outs, got)

    reference = answer(first.model, {}, {})
    check = TwinCheck(twin.name, first.model, n, twin.agreement.objective)
    for v in others:
        theirs = answer(v.model, v.inputs, v.outputs)
        agreed, bad, diffs = 0, dict[str, int](), dict[str, float]()
        for i in range(n):
            verdict = compare(
                agreement,
                {k: a[i : i + 1] for k, a in reference.items()},
                {k: a[i : i + 1] for k, a in theirs.items()},
            )
            agreed += verdict.agree
            for o in verdict.outputs:
                if not o.agree:
                    bad[o.name] = bad.get(o.name, 0) + 1
                if o.max_abs_diff is not None:
                    diffs[o.name] = max(diffs.get(o.name, 0.0), o.max_abs_diff)
        check.agreed[v.model] = agreed
        check.disagreeing[v.model] = bad
        check.max_abs_diff[v.model] = diffs
    return check


def check_twins(manifest: Manifest, out: Path, *, only: set[str] | None = None) -> list[TwinCheck]:
    """Check every twin (or those with a variant in ``only``); raise a one-line
    :class:`TwinDisagreement` for the first whose agreement is below its objective."""
    checks = []
    for i, twin in enumerate(manifest.twins):
        if only is not None and not only & {v.model for v in twin.variants}:
            continue
        check = check_twin(manifest, twin, out)
        checks.append(check)
        if not check.ok:
            variant, ratio = check.worst
            line = manifest.lines.get(("twins", i))
            at = f"{manifest.path.name}:{line}" if line else manifest.path.name
            outs = ", ".join(f"{k} on {v}" for k, v in sorted(check.disagreeing[variant].items()))
            diffs = ", ".join(
                f"{k} {v:.3g}" for k, v in sorted(check.max_abs_diff[variant].items())
            )
            raise TwinDisagreement(
                f"{at}: twin {twin.name!r}: {variant!r} agrees with {check.reference!r} on "
                f"{check.agreed[variant]}/{check.samples} sample inputs ({ratio:.1%}), below "
                f"the objective {check.objective:.1%} (disagreeing: {outs}; max |diff|: "
                f"{diffs or '-'}); routes not written"
            )
    return checks
