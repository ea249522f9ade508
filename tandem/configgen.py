"""Every generated config, derived from the manifest and where the stack runs.

Pure functions of (manifest, placement) (`tandem.placement`: local, compose, Kubernetes,
KServe): the same input gives byte-identical files, so the configs can be diffed, reviewed
and golden-tested (tests/golden/). Nothing edits their output afterwards. A plain build
directory `out` where a placement is taken means the local stack's (`placement.local`).
`write_configs` writes them all: each backend kind's own (its module in `tandem.kinds`
generates them: `tfserving`: models.config, batching_parameters.txt, monitoring.config;
`torchserve`: config.properties, log4j2.xml), and

    routes.json               the gateway's route table (model → backend, versions, specs)
    prometheus.yml            Prometheus scrape config (tandem.monitoring)
    tandem.rules.yml          Prometheus alert rules (tandem.monitoring)
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection
from pathlib import Path
from typing import Any

from gateway.route_table import (
    Admission,
    Agreement,
    BackendRoute,
    ModelRoute,
    RouteTable,
    TwinRoute,
    TwinVariant,
)
from tandem.backend_kinds import KINDS, kind_for
from tandem.manifest import Manifest, TwinSpec
from tandem.monitoring.prometheus import RULES_FILE, alert_rules, scrape_config
from tandem.placement import Placement, as_placement


def backend_routes(place: Placement) -> dict[str, BackendRoute]:
    """Each backend kind as the gateway reaches it in `place`."""
    backends: dict[str, BackendRoute] = {}
    for kind in KINDS:
        server = place.server(kind.id)
        extra: dict[str, Any] = {}
        if kind.tokens:
            extra["token_file"] = place.token_file
        backends[kind.id] = BackendRoute(
            kind=kind.id, grpc_target=server.target("grpc"), rest_url=server.url("http"), **extra
        )
    return backends


def model_routes(manifest: Manifest) -> dict[str, ModelRoute]:
    """Each model's route (its backend: the kind serving its framework)."""
    models = {}
    for m in manifest.models:
        kind = kind_for(m.framework)
        in_flight, queue = m.admission_bounds
        models[m.name] = ModelRoute(
            framework=m.framework,
            backend=kind.id,
            upstream_name=m.name,
            versions=tuple(m.served_versions),
            default_version=max(m.served_versions),
            labels=dict(sorted(m.labels.items())),
            signature_name=m.signature if kind.signatures else None,
            check_shapes=kind.checks_shapes,
            inputs=tuple(t.to_wire() for t in m.inputs),
            outputs=tuple(t.to_wire() for t in m.outputs),
            max_batch_size=m.batching.max_batch_size,
            timeout_ms=m.timeout_ms,
            admission=Admission(max_in_flight=in_flight, max_queue=queue),
        )
    return models


def routes(manifest: Manifest, place: Placement | Path) -> str:
    """The gateway's route file, built from its one definition (``gateway.route_table``)."""
    backends = backend_routes(as_placement(manifest, place))
    models = model_routes(manifest)
    table = RouteTable(schema_version=1, backends=backends, models=models)
    if manifest.twins:  # set only when declared: a manifest without twins keeps its file
        table = RouteTable(
            schema_version=1,
            backends=backends,
            models=models,
            twins={t.name: twin_route(t) for t in manifest.twins},
        )
    return route_file(table)


def route_file(table: RouteTable) -> str:
    """A route table as its file: only the fields set (the golden files pin them)."""
    doc = table.model_dump(mode="json", exclude_unset=True)
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def twin_route(twin: TwinSpec) -> TwinRoute:
    """A manifest twin as the route file states it (weights normalised to shares)."""
    weights = twin.weights
    a = twin.agreement
    return TwinRoute(
        variants={
            v.model: TwinVariant(
                weight=round(weights[v.model], 6),
                inputs=dict(sorted(v.inputs.items())),
                outputs=dict(sorted(v.outputs.items())),
            )
            for v in twin.variants
        },
        default=twin.default_variant,
        shadow=twin.shadow,
        agreement=Agreement(
            outputs=tuple(a.outputs), atol=a.atol, top1=tuple(a.top1), objective=a.objective
        ),
    )


def render_all(manifest: Manifest, place: Placement | Path) -> dict[str, str]:
    """File name → contents, for every generated config of `place`."""
    place = as_placement(manifest, place)
    files: dict[str, str] = {}
    for kind in KINDS:  # each kind's own generators (`tandem.kinds.<kind>`)
        files |= kind.configs(manifest, place)
    return {
        **files,
        "routes.json": routes(manifest, place),
        "prometheus.yml": scrape_config(manifest, place),
        RULES_FILE: alert_rules(manifest),
    }


def write_configs(
    manifest: Manifest, dest: Path, out: Path, *, only: Collection[str] | None = None
) -> list[Path]:
    """Write every config (or the file names in `only`) into `dest`; paths inside them
    point under `out`.

    `manifest` must be resolved (`tandem.export.resolve_manifest`): the routes carry every
    model's inputs and outputs. Each file is replaced atomically.
    """
    missing = [m.name for m in manifest.models if not m.has_io]
    if missing:
        raise ValueError(f"write_configs needs resolved inputs/outputs; missing for {missing}")
    manifest.check_twins()  # file sources' tensors are known only now
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_all(manifest, out).items():
        if only is not None and name not in only:
            continue
        path = dest / name
        tmp = path.with_name(f".{name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
        written.append(path)
    return written
