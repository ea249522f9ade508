"""Pure routing: public model name + version/label/canary/sticky key → one model version.

A twin's public name first picks one of its variants (:func:`pick_variant`: pinned > sticky
or random weighted split > default), then that model's version as for any model."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from gateway.errors import LabelNotFound, ModelNotFound, VariantNotFound, VersionNotFound
from gateway.route_table import ModelRoute, RouteTable


@dataclass(frozen=True, slots=True)
class Target:
    """The model version a request will be served by."""

    model: str
    route: ModelRoute
    version: int
    pinned: bool
    split: bool = True
    """False only for the route's default version of a model without canary weights: then
    nothing but the default could have been chosen, and the backend may pick it instead."""
    twin: str | None = None
    """The twin's public name when the request named a twin (``model`` is then the variant
    that serves it)."""

    @property
    def public_name(self) -> str:
        """The name the client asked for (what responses carry)."""
        return self.twin or self.model


def sticky_fraction(key: str) -> float:
    """Map a sticky key to a stable number in [0, 1)."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def parse_version(model: str, version: str | int) -> int:
    """A URL version segment as an integer (404 when it is not one)."""
    if isinstance(version, int):
        return version
    try:
        return int(version)
    except ValueError:
        raise VersionNotFound(f"model {model!r} has no version {version!r}") from None


def resolve(
    table: RouteTable,
    model: str,
    *,
    version: str | int | None = None,
    label: str | None = None,
    canary: Mapping[int, float] | None = None,
    sticky_key: str | None = None,
    rng: Callable[[], float],
) -> Target:
    """Pick the version: explicit version > label > weighted canary split > default."""
    route = table.models.get(model)
    if route is None:
        raise ModelNotFound(f"model {model!r} not found")
    if version is not None:
        number = parse_version(model, version)
        if number not in route.versions:
            raise VersionNotFound(
                f"model {model!r} has no version {number}; versions: {list(route.versions)}"
            )
        return Target(model, route, number, True)
    if label is not None:
        number_or_none = route.labels.get(label)
        if number_or_none is None:
            raise LabelNotFound(
                f"model {model!r} has no label {label!r}; labels: {sorted(route.labels)}"
            )
        return Target(model, route, number_or_none, True)
    weights = canary if canary is not None else route.canary_weights
    if weights:
        point = sticky_fraction(f"{model}:{sticky_key}") if sticky_key else rng()
        cumulative = 0.0
        for number, weight in sorted(weights.items()):
            cumulative += weight
            if point < cumulative and number in route.versions:
                return Target(model, route, number, False)
    return Target(model, route, route.default_version, False, split=bool(weights))


def pick_variant(
    table: RouteTable,
    twin_name: str,
    *,
    variant: str | None = None,
    sticky_key: str | None = None,
    rng: Callable[[], float],
) -> str:
    """The variant (a routed model) of twin ``twin_name`` that serves a request: the pinned
    ``variant`` (404 when the twin has none such), else the weighted split (the same caller
    always lands on the same variant when it sends a sticky key; the share the weights leave
    below 1 goes to the default), else the default."""
    twin = table.twins[twin_name]
    if variant is not None:
        if variant not in twin.variants:
            raise VariantNotFound(
                f"twin {twin_name!r} has no variant {variant!r}; variants: {list(twin.variants)}"
            )
        return variant
    weights = [(name, v.weight) for name, v in twin.variants.items() if v.weight > 0]
    if weights:
        point = sticky_fraction(f"{twin_name}:{sticky_key}") if sticky_key else rng()
        cumulative = 0.0
        for name, weight in weights:
            cumulative += weight
            if point < cumulative:
                return name
    return twin.default  # what the weights leave over
