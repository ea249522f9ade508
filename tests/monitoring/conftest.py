"""Fixtures of the monitoring tests: the demo manifest, and an in-process gateway over its
routes whose backends are a failure-injecting stand-in (the adapter interface at the process
boundary). Helpers live in monitoring_testkit."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from monitoring_testkit import API_KEY, REPO, StandIn, tool

from gateway.app import create_app
from gateway.route_table import RouteTable
from gateway.settings import GatewaySettings
from tandem.configgen import routes
from tandem.manifest import Manifest, load_manifest


@pytest.fixture(scope="session")
def demo_manifest() -> Manifest:
    return load_manifest(REPO / "models.yaml")


@pytest.fixture
def stand_ins() -> dict[str, StandIn]:
    return {"tfserving": StandIn("tfserving"), "torchserve": StandIn("torchserve")}


@pytest.fixture
def make_gateway(
    demo_manifest: Manifest, stand_ins: dict[str, StandIn], tmp_path: Path
) -> Callable[..., httpx.AsyncClient]:
    """An in-process gateway over the demo manifest's route table, with settings overrides."""
    table = RouteTable.model_validate_json(routes(demo_manifest, tmp_path))

    def build(*, key: bool = False, **overrides: Any) -> httpx.AsyncClient:
        settings = GatewaySettings(
            api_keys=[API_KEY], ready_cache_s=0.0, access_log=False, **overrides
        )
        app = create_app(settings, table=table, backends=stand_ins)
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://gateway",
            headers={"X-API-Key": API_KEY} if key else {},
            timeout=10.0,
        )

    return build


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's headless Chromium through chromium-driver (selenium), console logs kept."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = tool("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    options.add_argument("--window-size=1400,900")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(tool("chromedriver")))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
