"""What the machine's other processes used during a point (tandem.loadtest.cpu)."""

from __future__ import annotations

import time

import pytest

from tandem.loadtest.cpu import MachineSample, ProcessMeter, machine_sample, others_cores


def test_others_are_the_machine_less_ours_and_our_waited_children():
    before = MachineSample(at=100.0, busy_s=50.0, children_s=1.0)
    after = MachineSample(at=102.0, busy_s=53.0, children_s=1.5)
    # 3 s busy in 2 s of wall time; 2 s were the measured processes', 0.5 s their children's.
    assert others_cores(before, after, ours_s=2.0) == pytest.approx(0.25)
    assert others_cores(before, after, ours_s=3.0) == 0.0  # tick rounding never goes below 0
    assert others_cores(before, before, ours_s=0.0) == 0.0  # no time passed


def test_the_machine_counts_at_least_what_a_measured_process_spent():
    import os

    meter = ProcessMeter({"self": os.getpid()})
    before, mine = machine_sample(), meter.snapshot()
    end = time.process_time() + 0.3
    while time.process_time() < end:  # CPU, not wall time: holds on a busy machine
        pass
    after, spent = machine_sample(), meter.since(mine)["self"]
    assert spent >= 0.25
    # Both count in clock ticks (10 ms): allow two of them.
    assert after.busy_s - before.busy_s >= spent - 0.02
    assert others_cores(before, after, spent) >= 0.0
