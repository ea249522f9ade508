"""The benchmark's verdict lines: a target is judged only on a measurement that means it."""

from __future__ import annotations

from bench.gateway import check_targets

BASE = {
    "cpu_ms_per_request": 0.25,
    "cpu_ms_per_request_sat": 0.28,
    "light_load_rps": 100.0,
    "light_load_sustained": 1.0,
    "added_p50_ms_light": 0.3,
    "throughput_ratio": 0.85,
}


def test_all_targets_met() -> None:
    lines = check_targets({"tfserving": BASE}, speedup=100)
    assert all(line.startswith("PASS") for line in lines), lines
    assert "at 100 req/s" in lines[1]


def test_worst_cpu_figure_counts_and_unsustained_rate_fails() -> None:
    r = {**BASE, "cpu_ms_per_request_sat": 0.31, "light_load_sustained": 0.0}
    lines = check_targets({"torchserve": r}, speedup=3)
    assert [line.split()[0] for line in lines] == ["FAIL", "FAIL", "PASS", "FAIL"]
    assert "NOT sustained" in lines[1]


def test_throughput_ratio_below_target_fails() -> None:
    lines = check_targets({"tfserving": {**BASE, "throughput_ratio": 0.79}}, speedup=100)
    assert lines[2].startswith("FAIL")


def test_negative_added_latency_is_inconclusive_not_a_pass() -> None:
    lines = check_targets({"tfserving": {**BASE, "added_p50_ms_light": -0.2}}, speedup=100)
    assert lines[1].startswith("INCONCLUSIVE")
    assert "backend overloaded" in lines[1]
