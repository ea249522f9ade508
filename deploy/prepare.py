"""The compose stack's one-shot `export` service: models, configs and a key, in containers.

`docker compose up` runs this first (deploy/Dockerfile.export: TensorFlow, torch and the
project); the servers start once it exits 0. Every run:

1. exports what is missing or stale (`tandem.export.export_models`: an artifact whose export
   record matches the manifest entry and the source is skipped, so a second `up` exports
   nothing) from the project's manifest, mounted read-only, into the `models` volume;
2. renders the stack's configs into it (`deploy.compose.write_volume`, what
   `python -m deploy.compose` renders for a host build directory);
3. creates the development API key once (the `keys` volume) and prints it, so
   `docker compose logs export` shows it.

When the stack already runs (a later `docker compose up -d` after editing models.yaml: the
servers are not restarted, their config did not change), the models this run exported are
put live on it with `tandem rollout`'s code, through the services' names on the compose
network, before the route file names them; the gateway reloads it without a restart.
``--rollout NAME...`` does the same for the named models explicitly:
`docker compose run --rm export --rollout NAME...`.

    python -m deploy.prepare [--manifest /project/models.yaml] [--out /models]
                             [--keys /run/tandem/keys] [--rollout NAME ...]

Exit codes: 0 done; otherwise the error's own (`TandemError.exit_code`: 2 for a manifest or
export error, 1 for a rollout that failed or a server that did not answer), as one line on
stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import httpx

from deploy import compose
from tandem.backend_kinds import TFSERVING, TORCHSERVE
from tandem.errors import TandemError
from tandem.export import export_models, resolve_manifest
from tandem.manifest import Manifest, load_manifest
from tandem.placement import GATEWAY_PORTS
from tandem.stack.rollout import RolloutResult, rollout

# The compose services by name, on their container ports (tandem.placement).
TORCHSERVE_MANAGEMENT = f"http://{compose.TS_HOST}:{TORCHSERVE.ports['management']}"
TORCHSERVE_INFERENCE = f"http://{compose.TS_HOST}:{TORCHSERVE.ports['http']}"
TFSERVING_REST = f"http://{compose.TF_HOST}:{TFSERVING.ports['http']}"
GATEWAY = f"http://{compose.GATEWAY_HOST}:{GATEWAY_PORTS['http']}"
KEY_BANNER = "development API key"
"""The log line that carries the key: `docker compose logs export | grep 'API key'`."""


def say(msg: str) -> None:
    print(f"[export] {msg}", flush=True)


def export(manifest: Manifest, out: Path) -> tuple[list[str], int]:
    """Export what is missing or stale; (the models exported, how many were up to date)."""
    results = export_models(manifest, [], out, progress=say)
    fresh = [r.model for r in results if not r.skipped]
    return fresh, len(results) - len(fresh)


def stack_running() -> bool:
    """Whether a backend of this compose project answers: on the first `up` the servers
    wait for this service, so their names do not resolve yet and this returns at once."""
    probes = (f"{TFSERVING_REST}/v1/models/none", f"{TORCHSERVE_INFERENCE}/ping")
    for url in probes:
        try:
            httpx.get(url, timeout=2.0)
        except httpx.HTTPError:
            continue
        return True
    return False


def roll_out(manifest: Manifest, out: Path, keys: Path, names: list[str]) -> list[RolloutResult]:
    """Make `names`' served versions live on the running compose stack; routes.json follows
    once they are (the gateway reloads it without a restart)."""
    resolved = resolve_manifest(manifest, out)
    return rollout(
        resolved,
        out,
        names,
        torchserve_management_url=TORCHSERVE_MANAGEMENT,
        torchserve_key_file=compose.KEY_DIR / "key_file.json",
        tfserving_url=TFSERVING_REST,
        gateway_url=GATEWAY,
        gateway_key_file=keys / "api_key",
        write_routes=lambda m: compose.write_volume(m, out, keys),
    )


def prepare(manifest_path: Path, out: Path, keys: Path, names: list[str]) -> int:
    manifest = load_manifest(manifest_path)
    for name in names:
        manifest.model(name)  # an unknown name fails before anything is exported
    fresh, current = export(manifest, out)
    say(f"{len(fresh)} exported, {current} up to date")
    if not names and fresh and stack_running():
        say(f"the stack is running: rolling out {', '.join(fresh)}")
        names = fresh
    # Before a rollout the route file keeps the old versions until the new ones are live.
    compose.write_volume(manifest, out, keys, routes=not names)
    say(f"configs in {out / 'config'}/")
    if names:
        results = roll_out(manifest, out, keys, names)
        summary = {
            r.model: {"live": r.live_versions, "retired": r.retired_versions} for r in results
        }
        say(f"rollout: {json.dumps(summary, sort_keys=True)}")
    key = (keys / "api_key").read_text().strip()
    say(f"{KEY_BANNER} (X-API-Key header): {key}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, default=Path("/project/models.yaml"))
    parser.add_argument("--out", type=Path, default=Path("/models"))
    parser.add_argument("--keys", type=Path, default=Path("/run/tandem/keys"))
    parser.add_argument("--rollout", nargs="+", default=[], metavar="NAME")
    args = parser.parse_args(argv)
    try:
        return prepare(args.manifest, args.out, args.keys, args.rollout)
    except TandemError as exc:
        hint = ""
        if isinstance(exc.__cause__, PermissionError):
            hint = f" (this runs as uid {os.getuid()}: the tree must be readable by others)"
        print(f"[export] error: {exc}{hint}", file=sys.stderr, flush=True)
        return exc.exit_code
    except httpx.HTTPError as exc:  # a server refused or did not answer during a rollout
        print(f"[export] error: rollout: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
