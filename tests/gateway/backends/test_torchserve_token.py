"""TorchServe key-file handling."""

from __future__ import annotations

import os

import orjson

from gateway.backends.torchserve import TokenSource


def test_token_file_is_reread_when_it_changes(tmp_path):
    path = tmp_path / "key_file.json"
    path.write_bytes(orjson.dumps({"inference": {"key": "one"}, "management": {"key": "m"}}))
    tokens = TokenSource(path)
    assert tokens.get() == "one"
    path.write_bytes(orjson.dumps({"inference": {"key": "two-longer"}}))
    os.utime(path, ns=(1, 10**18))
    assert tokens.get() == "two-longer"


def test_missing_or_bad_file(tmp_path):
    assert TokenSource(tmp_path / "absent.json").get() is None
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    assert TokenSource(bad).get() is None
