"""The extras table of tandem/extras.py against pyproject.toml, the missing-extra error as a
table, and the fsspec pins that pyproject, constraints.txt and the model-fetch image share."""

from __future__ import annotations

import importlib.metadata as md
import re

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from tandem.errors import ExportError, MissingExtraError
from tandem.extras import DISTRIBUTION, EXTRA_MODULES, from_import_error, require
from tests.cli.venvs import PYPROJECT, REPO

EXTRAS: dict[str, list[str]] = PYPROJECT["project"]["optional-dependencies"]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared(extra: str) -> set[str]:
    """Distributions an extra declares, its self-references (`tandem-serving[a,b]`) followed."""
    names: set[str] = set()
    for line in EXTRAS[extra]:
        req = Requirement(line)
        if _norm(req.name) == DISTRIBUTION:
            for inner in req.extras:
                names |= _declared(inner)
        else:
            names.add(_norm(req.name))
    return names


def _closure(names: set[str]) -> set[str]:
    """`names` and everything they require in this (dev) environment."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = md.requires(name) or []
        except md.PackageNotFoundError:
            continue
        todo += [_norm(Requirement(r).name) for r in requires if "extra ==" not in r]
    return seen


def test_distribution_name_is_pyprojects() -> None:
    assert PYPROJECT["project"]["name"] == DISTRIBUTION


@pytest.mark.parametrize("extra", sorted(EXTRA_MODULES))
def test_every_module_of_an_extra_comes_with_that_extra(extra: str) -> None:
    assert extra in EXTRAS, f"{extra} is not an extra of pyproject.toml"
    brought = _closure(_declared(extra))
    providers = md.packages_distributions()
    for module in EXTRA_MODULES[extra]:
        dists = {_norm(d) for d in providers.get(module.split(".")[0], [])}
        assert dists, f"{module}: not installed in the dev environment"
        assert dists & brought, f"{module} ({sorted(dists)}) does not come with [{extra}]"


def test_dev_pulls_every_extra() -> None:
    reqs = [Requirement(line) for line in EXTRAS["dev"]]
    dev = {e for r in reqs if _norm(r.name) == DISTRIBUTION for e in r.extras}
    assert dev == set(EXTRAS) - {"dev"}


def test_the_base_install_is_framework_free() -> None:
    base = {_norm(Requirement(r).name) for r in PYPROJECT["project"]["dependencies"]}
    assert {"typer", "rich", "httpx", "psutil"} <= base  # the CLI runs on the base install
    heavy = {"torch", "tensorflow", "torchserve", "fastapi", "grpcio", "fsspec", "locust"}
    assert not _closure(base) & heavy


@pytest.mark.parametrize(
    ("missing", "preferred", "extra"),
    [
        ("torch", None, "export"),
        ("tensorflow", None, "export"),  # export before tf-server: the first that lists it
        ("tensorflow_serving", "stack", "stack"),  # a command's own extra first
        ("fastapi", None, "gateway"),
        ("fastapi", "stack", "stack"),
        ("hdrh", None, "loadtest"),
        ("grpc", "loadtest", "loadtest"),
        ("google", "loadtest", "loadtest"),  # the parent package of google.protobuf
        ("fsspec", None, "k8s"),
        ("opentelemetry", None, "tracing"),
    ],
)
def test_a_missing_module_names_its_extra(missing: str, preferred: str | None, extra: str) -> None:
    err = from_import_error(ModuleNotFoundError(name=missing), "tandem x", preferred)
    assert isinstance(err, MissingExtraError)
    assert str(err) == (
        f"'tandem x' needs the {extra} extra ({missing} is not installed): "
        f"pip install 'tandem-serving[{extra}]'"
    )
    assert err.exit_code == 2


def test_an_error_raised_from_a_missing_framework_names_the_extra() -> None:
    try:
        try:
            raise ModuleNotFoundError("No module named 'torch'", name="torch")
        except ImportError as exc:
            raise ExportError("models.yaml:5: model 'm': cannot open 'm.pt2'") from exc
    except ExportError as exc:
        err = from_import_error(exc, "tandem configs")
    assert err is not None
    assert str(err).startswith("'tandem configs' needs the export extra (torch is not")


@pytest.mark.parametrize("missing", ["examples.digits.nope", "my_models", None])
def test_other_import_errors_are_left_alone(missing: str | None) -> None:
    assert from_import_error(ModuleNotFoundError(name=missing), "tandem export") is None
    assert from_import_error(ExportError("no import at all"), "tandem export") is None


def test_require_names_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(EXTRA_MODULES, "x", ("json", "no_such_mod_a", "no.such_b", "no_c"))
    with pytest.raises(MissingExtraError) as info:
        require("x", "tandem y")
    assert str(info.value) == (
        "'tandem y' needs the x extra (no_such_mod_a, no.such_b and 1 more are not "
        "installed): pip install 'tandem-serving[x]'"
    )
    monkeypatch.setitem(EXTRA_MODULES, "x", ("json", "os.path"))
    require("x", "tandem y")  # all there: no error


# ------------------------------------------------------------------ fsspec pins


def _constraint(name: str) -> str:
    for line in (REPO / "constraints.txt").read_text().splitlines():
        if _norm(line.partition("==")[0]) == name:
            return line.partition("==")[2].strip()
    raise AssertionError(f"{name} is not pinned in constraints.txt")


def test_fsspec_pins_agree_between_pyproject_constraints_and_the_fetch_image() -> None:
    dockerfile = (REPO / "k8s" / "model-fetch" / "Dockerfile").read_text()
    image = dict(re.findall(r"\b(fsspec|s3fs|gcsfs)==(\S+)", dockerfile))
    assert set(image) == {"fsspec", "s3fs", "gcsfs"}
    for name, version in image.items():
        assert _constraint(name) == version, f"{name}: image {version}, constraints.txt"
    (k8s,) = [Requirement(r) for r in EXTRAS["k8s"] if _norm(Requirement(r).name) == "fsspec"]
    assert _constraint("fsspec") in SpecifierSet(str(k8s.specifier))
    # s3fs pins fsspec's release exactly (>=X,<X.1): the same calendar version.
    assert image["s3fs"] == image["fsspec"]
    # What the dev environment runs the storage tests with is the pinned one.
    assert md.version("fsspec") == image["fsspec"]
