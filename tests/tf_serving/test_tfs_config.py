"""Config-file parsing (real TF Serving text formats) and start-up failures (exit 2)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tfs_harness import run_server_expecting_exit

from tf_serving.server import config as cfg
from tf_serving.server.errors import ConfigError

GOOD = """
model_config_list {
  config { name: "a" base_path: "rel/a" model_platform: "tensorflow" }
  config {
    name: "b"
    base_path: "/abs/b"
    model_version_policy { all {} }
    version_labels { key: "stable" value: 3 }
  }
  config { name: "c" base_path: "/c" model_version_policy { latest { num_versions: 2 } } }
  config { name: "d" base_path: "/d" model_version_policy { specific { versions: 4 } } }
}
"""


def test_parse_model_config(tmp_path: Path) -> None:
    a, b, c, d = cfg.parse_model_server_config(GOOD, tmp_path)
    assert a.base_path == (tmp_path / "rel" / "a").resolve()
    assert a.policy == cfg.VersionPolicy()
    assert b.base_path == Path("/abs/b")
    assert b.policy.kind == "all"
    assert b.labels == {"stable": 3}
    assert c.policy.select([1, 2, 3]) == {2, 3}
    assert d.policy.select([1, 4, 5]) == {4}
    assert b.policy.select([1, 2]) == {1, 2}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("model_config_list { config { name: 'a' } }", "has no base_path"),
        ("model_config_list { config { base_path: '/x' } }", "empty name"),
        (
            "model_config_list { config { name: 'a' base_path: '/x' } "
            "config { name: 'a' base_path: '/y' } }",
            "duplicate model name",
        ),
        (
            "model_config_list { config { name: 'a' base_path: '/x' model_platform: 'pytorch' } }",
            "unsupported platform",
        ),
        ("model_config_list { bogus: 1 }", "Invalid model config file"),
        ("not a proto", "Invalid model config file"),
    ],
)
def test_bad_model_config(tmp_path: Path, text: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        cfg.parse_model_server_config(text, tmp_path)


def test_batching_parameters(tmp_path: Path) -> None:
    path = tmp_path / "batching.config"
    path.write_text(
        "max_batch_size { value: 8 } batch_timeout_micros { value: 500 } "
        "num_batch_threads { value: 2 } allowed_batch_sizes: 4 allowed_batch_sizes: 8"
    )
    got = cfg.load_batching_parameters(path)
    assert got.max_batch_size == 8
    assert got.batch_timeout_micros == 500
    assert got.max_enqueued_batches == 10  # TF Serving's default
    assert got.num_batch_threads == 2
    assert got.allowed_batch_sizes == (4, 8)


def test_batch_threads_default_to_the_usable_cores(tmp_path: Path) -> None:
    path = tmp_path / "batching.config"
    path.write_text("max_batch_size { value: 8 }")
    assert cfg.load_batching_parameters(path).num_batch_threads == cfg.usable_cores()


@pytest.mark.parametrize(
    ("cpu_max", "cap"),
    [("150000 100000", 2), ("100000 100000", 1), ("50000 100000", 1), ("max 100000", None)],
)
def test_usable_cores_honour_a_cgroup_cpu_quota(tmp_path: Path, cpu_max: str, cap: int) -> None:
    affinity = len(os.sched_getaffinity(0))
    (tmp_path / "cpu.max").write_text(cpu_max + "\n")
    expected = affinity if cap is None else min(affinity, cap)
    assert cfg.usable_cores(tmp_path) == expected


def test_usable_cores_without_a_cgroup_file(tmp_path: Path) -> None:
    assert cfg.usable_cores(tmp_path) == len(os.sched_getaffinity(0))


@pytest.mark.parametrize(
    "text",
    [
        "max_batch_size { value: 8 } allowed_batch_sizes: 4",
        "max_batch_size { value: 8 } allowed_batch_sizes: 8 allowed_batch_sizes: 4",
        "max_batch_size { value: 0 }",
        "max_batch_size: 8",
    ],
)
def test_bad_batching_parameters(tmp_path: Path, text: str) -> None:
    path = tmp_path / "batching.config"
    path.write_text(text)
    with pytest.raises(ConfigError):
        cfg.load_batching_parameters(path)


def test_monitoring_config(tmp_path: Path) -> None:
    path = tmp_path / "monitoring.config"
    path.write_text("prometheus_config { enable: true }")
    assert cfg.load_monitoring_config(path) == cfg.MonitoringSettings(
        True, cfg.DEFAULT_PROMETHEUS_PATH
    )
    path.write_text('prometheus_config { enable: true path: "/m" }')
    assert cfg.load_monitoring_config(path).prometheus_path == "/m"
    assert not cfg.load_monitoring_config(None).prometheus_enabled
    path.write_text("prometheus_config { enable: maybe }")
    with pytest.raises(ConfigError, match="Invalid monitoring file"):
        cfg.load_monitoring_config(path)


@pytest.mark.integration
def test_bad_configs_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.config"
    bad.write_text("model_config_list { config { name: 'a' ")
    good = tmp_path / "good.config"
    good.write_text(f"model_config_list {{ config {{ name: 'a' base_path: '{tmp_path}' }} }}")
    bad_batching = tmp_path / "batching.config"
    bad_batching.write_text("max_batch_size { value: -1 }")
    cases = [
        ([f"--model_config_file={bad}"], "Invalid model config file"),
        ([f"--model_config_file={tmp_path / 'missing.config'}"], "Cannot read model config file"),
        (
            [
                f"--model_config_file={good}",
                "--enable_batching",
                "--batching_parameters_file",
                str(bad_batching),
            ],
            "max_batch_size",
        ),
        ([], "model_config_file and model_base_path are empty"),
        (["--no_such_flag=1"], "unrecognized arguments"),
    ]
    for flags, fragment in cases:
        result = run_server_expecting_exit(*flags)
        assert result.returncode == 2, (flags, result.stderr[-2000:])
        assert fragment in result.stderr, (flags, result.stderr[-2000:])


def test_version_flag_prints_banner() -> None:
    result = run_server_expecting_exit("--version")
    assert result.returncode == 0
    assert "Tandem's TF-Serving-compatible server (not TensorFlow Serving)" in result.stdout
