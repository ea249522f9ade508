"""The compose `monitoring` profile (Prometheus + Grafana), checked statically: the images
cannot be pulled here. Its prometheus.yml and rules pass promtool, its Grafana provisioning
points at files that are mounted and at the Prometheus service; broken fixtures fail."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from deploy import compose
from tandem.manifest import load_manifest
from tandem.monitoring.prometheus import RULES_FILE
from tests.deploy.conftest import FIXTURES, REPO

PROVISIONING = REPO / "monitoring" / "grafana" / "provisioning"
MONITORING = ("prometheus", "grafana")


def _promtool(promtool: str, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, "check", "config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_compose_prometheus_config_and_rules_pass_promtool(
    promtool: str, compose_env: dict[str, str], tmp_path: Path
) -> None:
    rendered = Path(compose_env["TANDEM_BUILD_DIR"]) / "compose"
    config_text = (rendered / "prometheus" / "prometheus.yml").read_text()
    doc = yaml.safe_load(config_text)
    gateway = next(j for j in doc["scrape_configs"] if j["job_name"] == "gateway")
    secret = gateway["authorization"]["credentials_file"]
    assert secret == "/run/secrets/prometheus_api_key"
    # promtool opens the key file: point it at the rendered one (the secret's source).
    (tmp_path / "prometheus.yml").write_text(
        config_text.replace(secret, str(rendered / "prometheus_api_key"))
    )
    (tmp_path / RULES_FILE).write_text((rendered / "prometheus" / RULES_FILE).read_text())
    checked = _promtool(promtool, tmp_path / "prometheus.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    manifest = load_manifest(REPO / "models.yaml")
    # two per model, three for the services, one agreement alert per twin
    rules = len(manifest.models) * 2 + 3 + len(manifest.twins)
    assert f"{rules} rules found" in checked.stdout


def test_promtool_refuses_the_broken_fixture(promtool: str) -> None:
    checked = _promtool(promtool, FIXTURES / "prometheus.broken.yml")
    assert checked.returncode != 0
    assert "bearer_token" in checked.stdout + checked.stderr


def test_compose_prometheus_scrapes_the_services_by_name(
    monitoring_services: dict[str, Any],
) -> None:
    doc = yaml.safe_load(compose.prometheus_config(load_manifest(REPO / "models.yaml")))
    targets = {j["job_name"]: j["static_configs"][0]["targets"] for j in doc["scrape_configs"]}
    assert targets == {
        "gateway": ["gateway:8000"],
        "tfserving": ["tf-serving:8501"],
        "torchserve": ["torchserve:8082"],
    }
    assert doc["global"]["external_labels"] == {"tandem": "compose"}
    prometheus = monitoring_services["prometheus"]
    for target in (t for ts in targets.values() for t in ts):
        service = monitoring_services[target.split(":")[0]]
        assert set(prometheus["networks"]) & set(service["networks"]), target
    assert [s["source"] for s in prometheus["secrets"]] == ["prometheus_api_key"]


def test_the_scrape_key_is_the_prometheus_users_own_and_the_gateway_accepts_it(
    compose_env: dict[str, str],
) -> None:
    rendered = Path(compose_env["TANDEM_BUILD_DIR"]) / "compose"
    key = rendered / "prometheus_api_key"
    assert key.stat().st_mode & 0o777 == 0o600
    user = dict(line.split("=", 1) for line in (rendered / "compose.env").read_text().split())
    uid, gid = (int(x) for x in user["TANDEM_PROMETHEUS_USER"].split(":"))
    assert uid != 0
    assert (key.stat().st_uid, key.stat().st_gid) == (uid, gid)
    hashes = (rendered / "api_keys").read_text().splitlines()
    assert compose._sha256(key).strip() in hashes
    assert key.read_text().strip() not in (rendered / "api_keys").read_text()


def test_monitoring_services_are_hardened_and_only_grafana_is_published(
    monitoring_services: dict[str, Any],
) -> None:
    for name in MONITORING:
        svc = monitoring_services[name]
        assert svc["profiles"] == ["monitoring"], name
        assert svc["read_only"] is True, name
        assert svc["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in svc["security_opt"], name
        assert not svc["user"].startswith("0"), name
        assert svc["healthcheck"]["test"][0] == "CMD", name
        tag = svc["image"].partition(":")[2]
        assert tag not in ("", "latest"), name
    assert "ports" not in monitoring_services["prometheus"]
    [port] = monitoring_services["grafana"]["ports"]
    assert (port["host_ip"], port["target"]) == ("127.0.0.1", 3000)


def provisioning_problems(services: dict[str, Any], provisioning: Path) -> list[str]:
    """Where Grafana's provisioning (as mounted by the grafana service) does not fit the
    compose file: a Prometheus datasource URL that names no prometheus service, a dashboard
    folder no bind mount fills, a mounted dashboard file that does not exist."""
    problems: list[str] = []
    grafana = services["grafana"]
    mounts = {v["target"]: Path(v["source"]) for v in grafana["volumes"] if v["type"] == "bind"}
    for path in sorted(provisioning.glob("datasources/*.y*ml")):
        for ds in yaml.safe_load(path.read_text())["datasources"]:
            if ds["type"] != "prometheus":
                continue
            url = urlsplit(ds["url"])
            target = services.get(url.hostname or "")
            if target is None or not target["image"].startswith("prom/prometheus:"):
                problems.append(f"{path.name}: {ds['url']} is no prometheus service")
            elif f"--web.listen-address=:{url.port}" not in target["command"]:
                problems.append(f"{path.name}: Prometheus does not listen on {url.port}")
            elif not set(target["networks"]) & set(grafana["networks"]):
                problems.append(f"{path.name}: Grafana shares no network with {url.hostname}")
    for path in sorted(provisioning.glob("dashboards/*.y*ml")):
        for provider in yaml.safe_load(path.read_text())["providers"]:
            folder = provider["options"]["path"].rstrip("/")
            files = {t: s for t, s in mounts.items() if t.rsplit("/", 1)[0] == folder}
            if not files:
                problems.append(f"{path.name}: nothing is mounted in {folder}")
            missing = [s for s in files.values() if not s.is_file()]
            problems += [f"{path.name}: {s} does not exist" for s in missing]
    return problems


def test_grafana_provisioning_fits_the_compose_file(monitoring_services: dict[str, Any]) -> None:
    mounts = {
        v["target"]: Path(v["source"])
        for v in monitoring_services["grafana"]["volumes"]
        if v["type"] == "bind"
    }
    assert mounts["/etc/grafana/provisioning"] == PROVISIONING
    assert mounts["/etc/tandem/dashboards/tandem.json"] == REPO / "monitoring/grafana/tandem.json"
    assert provisioning_problems(monitoring_services, PROVISIONING) == []


def test_the_provisioning_check_refuses_the_broken_fixture(
    monitoring_services: dict[str, Any],
) -> None:
    problems = provisioning_problems(monitoring_services, FIXTURES / "grafana-broken")
    assert any("prometheus-server:9090 is no prometheus service" in p for p in problems), problems
    assert any("nothing is mounted in /var/lib/grafana/dashboards" in p for p in problems)


def test_the_provisioning_check_sees_a_missing_dashboard_file(
    monitoring_services: dict[str, Any],
) -> None:
    grafana = dict(monitoring_services["grafana"])
    grafana["volumes"] = [
        {**v, "source": str(REPO / "monitoring/grafana/missing.json")}
        if v["target"].endswith("tandem.json")
        else v
        for v in grafana["volumes"]
    ]
    problems = provisioning_problems({**monitoring_services, "grafana": grafana}, PROVISIONING)
    assert problems == [f"tandem.yml: {REPO}/monitoring/grafana/missing.json does not exist"]
