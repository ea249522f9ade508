"""Static checks of the deploy files, each proven able to fail on a broken fixture:
hadolint (warning threshold) on every Dockerfile, `docker compose config -q` on the compose
file with each override, and the Compose Specification JSON schema on every compose file."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.deploy.conftest import FIXTURES, REPO

DOCKERFILES = sorted(
    str(p.relative_to(REPO))
    for p in REPO.rglob("Dockerfile*")
    if not {"tests", "build", ".venv", ".venv-tools", "node_modules"}
    & set(p.relative_to(REPO).parts)
)
COMPOSE_SETS = [
    ["docker-compose.yml"],
    ["docker-compose.yml", "docker-compose.cpu.yml"],
    ["docker-compose.yml", "docker-compose.cpu.yml", "docker-compose.compat.yml"],
]
COMPOSE_FILES = sorted({f for s in COMPOSE_SETS for f in s})


def test_every_image_has_a_dockerfile() -> None:
    assert DOCKERFILES == [
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


def test_the_cpu_override_drops_every_gpu_reservation(
    compose_binary: Path, compose_env: dict[str, str]
) -> None:
    def services(*files: str) -> dict[str, Any]:
        args = [str(compose_binary), "--project-directory", str(REPO)]
        for f in files:
            args += ["-f", str(REPO / f)]
        done = subprocess.run(
            [*args, "config", "--format", "json"],
            capture_output=True,
            text=True,
            env=compose_env,
            timeout=60,
            check=True,
        )
        result: dict[str, Any] = json.loads(done.stdout)["services"]
        return result

    gpu = services("docker-compose.yml")
    for name in ("tf-serving", "torchserve"):
        devices = gpu[name]["deploy"]["resources"]["reservations"]["devices"]
        assert devices[0]["capabilities"] == ["gpu"]
        assert devices[0]["driver"] == "nvidia"
        assert gpu[name]["image"].endswith(":0.1.0-gpu")
    cpu = services("docker-compose.yml", "docker-compose.cpu.yml")
    for name in ("tf-serving", "torchserve"):
        assert "deploy" not in cpu[name]
        assert cpu[name]["image"].endswith(":0.1.0")
    # Only the gateway is published beyond loopback-bound operator ports.
    for name, svc in cpu.items():
        for port in svc.get("ports", []):
            assert port["host_ip"] == "127.0.0.1", (name, port)
    assert all(svc["read_only"] for svc in cpu.values())
    assert all(svc["cap_drop"] == ["ALL"] for svc in cpu.values())


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
