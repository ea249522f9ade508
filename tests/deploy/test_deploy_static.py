"""Static checks of the deploy files, each proven able to fail on a broken fixture:
hadolint (warning threshold) on every Dockerfile, `docker compose config -q` on the compose
file with each override, and the Compose Specification JSON schema on every compose file.
Plus the promises of the default stack: `docker compose up` in a clean clone needs nothing
that a clone lacks, runs on CPUs, and exports before any server starts."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.deploy.conftest import FIXTURES, REPO, compose_services

DOCKERFILES = sorted(
    str(p.relative_to(REPO))
    for p in REPO.rglob("Dockerfile*")
    if not {"tests", "build", ".venv", ".venv-tools", "node_modules"}
    & set(p.relative_to(REPO).parts)
)
COMPOSE_SETS = [
    ["docker-compose.yml"],
    ["docker-compose.yml", "docker-compose.gpu.yml"],
    ["docker-compose.yml", "docker-compose.compat.yml"],
    ["docker-compose.yml", "docker-compose.host.yml"],
    ["docker-compose.yml", "docker-compose.host.yml", "docker-compose.compat.yml"],
    ["docker-compose.yml", "docker-compose.host.yml", "docker-compose.gpu.yml"],
]
SERVERS = ("gateway", "tf-serving", "torchserve")
COMPOSE_FILES = sorted({f for s in COMPOSE_SETS for f in s})


def test_every_image_has_a_dockerfile() -> None:
    assert DOCKERFILES == [
        "deploy/Dockerfile.export",
        "gateway/Dockerfile",
        "k8s/model-fetch/Dockerfile",
        "tf_serving/Dockerfile",
        "tf_serving/Dockerfile.compat",
        "torchserve/Dockerfile",
    ]


def _hadolint(hadolint: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [hadolint, "--failure-threshold", "warning", "--no-color", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_hadolint_passes(hadolint: str, dockerfile: str) -> None:
    done = _hadolint(hadolint, REPO / dockerfile)
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_fails_the_broken_fixture(hadolint: str) -> None:
    done = _hadolint(hadolint, FIXTURES / "Dockerfile.broken")
    assert done.returncode == 1
    assert "DL3007" in done.stdout  # FROM ...:latest
    assert "DL3008" in done.stdout  # apt package without a version


def _config(
    binary: Path, env: dict[str, str], files: list[Path], profiles: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    args = [str(binary), "--project-directory", str(REPO)]
    for f in files:
        args += ["-f", str(f)]
    for p in profiles:
        args += ["--profile", p]
    return subprocess.run(
        [*args, "config", "-q"], capture_output=True, text=True, env=env, timeout=60, check=False
    )


@pytest.mark.parametrize("profiles", [(), ("monitoring",)], ids=["default", "monitoring"])
@pytest.mark.parametrize("files", COMPOSE_SETS, ids=lambda s: "+".join(s))
def test_compose_config_accepts(
    compose_binary: Path, compose_env: dict[str, str], files: list[str], profiles: tuple[str, ...]
) -> None:
    done = _config(compose_binary, compose_env, [REPO / f for f in files], profiles)
    assert done.returncode == 0, done.stderr


def test_compose_config_refuses_the_broken_fixture(
    compose_binary: Path, compose_env: dict[str, str]
) -> None:
    done = _config(compose_binary, compose_env, [FIXTURES / "compose.broken-config.yml"])
    assert done.returncode != 0
    assert "torchserve" in done.stderr


def test_the_default_runs_on_cpus_and_the_gpu_override_adds_the_devices(
    compose_binary: Path, compose_env: dict[str, str]
) -> None:
    cpu = compose_services(compose_binary, compose_env, "docker-compose.yml")
    for name in ("tf-serving", "torchserve"):
        assert "deploy" not in cpu[name], name
        assert cpu[name]["image"].endswith(":0.1.0"), name
    assert cpu["torchserve"]["build"]["args"]["VARIANT"] == "cpu"
    gpu = compose_services(
        compose_binary, compose_env, "docker-compose.yml", "docker-compose.gpu.yml"
    )
    for name in ("tf-serving", "torchserve"):
        devices = gpu[name]["deploy"]["resources"]["reservations"]["devices"]
        assert devices[0]["capabilities"] == ["gpu"]
        assert devices[0]["driver"] == "nvidia"
        assert gpu[name]["image"].endswith(":0.1.0-gpu")
    assert gpu["torchserve"]["build"]["args"]["VARIANT"] == "gpu"
    assert "deploy" not in gpu["export"]  # the export trains the demo models on the CPU
    # Only the gateway is published beyond loopback-bound operator ports.
    for name, svc in cpu.items():
        for port in svc.get("ports", []):
            assert port["host_ip"] == "127.0.0.1", (name, port)
    assert all(svc["read_only"] for svc in cpu.values())
    assert all(svc["cap_drop"] == ["ALL"] for svc in cpu.values())


def _clean_env() -> dict[str, str]:
    """No TANDEM_* or COMPOSE_* variable and no --env-file: a new user's shell."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("TANDEM_", "COMPOSE_"))}


