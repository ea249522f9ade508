"""Twins on the real stack: the demo's ``digits_mlp`` (TF Serving + TorchServe builds) split
by weight, sticky callers, the shadow comparison, the agreement metrics and promotion
under load. No assertion depends on two trained models agreeing: agreement 1.0 is checked
on a twin whose shadow is the same model routed under a second name, and on held-out
digits chosen because both builds name the same class; the drop uses a different model
compared bit-for-bit."""

from __future__ import annotations

import asyncio
import copy
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import yaml

from examples.digits.data import load_split

pytestmark = pytest.mark.integration

TWIN = "digits_mlp"
TF, TORCH = "digits_mlp_tf", "digits_mlp_torch"


def _client(live: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=live.gateway_url,
        headers={"Authorization": f"Bearer {live.gateway_api_key}"},
        timeout=30.0,
        limits=httpx.Limits(max_connections=16),
    )


def _body(rows: np.ndarray) -> dict[str, Any]:
    return {"instances": rows.reshape(len(rows), 64).tolist()}


async def _many(
    live: Any,
    model: str,
    headers: list[dict[str, str]],
    rows: np.ndarray,
    *,
    concurrency: int = 16,
) -> list[httpx.Response]:
    """One request per header set (``concurrency`` at a time), input ``rows[i % len(rows)]``."""
    gate = asyncio.Semaphore(concurrency)
    async with _client(live) as client:

        async def one(i: int, h: dict[str, str]) -> httpx.Response:
            async with gate:
                row = rows[i % len(rows) : i % len(rows) + 1]
                return await client.post(f"/v1/models/{model}:predict", json=_body(row), headers=h)

        return await asyncio.gather(*(one(i, h) for i, h in enumerate(headers)))


