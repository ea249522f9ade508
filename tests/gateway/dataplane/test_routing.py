"""Routing table tests: versions, labels, canary weights, sticky keys."""

from __future__ import annotations

import pytest

from gateway.dataplane.routing import resolve, sticky_fraction
from gateway.errors import LabelNotFound, ModelNotFound, VersionNotFound


@pytest.mark.parametrize(
    ("kwargs", "version", "pinned"),
    [
        ({}, 1, False),
        ({"version": "2"}, 2, True),
        ({"version": 1}, 1, True),
        ({"label": "canary"}, 2, True),
        ({"label": "stable"}, 1, True),
        ({"canary": {2: 1.0}}, 2, False),
        ({"canary": {2: 0.0}}, 1, False),
    ],
)
def test_resolve(route_table, kwargs, version, pinned):
    target = resolve(route_table, "digits_mlp_tf", rng=lambda: 0.5, **kwargs)
    assert (target.version, target.pinned) == (version, pinned)


@pytest.mark.parametrize(
    ("model", "kwargs", "error"),
    [
        ("nope", {}, ModelNotFound),
        ("digits_mlp_tf", {"version": "7"}, VersionNotFound),
        ("digits_mlp_tf", {"version": "x"}, VersionNotFound),
        ("digits_mlp_tf", {"label": "beta"}, LabelNotFound),
    ],
)
def test_resolve_errors(route_table, model, kwargs, error):
    with pytest.raises(error):
        resolve(route_table, model, rng=lambda: 0.5, **kwargs)


def test_canary_split_is_weighted(route_table):
    points = iter(i / 1000 for i in range(1000))
    versions = [
        resolve(route_table, "digits_mlp_tf", canary={2: 0.1}, rng=lambda: next(points)).version
        for _ in range(1000)
    ]
    assert versions.count(2) == 100


def test_sticky_key_keeps_a_caller_on_one_arm(route_table):
    picks = {
        resolve(
            route_table, "digits_mlp_tf", canary={2: 0.5}, sticky_key="user-7", rng=lambda: 0.0
        ).version
        for _ in range(20)
    }
    assert len(picks) == 1
    arms = {
        resolve(
            route_table, "digits_mlp_tf", canary={2: 0.5}, sticky_key=f"u{i}", rng=lambda: 0.0
        ).version
        for i in range(50)
    }
    assert arms == {1, 2}
    assert 0.0 <= sticky_fraction("x") < 1.0
