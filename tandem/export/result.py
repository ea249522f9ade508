"""What an export returns: artifact paths and a parity report, for the CLI and for tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tandem.manifest import ModelSpec


@dataclass(frozen=True)
class ParityCheck:
    """Max |artifact - source| per output for one reloaded form of the model."""

    stage: str
    max_abs_diff: dict[str, float]
    tolerance: float

    @property
    def worst(self) -> float:
        return max(self.max_abs_diff.values(), default=0.0)

    @property
    def ok(self) -> bool:
        return self.worst <= self.tolerance


@dataclass(frozen=True)
class ExportResult:
    model: str
    framework: str
    version: int
    artifact: Path
    """The version directory (TensorFlow) or the .mar file (PyTorch), at its final place."""
    parity: list[ParityCheck] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    skipped: bool = False
    """True when an up-to-date artifact was already there and nothing was written."""
    spec: ModelSpec | None = None
    """The spec it was exported from, inputs and outputs resolved from a file source."""

    @property
    def parity_ok(self) -> bool:
        return all(p.ok for p in self.parity)
