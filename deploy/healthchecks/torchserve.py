"""TorchServe container healthcheck: exit 0 when every model answers, else 1 with the reason.

Reads the generated config.properties (model names and minimum workers) and the management
key TorchServe wrote into its working directory, then asks the management API for each
model's default version: its READY workers must reach the minimum. `/ping` is not enough: it
answers before any worker can predict. Standard library only (it runs inside the image).
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

CONFIG = Path(os.environ.get("TANDEM_TS_CONFIG", "/models/config/config.properties"))
KEY_FILE = Path(os.environ.get("TANDEM_TS_KEY_FILE", "/run/tandem/torchserve/key_file.json"))
MANAGEMENT = os.environ.get("TANDEM_TS_MANAGEMENT_URL", "http://127.0.0.1:8081")


def wanted_workers(properties: str) -> dict[str, int]:
    """Model name → minimum READY workers, from config.properties' `models=` JSON."""
    for line in properties.splitlines():
        if line.startswith("models="):
            models: dict[str, dict[str, dict[str, int]]] = json.loads(line[len("models=") :])
            return {
                name: max(v.get("minWorkers", 1) for v in versions.values())
                for name, versions in models.items()
            }
    return {}


def problems(config: Path, key_file: Path, base: str) -> list[str]:
    """What keeps the server from answering for every model (empty when healthy)."""
    headers = {}
    if key_file.exists():
        key = json.loads(key_file.read_text())["management"]["key"]
        headers["Authorization"] = f"Bearer {key}"
    found = []
    for name, minimum in wanted_workers(config.read_text()).items():
        req = urllib.request.Request(f"{base}/models/{name}", headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=3) as r:
                workers = json.load(r)[0].get("workers", [])
        except (urllib.error.URLError, OSError, ValueError) as exc:
            found.append(f"{name}: {exc}")
            continue
        ready = sum(w.get("status") == "READY" for w in workers)
        if ready < minimum:
            found.append(f"{name}: {ready}/{minimum} workers READY")
    return found


def main() -> int:
    found = problems(CONFIG, KEY_FILE, MANAGEMENT)
    for line in found:
        print(line, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