def _metric(live: Any, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    text = httpx.get(
        f"{live.gateway_url}/metrics",
        headers={"Authorization": f"Bearer {live.gateway_api_key}"},
        timeout=10,
    ).text
    total = 0.0
    for line in text.splitlines():
        m = re.match(rf"^{name}\{{(.*)\}} (\S+)$", line)
        if m and all(f'{k}="{v}"' in m.group(1) for k, v in labels.items()):
            total += float(m.group(2))
    return total


def _wait(predicate: Any, what: str, timeout: float = 60.0) -> None:
    """Poll until ``predicate()`` (the bound only catches a hang)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


MARKERS: list[str] = []


@pytest.fixture
def routes(live_stack: Any) -> Iterator[dict[str, Any]]:
    """The live route document; restored (and reloaded by the gateway) afterwards."""
    path: Path = live_stack.routes_file
    original = path.read_text()
    yield json.loads(original)
    path.write_text(original)
    for marker in MARKERS:
        _wait(lambda m=marker: not _serves(live_stack, m), "the original routes")
    MARKERS.clear()


def _serves(live: Any, model: str, variant: str | None = None) -> bool:
    headers = {"Authorization": f"Bearer {live.gateway_api_key}"}
    if variant:
        headers["X-Tandem-Variant"] = variant
    r = httpx.post(
        f"{live.gateway_url}/v1/models/{model}:predict",
        json=_body(load_split().x_test[:1]),
        headers=headers,
        timeout=10,
    )
    return r.status_code == 200


def _serves_row(live: Any, row: np.ndarray, variant: str) -> bool:
    r = httpx.post(
        f"{live.gateway_url}/v1/models/{TWIN}:predict",
        json=_body(row),
        headers={"Authorization": f"Bearer {live.gateway_api_key}", "X-Tandem-Variant": variant},
        timeout=30,
    )
    return r.status_code == 200 and r.headers["x-tandem-variant"] == variant


def _install(live: Any, doc: dict[str, Any]) -> None:
    """Write ``doc`` as the route file and wait until the gateway serves it: it carries a
    new alias of the TF model, answered only once this very file is loaded."""
    marker = f"reload_marker_{len(MARKERS)}_{int(time.time() * 1000)}"
    MARKERS.append(marker)
    doc = copy.deepcopy(doc)
    doc["models"][marker] = {**doc["models"][TF]}
    live.routes_file.write_text(json.dumps(doc, indent=2))
    _wait(lambda: _serves(live, marker), "the gateway to load the new routes")


def test_weighted_split_within_5_percent_over_2000_callers(
    live_stack: Any, record_property: Any
) -> None:
    # 2,000 distinct callers (sticky keys): the split is a hash of each key, so the
    # share is the same on every run; 50/50 in the demo manifest.
    headers = [{"X-Tandem-Sticky-Key": f"caller-{i}"} for i in range(2000)]
    answers = asyncio.run(_many(live_stack, TWIN, headers, load_split().x_test[:50]))
    assert {r.status_code for r in answers} == {200}
    share = sum(r.headers["x-tandem-variant"] == TORCH for r in answers) / len(answers)
    record_property("torch_share", share)
    assert abs(share - 0.5) <= 0.05, share
    assert _metric(live_stack, "tandem_twin_requests_total", twin=TWIN, variant=TORCH) >= 1


def test_random_split_within_5_percent_over_2000_requests(
    live_stack: Any, record_property: Any
) -> None:
    # No sticky key: each request draws its variant. 50/50 over 2,000 draws: one standard
    # deviation is 1.1%, so +-5% is 4.5 of them (about 1 run in 150,000 falls outside).
    answers = asyncio.run(_many(live_stack, TWIN, [{}] * 2000, load_split().x_test[:50]))
    assert {r.status_code for r in answers} == {200}
    share = sum(r.headers["x-tandem-variant"] == TORCH for r in answers) / len(answers)
    record_property("torch_share", share)
    assert abs(share - 0.5) <= 0.05, share


def test_sticky_callers_stay_and_pins_win(live_stack: Any) -> None:
    headers = [{"X-Tandem-Sticky-Key": f"user-{i % 20}"} for i in range(100)]
    answers = asyncio.run(_many(live_stack, TWIN, headers, load_split().x_test[:10]))
    by_caller: dict[str, set[str]] = {}
    for h, r in zip(headers, answers, strict=True):
        by_caller.setdefault(h["X-Tandem-Sticky-Key"], set()).add(r.headers["x-tandem-variant"])
    assert all(len(v) == 1 for v in by_caller.values())
    pinned = asyncio.run(
        _many(live_stack, TWIN, [{"X-Tandem-Variant": TORCH, "X-Tandem-Sticky-Key": "user-1"}] * 10,
              load_split().x_test[:10])
    )  # fmt: skip
    assert {r.headers["x-tandem-variant"] for r in pinned} == {TORCH}


def test_demo_twin_agrees_on_digits_both_builds_name_alike(
    live_stack: Any, record_property: Any
) -> None:
    def count(result: str) -> float:
        return _metric(live_stack, "tandem_twin_comparisons_total", twin=TWIN, result=result)

    def accounted() -> float:  # copies compared, or dropped beyond the in-flight bound
        dropped = _metric(
            live_stack, "tandem_gateway_shadow_requests_total", model=TORCH, outcome="dropped"
        )
        return _metric(live_stack, "tandem_twin_comparisons_total", twin=TWIN) + dropped

    x = load_split().x_test[:64]
    base = accounted()
    tf_pin = asyncio.run(_many(live_stack, TWIN, [{"X-Tandem-Variant": TF}] * 64, x))
    torch_pin = asyncio.run(_many(live_stack, TWIN, [{"X-Tandem-Variant": TORCH}] * 64, x))
    same = [
        i
        for i, (a, b) in enumerate(zip(tf_pin, torch_pin, strict=True))
        if a.json()["predictions"][0]["label"] == b.json()["predictions"][0]["label"]
    ]
    assert len(same) >= 32  # both builds are >= 95% accurate on held-out digits
    # The copies of the TF-pinned requests above settle first (TorchServe answers are not
    # copied: it is the shadow).
    _wait(lambda: accounted() - base >= 64, "the earlier copies", timeout=180)
    before = {r: count(r) for r in ("agree", "disagree", "error")}
    start = accounted()
    # Pinned to TF, one at a time: each is shadowed to TorchServe and compared off the
    # request path (a copy that finds 16 in flight is dropped, never queued).
    for i in same:
        assert _serves_row(live_stack, x[i : i + 1], TF)
    _wait(lambda: accounted() - start >= len(same), "the shadow comparisons", timeout=180)
    for result in ("agree", "disagree", "error"):
        record_property(result, count(result) - before[result])
    record_property("rows_both_builds_name_alike", len(same))
    assert count("agree") - before["agree"] >= 10
    assert count("disagree") == before["disagree"]  # agreement 1.0
    assert count("error") == before["error"]


def test_same_model_shadow_agrees_and_a_different_model_drops(
    live_stack: Any, routes: dict[str, Any], record_property: Any
) -> None:
    doc = copy.deepcopy(routes)
    # The same TF model routed under a second name: its answers must match bit for bit.
    doc["models"]["digits_mlp_tf_again"] = {**doc["models"][TF]}
    exact = {"outputs": ["probabilities", "label"], "atol": 0.0, "objective": 0.99}
    # 1e-5: TF Serving may batch the copy with other rows, and a matmul's last bits depend
    # on the batch it ran in.
    close = {**exact, "atol": 1e-5}
    doc["twins"] = {
        "same": {"variants": {TF: {}, "digits_mlp_tf_again": {}}, "default": TF,
                 "shadow": "digits_mlp_tf_again", "agreement": close},
        # A different model (another framework, architecture and training) compared bit for
        # bit: its float scores never equal the TF model's.
        "different": {"variants": {TF: {}, "digits_dynamic_torch": {}}, "default": TF,
                      "shadow": "digits_dynamic_torch", "agreement": exact},
    }  # fmt: skip
    _install(live_stack, doc)
    x = load_split().x_test[:40]

    def settled(twin: str, shadow: str) -> bool:
        """Every copy compared (or dropped for the in-flight bound)."""
        compared = _metric(live_stack, "tandem_twin_comparisons_total", twin=twin)
        dropped = _metric(
            live_stack, "tandem_gateway_shadow_requests_total", model=shadow, outcome="dropped"
        )
        return compared + dropped >= 40

    for twin, shadow in (("same", "digits_mlp_tf_again"), ("different", "digits_dynamic_torch")):
        answers = asyncio.run(_many(live_stack, twin, [{}] * 40, x, concurrency=4))
        assert {r.status_code for r in answers} == {200}
        assert {r.headers["x-tandem-variant"] for r in answers} == {TF}
        _wait(lambda t=twin, s=shadow: settled(t, s), "the shadow comparisons", timeout=180)

    def count(twin: str, result: str) -> float:
        return _metric(live_stack, "tandem_twin_comparisons_total", twin=twin, result=result)

    for twin in ("same", "different"):
        for result in ("agree", "disagree"):
            record_property(f"{twin}_{result}", count(twin, result))
    # A shadow slower than its primary piles up: copies beyond the in-flight bound (16) are
    # dropped, never queued; the first 16 always fit, as nothing else is in flight.
    assert count("same", "agree") >= 10
    assert count("same", "disagree") == 0
    assert count("different", "disagree") >= 10
    assert count("different", "agree") == 0
    diff = _metric(live_stack, "tandem_twin_max_abs_diff", twin="same", output="probabilities")
    assert diff <= 1e-5
    assert (
        _metric(live_stack, "tandem_twin_max_abs_diff", twin="different", output="probabilities")
        > 0
    )
    status = httpx.get(
        f"{live_stack.gateway_url}/ui/status",
        headers={"Authorization": f"Bearer {live_stack.gateway_api_key}"},
        timeout=10,
    ).json()
    twins = {t["name"]: t for t in status["twins"]}
    assert twins["same"]["agreement"] == 1.0
    assert twins["different"]["agreement"] == 0.0
    kept = twins["different"]["disagreements"]
    assert 0 < len(kept) <= 20
    assert kept[0]["inputs"] == {"pixels": [1, 64]}
    assert kept[0]["payload"] is None  # inputs are not kept unless enabled
    assert [v["name"] for v in twins["different"]["variants"]] == [TF, "digits_dynamic_torch"]


def test_promotion_under_load_loses_no_request(
    live_stack: Any, routes: dict[str, Any], repo_root: Path, tmp_path: Path, record_property: Any
) -> None:
    manifest = tmp_path / "models.yaml"
    manifest.write_text((repo_root / "models.yaml").read_text())
    doc = copy.deepcopy(routes)
    doc["twins"][TWIN]["variants"] = {TF: {"weight": 0.0}, TORCH: {"weight": 0.0}}
    doc["twins"][TWIN]["default"] = TF
    _install(live_stack, doc)
    statuses: list[int] = []
    variants: list[str] = []
    stop = threading.Event()

    def load() -> None:
        async def run() -> None:
            x = load_split().x_test[:20]
            async with _client(live_stack) as client:
                i = 0
                while not stop.is_set():
                    r = await client.post(
                        f"/v1/models/{TWIN}:predict", json=_body(x[i % 20 : i % 20 + 1])
                    )
                    statuses.append(r.status_code)
                    variants.append(r.headers.get("x-tandem-variant", ""))
                    i += 1

        asyncio.run(run())

    workers = [threading.Thread(target=load) for _ in range(4)]
    for w in workers:
        w.start()
    try:
        time.sleep(1.0)
        # The command a user runs: the route file step by step, then the manifest (a copy).
        done = subprocess.run(
            [sys.executable, "-m", "tandem.cli", "promote", TWIN, TORCH,
             "--steps", "10,50,100", "--step-seconds", "2",
             "--routes", str(live_stack.routes_file), "--manifest", str(manifest)],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        time.sleep(3.0)  # past the gateway's next poll: only the promoted variant answers
        cut = len(variants)
        time.sleep(2.0)
    finally:
        stop.set()
        for w in workers:
            w.join(timeout=60)
    record_property("requests", len(statuses))
    record_property("failed", sum(s != 200 for s in statuses))
    assert len(statuses) > 50
    assert set(statuses) == {200}  # 0 failed requests
    assert variants[0] == TF
    assert set(variants[cut:]) == {TORCH}
    final = json.loads(live_stack.routes_file.read_text())["twins"][TWIN]
    assert final["default"] == TORCH
    twin = next(t for t in yaml.safe_load(manifest.read_text())["twins"] if t["name"] == TWIN)
    assert (twin["default"], twin["shadow"]) == (TORCH, TF)  # the next render keeps it


def test_printed_twin_curls_work(live_stack: Any) -> None:
    import shlex
    import subprocess

    live_stack.stack.curls()  # writes the request bodies, as `tandem up` does first
    curls = live_stack.stack.twin_curls()
    assert set(curls) == {
        "twin digits_mlp = digits_mlp_tf + digits_mlp_torch",
        "twin digits_cnn224 = digits_cnn224_tf + digits_cnn224_torch",
    }
    for name, (split, pinned) in curls.items():
        twin = name.split()[1]
        out = subprocess.run(
            shlex.split(split), capture_output=True, text=True, timeout=60, check=True
        ).stdout
        assert "HTTP/1.1 200 OK" in out, out[:200]  # after curl's "100 Continue" for big bodies
        assert "x-tandem-variant: " in out.lower()
        body = json.loads(
            subprocess.run(
                shlex.split(pinned), capture_output=True, text=True, timeout=60, check=True
            ).stdout
        )
        assert body["model_name"] == twin


def test_readme_twin_curls_work(live_stack: Any, routes: dict[str, Any], tmp_path: Path) -> None:
    """The README's twins block, step by step, against this stack (its ports, key and build
    directory in place of `make up`'s); the promotion on a copy of the manifest."""
    import shlex

    live_stack.stack.curls()  # writes the request bodies, as `tandem up` does first
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Twins:", 1)[1]
    block = section.split("Every step with `make up` running", 1)[1].split("```bash\n", 1)[1]
    lines = block.split("```", 1)[0].splitlines()
    assert lines[0].startswith("KEY=$(cat build/run/api_key)")
    promote_line = next(line for line in lines if line.startswith("tandem promote"))
    curls = "\n".join(lines[1 : lines.index(promote_line)])
    setup = (
        f"KEY={shlex.quote(live_stack.gateway_api_key)}; "
        f"B={shlex.quote(str(live_stack.out / 'run' / 'requests'))}; GW={live_stack.gateway_url}"
    )
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", f"{setup}\n{curls}"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert text.lower().count("x-tandem-variant: ") == 2  # the split and the sticky caller
    assert '"model_name":"digits_mlp"' in text.replace(" ", "")  # the pinned v2 call
    assert "tandem_twin_comparisons_total" in text
    assert '"twins"' in text
    manifest = tmp_path / "models.yaml"
    manifest.write_text((Path(__file__).resolve().parents[2] / "models.yaml").read_text())
    argv = shlex.split(promote_line)
    argv = [sys.executable, "-m", "tandem.cli", *argv[1:], "--step-seconds", "1"]
    argv += ["--routes", str(live_stack.routes_file), "--manifest", str(manifest)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert _serves_row(live_stack, load_split().x_test[:1], TORCH)
    assert json.loads(live_stack.routes_file.read_text())["twins"][TWIN]["default"] == TORCH
