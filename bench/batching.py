"""A second stack of the same MLPs with batching off, for ``make bench``'s on/off comparison.

:func:`nobatch_stack` starts TF server + TorchServe (no gateway) on free loopback ports from
the artifacts ``make up`` already exported (linked, not exported again), with every model's
batching off, and yields its build directory; :func:`derived_manifest` is the manifest it
runs (also used by ``make benchmarks``).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from tandem.export import write_build_configs
from tandem.manifest import load_manifest
from tandem.stack import Stack
from tandem.stack.process import free_port


def derived_manifest(
    src: Path,
    dest: Path,
    keep: list[str] | None,
    batching: bool,
    free_ports: bool = False,
) -> Path:
    """``src`` with only the ``keep`` models (all: ``None``), the twins whose variants are
    all kept, batching as asked and, with ``free_ports``, every server on a free loopback
    port. Batching off: every model's ``batching.enabled`` false, with the admission bounds
    it has with batching on written out (they are derived from the batch size, and
    TorchServe's job queue from them: with batching off alone a direct caller at c=32 would
    meet 503s, and the comparison would not be of batching alone)."""
    bounds = {m.name: m.admission_bounds for m in load_manifest(src).models}
    data: dict[str, Any] = yaml.safe_load(src.read_text())
    models = [m for m in data["models"] if keep is None or m["name"] in keep]
    for m in models:
        if not batching:
            m["batching"] = {**m.get("batching", {}), "enabled": False}
            in_flight, queue = bounds[m["name"]]
            m["admission"] = {"max_in_flight": in_flight, "max_queue": queue}
    data["models"] = models
    names = {m["name"] for m in models}
    data["twins"] = [
        t for t in data.get("twins", []) if all(v["model"] in names for v in t["variants"])
    ]
    if free_ports:
        data["servers"] = {
            "tfserving": {"host": "127.0.0.1", "grpc_port": free_port(), "rest_port": free_port()},
            "torchserve": {
                "host": "127.0.0.1",
                **{
                    f"{k}_port": free_port()
                    for k in (
                        "inference",
                        "management",
                        "metrics",
                        "grpc_inference",
                        "grpc_management",
                    )
                },
            },
            "gateway": {"host": "127.0.0.1", "port": free_port()},
        }
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(yaml.safe_dump(data, sort_keys=False))
    return dest


def _link_artifacts(build: Path, out: Path, models: list[str]) -> None:
    """The exported artifacts of ``models`` from ``build``, linked into ``out``."""
    store = out / "torchserve" / "model-store"
    store.mkdir(parents=True, exist_ok=True)
    (out / "tensorflow").mkdir(parents=True, exist_ok=True)
    (out / "exports").mkdir(parents=True, exist_ok=True)
    for name in models:
        for sub in ("tensorflow", "exports"):
            src = build / sub / name
            if src.exists():
                (out / sub / name).symlink_to(src.resolve())
        for mar in (build / "torchserve" / "model-store").glob(f"{name}*.mar"):
            (store / mar.name).symlink_to(mar.resolve())


@contextmanager
def nobatch_stack(manifest: Path, build: Path, models: list[str]) -> Iterator[Path]:
    """Both backends serving ``models`` with batching off (see the module docstring); the
    build directory (``config/routes.json`` names its ports) while it runs."""
    out = Path(tempfile.mkdtemp(prefix="tandem-nobatch-"))
    try:
        _link_artifacts(build, out, models)
        path = derived_manifest(manifest, out / "models.yaml", models, False, free_ports=True)
        m, _ = write_build_configs(load_manifest(path), out)
        stack = Stack(m, out, gateway=False, ready_timeout=240)
        stack.up()
        try:
            yield out
        finally:
            stack.down()
    finally:
        shutil.rmtree(out, ignore_errors=True)
