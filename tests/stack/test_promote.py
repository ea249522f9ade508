"""`tandem promote`: the route file written at each step (pure), and the command's errors."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gateway.route_table import RouteTable
from tandem.stack.promote import PromoteError, parse_steps, promote, step_doc

IO = {
    "inputs": [{"name": "pixels", "dtype": "float32", "shape": [-1, 64]}],
    "outputs": [{"name": "label", "dtype": "int64", "shape": [-1]}],
}
DOC: dict[str, Any] = {
    "schema_version": 1,
    "backends": {"tfserving": {"kind": "tfserving"}, "torchserve": {"kind": "torchserve"}},
    "models": {
        name: {
            "framework": fw,
            "backend": fw.replace("tensorflow", "tfserving").replace("pytorch", "torchserve"),
            "upstream_name": name,
            "versions": [1],
            "default_version": 1,
            **IO,
        }
        for name, fw in (("m_tf", "tensorflow"), ("m_torch", "pytorch"))
    },
    "twins": {
        "m": {
            "variants": {"m_tf": {"weight": 0.0}, "m_torch": {"weight": 0.0}},
            "default": "m_tf",
            "shadow": "m_torch",
        }
    },
}


def _weights(doc: dict[str, Any]) -> dict[str, float]:
    return {n: v["weight"] for n, v in doc["twins"]["m"]["variants"].items()}


def test_steps_move_the_share_then_the_default() -> None:
    ten = step_doc(DOC, "m", "m_torch", 10)
    assert _weights(ten) == {"m_tf": 0.9, "m_torch": 0.1}
    assert ten["twins"]["m"]["default"] == "m_tf"
    assert DOC["twins"]["m"]["variants"]["m_torch"]["weight"] == 0.0  # input untouched
    fifty = step_doc(ten, "m", "m_torch", 50)
    assert _weights(fifty) == {"m_tf": 0.5, "m_torch": 0.5}
    done = step_doc(fifty, "m", "m_torch", 100)
    assert _weights(done) == {"m_tf": 0.0, "m_torch": 1.0}
    twin = RouteTable.model_validate(done).twins["m"]
    assert (twin.default, twin.shadow) == ("m_torch", "m_tf")  # the old build is compared


def test_promote_writes_each_step_and_waits_between(tmp_path: Path) -> None:
    path = tmp_path / "routes.json"
    path.write_text(json.dumps(DOC))
    waits: list[float] = []
    written = promote(path, "m", "m_torch", [10, 50, 100], step_s=3.0, sleep=waits.append)
    assert [w["m_torch"] for w in written] == [0.1, 0.5, 1.0]
    assert waits == [3.0, 3.0]
    assert RouteTable.model_validate_json(path.read_text()).twins["m"].default == "m_torch"


@pytest.mark.parametrize(
    ("twin", "variant", "message"),
    [("x", "m_tf", "no twin 'x'"), ("m", "nope", "has no variant 'nope'")],
)
def test_unknown_twin_or_variant(twin: str, variant: str, message: str) -> None:
    with pytest.raises(PromoteError, match=message):
        step_doc(copy.deepcopy(DOC), twin, variant, 100)


@pytest.mark.parametrize("text", ["", "50,10", "0,100", "10,150", "a,b"])
def test_bad_steps(text: str) -> None:
    with pytest.raises(PromoteError, match="--steps"):
        parse_steps(text)


def test_cli_error_is_one_line_exit_2(tmp_path: Path, repo_root: Path) -> None:
    path = tmp_path / "routes.json"
    path.write_text(json.dumps(DOC))
    proc = subprocess.run(
        [sys.executable, "-m", "tandem.cli", "promote", "m", "nope", "--routes", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=repo_root,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("error:") == 1
    assert "has no variant 'nope'" in proc.stderr
    assert json.loads(path.read_text()) == DOC  # nothing written
