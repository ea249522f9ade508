"""`pip install tandem-serving` as a user does it, in clean venvs: the base install runs every
command that needs no ML framework, a command that needs an extra names it in one line, and
`[loadtest]` runs a real load test (issue 15: a CLI that feels finished)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tandem.k8s.render import current_repository
from tandem.manifest import SCHEMA_PATH
from tests.cli.venvs import PYPROJECT, REPO, Venv

pytestmark = pytest.mark.integration

VERSION = PYPROJECT["project"]["version"]


@pytest.fixture(scope="module")
def base(make_venv: Callable[[str | None], Venv]) -> Venv:
    return make_venv(None)


@pytest.fixture(scope="module")
def loadtest_venv(make_venv: Callable[[str | None], Venv]) -> Venv:
    return make_venv("loadtest")


def _one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The contract of every failing command: exit 2, one `error:` line, no traceback."""
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_base_install_brings_no_ml_framework_nor_server(base: Venv) -> None:
    for module in ("torch", "tensorflow", "ts", "fastapi", "uvicorn", "grpc", "hdrh", "fsspec"):
        assert not base.has(module), f"the base install pulled {module}"
    for module in ("typer", "rich", "httpx", "psutil", "yaml", "pydantic"):
        assert base.has(module), f"the base install lacks {module}"


def test_help_version_and_python_dash_m(base: Venv, tmp_path: Path) -> None:
    top = base.run("tandem", "--help", cwd=tmp_path)
    assert top.returncode == 0, top.stderr
    for command in ("export", "up", "down", "rollout", "loadtest", "k8s", "schema"):
        assert f" {command} " in top.stdout
    # Every command's --help needs no extra: nothing heavy is imported to describe it.
    for argv in (["export"], ["up"], ["loadtest"], ["rollout"], ["inspect"], ["k8s", "render"]):
        sub = base.run("tandem", *argv, "--help", cwd=tmp_path)
        assert sub.returncode == 0, (argv, sub.stderr)
        assert "Usage: tandem " + " ".join(argv) in sub.stdout
    version = base.run("tandem", "--version", cwd=tmp_path)
    assert (version.returncode, version.stdout) == (0, f"tandem {VERSION}\n")
    module = base.run("python", "-m", "tandem", "--help", cwd=tmp_path)
    assert module.returncode == 0, module.stderr
    assert "Usage: tandem " in module.stdout


def test_shell_completion_completes_commands(base: Venv, tmp_path: Path) -> None:
    script = base.run("tandem", "--show-completion", cwd=tmp_path, env={"SHELL": "/bin/bash"})
    assert script.returncode == 0, script.stderr
    assert "_TANDEM_COMPLETE=complete_bash" in script.stdout
    # What the installed script asks for on <TAB> after `tandem k8`.
    env = {"_TANDEM_COMPLETE": "complete_bash", "COMP_WORDS": "tandem k8", "COMP_CWORD": "1"}
    done = base.run("tandem", cwd=tmp_path, env=env)
    assert (done.returncode, done.stdout.split()) == (0, ["k8s"])


def test_framework_free_commands_run_on_the_base_install(base: Venv, tmp_path: Path) -> None:
    build = tmp_path / "build"
    configs = base.run("tandem", "configs", "-m", str(REPO / "models.yaml"), "-o", str(build),
                       cwd=tmp_path)  # fmt: skip
    assert configs.returncode == 0, configs.stderr
    routes = json.loads((build / "config" / "routes.json").read_text())
    assert set(routes["models"]) >= {"digits_mlp_tf", "digits_mlp_torch"}

    tree, built = tmp_path / "k8s", tmp_path / "built"
    repository = current_repository(REPO / "k8s")
    assert repository is not None
    render = base.run(
        "tandem", "k8s", "render", "-m", str(REPO / "models.yaml"), "--tree", str(tree),
        "--out", str(built), "--build", str(build), "--model-repository", repository,
        cwd=tmp_path,
    )  # fmt: skip
    assert render.returncode == 0, render.stderr
    # The base install renders exactly the committed tree.
    rendered = sorted(p.relative_to(tree) for p in tree.rglob("*") if p.is_file())
    assert rendered
    for rel in rendered:
        assert (tree / rel).read_text() == (REPO / "k8s" / rel).read_text(), rel
    assert {p.name for p in built.glob("*.yaml")} >= {"cpu.yaml", "gpu.yaml"}

    schema = base.run("tandem", "schema", cwd=tmp_path)
    assert schema.returncode == 0, schema.stderr
    assert schema.stdout == (REPO / SCHEMA_PATH).read_text()

    down = base.run("tandem", "down", "-o", str(build), cwd=tmp_path)
    assert (down.returncode, down.stdout.strip()) == (0, "nothing was running")


