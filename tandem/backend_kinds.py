"""The registry of backend kinds: every kind, in the order configs and trees list them.

Each kind is one module of `tandem.kinds` (its `BackendKind` value with its config
generators, local-stack process and Kubernetes builder); registering a kind is its line in
`KINDS`. Callers loop over `KINDS` (or ask `kind_for(framework)`) instead of branching on
the framework; the README lists what a third kind touches.
"""

from __future__ import annotations

from tandem.kinds import BackendKind, KindId, gpu_count
from tandem.kinds.tfserving import TFSERVING
from tandem.kinds.torchserve import TORCHSERVE

__all__ = ["KINDS", "TFSERVING", "TORCHSERVE", "BackendKind", "KindId", "gpu_count", "kind_for"]

KINDS: tuple[BackendKind, ...] = (TFSERVING, TORCHSERVE)
"""Every kind, in the order configs and trees list them."""
_BY_FRAMEWORK: dict[str, BackendKind] = {kind.framework: kind for kind in KINDS}


def kind_for(framework: str) -> BackendKind:
    """The kind serving `framework` models (KeyError for a framework none serves)."""
    try:
        return _BY_FRAMEWORK[framework]
    except KeyError:
        raise KeyError(f"no backend kind serves {framework!r} models") from None
