"""`/ui` in a real headless Chromium (Debian's chromium + chromium-driver, driven by selenium)
against the live stack's gateway: every model of the manifest is shown, its figures move after
real traffic, and the console stays clean. The run writes a screenshot (path printed; set
TANDEM_SCREENSHOT to choose it)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from monitoring_testkit import REPO, send_traffic

pytestmark = pytest.mark.integration
NONE = "\N{EN DASH}"  # what the page shows for a figure it does not have yet

SCREENSHOT = Path(os.environ.get("TANDEM_SCREENSHOT", REPO / "build" / "screenshots" / "ui.png"))


_ROWS_JS = """
return Object.fromEntries([...document.querySelectorAll("tr[data-model]")].map((row) => [
  row.dataset.model,
  Object.assign(
    {text: row.innerText},
    Object.fromEntries([...row.querySelectorAll("td[data-field]")].map(
      (td) => [td.dataset.field, td.textContent])))
]));
"""


def _rows(driver: Any) -> dict[str, dict[str, str]]:
    """Every model row's text and figures, read in one script (the page re-renders its rows
    on every poll, so element handles would go stale)."""
    rows: dict[str, dict[str, str]] = driver.execute_script(_ROWS_JS)
    return rows


def _text(driver: Any, element_id: str) -> str:
    return str(driver.execute_script(f"return document.getElementById('{element_id}').innerText"))


def _until(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"not within {timeout:.0f}s: {what}")


def test_status_page_in_chromium(live_stack, browser) -> None:
    models = [m.name for m in live_stack.manifest.models]
    browser.get_log("browser")  # drop what earlier pages logged
    browser.get(f"{live_stack.gateway_url}/ui")
    _until(lambda: len(_rows(browser)) == len(models), 15, "a row per model")
    # Readiness is probed live (2 s cache); on a busy machine one probe may time out.
    _until(
        lambda: all("not ready" not in r["text"] for r in _rows(browser).values()),
        30,
        "every model ready",
    )
    rows = _rows(browser)
    assert sorted(rows) == sorted(models)
    for spec in live_stack.manifest.models:
        text = rows[spec.name]["text"]
        assert spec.framework in text
        assert ("tfserving" if spec.framework == "tensorflow" else "torchserve") in text
        assert "not ready" not in text
        assert "ready" in text
    before = {m: int(rows[m]["requests"]) for m in models}

    counts = send_traffic(live_stack, rounds=10)
    assert counts == {"200": 10 * len(models), "400": len(models)}

    def moved() -> bool:
        now = _rows(browser)
        return all(
            int(now[m]["requests"]) >= before[m] + 11
            and int(now[m]["errors"]) >= 1
            and now[m]["p50"] != NONE
            and now[m]["rps"] not in (NONE, "0.00")
            for m in models
        )

    _until(moved, 20, "requests, errors, p50 and req/s to move on every row")
    errors = _text(browser, "errors")
    assert "client_error" in errors
    assert "400" in errors
    assert "circuit closed" in _text(browser, "backends")

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 10_000
    print(f"screenshot: {SCREENSHOT}")

    problems = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert problems == []
