"""The compose stack's configs, derived from the manifest like every other config.

`tandem export` writes configs whose paths point into the build directory on this machine
and whose servers listen on 127.0.0.1. In the containers the same build directory is mounted
read-only at /models and the services reach each other by name, so the compose stack gets its
own set, written to `<out>/compose/` and mounted over /models/config:

    compose/config/*      configgen's files, rendered for /models and the compose services
    compose/compose.env   GPU counts from the manifest's `device` (docker compose --env-file)
    compose/api_key       a development API key (0600) for curl; only its hash goes to the
    compose/api_keys      gateway: these hashes, also as compose/config/api_keys, which the
                          gateway reads at /models/config/api_keys
    compose/prometheus/*  the `monitoring` profile's prometheus.yml (tandem.monitoring's
                          generator, service-name targets) and the same alert rules
    compose/prometheus_api_key  Prometheus's own scrape key (0600, owned by the user the
                          Prometheus container runs as), the compose secret
                          `prometheus_api_key`; its hash is the second line of `api_keys`

The same files go straight into the compose stack's `models` volume when its one-shot
`export` service runs (deploy/prepare.py, `write_volume`): configs in `/models/config/`, the
Prometheus files in `/models/prometheus/`, the keys in the `keys` volume.

    python -m deploy.compose [--manifest models.yaml] [--out build]
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import secrets
from pathlib import Path

from tandem import configgen
from tandem.export import resolve_manifest
from tandem.layout import TORCHSERVE_KEY_FILE
from tandem.manifest import (
    GatewayServer,
    Manifest,
    TFServingServer,
    TorchServeServer,
    load_manifest,
)
from tandem.monitoring.prometheus import RULES_FILE, alert_rules, scrape_config

MODEL_ROOT = Path("/models")
"""Where the containers mount the exported build directory (read-only)."""
KEY_DIR = Path("/run/tandem/torchserve")
"""TorchServe's working directory in its container: it writes the key file there, on a
volume the gateway mounts read-only."""
TF_HOST, TS_HOST, GATEWAY_HOST = "tf-serving", "torchserve", "gateway"
"""Compose service names, which are the services' host names on the compose network."""
API_KEYS_FILE = "api_keys"
"""The gateway's key hashes, in its config directory (TANDEM_GATEWAY_API_KEYS_FILE)."""
PROMETHEUS_KEY_SECRET = Path("/run/secrets/prometheus_api_key")
"""Where the Prometheus container finds its scrape key (the compose secret)."""
PROMETHEUS_IMAGE_USER = (65534, 65534)
"""`nobody` of the prom/prometheus image: the Prometheus container's user when the configs
are written by root (the key file is handed to that user); otherwise the container runs as
the user who wrote them, so the key file stays theirs and 0600 either way."""

# Writable places in the TorchServe container (its root filesystem is read-only).
_TS_PATHS = {
    str(MODEL_ROOT / "torchserve" / "tmp"): "/tmp",
    str(MODEL_ROOT / "torchserve" / "logs"): "/var/log/torchserve",
}


def _with_hosts(manifest: Manifest, tf: str, ts: str, gateway: str | None = None) -> Manifest:
    """The manifest with the backends' hosts replaced and their container ports (defaults);
    the gateway's too when ``gateway`` is given."""
    servers = manifest.data.servers
    update: dict[str, object] = {
        "tfserving": TFServingServer(host=tf),
        "torchserve": TorchServeServer(
            host=ts, token_expiration_min=servers.torchserve.token_expiration_min
        ),
    }
    if gateway is not None:
        update["gateway"] = GatewayServer(host=gateway)
    data = manifest.data.model_copy(update={"servers": servers.model_copy(update=update)})
    return dataclasses.replace(manifest, data=data)


def _replace(text: str, old: str, new: str) -> str:
    if old not in text:  # configgen changed shape: fail here, not in a container at runtime
        raise ValueError(f"expected {old!r} in the generated config")
    return text.replace(old, new)


def torchserve_properties(manifest: Manifest) -> str:
    """config.properties for the container: every listener on all interfaces (the management
    API is reachable only on the compose network and through a port published on the host's
    127.0.0.1, and needs a token), temp and log paths on the container's writable mounts."""
    text = configgen.torchserve_properties(_with_hosts(manifest, TF_HOST, "0.0.0.0"), MODEL_ROOT)
    text = _replace(
        text, "management_address=http://127.0.0.1:", "management_address=http://0.0.0.0:"
    )
    tmp = str(MODEL_ROOT / "torchserve" / "tmp")
    return _replace(text, tmp, _TS_PATHS[tmp])


def torchserve_log4j() -> str:
    return _replace(
        configgen.torchserve_log4j(MODEL_ROOT),
        str(MODEL_ROOT / "torchserve" / "logs"),
        _TS_PATHS[str(MODEL_ROOT / "torchserve" / "logs")],
    )


def routes(manifest: Manifest) -> str:
    """The gateway's route table: backends by service name, the key file on the shared volume."""
    doc = json.loads(configgen.routes(_with_hosts(manifest, TF_HOST, TS_HOST), MODEL_ROOT))
    doc["backends"]["torchserve"]["token_file"] = str(KEY_DIR / TORCHSERVE_KEY_FILE)
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def prometheus_config(manifest: Manifest) -> str:
    """The `monitoring` profile's prometheus.yml: the local stack's generator, with every
    target a compose service on its container port and the scrape key from the secret."""
    return scrape_config(
        _with_hosts(manifest, TF_HOST, TS_HOST, GATEWAY_HOST),
        MODEL_ROOT,
        credentials_file=PROMETHEUS_KEY_SECRET,
        stack="compose",
    )


