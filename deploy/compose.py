"""The compose stack's configs, derived from the manifest like every other config.

`tandem export` writes configs for the local placement (paths into the build directory on
this machine, servers on 127.0.0.1). In the containers the same build directory is mounted
read-only at /models and the services reach each other by name: the compose placement
(`tandem.placement.compose`), whose configs are written to `<out>/compose/` and mounted over
/models/config:

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
import hashlib
import os
import secrets
from pathlib import Path

from tandem import configgen, placement
from tandem.backend_kinds import KINDS, TFSERVING, TORCHSERVE
from tandem.export import resolve_manifest
from tandem.manifest import Manifest, load_manifest
from tandem.monitoring.prometheus import RULES_FILE, alert_rules, scrape_config

MODEL_ROOT = placement.CONTAINER_ROOT
"""Where the containers mount the exported build directory (read-only)."""
KEY_DIR = placement.COMPOSE_KEY_DIR
"""TorchServe's working directory in its container (its key file, on a shared volume)."""
TF_HOST, TS_HOST, GATEWAY_HOST = (
    placement.service_name(k) for k in (TFSERVING.id, TORCHSERVE.id, placement.GATEWAY)
)
"""Compose service names, which are the services' host names on the compose network."""
API_KEYS_FILE = "api_keys"
"""The gateway's key hashes, in its config directory (TANDEM_GATEWAY_API_KEYS_FILE)."""
PROMETHEUS_KEY_SECRET = placement.COMPOSE_SCRAPE_KEY
"""Where the Prometheus container finds its scrape key (the compose secret)."""
PROMETHEUS_IMAGE_USER = (65534, 65534)
"""`nobody` of the prom/prometheus image: the Prometheus container's user when the configs
are written by root (the key file is handed to that user); otherwise the container runs as
the user who wrote them, so the key file stays theirs and 0600 either way."""


def prometheus_config(manifest: Manifest) -> str:
    """The `monitoring` profile's prometheus.yml: the local stack's generator for the compose
    placement (every target a compose service on its container port, the key from the secret)."""
    return scrape_config(manifest, placement.compose(manifest))


def prometheus_user() -> tuple[int, int]:
    """uid and gid of the Prometheus container: never root (see PROMETHEUS_IMAGE_USER)."""
    if os.geteuid() == 0:
        return PROMETHEUS_IMAGE_USER
    return os.geteuid(), os.getegid()


def gpu_counts(manifest: Manifest) -> dict[str, int]:
    """GPUs each backend's container reserves (docker-compose.gpu.yml reads these)."""
    return {kind.gpu_env: kind.gpus(manifest) for kind in KINDS}


def render(manifest: Manifest) -> dict[str, str]:
    """File name (relative to `<out>/compose/`) → contents."""
    files = {
        f"config/{name}": text
        for name, text in configgen.render_all(manifest, placement.compose(manifest)).items()
        if name not in ("prometheus.yml", RULES_FILE)
    }
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
