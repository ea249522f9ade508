"""The registry of backend kinds: every framework the manifest allows has exactly one kind."""

from __future__ import annotations

from typing import get_args

import pytest

from tandem.backend_kinds import KINDS, TFSERVING, TORCHSERVE, kind_for
from tandem.layout import Layout
from tandem.manifest import Framework, load_manifest


def test_one_kind_per_framework_with_unique_names() -> None:
    assert sorted(k.framework for k in KINDS) == sorted(get_args(Framework))
    for attr in ("id", "component", "image"):
        assert len({getattr(k, attr) for k in KINDS}) == len(KINDS), attr
    assert [kind_for(f) for f in ("tensorflow", "pytorch")] == [TFSERVING, TORCHSERVE]
    with pytest.raises(KeyError, match="onnx"):
        kind_for("onnx")


def test_models_and_repository_paths_follow_the_layout(repo_root, tmp_path) -> None:
    manifest = load_manifest(repo_root / "models.yaml")
    for kind in KINDS:
        models = kind.models(manifest)
        assert models
        assert all(m.framework == kind.framework for m in models)
        for m in models:
            want = [
                kind.artifact(Layout(tmp_path), m.name, v).relative_to(tmp_path)
                for v in m.served_versions
            ]
            assert [str(p) for p in want] == kind.repository_paths(m)
    assert sum(len(k.models(manifest)) for k in KINDS) == len(manifest.models)
