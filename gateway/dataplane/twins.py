"""Twins: comparing the answers of two variants of one public model, and naming the variant
that answered.

:func:`compare` is pure (numpy in, verdict out): the dataplane runs it in the shadow task, off
the request path; ``tandem export`` runs it on sample inputs before anything is served.
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from gateway.route_table import Agreement, TwinVariant


@dataclass(frozen=True, slots=True)
class TwinOrigin:
    """Where a shadow copy came from: the variant that answered the caller, the request's id
    and its inputs under the twin's tensor names (kept only with a disagreement)."""

    variant: str
    request_id: str
    inputs: dict[str, np.ndarray]


VARIANT_HEADER = "X-Tandem-Variant"
"""Response header naming the twin variant that answered."""

answered_by: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "answered_by", default=None
)
"""Per request, set by the middleware to an empty list; the dataplane appends the variant it
routes a twin request to, and the middleware sends the last one as :data:`VARIANT_HEADER`.
A mutable box, so that it is seen however the front end runs the handler."""


def note_variant(variant: str) -> None:
    """Record which variant serves the current request (no-op outside a request)."""
    box = answered_by.get()
    if box is not None:
        box.append(variant)


def to_variant(
    names: Mapping[str, str], tensors: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Twin tensor names → a variant's own (``names``: twin name → variant name)."""
    return {names.get(k, k): v for k, v in tensors.items()}


def from_variant(
    names: Mapping[str, str], tensors: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """A variant's tensor names → the twin's (the inverse of :func:`to_variant`)."""
    back = {v: k for k, v in names.items()}
    return {back.get(k, k): v for k, v in tensors.items()}


def variant_names(variant: TwinVariant | None) -> tuple[Mapping[str, str], Mapping[str, str]]:
    """(input, output) name maps of a variant (empty when it keeps the twin's names)."""
    if variant is None:
        return {}, {}
    return variant.inputs, variant.outputs


@dataclass(frozen=True, slots=True)
class OutputVerdict:
    """One compared output."""

    name: str
    agree: bool
    rule: str
    """``atol``, ``exact`` or ``top1``."""
    max_abs_diff: float | None
    """Largest element-wise |a - b| for numeric outputs of the same shape, else ``None``."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """Every compared output of one request (or sample); agreement means all agree."""

    outputs: tuple[OutputVerdict, ...]

    @property
    def agree(self) -> bool:
        return all(o.agree for o in self.outputs)

    @property
    def disagreeing(self) -> list[str]:
        return [o.name for o in self.outputs if not o.agree]


def _rule(agreement: Agreement, name: str, array: np.ndarray) -> str:
    if name in agreement.top1:
        return "top1"
    return "atol" if array.dtype.kind in "fc" else "exact"


def compare(
    agreement: Agreement, first: Mapping[str, np.ndarray], second: Mapping[str, np.ndarray]
) -> Verdict:
    """Compare two answers (twin output names) by ``agreement``: the outputs it names (all
    present in ``first`` when it names none) that both answers carry. A missing output or a
    shape mismatch is a disagreement."""
    names = agreement.outputs or tuple(first)
    verdicts = []
    for name in names:
        a, b = first.get(name), second.get(name)
        if a is None and b is None:
            continue  # the client asked for other outputs only
        if a is None or b is None:
            verdicts.append(OutputVerdict(name, False, "missing", None))
            continue
        rule = _rule(agreement, name, a)
        diff: float | None = None
        numeric = a.dtype.kind in "biufc" and b.dtype.kind in "biufc"
        if numeric and a.shape == b.shape and a.size:
            diff = float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))
        elif numeric and a.shape == b.shape:
            diff = 0.0
        if rule == "top1":
            ok = (
                a.ndim >= 1
                and a.shape == b.shape
                and bool(np.array_equal(np.argmax(a, axis=-1), np.argmax(b, axis=-1)))
            )
        elif rule == "atol":
            ok = diff is not None and diff <= agreement.atol
        else:
            ok = a.shape == b.shape and bool(np.array_equal(a, b))
        verdicts.append(OutputVerdict(name, ok, rule, diff))
    return Verdict(tuple(verdicts))