@pytest.fixture
def saved_model_dir(tmp_path: Path) -> Path:
    """Looks like a SavedModel directory: reading its signature needs TensorFlow."""
    path = tmp_path / "half_plus_two" / "1"
    path.mkdir(parents=True)
    (path / "saved_model.pb").write_bytes(b"\x08\x01")
    return path


@pytest.mark.parametrize(
    ("argv", "extra"),
    [
        (["export", "-m", "{manifest}", "-o", "{tmp}/build"], "export"),
        (["up", "-m", "{manifest}", "-o", "{tmp}/build"], "stack"),
        (["rollout", "digits_mlp_tf", "-m", "{manifest}", "-o", "{tmp}/build"], "export"),
        (["loadtest", "--quick", "--build", "{tmp}/build"], "loadtest"),
        (["inspect", "{saved_model}"], "export"),
    ],
    ids=["export", "up", "rollout", "loadtest", "inspect"],
)
def test_a_command_without_its_extra_names_it_in_one_line(
    base: Venv, tmp_path: Path, saved_model_dir: Path, argv: list[str], extra: str
) -> None:
    values = {"manifest": str(REPO / "models.yaml"), "tmp": str(tmp_path),
              "saved_model": str(saved_model_dir)}  # fmt: skip
    proc = base.run("tandem", *(a.format(**values) for a in argv), cwd=tmp_path)
    line = _one_error_line(proc)
    assert line.startswith(f"error: 'tandem {argv[0]}' needs the {extra} extra (")
    assert line.endswith(f"pip install 'tandem-serving[{extra}]'")
    assert not (tmp_path / "build").exists() or argv[0] == "loadtest"  # failed before work


@pytest.fixture
def delay_server(loadtest_venv: Venv) -> Iterator[str]:
    """The project's trivial HTTP server (the generator's yardstick), from the venv."""
    argv = [str(loadtest_venv.python), "-m", "tandem.loadtest.delay_server",
            "--delay-ms", "1", "--lifetime-s", "120"]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("ready "), line
    yield f"http://127.0.0.1:{int(line.split()[1])}"
    proc.kill()
    proc.wait(timeout=30)
    proc.stdout.close()


def test_loadtest_extra_runs_a_real_load_test(
    loadtest_venv: Venv, delay_server: str, tmp_path: Path
) -> None:
    assert loadtest_venv.run("tandem", "loadtest", "--help", cwd=tmp_path).returncode == 0
    spec = {
        "framework": "tensorflow",
        "versions": [1],
        "default_version": 1,
        "inputs": [{"name": "pixels", "dtype": "float32", "shape": [-1, 64]}],
        "outputs": [{"name": "label", "dtype": "int64", "shape": [-1]}],
    }
    tfserving = {"kind": "tfserving", "rest_url": delay_server, "grpc_target": "127.0.0.1:9"}
    routes = {
        "schema_version": 1,
        "backends": {"tfserving": tfserving},
        "models": {"m": {**spec, "backend": "tfserving", "upstream_name": "m"}},
    }
    build = tmp_path / "build"
    (build / "config").mkdir(parents=True)
    (build / "config" / "routes.json").write_text(json.dumps(routes))
    out = tmp_path / "report"
    common = ["--quick", "--build", str(build), "--manifest", str(tmp_path / "none.yaml"),
              "--gateway", delay_server, "--window-s", "0.2", "--max-windows", "3"]  # fmt: skip
    proc = loadtest_venv.run("tandem", "loadtest", *common, "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # A wheel built from a fresh clone has no gRPC stubs: every other path still runs.
    assert "direct-grpc left out: gateway protobuf stubs are missing" in proc.stdout
    report = json.loads((out / "report.json").read_text())
    points = report["points"]
    assert {p["path"] for p in points} == {
        "direct-rest", "gateway-v1", "gateway-v2-json", "gateway-v2-binary"
    }  # fmt: skip
    assert all(p["errors"] == {} and p["throughput_rps"] > 0 for p in points), points
    assert report["meta"]["generator_ceiling_rps"] > 0  # the calibration ran too

    asked = loadtest_venv.run("tandem", "loadtest", *common, "--paths", "direct-grpc",
                              "--out", str(tmp_path / "grpc"), cwd=tmp_path)  # fmt: skip
    assert asked.returncode == 1
    assert asked.stderr.splitlines() == [
        "error: direct-grpc: gateway protobuf stubs are missing; "
        "run `python -m gateway.protos.build`"
    ]


def test_storage_push_without_fsspec_names_the_k8s_extra(base: Venv, tmp_path: Path) -> None:
    (tmp_path / "build" / "tensorflow").mkdir(parents=True)
    proc = base.run("python", "-m", "tandem.k8s.storage", "push", str(tmp_path / "build"),
                    f"file://{tmp_path}/repo", "tensorflow", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        "model repository: fsspec is not installed: pip install 'tandem-serving[k8s]' "
        "(fsspec; s3fs or gcsfs for s3:// or gs://)"
    ]
