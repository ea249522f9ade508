"""The benchmark's verdicts: a target is judged only on a figure that means it."""

from __future__ import annotations

import math

import pytest

from bench.verdict import Conditions, Figure, Target, judge, summary

CPU = Target("gateway CPU per request", 0.2, higher_is_better=False, unit=" ms")
RATIO = Target("throughput vs direct", 0.8, higher_is_better=True, unit="x")
QUIET = Conditions(stable=True, generator_limited=False, load_average=0.5, cores=2)


def _figure(*rounds: float, conditions: tuple[Conditions, ...] = (QUIET,) * 3) -> Figure:
    return Figure(rounds=rounds, conditions=conditions)


@pytest.mark.parametrize(
    ("target", "rounds", "status"),
    [
        (CPU, (0.15, 0.25, 0.18), "PASS"),  # the median (0.18) counts, not the worst round
        (CPU, (0.21, 0.19, 0.25), "FAIL"),
        (CPU, (0.2, 0.2, 0.2), "PASS"),  # the limit itself meets the target
        (RATIO, (0.85, 0.7, 0.9), "PASS"),
        (RATIO, (0.79, 0.5, 0.95), "FAIL"),
    ],
)
def test_median_of_rounds_against_the_target(target, rounds, status):
    verdict = judge("tfserving", target, _figure(*rounds))
    assert verdict.status == status
    assert verdict.line().startswith(status)


@pytest.mark.parametrize(
    ("condition", "reason"),
    [
        (Conditions(stable=False, load_average=0.5, cores=2), "unstable"),
        (Conditions(generator_limited=True, load_average=0.5, cores=2), "generator-limited"),
        (
            Conditions(others_cores=0.6, cores=2),
            "busy machine (other processes used up to 0.60 of 2",
        ),
    ],
)
def test_one_bad_point_makes_it_inconclusive_whatever_the_value(condition, reason):
    for rounds in ((0.1, 0.1, 0.1), (9.0, 9.0, 9.0)):  # would PASS, would FAIL
        figure = _figure(*rounds, conditions=(QUIET, condition, QUIET))
        verdict = judge("torchserve", CPU, figure)
        assert verdict.status == "INCONCLUSIVE"
        assert any(reason in r for r in verdict.reasons), verdict.reasons
        assert reason in verdict.line()


def test_every_reason_is_given():
    bad = Conditions(stable=False, generator_limited=True, others_cores=1.0, cores=2)
    figure = Figure(rounds=(0.1,), conditions=(bad,), notes=("rate not sustained",))
    reasons = judge("x", CPU, figure).reasons
    assert len(reasons) == 4
    assert reasons[0] == "rate not sustained"


def test_no_measurement_is_inconclusive():
    assert judge("x", CPU, Figure(rounds=())).status == "INCONCLUSIVE"
    nan = judge("x", CPU, Figure(rounds=(math.nan, math.nan), conditions=(QUIET,)))
    assert nan.status == "INCONCLUSIVE"
    assert "no measurement" in nan.reasons


def test_nan_rounds_are_left_out_of_the_median():
    assert _figure(0.1, math.nan, 0.3).value == pytest.approx(0.2)


def test_summary():
    passed = judge("a", CPU, _figure(0.1, 0.1, 0.1))
    failed = judge("a", CPU, _figure(1.0, 1.0, 1.0))
    unknown = judge("a", CPU, Figure(rounds=()))
    assert summary([passed, passed]) == "PASS"
    assert summary([passed, unknown]) == "INCONCLUSIVE"
    assert summary([passed, unknown, failed]) == "FAIL"


def test_a_load_average_of_its_own_making_does_not_void_a_point():
    """On 2 cores the load average after a point is mostly the bench's own previous point:
    only what other processes used during the point makes it busy."""
    own_load = Conditions(load_average=5.7, others_cores=0.05, cores=2)
    assert judge("x", CPU, _figure(0.1, 0.1, 0.1, conditions=(own_load,) * 3)).status == "PASS"
    assert Conditions(others_cores=0.3, cores=2).busy
    assert not Conditions(others_cores=1.5, cores=16).busy  # a tenth of 16 cores is 1.6
