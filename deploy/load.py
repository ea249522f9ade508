"""Steady load on both backends from inside the compose network (standard library only).

`make smoke` runs this file's text with `python -c` in the gateway container, which sits on
the backend network and mounts TorchServe's key file read-only. One thread per target posts
the same request in a loop until `/tmp/stop-load` exists or `--seconds` pass, then prints one
JSON line: {"counts": {"tf:200": n, ...}, "versions": {"ts": [first, last]}}.
Arguments: --seconds S then pairs of NAME URL for TF (v1 JSON) and TorchServe (v2 JSON).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter

STOP = "/tmp/stop-load"
KEY_FILE = "/run/tandem/torchserve/key_file.json"
PIXELS = [0.25] * 64  # any valid image: the load counts failures, it does not check answers


def _body(kind: str) -> bytes:
    if kind == "tf":
        return json.dumps({"instances": [PIXELS]}).encode()
    tensor = {"name": "pixels", "datatype": "FP32", "shape": [1, 64], "data": PIXELS}
    return json.dumps({"inputs": [tensor]}).encode()


def _run(kind: str, url: str, deadline: float, counts: Counter[str], versions: list[str]) -> None:
    headers = {"Content-Type": "application/json"}
    if kind == "ts":
        with open(KEY_FILE) as f:
            headers["Authorization"] = f"Bearer {json.load(f)['inference']['key']}"
    body = _body(kind)
    while time.monotonic() < deadline and not os.path.exists(STOP):
        req = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                answer = json.load(r)
                counts[f"{kind}:{r.status}"] += 1
                if kind == "ts":
                    versions.append(str(answer.get("model_version")))
        except urllib.error.HTTPError as exc:
            counts[f"{kind}:{exc.code}"] += 1
        except (urllib.error.URLError, OSError, ValueError) as exc:
            counts[f"{kind}:{type(exc).__name__}"] += 1


def main(argv: list[str]) -> int:
    seconds = float(argv[argv.index("--seconds") + 1])
    pairs = argv[argv.index("--seconds") + 2 :]
    deadline = time.monotonic() + seconds
    counts: Counter[str] = Counter()
    versions: list[str] = []
    threads = [
        threading.Thread(target=_run, args=(pairs[i], pairs[i + 1], deadline, counts, versions))
        for i in range(0, len(pairs), 2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    first_last = [versions[0], versions[-1]] if versions else []
    print(json.dumps({"counts": dict(counts), "versions": {"ts": first_last}}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
