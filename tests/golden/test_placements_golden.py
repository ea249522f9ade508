"""Every generated config, for every placement, pinned byte for byte by golden files.

Two manifests (the demo `models.yaml` and `tests/tandem/data/golden.yaml`, which sets every
option: GPUs, twins' absence, version policies, labels) are rendered for each place a stack
runs:

    local/      tandem.configgen's files for the local stack (`tandem up`)
    compose/    `python -m deploy.compose`'s files (`<out>/compose/`)
    k8s/        the kustomize tree of `tandem k8s render` (base, components, overlays)
    kserve/     `tandem k8s render --kserve`: kserve.yaml and each model's config.properties

Paths of this machine cannot leak in: the local build directory is the fixed
`/srv/tandem/build`, and compose.env's Prometheus user (the uid that renders it) is written
as `<uid>:<gid>`.

A change that is meant to alter a generated file: rerun with `TANDEM_UPDATE_GOLDEN=1`
(`TANDEM_UPDATE_GOLDEN=1 python -m pytest tests/golden`), read the diff, commit it with the
change and say in the commit message why each changed line changed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tandem.manifest import Manifest, load_manifest

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
BUILD = Path("/srv/tandem/build")
"""The local build directory the goldens are rendered for (not a path of this machine)."""
REPOSITORY = "s3://tandem-golden/build"
"""The model repository URI of the Kubernetes and KServe renders."""
MANIFESTS = {
    "demo": REPO / "models.yaml",
    "options": REPO / "tests" / "tandem" / "data" / "golden.yaml",
}
UPDATE = os.environ.get("TANDEM_UPDATE_GOLDEN") == "1"


def _local(manifest: Manifest) -> dict[str, str]:
    from tandem.configgen import render_all

    return render_all(manifest, BUILD)


def _compose(manifest: Manifest) -> dict[str, str]:
    from deploy import compose

    files = compose.render(manifest)
    # The Prometheus user is whoever renders: not part of the placement's meaning.
    files["compose.env"] = re.sub(
        r"^TANDEM_PROMETHEUS_USER=.*$",
        "TANDEM_PROMETHEUS_USER=<uid>:<gid>",
        files["compose.env"],
        flags=re.M,
    )
    return files


def _k8s(manifest: Manifest) -> dict[str, str]:
    from tandem.k8s.render import render_tree

    return render_tree(manifest, REPOSITORY).files


def _kserve(manifest: Manifest) -> dict[str, str]:
    from tandem.k8s.kserve import render_kserve, repository_files

    files = {"kserve.yaml": render_kserve(manifest, REPOSITORY)}
    for rel, content in repository_files(manifest, Path("build")).items():
        if isinstance(content, str):  # the rest are exported files, copied
            files[f"kserve-repository/{rel}"] = content
    return files


PLACEMENTS = {"local": _local, "compose": _compose, "k8s": _k8s, "kserve": _kserve}


def _without_probe_sources(files: dict[str, str]) -> dict[str, str]:
    """The files left to pin once each shipped readiness probe (`*/ready.py`) is checked to be
    its `tandem.probes` module's source, unchanged: that module is its own golden."""
    from tandem.k8s.render import probe_script

    kept = {}
    for rel, text in files.items():
        if rel.endswith("/ready.py"):
            kind = Path(rel).parent.name
            assert text == probe_script(f"{kind}_ready"), f"{rel} is not its probe's source"
        else:
            kept[rel] = text
    return kept


@pytest.mark.parametrize("placement", sorted(PLACEMENTS))
@pytest.mark.parametrize("manifest_name", sorted(MANIFESTS))
def test_generated_configs_match_golden_files(manifest_name: str, placement: str) -> None:
    manifest = load_manifest(MANIFESTS[manifest_name])
    rendered = _without_probe_sources(PLACEMENTS[placement](manifest))
    root = HERE / manifest_name / placement
    if UPDATE:
        if root.exists():
            for old in sorted(root.rglob("*"), reverse=True):
                old.unlink() if old.is_file() else old.rmdir()
        for rel, text in rendered.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text, encoding="utf-8")
    on_disk = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert on_disk == sorted(rendered), "files added or removed: TANDEM_UPDATE_GOLDEN=1"
    for rel, text in rendered.items():
        assert text == (root / rel).read_text(encoding="utf-8"), f"{rel} differs from its golden"
