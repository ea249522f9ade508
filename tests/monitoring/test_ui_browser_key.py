"""`/ui` in headless Chromium where a key is needed (production settings): the page shows no
model until a valid API key is entered, refuses a wrong one, then shows every model. The
gateway runs for real under uvicorn on a free loopback port; its backends are the stand-in
(only access is under test here; figures are in test_ui_browser)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from monitoring_testkit import API_KEY

from gateway.app import create_app
from gateway.route_table import RouteTable
from gateway.settings import GatewaySettings
from tandem.configgen import routes
from tandem.stack.process import free_port

pytestmark = pytest.mark.integration


@pytest.fixture
def production_gateway(demo_manifest, stand_ins, tmp_path) -> Iterator[str]:
    settings = GatewaySettings(environment="production", api_keys=[API_KEY], access_log=False)
    table = RouteTable.model_validate_json(routes(demo_manifest, tmp_path))
    app = create_app(settings, table=table, backends=stand_ins)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _state(driver: Any) -> dict[str, Any]:
    return dict(
        driver.execute_script(
            """return {
              rows: [...document.querySelectorAll("tr[data-model]")].map((r) => r.dataset.model),
              form: getComputedStyle(document.getElementById("key-form")).display !== "none",
              content: !document.getElementById("content").hidden,
              problem: document.getElementById("problem").textContent,
            };"""
        )
    )


def _until(driver: Any, check: Any, what: str, timeout: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        state = _state(driver)
        if check(state):
            return state
        assert time.monotonic() < deadline, f"{what}: {state}"
        time.sleep(0.2)


def test_page_shows_nothing_without_a_valid_key(production_gateway, browser, demo_manifest):
    from selenium.webdriver.common.by import By

    browser.get(f"{production_gateway}/ui")
    state = _until(browser, lambda s: s["form"], "the key form")
    assert state["rows"] == []
    assert not state["content"]
    assert "needs an API key" in state["problem"]
    assert not any(m.name in browser.page_source for m in demo_manifest.models)

    browser.find_element(By.ID, "key").send_keys("not-the-key-0123456789")
    browser.find_element(By.CSS_SELECTOR, "#key-form button").click()
    state = _until(browser, lambda s: "refused" in s["problem"], "the refusal")
    assert state["rows"] == []

    browser.find_element(By.ID, "key").send_keys(API_KEY)
    browser.find_element(By.CSS_SELECTOR, "#key-form button").click()
    state = _until(browser, lambda s: len(s["rows"]) == len(demo_manifest.models), "the models")
    assert sorted(state["rows"]) == sorted(m.name for m in demo_manifest.models)
    assert not state["form"]
    # Only the two refused status calls may have logged anything.
    logs = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert all("401" in e["message"] for e in logs), logs
    assert len(logs) <= 2
