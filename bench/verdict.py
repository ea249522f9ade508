"""PASS / FAIL / INCONCLUSIVE from measured figures: pure functions, unit-tested.

A target is judged only on figures that mean what they claim. A figure is a median over
interleaved rounds, and carries the conditions it was taken under; the verdict is
INCONCLUSIVE, with every reason, when any of its points was unstable (its windows did not
agree), generator-limited (the load generator, not the server, set the pace), or taken on a
busy machine (processes other than the ones measured used more than a quarter of a core, or
a tenth of the cores, during the point; the load average is printed but decides nothing, as
on 2 cores it mostly counts the bench's own previous point). Only then is it compared with
the target.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

Status = Literal["PASS", "FAIL", "INCONCLUSIVE"]


@dataclass(frozen=True, slots=True)
class Conditions:
    """What was true while one point was measured."""

    stable: bool = True
    generator_limited: bool = False
    load_average: float = 0.0
    """1-minute load average just before the point (printed)."""
    others_cores: float = 0.0
    """Cores' worth of CPU that processes outside the measurement used during the point."""
    cores: int = 1

    @property
    def busy(self) -> bool:
        return self.others_cores > max(0.25, 0.1 * self.cores)


@dataclass(frozen=True, slots=True)
class Figure:
    """One figure: the median of its rounds, and the conditions of every point behind it."""

    rounds: tuple[float, ...]
    conditions: tuple[Conditions, ...] = ()
    notes: tuple[str, ...] = field(default=())
    """Further reasons the figure cannot be judged (e.g. a rate the gateway did not keep up)."""

    @property
    def value(self) -> float:
        finite = [r for r in self.rounds if not math.isnan(r)]
        return statistics.median(finite) if finite else math.nan

    def problems(self) -> list[str]:
        """Why this figure cannot be judged (empty: it can)."""
        out = list(self.notes)
        if not self.rounds or math.isnan(self.value):
            out.append("no measurement")
        unstable = sum(not c.stable for c in self.conditions)
        if unstable:
            out.append(f"{unstable} unstable point(s)")
        limited = sum(c.generator_limited for c in self.conditions)
        if limited:
            out.append(f"{limited} generator-limited point(s)")
        busy = [c for c in self.conditions if c.busy]
        if busy:
            worst = max(c.others_cores for c in busy)
            out.append(
                f"busy machine (other processes used up to {worst:.2f} of {busy[0].cores} cores)"
            )
        return out


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    limit: float
    higher_is_better: bool
    unit: str = ""

    def met(self, value: float) -> bool:
        return value >= self.limit if self.higher_is_better else value <= self.limit


@dataclass(frozen=True, slots=True)
class Verdict:
    status: Status
    subject: str
    target: Target
    figure: Figure
    reasons: tuple[str, ...]

    def line(self) -> str:
        """One line: status, subject, target, the median with its rounds, and why."""
        sign = ">=" if self.target.higher_is_better else "<="
        rounds = ", ".join(f"{r:.3f}" for r in self.figure.rounds)
        text = (
            f"{self.status:<12} {self.subject:<12} {self.target.name} {sign} "
            f"{self.target.limit:g}{self.target.unit}: {self.figure.value:.3f}{self.target.unit}"
            f" (median of [{rounds}])"
        )
        if self.reasons:
            text += " -- " + "; ".join(self.reasons)
        return text


def judge(subject: str, target: Target, figure: Figure) -> Verdict:
    """INCONCLUSIVE when the figure has problems, else PASS or FAIL against ``target``."""
    problems = figure.problems()
    if problems:
        return Verdict("INCONCLUSIVE", subject, target, figure, tuple(problems))
    status: Status = "PASS" if target.met(figure.value) else "FAIL"
    return Verdict(status, subject, target, figure, ())


def judge_all(subject: str, checks: Sequence[tuple[Target, Figure]]) -> list[Verdict]:
    return [judge(subject, target, figure) for target, figure in checks]


def summary(verdicts: Sequence[Verdict]) -> str:
    """``PASS`` only when every target passed; ``FAIL`` when any failed; else INCONCLUSIVE."""
    statuses = {v.status for v in verdicts}
    if "FAIL" in statuses:
        return "FAIL"
    if statuses == {"PASS"}:
        return "PASS"
    return "INCONCLUSIVE"
