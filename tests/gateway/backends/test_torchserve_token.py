"""TorchServe key-file handling."""

from __future__ import annotations

import os

import orjson

from gateway.backends.torchserve import TokenSource


def test_token_file_is_reread_when_it_changes(tmp_path):
    path = tmp_path / "key_file.json"
    path.write_bytes(orjson.dumps({"inference": {"key": "one"}, "management": {"key": "m"}}))
    tokens = TokenSource(path, recheck_s=0.0)
    assert tokens.get() == "one"
    path.write_bytes(orjson.dumps({"inference": {"key": "two-longer"}}))
    os.utime(path, ns=(1, 10**18))
    assert tokens.get() == "two-longer"


def test_missing_or_bad_file(tmp_path):
    assert TokenSource(tmp_path / "absent.json").get() is None
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    assert TokenSource(bad).get() is None


def test_file_is_looked_at_once_per_recheck_period_unless_forced(tmp_path):
    path = tmp_path / "key_file.json"
    path.write_bytes(orjson.dumps({"inference": {"key": "one"}}))
    now = [100.0]
    tokens = TokenSource(path, recheck_s=1.0, clock=lambda: now[0])
    assert tokens.get() == "one"
    path.write_bytes(orjson.dumps({"inference": {"key": "two-longer"}}))
    os.utime(path, ns=(1, 10**18))
    assert tokens.get() == "one"  # within the period: the cached key, no stat
    assert tokens.get(force=True) == "two-longer"  # a refused key is re-read at once
    path.write_bytes(orjson.dumps({"inference": {"key": "three-longest"}}))
    os.utime(path, ns=(1, 2 * 10**18))
    now[0] += 1.0
    assert tokens.get() == "three-longest"  # the period passed: looked at again
