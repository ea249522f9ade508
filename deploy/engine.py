"""The Docker engine and the base image that `make smoke` needs, made available here.

- `Engine.ensure` uses the engine that answers, or starts Debian's `dockerd` itself without
  iptables rules (no NAT: no container traffic leaves this machine) and stops only that one.
- `base_image` returns the pinned Debian base when it is present or can be pulled, else
  imports one made with `debootstrap` (no registry reachable), and says so.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors

DEFAULT_BASE = "debian:12.11-slim"
LOCAL_BASE = "tandem/debian:12-local"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
# What a slim image leaves out: package caches, indexes, docs, locales.
_SLIM = (
    "var/cache/apt/archives",
    "var/lib/apt/lists",
    "usr/share/doc",
    "usr/share/man",
    "usr/share/locale",
    "usr/share/info",
)


def _ping(timeout: int = 5) -> docker.DockerClient | None:
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except docker.errors.DockerException:
        return None
    return client


@dataclass
class Engine:
    """A Docker engine; `proc` is set when this process started it (and so must stop it)."""

    client: docker.DockerClient
    proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def ensure(cls, log: Path, timeout: float = 60) -> Engine:
        """The engine that answers, else a `dockerd` started here (needs root)."""
        client = _ping()
        if client is not None:
            return cls(docker.from_env(timeout=300))
        dockerd = shutil.which("dockerd")
        if dockerd is None:
            raise RuntimeError(
                "no Docker engine answers and dockerd is not installed "
                "(apt-get install -y docker.io)"
            )
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as sink:
            proc = subprocess.Popen(
                [dockerd, "--iptables=false", "--ip6tables=false"],
                stdout=sink,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"dockerd exited with {proc.returncode}; see {log}")
            if _ping(timeout=2) is not None:
                return cls(docker.from_env(timeout=300), proc)
            time.sleep(0.5)
        proc.terminate()
        proc.wait(timeout=30)
        raise RuntimeError(f"dockerd did not answer within {timeout:.0f}s; see {log}")

    def stop(self) -> None:
        """Stop the engine if this process started it; leave anyone else's alone."""
        self.client.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def base_image(
    client: docker.DockerClient, say: Callable[[str], None], wanted: str = DEFAULT_BASE
) -> str:
    """The base image tag to build on: `wanted` if present or pullable, else a local import."""
    for tag in (wanted, LOCAL_BASE):
        try:
            client.images.get(tag)
            return tag
        except docker.errors.ImageNotFound:
            pass
    try:
        client.images.pull(wanted)
        return wanted
    except docker.errors.APIError as exc:
        say(f"!!! cannot pull {wanted} ({str(exc)[:120]}): building {LOCAL_BASE} with debootstrap")
    debootstrap = shutil.which("debootstrap")
    if debootstrap is None:
        raise RuntimeError("no base image and no debootstrap (apt-get install -y debootstrap)")
    with tempfile.TemporaryDirectory(prefix="tandem-base-") as tmp:
        root, archive = Path(tmp) / "rootfs", Path(tmp) / "rootfs.tar"
        subprocess.run(
            [debootstrap, "--variant=minbase", "bookworm", str(root), DEBIAN_MIRROR],
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=900,
        )
        for sub in _SLIM:
            shutil.rmtree(root / sub, ignore_errors=True)
            (root / sub).mkdir(parents=True, exist_ok=True)
        (root / "var/cache/apt/archives/partial").mkdir(parents=True, exist_ok=True)
        # debootstrap lists only the release; security fixes come from the other two.
        (root / "etc/apt/sources.list").write_text(
            f"deb {DEBIAN_MIRROR} bookworm main\n"
            f"deb {DEBIAN_MIRROR} bookworm-updates main\n"
            "deb http://deb.debian.org/debian-security bookworm-security main\n"
        )
        subprocess.run(["tar", "-C", str(root), "-cf", str(archive), "."], check=True, timeout=300)
        repo, tag = LOCAL_BASE.split(":")
        client.api.import_image_from_file(str(archive), repository=repo, tag=tag)
    return LOCAL_BASE
