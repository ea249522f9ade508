"""`tandem up` → a new version under load → `tandem down`, all through the real CLI.

The load goes through the gateway, as users' does: the rollout rewrites routes.json and the
gateway picks it up without a restart."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import psutil
import pytest

from examples.digits.data import sample_images
from tandem.export import export_models
from tandem.manifest import load_manifest

pytestmark = pytest.mark.integration


class Load:
    """Steady requests from two threads (one per backend, both through the gateway) until
    stopped; bounded to 600 s (a rollout exports and trains, which takes minutes on a loaded
    machine)."""

    def __init__(self, tf_url: str, ts_url: str, headers: dict[str, str]) -> None:
        self.results: Counter[str] = Counter()
        self.versions: list[str] = []
        self.stop = threading.Event()
        body = sample_images(1)
        self.tf = (tf_url, {"instances": body.tolist()}, headers)
        v2 = {
            "inputs": [
                {
                    "name": "pixels",
                    "datatype": "FP32",
                    "shape": [1, 64],
                    "data": body.reshape(-1).tolist(),
                }
            ]
        }
        self.ts = (ts_url, v2, headers)
        self.threads = [
            threading.Thread(target=self._run, args=(t, name))
            for name, t in (("tf", self.tf), ("ts", self.ts))
        ]

    def _run(self, target: tuple[str, dict, dict], name: str) -> None:
        url, body, headers = target
        deadline = time.monotonic() + 600
        with httpx.Client(headers=headers, timeout=30) as client:
            while not self.stop.is_set() and time.monotonic() < deadline:
                try:
                    r = client.post(url, json=body)
                    self.results[f"{name}:{r.status_code}"] += 1
                    if name == "ts" and r.status_code == 200:
                        self.versions.append(r.json()["model_version"])
                except httpx.HTTPError as exc:
                    self.results[f"{name}:{type(exc).__name__}"] += 1

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)


def test_new_version_goes_live_under_load_then_down_leaves_nothing(mini_stack) -> None:  # type: ignore[no-untyped-def]
    mini = mini_stack
    mini.write(1)
    export_models(load_manifest(mini.manifest), out=mini.out)
    mini.start()
    tree = mini.tree()
    assert any("java" in p.name() for p in tree), "TorchServe's JVM not found in the tree"
    gateway_pid = mini.services()["gateway"]

    headers = {"Authorization": f"Bearer {mini.gateway_key()}"}
    tf_url = mini.url("gw", "/v1/models/digits_mlp_tf:predict")
    ts_url = mini.url("gw", "/v2/models/digits_mlp_torch/infer")
    with Load(tf_url, ts_url, headers) as load:
        time.sleep(2)
        mini.write(2)
        done = mini.cli(
            "rollout",
            "digits_mlp_tf",
            "digits_mlp_torch",
            "--manifest",
            str(mini.manifest),
            "--out",
            str(mini.out),
        )
        assert done.returncode == 0, done.stdout + done.stderr
        # A few answers after the rollout returned (bounded: a loaded machine is slow).
        after = len(load.versions)
        deadline = time.monotonic() + 60
        while len(load.versions) < after + 5 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(load.versions) >= after + 5, "TorchServe stopped answering after the rollout"
    print(
        f"rollout through the gateway: {dict(load.results)}; TorchServe versions seen "
        f"{sorted(set(load.versions))}"
    )
    failures = {k: v for k, v in load.results.items() if not k.endswith(":200")}
    assert failures == {}, load.results
    assert load.results["tf:200"] > 10
    assert load.results["ts:200"] > 10
    assert load.versions[0] == "1"
    assert load.versions[-1] == "2", (load.versions[-12:], done.stdout)
    status = httpx.get(mini.url("tf_rest", "/v1/models/digits_mlp_tf"), timeout=10).json()
    states = {s["version"]: s["state"] for s in status["model_version_status"]}
    assert states.get("2") == "AVAILABLE"
    assert states.get("1") in (None, "END")
    assert "digits_mlp_torch: live versions [2], retired [1]" in done.stdout

    # The same gateway process (no restart) lists and serves version 2 of both models.
    assert mini.services()["gateway"] == gateway_pid
    assert psutil.Process(gateway_pid).is_running()
    with httpx.Client(headers=headers, timeout=30) as gw:
        listed = {m["name"]: m for m in gw.get(mini.url("gw", "/v1/models")).json()["models"]}
        for name in ("digits_mlp_tf", "digits_mlp_torch"):
            assert listed[name]["versions"] == [2], listed
            assert listed[name]["default_version"] == 2
        tf2 = gw.post(
            mini.url("gw", "/v1/models/digits_mlp_tf/versions/2:predict"), json=load.tf[1]
        )
        assert tf2.status_code == 200, tf2.text
        ts2 = gw.post(
            mini.url("gw", "/v2/models/digits_mlp_torch/versions/2/infer"), json=load.ts[1]
        )
        assert ts2.status_code == 200, ts2.text
        assert ts2.json()["model_version"] == "2"
        tf_v2 = gw.post(mini.url("gw", "/v2/models/digits_mlp_tf/infer"), json=load.ts[1])
        assert tf_v2.status_code == 200, tf_v2.text
        assert tf_v2.json()["model_version"] == "2"

    down = mini.cli("down", "--out", str(mini.out))
    assert down.returncode == 0, down.stderr
    assert "stopped:" in down.stdout
    assert mini.up is not None
    mini.up.wait(timeout=60)
    assert mini.up.returncode == 0
    left = [p for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert left == [], [p.cmdline() for p in left]
    assert not (mini.out / "run" / "stack.json").exists()


def test_torchserve_not_ready_error_shows_the_worker_log(
    demo_build: Path, tmp_path: Path, free_ports_manifest
) -> None:
    """A model whose worker cannot load: the timeout says so, with the logs' tails."""
    import zipfile

    from tandem.configgen import write_configs
    from tandem.errors import StackError
    from tandem.manifest import Manifest
    from tandem.stack import Stack

    store = tmp_path / "torchserve" / "model-store"
    store.mkdir(parents=True)
    good = demo_build / "torchserve" / "model-store" / "digits_mlp_torch.mar"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(store / "digits_mlp_torch.mar", "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "tandem_spec.json":
                spec = json.loads(data)
                spec["serialized_file"] = "missing.pt"
                data = json.dumps(spec).encode()
            dst.writestr(item, data)
    full = free_ports_manifest(load_manifest(Path(__file__).resolve().parents[2] / "models.yaml"))
    # One model alone: the demo's twins name models this manifest no longer has.
    only = full.data.model_copy(update={"models": [full.model("digits_mlp_torch")], "twins": []})
    manifest = Manifest(path=full.path, data=only, lines=full.lines)
    write_configs(manifest, tmp_path / "config", tmp_path)
    stack = Stack(manifest, tmp_path, gateway=False, ready_timeout=25)
    with pytest.raises(StackError) as info:
        stack.up()
    message = str(info.value)
    assert "torchserve: not ready after 25s" in message
    assert "model_log.log" in message
    assert "missing.pt" in message
    assert not (tmp_path / "run" / "stack.json").exists()
