"""Version directory names, read as TF Serving's file-system source reads them.

TF Serving parses each child of a model's base path with ``absl::SimpleAtoi``
(``sources/storage_path/file_system_storage_path_source.cc``): leading zeros are allowed
(its own test models live in ``00000123/``) and names that do not parse are ignored.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tf_serving.server.config import VersionPolicy
from tf_serving.server.manager import list_versions, parse_version


@pytest.mark.parametrize(
    ("name", "version"),
    [
        ("1", 1),
        ("123", 123),
        ("00000123", 123),
        ("00017", 17),
        ("0", 0),
        ("+5", 5),
        ("-1", -1),
        (" 7 ", 7),
        ("9223372036854775807", 2**63 - 1),
        ("9223372036854775808", None),
        ("non_numerical_child", None),
        ("1a", None),
        ("1.0", None),
        ("0x10", None),
        ("", None),
        ("١٢", None),  # non-ASCII digits: SimpleAtoi takes ASCII only
    ],
)
def test_parse_version(name: str, version: int | None) -> None:
    assert parse_version(name) == version


def test_list_versions_maps_versions_to_their_directory(tmp_path: Path) -> None:
    for name in ("non_numerical_child", "42", "00000123", "00017", "variables"):
        (tmp_path / name).mkdir()
    assert list_versions(tmp_path) == {42: "42", 123: "00000123", 17: "00017"}


def test_list_versions_duplicate_names_last_wins(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for name in ("1", "001"):
        (tmp_path / name).mkdir()
    assert list_versions(tmp_path) == {1: "1"}
    assert "Duplicate version directories detected" in caplog.text


def test_list_versions_missing_base_path(tmp_path: Path) -> None:
    assert list_versions(tmp_path / "absent") == {}


@pytest.mark.parametrize(
    ("policy", "aspired"),
    [
        (VersionPolicy("specific", versions=frozenset({17, 30})), {17, 30}),
        (VersionPolicy("latest", num_versions=3), {42, 33, 30}),
        (VersionPolicy("all"), {42, 33, 30, 21, 17}),
    ],
)
def test_policies_over_zero_padded_names(
    tmp_path: Path, policy: VersionPolicy, aspired: set[int]
) -> None:
    # file_system_storage_path_source_test.cc's layout, with its "00017" leading-zeros case.
    for name in ("non_numerical_child", "42", "33", "30", "21", "00017"):
        (tmp_path / name).mkdir()
    on_disk = list_versions(tmp_path)
    assert policy.select(list(on_disk)) == aspired
    assert on_disk[17] == "00017"