@pytest.mark.parametrize("profiles", [(), ("monitoring",)], ids=["default", "monitoring"])
def test_a_clean_clone_has_every_file_the_default_stack_mounts(
    compose_binary: Path, profiles: tuple[str, ...]
) -> None:
    """The issue's failure: `up` stopped at a bind source (build/compose/api_keys) that only
    host-side preparation wrote. Every bind source and secret file of the default stack must
    be a file or directory git tracks (the build secret `ca` is the host's CA bundle)."""
    services = compose_services(
        compose_binary, _clean_env(), "docker-compose.yml", profiles=profiles
    )
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, timeout=60, check=True
    ).stdout.splitlines()
    in_clone = {REPO, *(REPO / t for t in tracked)}
    in_clone |= {d for t in tracked for d in (REPO / t).parents}
    for name, svc in services.items():
        for mount in svc.get("volumes", []):
            if mount["type"] == "bind":
                assert Path(mount["source"]) in in_clone, (name, mount)
        assert "secrets" not in svc, name
        assert "env_file" not in svc, name


def test_every_server_starts_after_the_export_succeeded(
    compose_binary: Path, compose_env: dict[str, str]
) -> None:
    services = compose_services(
        compose_binary, compose_env, "docker-compose.yml", profiles=("monitoring",)
    )
    export = services["export"]
    assert export["image"] == "tandem/export:0.1.0"
    assert export["build"]["dockerfile"] == "deploy/Dockerfile.export"
    assert "ports" not in export
    assert export["networks"] == {"backend": None}  # internal: for --rollout only
    writable = {m["target"] for m in export["volumes"] if not m.get("read_only")}
    assert writable == {"/models", "/run/tandem/keys"}
    for name in (*SERVERS, "prometheus"):
        assert services[name]["depends_on"]["export"] == {
            "condition": "service_completed_successfully",
            "required": True,
        }, name
        [models] = [m for m in services[name]["volumes"] if m["target"] == "/models"]
        assert (models["type"], models["source"], models["read_only"]) == (
            "volume",
            "models",
            True,
        )
    assert services["gateway"]["environment"]["TANDEM_GATEWAY_API_KEYS_FILE"] == (
        "/models/config/api_keys"
    )
    # Prometheus reads its key (0600, the export's uid) from the `keys` volume.
    prometheus = services["prometheus"]
    assert prometheus["user"] == "10001:10001"
    [keys] = [m for m in prometheus["volumes"] if m["target"] == "/run/secrets"]
    assert (keys["source"], keys["read_only"]) == ("keys", True)
    assert "--config.file=/models/prometheus/prometheus.yml" in prometheus["command"]


def test_the_host_override_runs_on_a_host_build_directory(
    compose_binary: Path, compose_env: dict[str, str]
) -> None:
    services = compose_services(
        compose_binary, compose_env, "docker-compose.yml", "docker-compose.host.yml"
    )
    assert "export" not in services  # its profile is never enabled
    build = Path(compose_env["TANDEM_BUILD_DIR"])
    for name in SERVERS:
        assert "export" not in services[name].get("depends_on", {}), name
        mounts = {m["target"]: m for m in services[name]["volumes"]}
        assert mounts["/models"]["source"] == str(build)
        assert mounts["/models/config"]["source"] == str(build / "compose" / "config")
    # The gateway reads the hashes where it does in the default stack.
    assert (build / "compose" / "config" / "api_keys").is_file()


def test_the_export_image_shares_the_compat_servers_tensorflow_layer() -> None:
    """Dockerfile.export repeats Dockerfile.compat down to its TensorFlow install, line for
    line, so BuildKit builds that layer once for both (the compat override's case)."""
    compat = (REPO / "tf_serving" / "Dockerfile.compat").read_text().splitlines()
    start = compat.index("ARG BASE_IMAGE=debian:12.11-slim")
    end = next(i for i, line in enumerate(compat) if "-r /tmp/requirements.txt" in line)
    shared = "\n".join(compat[start : end + 1])
    export = (REPO / "deploy" / "Dockerfile.export").read_text()
    assert shared in export
    assert export.count("FROM ") == 3


class _ComposeLoader(yaml.SafeLoader):
    """YAML as the schema sees it: compose's merge tags (!reset, !override) are plain values."""


def _plain(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


_ComposeLoader.add_multi_constructor("!", _plain)


@pytest.fixture(scope="module")
def compose_schema() -> jsonschema.protocols.Validator:
    """The Compose Specification schema that PyPI's check-jsonschema vendors."""
    import check_jsonschema

    path = Path(check_jsonschema.__file__).parent / "builtin_schemas/vendor/compose-spec.json"
    schema = json.loads(path.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _schema_errors(validator: jsonschema.protocols.Validator, path: Path) -> list[str]:
    doc = yaml.load(path.read_text(), Loader=_ComposeLoader)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_compose_files_match_the_compose_specification(
    compose_schema: jsonschema.protocols.Validator, name: str
) -> None:
    assert _schema_errors(compose_schema, REPO / name) == []


def test_the_schema_refuses_the_broken_fixture(
    compose_schema: jsonschema.protocols.Validator,
) -> None:
    errors = _schema_errors(compose_schema, FIXTURES / "compose.broken-schema.yml")
    assert any("healtcheck" in e for e in errors), errors
    assert any("ports" in e for e in errors), errors
