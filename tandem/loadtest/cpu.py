"""CPU seconds spent by the server processes under test, read from /proc (through psutil):
CPU per request stays meaningful on a busy machine, where wall-clock throughput does not.
Who calls it: ``tandem loadtest`` (each point's server CPU) and ``bench/gateway.py``.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import dataclass
from urllib.parse import urlparse

import psutil


class ProcessMeter:
    """CPU seconds (user + system) of named processes, each with its whole process tree
    (TorchServe's workers are children of its frontend)."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids

    def snapshot(self) -> dict[str, float]:
        """Label → CPU seconds so far (NaN for a process that is gone)."""
        out = {}
        for label, pid in self.pids.items():
            try:
                root = psutil.Process(pid)
                tree = [root, *root.children(recursive=True)]
            except psutil.Error:
                out[label] = math.nan
                continue
            total = 0.0
            for proc in tree:
                with contextlib.suppress(psutil.Error):
                    times = proc.cpu_times()
                    total += times.user + times.system
            out[label] = total
        return out

    def since(self, before: dict[str, float]) -> dict[str, float]:
        """CPU seconds each process spent since ``before`` (a :meth:`snapshot`)."""
        now = self.snapshot()
        return {label: now[label] - before[label] for label in now if label in before}


@dataclass(frozen=True, slots=True)
class MachineSample:
    """The whole machine's CPU use so far, to tell what the processes under test used from
    what everything else did (a load average cannot: it counts the test's own processes)."""

    at: float
    """``time.monotonic()``."""
    busy_s: float
    """CPU seconds of every core not idle: user (guest included), nice, system, interrupts,
    steal (a VM's neighbours). Measured with nothing else running (hey at c=32 against the TF
    server, 4 s): machine less the processes came to -0.025 to -0.04 cores, clock-tick
    accounting, small beside the bench's 0.25-core limit."""
    children_s: float
    """CPU seconds of this process' children that have been waited for (spawned generators)."""


def machine_sample() -> MachineSample:
    t = psutil.cpu_times()
    busy = sum(t) - t.idle - sum(getattr(t, f, 0.0) for f in ("iowait", "guest", "guest_nice"))
    own = os.times()
    return MachineSample(time.monotonic(), busy, own.children_user + own.children_system)


def others_cores(before: MachineSample, after: MachineSample, ours_s: float) -> float:
    """Cores' worth of CPU that processes outside the test used between two samples;
    ``ours_s``: the CPU seconds the measured processes spent in that time."""
    wall = after.at - before.at
    if wall <= 0:
        return 0.0
    children = after.children_s - before.children_s
    return max(0.0, (after.busy_s - before.busy_s - ours_s - children) / wall)


def listening_pid(url: str | None) -> int | None:
    """The process of this machine listening on ``url``'s port (``http://host:port`` or
    ``host:port``); None when there is none or it cannot be seen (another user's)."""
    if not url:
        return None
    port = urlparse(url if "//" in url else f"//{url}").port
    with contextlib.suppress(psutil.Error):
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                return conn.pid
    return None


def server_meter(urls: dict[str, str | None]) -> ProcessMeter:
    """A meter over the processes listening on ``urls`` (label → URL), those found."""
    pids = {label: listening_pid(url) for label, url in urls.items()}
    return ProcessMeter({label: pid for label, pid in pids.items() if pid is not None})
