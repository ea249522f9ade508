"""Put a newly exported version live on a running stack without failing a request.

- TF Serving (official or compatible) watches `base_path` itself: the new `<version>/`
  directory is loaded, swapped in, and older versions unloaded per the version policy. Here
  we only wait until the served versions are AVAILABLE.
- TorchServe is told through its management API (loopback only, token protected): register
  the new `.mar` with its workers started synchronously, make it the default version, let the
  old versions drain, then unregister those the policy no longer serves. Requests without a
  version go to the old default until the new one has READY workers, so none fails.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tandem.configgen import torchserve_batching
from tandem.errors import StackError
from tandem.layout import mar_filename
from tandem.manifest import Manifest, ModelSpec
from tandem.stack.backends import Layout, TFServing, TorchServe

TIMEOUT = httpx.Timeout(10.0, read=180.0)  # synchronous registration waits for workers


@dataclass(frozen=True)
class RolloutResult:
    model: str
    live_versions: list[int]
    retired_versions: list[int]


def _torchserve_versions(client: httpx.Client, name: str) -> list[int]:
    r = client.get(f"/models/{name}/all")
    if r.status_code == 404:
        return []
    r.raise_for_status()
    return sorted(int(m["modelVersion"]) for m in r.json())


def _drain(client: httpx.Client, name: str, version: int, grace_s: float) -> None:
    """Return once no request has been queued for `version` for `grace_s` seconds."""
    deadline = time.monotonic() + grace_s + 60
    quiet_since: float | None = None
    while time.monotonic() < deadline:
        r = client.get(f"/models/{name}/{version}")
        r.raise_for_status()
        pending = r.json()[0].get("jobQueueStatus", {}).get("pendingRequests", 0)
        now = time.monotonic()
        if pending:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = now
        elif now - quiet_since >= grace_s:
            return
        time.sleep(0.1)
    raise StackError(f"torchserve: {name} v{version} still has queued requests; not retired")


def _rollout_torchserve(
    ts: TorchServe, spec: ModelSpec, drain_s: float, base: str, key_file: Path
) -> RolloutResult:
    keys = ts.keys(key_file) if key_file.exists() else {}  # none when started --insecure-dev
    headers = {"Authorization": f"Bearer {keys['management']}"} if keys else {}
    wanted = spec.served_versions
    batching = torchserve_batching(spec)
    with httpx.Client(base_url=base, headers=headers, timeout=TIMEOUT) as client:
        loaded = _torchserve_versions(client, spec.name)
        for version in wanted:
            if version in loaded:
                continue
            params: dict[str, str | int] = {
                "url": mar_filename(spec.name, version),
                "initial_workers": spec.workers,
                "batch_size": batching.batch_size,
                "max_batch_delay": batching.max_batch_delay_ms,
                "response_timeout": batching.response_timeout_s,
                "synchronous": "true",
            }
            r = client.post("/models", params=params)
            if r.status_code >= 400:
                raise StackError(
                    f"torchserve refused {spec.name} v{version}: {r.status_code} {r.text[:200]}"
                )
        r = client.put(f"/models/{spec.name}/{max(wanted)}/set-default")
        if r.status_code >= 400:
            raise StackError(f"torchserve: set-default {spec.name} v{max(wanted)}: {r.text[:200]}")
        retired = [v for v in _torchserve_versions(client, spec.name) if v not in wanted]
        for version in retired:
            # Unregistering stops the version's workers at once, failing what they still
            # hold: wait until its queue has stayed empty for the grace period first.
            _drain(client, spec.name, version, drain_s)
            r = client.delete(f"/models/{spec.name}/{version}")
            if r.status_code >= 400:
                raise StackError(f"torchserve: unregister {spec.name} v{version}: {r.text[:200]}")
        return RolloutResult(spec.name, _torchserve_versions(client, spec.name), retired)


def _rollout_tfserving(tf: TFServing, spec: ModelSpec, timeout: float, base: str) -> RolloutResult:
    url = f"{base}/v1/models/{spec.name}"
    deadline = time.monotonic() + timeout
    states: dict[int, str] = {}
    while time.monotonic() < deadline:
        try:
            r = httpx.get(url, timeout=5)
            if r.status_code == 200:
                states = {int(s["version"]): s["state"] for s in r.json()["model_version_status"]}
                live = sorted(v for v, s in states.items() if s == "AVAILABLE")
                if live == spec.served_versions:
                    retired = sorted(v for v, s in states.items() if s == "END")
                    return RolloutResult(spec.name, live, retired)
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise StackError(
        f"{tf.flavour} did not serve {spec.name} versions {spec.served_versions} within "
        f"{timeout:.0f}s (states: {states})"
    )


def rollout(
    manifest: Manifest,
    out: Path,
    names: list[str],
    timeout: float = 180.0,
    drain_s: float = 2.0,
    *,
    torchserve_management_url: str | None = None,
    torchserve_key_file: Path | None = None,
    tfserving_url: str | None = None,
) -> list[RolloutResult]:
    """Make the manifest's served versions of `names` live on the stack running from `out`.

    A retired TorchServe version is unregistered only after its queue stayed empty for
    `drain_s` seconds, so requests it already accepted finish. The URLs and key file default
    to the local stack's (manifest ports on 127.0.0.1, `<out>/torchserve/key_file.json`); the
    compose stack passes its loopback-published ports and a copy of its key file."""
    layout = Layout(out.resolve())
    ts, tf = TorchServe(manifest, layout), TFServing(manifest, layout)
    ts_url = torchserve_management_url or f"http://127.0.0.1:{ts.server.management_port}"
    tf_url = tfserving_url or f"http://127.0.0.1:{tf.server.rest_port}"
    key_file = torchserve_key_file or ts.key_file
    results = []
    for spec in (manifest.model(n) for n in names):
        if spec.framework == "pytorch":
            results.append(_rollout_torchserve(ts, spec, drain_s, ts_url.rstrip("/"), key_file))
        else:
            results.append(_rollout_tfserving(tf, spec, timeout, tf_url.rstrip("/")))
    return results
