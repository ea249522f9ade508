"""Keep the backends of a running stack up: restart one that dies, with backoff, a bounded
number of times, and leave everything else alone.

`Stack.serve_forever` calls `Supervisor.tick()` a few times a second. Per backend:

    up ──exits──► backoff ──delay over──► starting ──ready──► up
                     ▲                       │
                     └──exits / not ready ───┘        (more than `max_restarts` in a row:
                                                        gave_up; its models answer 503)

Nothing here blocks for long: a restarting TorchServe takes tens of seconds to load its
models, and meanwhile the gateway's death or Ctrl-C must still be seen at once. What is left
of a dead backend's session (TorchServe's Python workers outlive a killed JVM) is killed
before the restart, so the new one finds its ports and sockets free.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from tandem.errors import StackError
from tandem.stack.process import stop_session, tail
from tandem.stack.service import Service

Progress = Callable[[str], None]
State = Literal["up", "backoff", "starting", "gave_up"]


@dataclass(frozen=True)
class RestartPolicy:
    """How often and how fast a dead backend is restarted."""

    max_restarts: int = 5
    """Restarts in a row that did not stay up before the supervisor gives up on a backend."""
    first_delay_s: float = 1.0
    """Wait before the first restart; doubled for each further one."""
    max_delay_s: float = 30.0
    """Longest wait between restarts."""
    stable_s: float = 60.0
    """A backend ready for this long counts as healthy again: its restart count starts over."""
    ready_timeout_s: float = 240.0
    """A restarted backend not ready within this is stopped and counts as a failed restart."""
    poll_s: float = 0.5
    """How often a starting backend is asked whether it is ready."""

    def delay(self, restart: int) -> float:
        """Seconds to wait before restart number `restart` (1-based)."""
        return float(min(self.first_delay_s * 2 ** (restart - 1), self.max_delay_s))


def describe_exit(code: int | None) -> str:
    """`exit status 3`, `killed by SIGKILL`, ... for a Popen return code."""
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


@dataclass
class _Watch:
    service: Service
    state: State
    since: float
    restarts: int = 0
    due: float = 0.0


class Supervisor:
    """Restarts the `services` it watches; reports every step through `say`.

    `on_restart` runs after each new process is spawned (the stack records the new pid so
    that `tandem down` from another shell finds it).
    """

    def __init__(
        self,
        services: Sequence[Service],
        say: Progress,
        policy: RestartPolicy | None = None,
        *,
        on_restart: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy or RestartPolicy()
        self._say = say
        self._on_restart = on_restart
        self._clock = clock
        now = clock()
        self._watches = [_Watch(s, "up", now) for s in services]

    def state(self, service: Service) -> State:
        return next(w.state for w in self._watches if w.service is service)

    def restarts(self, service: Service) -> int:
        return next(w.restarts for w in self._watches if w.service is service)

    def tick(self) -> None:
        """Look at every watched service once and take the step its state calls for."""
        for watch in self._watches:
            now = self._clock()
            if watch.state == "up":
                self._check_up(watch, now)
            elif watch.state == "backoff" and now >= watch.due:
                self._restart(watch, now)
            elif watch.state == "starting" and now >= watch.due:
                self._check_starting(watch, now)

    # ------------------------------------------------------------------ steps

    def _check_up(self, watch: _Watch, now: float) -> None:
        proc = watch.service.proc
        if proc is not None and proc.poll() is not None:
            status = describe_exit(proc.returncode) + watch.service.exit_note()
            self._failed(watch, now, f"exited ({status}) after {now - watch.since:.0f}s")
        elif watch.restarts and now - watch.since >= self.policy.stable_s:
            watch.restarts = 0

    def _restart(self, watch: _Watch, now: float) -> None:
        service = watch.service
        try:
            service.start()
        except StackError as exc:
            self._failed(watch, now, f"could not be restarted: {exc}", show_log=False)
            return
        self._on_restart()
        self._say(f"{service.name}: restarted (pid {service.pid}); waiting until it is ready")
        self._enter(watch, "starting", now)
        watch.due = now + self.policy.poll_s

    def _check_starting(self, watch: _Watch, now: float) -> None:
        service = watch.service
        proc = service.proc
        if proc is not None and proc.poll() is not None:
            status = describe_exit(proc.returncode) + service.exit_note()
            self._failed(watch, now, f"exited while starting ({status})")
            return
        try:
            ready = service.is_ready()
        except Exception:  # any failure just means "not yet"
            ready = False
        if ready:
            self._say(f"{service.name}: ready again, {now - watch.since:.1f}s after the restart")
            self._enter(watch, "up", self._clock())
            return
        if now - watch.since >= self.policy.ready_timeout_s:
            service.stop()
            self._failed(
                watch, now, f"not ready {self.policy.ready_timeout_s:.0f}s after the restart"
            )
            return
        watch.due = now + self.policy.poll_s

    def _failed(self, watch: _Watch, now: float, what: str, *, show_log: bool = True) -> None:
        service = watch.service
        if service.proc is not None:
            stop_session(service.proc.pid)  # what the dead process left behind in its session
        log = f"; last log lines ({service.log}):\n{tail(service.log)}" if show_log else ""
        watch.restarts += 1
        if watch.restarts > self.policy.max_restarts:
            self._say(
                f"{service.name}: {what}{log}\n{service.name}: giving up after "
                f"{self.policy.max_restarts} restarts; its models answer 503 until the stack "
                "is restarted (`tandem down`, then `tandem up`)"
            )
            self._enter(watch, "gave_up", now)
            return
        delay = self.policy.delay(watch.restarts)
        self._say(
            f"{service.name}: {what}{log}\n{service.name}: restart "
            f"{watch.restarts}/{self.policy.max_restarts} in {delay:g}s"
        )
        self._enter(watch, "backoff", now)
        watch.due = now + delay

    @staticmethod
    def _enter(watch: _Watch, state: State, now: float) -> None:
        watch.state = state
        watch.since = now
