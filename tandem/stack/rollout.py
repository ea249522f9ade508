"""Put a newly exported version live on a running stack without failing a request.

- TF Serving (official or compatible) watches `base_path` itself: the new `<version>/`
  directory is loaded, swapped in, and older versions unloaded per the version policy. Here
  we only wait until the served versions are AVAILABLE.
- TorchServe is told through its management API (loopback only, token protected): register
  the new `.mar` with its workers started synchronously, make it the default version, let the
  old versions drain, then unregister those the policy no longer serves. Requests without a
  version go to the old default until the new one has READY workers, so none fails.
- The gateway: once every new version is live, the regenerated ``routes.json`` is written
  (atomically); the gateway polls it and swaps the new table in without a restart. Until then
  it sends unpinned requests without a version, so the backend's new default answers them.
  Old TorchServe versions are retired only once the gateway lists the new ones (or, where
  it cannot be asked, after two of its reload periods).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from tandem.backend_kinds import kind_for
from tandem.configgen import torchserve_batching, write_configs
from tandem.errors import StackError
from tandem.layout import mar_filename
from tandem.manifest import Manifest, ModelSpec
from tandem.stack.backends import Gateway, Layout, TFServing, TorchServe

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


@dataclass(frozen=True)
class _TorchServeStep:
    """A TorchServe model whose new versions are live; the old ones are still registered."""

    spec: ModelSpec
    base: str
    headers: dict[str, str]


def _torchserve_live(ts: TorchServe, spec: ModelSpec, base: str, key_file: Path) -> _TorchServeStep:
    """Register the served versions that are missing and make the newest the default."""
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
    return _TorchServeStep(spec, base, headers)


def _torchserve_retire(step: _TorchServeStep, drain_s: float) -> RolloutResult:
    """Unregister the versions the manifest no longer serves, each after it drained."""
    name, wanted = step.spec.name, step.spec.served_versions
    with httpx.Client(base_url=step.base, headers=step.headers, timeout=TIMEOUT) as client:
        retired = [v for v in _torchserve_versions(client, name) if v not in wanted]
        for version in retired:
            # Unregistering stops the version's workers at once, failing what they still
            # hold: wait until its queue has stayed empty for the grace period first.
            _drain(client, name, version, drain_s)
            r = client.delete(f"/models/{name}/{version}")
            if r.status_code >= 400:
                raise StackError(f"torchserve: unregister {name} v{version}: {r.text[:200]}")
        return RolloutResult(name, _torchserve_versions(client, name), retired)


def _wait_for_gateway(
    url: str, key_file: Path | None, specs: list[ModelSpec], reload_s: float, timeout: float
) -> None:
    """Return once the gateway at ``url`` lists every spec's served versions.

    A gateway that does not answer is not running (nothing to wait for); one that refuses
    the key we have (or we have none) is given two of its reload periods."""
    headers = {}
    if key_file is not None and key_file.exists():
        headers["Authorization"] = f"Bearer {key_file.read_text().strip()}"
    deadline = time.monotonic() + timeout
    pending = list(specs)
    with httpx.Client(base_url=url, headers=headers, timeout=5.0) as client:
        while pending:
            spec = pending[0]
            try:
                r = client.get(f"/v1/models/{spec.name}")
            except httpx.ConnectError:
                return
            except httpx.HTTPError:
                r = None
            if r is not None and r.status_code in (401, 403):
                time.sleep(2 * reload_s + 0.5)
                return
            if r is not None and r.status_code == 200:
                listed = sorted(int(s["version"]) for s in r.json()["model_version_status"])
                if listed == spec.served_versions:
                    pending.pop(0)
                    continue
            if time.monotonic() > deadline:
                raise StackError(
                    f"the gateway did not list {spec.name} versions {spec.served_versions} "
                    f"within {timeout:.0f}s of the new routes.json; old versions kept"
                )
            time.sleep(0.2)


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
    gateway_url: str | None = None,
    gateway_key_file: Path | None = None,
    routes_reload_s: float = 1.0,
    write_routes: Callable[[Manifest], object] | None = None,
) -> list[RolloutResult]:
    """Make the manifest's served versions of `names` live on the stack running from `out`.

    `manifest` must be resolved (as for `write_configs`): once every new version is live on
    its backend, `<out>/config/routes.json` is rewritten from it, and old TorchServe versions
    are retired only after the gateway lists the new ones (its `routes_reload_s` poll). A
    retired TorchServe version is unregistered only after its queue stayed empty for
    `drain_s` seconds, so requests it already accepted finish. The URLs and key files
    default to the local stack's (manifest ports on 127.0.0.1, `<out>/torchserve/
    key_file.json`, `<out>/run/api_key`); the compose stack passes its loopback-published
    ports and copies of its key files, and `write_routes`, which writes its own route file
    (the default writes `<out>/config/routes.json`)."""
    layout = Layout(out.resolve())
    ts, tf = TorchServe(manifest, layout), TFServing(manifest, layout)
    gw = Gateway(manifest, layout, ts)
    ts_url = torchserve_management_url or f"http://127.0.0.1:{ts.server.management_port}"
    tf_url = tfserving_url or f"http://127.0.0.1:{tf.server.rest_port}"
    gw_url = gateway_url or f"http://127.0.0.1:{gw.server.port}"
    key_file = torchserve_key_file or ts.key_file
    specs = [manifest.model(n) for n in names]
    done: dict[str, RolloutResult] = {}
    steps = []
    for spec in specs:
        if kind_for(spec.framework).registers_versions:
            steps.append(_torchserve_live(ts, spec, ts_url.rstrip("/"), key_file))
        else:
            done[spec.name] = _rollout_tfserving(tf, spec, timeout, tf_url.rstrip("/"))
    if write_routes is None:
        write_configs(manifest, layout.config, layout.out, only=("routes.json",))
    else:
        write_routes(manifest)
    if steps:
        _wait_for_gateway(
            gw_url.rstrip("/"),
            gateway_key_file or gw.api_key_file,
            specs,
            routes_reload_s,
            timeout,
        )
    for step in steps:
        done[step.spec.name] = _torchserve_retire(step, drain_s)
    return [done[spec.name] for spec in specs]
