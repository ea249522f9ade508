"""The cluster's config files parse with the real readers: the gateway's settings and route
table, the TF server's config loaders (TF Serving's own protos)."""

from __future__ import annotations

import pytest

from tests.k8s.checks import load_docs


def _deployment(docs, name):
    return next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == name)


def _configmap(docs, prefix):
    return next(
        d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith(prefix)
    )


def _write_mounted(docs, prefix, tmp_path):
    """The ConfigMap's files, as the pod sees them under /models/config."""
    out = tmp_path / prefix
    out.mkdir()
    for key, text in _configmap(docs, prefix)["data"].items():
        (out / key).write_text(text)
    return out


def test_gateway_env_is_known_to_its_settings(built, tmp_path, monkeypatch):
    from gateway.settings import GatewaySettings

    docs = load_docs(built["gpu"])
    env = {
        e["name"]: e["value"]
        for e in _deployment(docs, "gateway")["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    fields = {f"TANDEM_GATEWAY_{name.upper()}" for name in GatewaySettings.model_fields}
    assert set(env) <= fields, set(env) - fields  # the settings ignore unknown names silently
    config = _write_mounted(docs, "gateway-routes", tmp_path)
    keys = tmp_path / "api-keys"
    keys.write_text("k" * 32 + "\n")
    env["TANDEM_GATEWAY_ROUTES_FILE"] = str(config / "routes.json")
    env["TANDEM_GATEWAY_API_KEYS_FILE"] = str(keys)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    s = GatewaySettings()
    assert s.environment == "production"
    assert s.host == "0.0.0.0"
    assert s.port == 8000


def test_routes_parse_with_the_gateway_reader(built, tmp_path, manifest):
    from gateway.route_table import load_route_table

    config = _write_mounted(load_docs(built["gpu"]), "gateway-routes", tmp_path)
    table = load_route_table(config / "routes.json")
    assert set(table.models) == {m.name for m in manifest.models}
    assert table.backends["tfserving"].grpc_target == "tf-serving:8500"
    assert table.backends["torchserve"].rest_url == "http://torchserve:8080"
    assert table.backends["torchserve"].token_file is None


@pytest.mark.integration
def test_tf_configs_parse_with_tf_servings_protos(built, tmp_path, manifest):
    from tf_serving.server.config import (
        load_batching_parameters,
        load_model_config_file,
        load_monitoring_config,
    )

    config = _write_mounted(load_docs(built["gpu"]), "tf-serving-config", tmp_path)
    specs = load_model_config_file(config / "models.config")
    tf = [m for m in manifest.models if m.framework == "tensorflow"]
    assert [(s.name, str(s.base_path)) for s in specs] == [
        (m.name, f"/models/tensorflow/{m.name}") for m in tf
    ]
    assert load_batching_parameters(config / "batching_parameters.txt").max_batch_size == 32
    monitoring = load_monitoring_config(config / "monitoring.config")
    assert monitoring.prometheus_enabled
    assert monitoring.prometheus_path == "/monitoring/prometheus/metrics"


def test_torchserve_properties_are_for_the_cluster(built):
    for overlay, gpus in (("cpu", "0"), ("gpu", "1")):
        docs = load_docs(built[overlay])
        text = _configmap(docs, "torchserve-config")["data"]["config.properties"]
        props = dict(line.split("=", 1) for line in text.splitlines())
        assert props["number_of_gpu"] == gpus
        assert props["management_address"] == "http://127.0.0.1:8081"
        assert props["inference_address"] == "http://0.0.0.0:8080"
        assert props["disable_token_authorization"] == "true"
        assert props["model_store"] == "/models/torchserve/model-store"
