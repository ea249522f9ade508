"""The manifest's ``twins:`` section: good twins become route-file twins; every broken one is
a single line naming the file, the line, the twin and (for an interface mismatch) both
sides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.route_table import RouteTable
from tandem.configgen import routes
from tandem.errors import ManifestError
from tandem.manifest import load_manifest


def _model(name: str, framework: str, inputs: str, outputs: str) -> str:
    fmt = "    format: torchscript\n" if framework == "pytorch" else ""
    src = "torch_models" if framework == "pytorch" else "keras_models"
    return (
        f"  - name: {name}\n    framework: {framework}\n{fmt}"
        f"    source: examples.digits.{src}:train_mlp\n"
        f"    inputs:\n      - {inputs}\n    outputs:\n      - {outputs}\n"
    )


PIXELS = "{name: pixels, dtype: float32, shape: [-1, 64]}"
PROBS = "{name: probabilities, dtype: float32, shape: [-1, 10]}"
MODELS = (
    "models:\n"
    + _model("a_tf", "tensorflow", PIXELS, PROBS)
    + _model("a_torch", "pytorch", PIXELS, PROBS)
    + _model("b_torch", "pytorch", "{name: x, dtype: float32, shape: [-1, 64]}", PROBS)
    + _model("c_torch", "pytorch", "{name: pixels, dtype: float32, shape: [-1, 8, 8]}", PROBS)
)


def _twin(body: str) -> str:
    return MODELS + "twins:\n  - name: a\n" + body


GOOD = _twin(
    "    variants:\n"
    "      - {model: a_tf, weight: 3}\n"
    "      - {model: b_torch, weight: 1, inputs: {pixels: x}}\n"
    "    shadow: b_torch\n"
    "    agreement: {top1: [probabilities], objective: 0.95}\n"
)


def test_good_twin_becomes_a_route_file_twin(write_manifest) -> None:
    manifest = load_manifest(write_manifest(GOOD))
    twin = manifest.twin("a")
    assert twin.default_variant == "a_tf"
    assert twin.weights == {"a_tf": 0.75, "b_torch": 0.25}
    table = RouteTable.model_validate_json(routes(manifest, Path("/srv/build")))
    route = table.twins["a"]
    assert (route.default, route.shadow) == ("a_tf", "b_torch")
    assert route.variants["b_torch"].inputs == {"pixels": "x"}
    assert route.variants["a_tf"].weight == 0.75
    assert route.agreement.top1 == ("probabilities",)
    assert route.agreement.objective == 0.95


def test_manifest_without_twins_keeps_its_route_file(write_manifest) -> None:
    manifest = load_manifest(write_manifest(MODELS))
    assert "twins" not in json.loads(routes(manifest, Path("/srv/build")))


BROKEN = [
    (
        "interface-shape",
        _twin("    variants:\n      - {model: a_tf}\n      - {model: c_torch}\n"),
        [
            "models.yaml:",
            "twin 'a'",
            "'pixels'",
            "float32[-1, 64]",
            "'a_tf'",
            "float32[-1, 8, 8]",
            "'c_torch'",
        ],
    ),
    (
        "interface-name",
        _twin("    variants:\n      - {model: a_tf}\n      - {model: b_torch}\n"),
        ["twin 'a'", "input 'pixels'", "'a_tf'", "'b_torch'", "['x']"],
    ),
    (
        "unknown-variant",
        _twin("    variants:\n      - {model: a_tf}\n      - {model: nope}\n"),
        ["twin 'a'", "variant 'nope' is not a model"],
    ),
    (
        "shadow-not-variant",
        _twin(
            "    variants:\n      - {model: a_tf}\n      - {model: a_torch}\n    shadow: b_torch\n"
        ),
        ["twin 'a'", "shadow 'b_torch' is not one of"],
    ),
    (
        "shadow-is-default",
        _twin("    variants:\n      - {model: a_tf}\n      - {model: a_torch}\n    shadow: a_tf\n"),
        ["twin 'a'", "shadow must not be the default"],
    ),
    (
        "name-clash",
        MODELS + "twins:\n  - name: a_tf\n    variants:\n      - {model: a_tf}\n"
        "      - {model: a_torch}\n",
        ["twin 'a_tf'", "already a model"],
    ),
    (
        "agreement-unknown-output",
        _twin(
            "    variants:\n      - {model: a_tf}\n      - {model: a_torch}\n"
            "    agreement: {top1: [label]}\n"
        ),
        ["twin 'a'", "unknown outputs ['label']"],
    ),
    (
        "one-variant",
        _twin("    variants:\n      - {model: a_tf}\n"),
        ["models.yaml:", "twin 'a'", "variants"],
    ),
    (
        "bad-objective",
        _twin(
            "    variants:\n      - {model: a_tf}\n      - {model: a_torch}\n"
            "    agreement: {objective: 1.5}\n"
        ),
        ["twin 'a'", "agreement.objective"],
    ),
]


@pytest.mark.parametrize(("text", "fragments"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN])
def test_broken_twin_is_one_clear_line(write_manifest, text: str, fragments: list[str]) -> None:
    with pytest.raises(ManifestError) as info:
        load_manifest(write_manifest(text))
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert info.value.exit_code == 2


def test_demo_manifest_declares_the_digits_twins(repo_root: Path) -> None:
    manifest = load_manifest(repo_root / "models.yaml")
    twin = manifest.twin("digits_mlp")
    assert [v.model for v in twin.variants] == ["digits_mlp_tf", "digits_mlp_torch"]
    assert twin.shadow == "digits_mlp_torch"
    assert manifest.twin("digits_cnn224").default_variant == "digits_cnn224_tf"
