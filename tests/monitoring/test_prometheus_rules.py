"""The generated Prometheus config and alert rules, checked and unit-tested by Debian's
promtool (`promtool check config|rules`, `promtool test rules`)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from monitoring_testkit import tool

from tandem.configgen import write_configs
from tandem.manifest import Manifest, Objectives
from tandem.monitoring.prometheus import RULES_FILE, alert_rules, scrape_config

MLP_TF, CNN_TF, CNN_TORCH = "digits_mlp_tf", "digits_cnn_tf", "digits_cnn_torch"


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("promtool"), *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def _with_objective(manifest: Manifest, model: str, objectives: Objectives) -> Manifest:
    models = [
        m.model_copy(update={"objectives": objectives}) if m.name == model else m
        for m in manifest.models
    ]
    data = manifest.data.model_copy(update={"models": models})
    return Manifest(path=manifest.path, data=data, lines=manifest.lines)


def test_written_config_and_rules_pass_promtool_check(demo_manifest, tmp_path: Path) -> None:
    write_configs(demo_manifest, tmp_path / "config", tmp_path)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "api_key").write_text("tdm_key\n")  # `tandem up` writes it
    config = tmp_path / "config" / "prometheus.yml"
    checked = _promtool("check", "config", str(config), cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    rules = len(demo_manifest.models) * 2 + 3 + len(demo_manifest.twins)
    assert f"{rules} rules found" in checked.stdout


def test_scrape_targets_come_from_the_manifest(demo_manifest, tmp_path: Path) -> None:
    s = demo_manifest.data.servers
    doc = yaml.safe_load(scrape_config(demo_manifest, tmp_path))
    jobs = {j["job_name"]: j for j in doc["scrape_configs"]}
    assert jobs["gateway"]["static_configs"][0]["targets"] == [f"127.0.0.1:{s.gateway.port}"]
    assert jobs["gateway"]["authorization"]["credentials_file"] == str(tmp_path / "run/api_key")
    assert jobs["tfserving"]["metrics_path"] == "/monitoring/prometheus/metrics"
    assert jobs["tfserving"]["static_configs"][0]["targets"] == [
        f"127.0.0.1:{s.tfserving.rest_port}"
    ]
    assert jobs["torchserve"]["static_configs"][0]["targets"] == [
        f"127.0.0.1:{s.torchserve.metrics_port}"
    ]
    only_tf = demo_manifest.data.model_copy(
        update={"models": [m for m in demo_manifest.models if m.framework == "tensorflow"]}
    )
    tf_doc = yaml.safe_load(
        scrape_config(Manifest(path=demo_manifest.path, data=only_tf), tmp_path)
    )
    assert [j["job_name"] for j in tf_doc["scrape_configs"]] == ["gateway", "tfserving"]


def test_objectives_come_from_the_manifest(demo_manifest) -> None:
    manifest = _with_objective(demo_manifest, MLP_TF, Objectives(p99_ms=80, error_ratio=0.01))
    rules = yaml.safe_load(alert_rules(manifest))["groups"][0]["rules"]
    mine = {r["alert"]: r["expr"] for r in rules if r["labels"]["model"] == MLP_TF}
    assert mine["TandemModelLatencyHigh"].endswith("> 0.08")
    assert mine["TandemModelErrorRatioHigh"].endswith("> 0.01")
    other = {r["alert"]: r["expr"] for r in rules if r["labels"]["model"] == CNN_TF}
    default_ms = next(m for m in demo_manifest.models if m.name == CNN_TF).timeout_ms // 2
    assert other["TandemModelLatencyHigh"].endswith(f"> {default_ms / 1000:g}")
    assert other["TandemModelErrorRatioHigh"].endswith("> 0.05")


def _series(name: str, labels: dict[str, str], values: str) -> dict[str, str]:
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{inner}}}", "values": values}


def _rule_tests() -> dict[str, object]:
    req = "tandem_gateway_requests_total"
    ready = "tandem_gateway_model_ready"
    bucket = "tandem_gateway_request_duration_seconds_bucket"
    series = [
        # digits_mlp_tf: 20 of 120 requests a minute fail with 503 (16.67% > 1%) and are slow.
        _series(req, {"model": MLP_TF, "status": "200"}, "0+100x30"),
        _series(req, {"model": MLP_TF, "status": "503"}, "0+20x30"),
        _series(bucket, {"model": MLP_TF, "le": "0.1"}, "0+0x30"),
        _series(bucket, {"model": MLP_TF, "le": "0.25"}, "0+120x30"),
        _series(bucket, {"model": MLP_TF, "le": "+Inf"}, "0+120x30"),
        # digits_cnn_tf: 1 in 101 fails (under its 5%), all fast; 4xx never count.
        _series(req, {"model": CNN_TF, "status": "200"}, "0+100x30"),
        _series(req, {"model": CNN_TF, "status": "503"}, "0+1x30"),
        _series(req, {"model": CNN_TF, "status": "400"}, "0+50x30"),
        _series(bucket, {"model": CNN_TF, "le": "0.01"}, "0+151x30"),
        _series(bucket, {"model": CNN_TF, "le": "+Inf"}, "0+151x30"),
        _series("up", {"job": "torchserve", "instance": "127.0.0.1:8082"}, "0x30"),
        _series("up", {"job": "gateway", "instance": "127.0.0.1:8000"}, "1x30"),
        _series("tandem_gateway_circuit_open", {"backend": "torchserve"}, "0 0 1x30"),
        _series("tandem_gateway_circuit_open", {"backend": "tfserving"}, "0x30"),
        _series(
            "tandem_gateway_model_ready", {"model": CNN_TORCH, "backend": "torchserve"}, "0x30"
        ),
        _series(ready, {"model": CNN_TF, "backend": "tfserving"}, "1x30"),
    ]
    page = {"severity": "page"}
    return {
        "rule_files": [RULES_FILE],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    {
                        "eval_time": "10m",
                        "alertname": "TandemModelErrorRatioHigh",
                        "exp_alerts": [
                            {
                                "exp_labels": {**page, "model": MLP_TF},
                                "exp_annotations": {
                                    "summary": f"{MLP_TF}: more than 1% of requests fail with 5xx",
                                    "description": "5xx ratio over 5m is 16.67%.",
                                },
                            }
                        ],
                    },
                    {
                        "eval_time": "10m",
                        "alertname": "TandemModelLatencyHigh",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "warning", "model": MLP_TF},
                                "exp_annotations": {
                                    "summary": f"{MLP_TF}: p99 latency above its 80 ms objective",
                                    "description": "p99 over 5m is 248.5ms.",
                                },
                            }
                        ],
                    },
                    # `for: 5m` not yet elapsed: nothing fires.
                    {"eval_time": "4m", "alertname": "TandemModelLatencyHigh", "exp_alerts": []},
                    {
                        "eval_time": "5m",
                        "alertname": "TandemTargetDown",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    **page,
                                    "job": "torchserve",
                                    "instance": "127.0.0.1:8082",
                                },
                                "exp_annotations": {
                                    "summary": "torchserve at 127.0.0.1:8082 does not answer "
                                    "scrapes"
                                },
                            }
                        ],
                    },
                    {"eval_time": "2m", "alertname": "TandemCircuitOpen", "exp_alerts": []},
                    {
                        "eval_time": "5m",
                        "alertname": "TandemCircuitOpen",
                        "exp_alerts": [
                            {
                                "exp_labels": {**page, "backend": "torchserve"},
                                "exp_annotations": {
                                    "summary": "the gateway's circuit to torchserve is open: "
                                    "its requests fail fast with 503"
                                },
                            }
                        ],
                    },
                    {
                        "eval_time": "5m",
                        "alertname": "TandemModelNotReady",
                        "exp_alerts": [
                            {
                                "exp_labels": {**page, "model": CNN_TORCH, "backend": "torchserve"},
                                "exp_annotations": {
                                    "summary": f"{CNN_TORCH} does not answer on torchserve"
                                },
                            }
                        ],
                    },
                ],
            }
        ],
    }


def test_alert_rules_fire_as_intended(demo_manifest, tmp_path: Path) -> None:
    manifest = _with_objective(demo_manifest, MLP_TF, Objectives(p99_ms=80, error_ratio=0.01))
    (tmp_path / RULES_FILE).write_text(alert_rules(manifest))
    checked = _promtool("check", "rules", RULES_FILE, cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(_rule_tests(), sort_keys=False))
    tested = _promtool("test", "rules", "tests.yml", cwd=tmp_path)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_a_wrong_expectation_fails(demo_manifest, tmp_path: Path) -> None:
    """The rule test can fail: expecting the healthy model to alert is caught."""
    (tmp_path / RULES_FILE).write_text(alert_rules(demo_manifest))
    tests = _rule_tests()
    case = tests["tests"][0]["alert_rule_test"][0]  # type: ignore[index]
    case["exp_alerts"][0]["exp_labels"]["model"] = CNN_TF
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(tests, sort_keys=False))
    tested = _promtool("test", "rules", "tests.yml", cwd=tmp_path)
    assert tested.returncode != 0
    assert "TandemModelErrorRatioHigh" in tested.stdout + tested.stderr


@pytest.mark.parametrize("name", ["golden.yaml"])
def test_golden_manifest_rules_pass_promtool(name: str, tmp_path: Path) -> None:
    from tandem.manifest import load_manifest

    manifest = load_manifest(Path(__file__).resolve().parents[1] / "tandem" / "data" / name)
    (tmp_path / RULES_FILE).write_text(alert_rules(manifest))
    checked = _promtool("check", "rules", RULES_FILE, cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
