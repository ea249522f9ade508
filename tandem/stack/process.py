"""Child processes of the local stack: start in their own session, log to files, stop fully.

Each backend starts in a new session with stdin closed and stdout/stderr in a log file (the
TorchServe launcher would otherwise hold the caller's stdout open). Stopping terminates the
whole process tree, found through psutil before anything is signalled, so Java's Python
workers cannot outlive it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import psutil

from tandem.errors import StackError


def spawn(
    cmd: Sequence[str], *, cwd: Path, log: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            list(cmd),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def alive(pid: int) -> bool:
    try:
        proc = psutil.Process(pid)
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def stop_tree(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM the process, its session and every descendant; SIGKILL what is left."""
    try:
        root = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    procs = [root, *_descendants(root)]
    try:
        sid = os.getsid(pid)
    except OSError:
        sid = None
    if sid == pid:
        procs += [p for p in psutil.process_iter() if _in_session(p, sid) and p not in procs]
    for p in procs:
        _signal(p, signal.SIGTERM)
    _, survivors = psutil.wait_procs(procs, timeout=timeout)
    for p in survivors:
        _signal(p, signal.SIGKILL)
    psutil.wait_procs(survivors, timeout=5)


def stop_session(sid: int, timeout: float = 5.0) -> None:
    """Stop what is left of the session that process `sid` led, once that process is dead.

    A backend spawned by `spawn` leads its own session; when its leader dies (TorchServe's
    launcher after a `kill -9` of its JVM), the rest of the session, such as orphaned
    TorchServe workers, would otherwise keep running and hold the backend's sockets.
    """
    procs = [p for p in psutil.process_iter() if p.pid != os.getpid() and _in_session(p, sid)]
    for p in procs:
        _signal(p, signal.SIGTERM)
    _, survivors = psutil.wait_procs(procs, timeout=timeout)
    for p in survivors:
        _signal(p, signal.SIGKILL)
    psutil.wait_procs(survivors, timeout=5)


def _descendants(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return list(proc.children(recursive=True))
    except psutil.NoSuchProcess:
        return []


def _in_session(proc: psutil.Process, sid: int) -> bool:
    try:
        return os.getsid(proc.pid) == sid
    except OSError:
        return False


def _signal(proc: psutil.Process, sig: int) -> None:
    with contextlib.suppress(psutil.NoSuchProcess):
        proc.send_signal(sig)


def tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text[-lines:])


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_for(
    check: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    proc: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
    interval: float = 0.5,
) -> None:
    """Poll `check` until it is true; fail early if `proc` dies, and show the log tail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise StackError(
                f"{what}: the process exited with code {proc.returncode}"
                + (f"; last log lines ({log}):\n{tail(log)}" if log else "")
            )
        try:
            if check():
                return
        except Exception:  # any failure just means "not yet"
            pass
        time.sleep(interval)
    raise StackError(
        f"{what}: not ready after {timeout:.0f}s"
        + (f"; last log lines ({log}):\n{tail(log)}" if log else "")
    )
