"""TorchServe readiness, the one rule: every served version of every model has its minimum
workers READY in the management API. `/ping` answers before any worker can predict.

The same code serves three places: the local stack calls `problems` (tandem.stack.backends),
the TorchServe image runs this file as its HEALTHCHECK (torchserve/Dockerfile copies it), and
`tandem k8s render` ships it as `ready.py` in the torchserve ConfigMap for the startup and
readiness probes. Standard library only: it runs inside the image.

What is wanted comes from the generated config.properties (`models=`: each served version
with its minWorkers), which is what TorchServe itself was started with.

As a script, exit 0 when ready, else 1 with one line per model that is not. Environment:
    TANDEM_TS_CONFIG                  config.properties (default /models/config/config.properties)
    TANDEM_TS_KEY_FILE                TorchServe's key file, used when present (default
                                      key_file.json in the working directory, where it writes it)
    TANDEM_TORCHSERVE_MANAGEMENT_URL  the management API (default http://127.0.0.1:8081)
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from collections.abc import Mapping
from pathlib import Path

Wanted = dict[str, dict[str, int]]
"""Model name → served version (as text) → minimum READY workers."""


def wanted(properties: str) -> Wanted:
    """What must be READY, from config.properties' `models=` JSON (empty without it)."""
    for line in properties.splitlines():
        if line.startswith("models="):
            models = json.loads(line[len("models=") :])
            return {
                name: {v: int(spec.get("minWorkers", 1)) for v, spec in versions.items()}
                for name, versions in models.items()
            }
    return {}


def management_headers(key_file: Path) -> dict[str, str]:
    """The management key's bearer header; none when the file is absent (token auth off)."""
    try:
        key = json.loads(key_file.read_text())["management"]["key"]
    except (OSError, ValueError, KeyError):
        return {}
    return {"Authorization": f"Bearer {key}"}


def problems(
    base: str, want: Wanted, headers: Mapping[str, str], timeout: float = 3.0
) -> list[str]:
    """What keeps the server at `base` (its management API) from serving every wanted
    version: at most one line per model; empty when ready."""
    found = []
    for name, versions in sorted(want.items()):
        request = urllib.request.Request(f"{base}/models/{name}/all", headers=dict(headers))
        try:
            with urllib.request.urlopen(request, timeout=timeout) as r:
                described = json.load(r)
        except (OSError, ValueError) as exc:
            found.append(f"{name}: {exc}")
            continue
        by_version = {str(d.get("modelVersion")): d for d in described}
        for version, minimum in sorted(versions.items()):
            d = by_version.get(version)
            if d is None:
                found.append(f"{name} v{version}: not registered")
                break
            ready = sum(w.get("status") == "READY" for w in d.get("workers", []))
            if ready < max(1, minimum):
                found.append(f"{name} v{version}: {ready} READY workers of {minimum}")
                break
    return found


def main() -> int:
    config = Path(os.environ.get("TANDEM_TS_CONFIG", "/models/config/config.properties"))
    key_file = Path(os.environ.get("TANDEM_TS_KEY_FILE", "key_file.json"))
    base = os.environ.get("TANDEM_TORCHSERVE_MANAGEMENT_URL", "http://127.0.0.1:8081")
    try:
        want = wanted(config.read_text())
    except OSError as exc:
        print(f"{config}: {exc}")
        return 1
    found = problems(base.rstrip("/"), want, management_headers(key_file))
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