def prometheus_user() -> tuple[int, int]:
    """uid and gid of the Prometheus container: never root (see PROMETHEUS_IMAGE_USER)."""
    if os.geteuid() == 0:
        return PROMETHEUS_IMAGE_USER
    return os.geteuid(), os.getegid()


def gpu_counts(manifest: Manifest) -> dict[str, int]:
    """GPUs each backend reserves: the largest `device.count` among its models."""

    def most(framework: str) -> int:
        return max((m.device.count for m in manifest.models if m.framework == framework), default=0)

    return {"TANDEM_TF_GPUS": most("tensorflow"), "TANDEM_TS_GPUS": most("pytorch")}


def render(manifest: Manifest) -> dict[str, str]:
    """File name (relative to `<out>/compose/`) → contents."""
    files = {
        f"config/{name}": text
        for name, text in configgen.render_all(manifest, MODEL_ROOT).items()
        if name in ("models.config", "batching_parameters.txt", "monitoring.config")
    }
    files["config/config.properties"] = torchserve_properties(manifest)
    files["config/log4j2.xml"] = torchserve_log4j()
    files["config/routes.json"] = routes(manifest)
    files["prometheus/prometheus.yml"] = prometheus_config(manifest)
    files[f"prometheus/{RULES_FILE}"] = alert_rules(manifest)
    uid, gid = prometheus_user()
    env = {**gpu_counts(manifest), "TANDEM_PROMETHEUS_USER": f"{uid}:{gid}"}
    files["compose.env"] = "".join(f"{k}={v}\n" for k, v in env.items())
    return files


def _new_key(path: Path) -> None:
    """A fresh API key in ``path`` (0600), unless the file exists."""
    if path.exists():
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"tdm_{secrets.token_urlsafe(24)}\n")


def _sha256(path: Path) -> str:
    return f"sha256:{hashlib.sha256(path.read_text().strip().encode()).hexdigest()}\n"


def _write_atomic(path: Path, text: str, mode: int = 0o644) -> Path:
    """Replace ``path`` in one rename (the running gateway polls routes.json)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.chmod(mode)
    os.replace(tmp, path)
    return path


def _rendered(manifest: Manifest, out: Path, *, routes: bool) -> dict[str, str]:
    files = render(resolve_manifest(manifest, out))
    if not routes:
        del files["config/routes.json"]
    return files


def write(manifest: Manifest, out: Path, *, routes: bool = True) -> list[Path]:
    """Write the compose configs under `<out>/compose/`; create the API key files once.
    Inputs and outputs of file sources come from `out`'s export records, as for `tandem`'s
    own configs. Each file is replaced atomically (the running gateway polls routes.json);
    ``routes=False`` leaves routes.json to the rollout, which writes it once versions are live."""
    root = out / "compose"
    # compose/config and compose/prometheus are mounted over /models/config and
    # /models/prometheus inside the read-only /models (= out): the mount points must exist.
    for mount_point in ("config", "prometheus"):
        (out / mount_point).mkdir(parents=True, exist_ok=True)
    written = [
        _write_atomic(root / name, text)
        for name, text in _rendered(manifest, out, routes=routes).items()
    ]
    key_file, scrape_key, hashes = root / "api_key", root / "prometheus_api_key", root / "api_keys"
    _new_key(key_file)
    _new_key(scrape_key)
    # A compose file secret is a bind mount with the host file's owner and mode: the key
    # must belong to the container's (non-root) user to be read there and stay 0600.
    if os.geteuid() == 0:
        os.chown(scrape_key, *PROMETHEUS_IMAGE_USER)
    # Hashes only, readable by the gateway's non-root user: the compose secret `api_keys`
    # and /models/config/api_keys (where the gateway reads them in either kind of stack).
    text = _sha256(key_file) + _sha256(scrape_key)
    extra = [_write_atomic(hashes, text), _write_atomic(root / "config" / API_KEYS_FILE, text)]
    return [*written, key_file, scrape_key, *extra]


def write_volume(manifest: Manifest, out: Path, keys: Path, *, routes: bool = True) -> list[Path]:
    """The `export` service's half of `write`: the same configs straight into the model
    repository `out` (the `models` volume: `<out>/config/`, `<out>/prometheus/`), the API keys
    (0600, kept across runs) in ``keys`` (the `keys` volume, mounted only where a key is
    presented) and their hashes in `<out>/config/api_keys` for the gateway. compose.env is not
    written: this stack runs on the compose file's defaults."""
    written = [
        _write_atomic(out / name, text)
        for name, text in _rendered(manifest, out, routes=routes).items()
        if name != "compose.env"
    ]
    keys.mkdir(parents=True, exist_ok=True)
    key_file, scrape_key = keys / "api_key", keys / "prometheus_api_key"
    _new_key(key_file)
    _new_key(scrape_key)
    hashes = _write_atomic(out / "config" / API_KEYS_FILE, _sha256(key_file) + _sha256(scrape_key))
    return [*written, key_file, scrape_key, hashes]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, default=Path("models.yaml"))
    parser.add_argument("--out", type=Path, default=Path("build"))
    args = parser.parse_args(argv)
    for path in write(load_manifest(args.manifest), args.out):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
