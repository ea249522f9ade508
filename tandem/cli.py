"""`tandem` command line: a thin shell over the library functions.

Errors from the library (TandemError) are printed as one line on stderr and turned into the
exit code they carry. The module imports only the base install (typer, rich, pydantic):
each command imports what it needs inside itself, and a command whose extra is missing says
which one in one line (exit 2, tandem/extras.py), so `pip install tandem-serving` runs every
command that needs no ML framework. Also `python -m tandem`; shell completion through
`tandem --install-completion`.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tandem.errors import TandemError
from tandem.extras import DISTRIBUTION, from_import_error, require
from tandem.manifest import Manifest, load_manifest

if TYPE_CHECKING:
    from tandem.stack import KnownExample

P = ParamSpec("P")
R = TypeVar("R")

app = typer.Typer(no_args_is_help=True, rich_markup_mode="markdown")
# Wide enough for the report when stdout is a pipe (CI logs), where rich assumes 80.
console = Console(width=None if sys.stdout.isatty() else 120)
err_console = Console(stderr=True)

ManifestOpt = Annotated[Path, typer.Option("--manifest", "-m", help="Path to models.yaml.")]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Build directory.")]
# `tandem rollout --k8s` and `tandem promote --k8s`: the deployed tree, printed or applied.
K8sOpt = Annotated[bool, typer.Option("--k8s", help="On Kubernetes: print (or --apply) the steps.")]
OverlayOpt = Annotated[str, typer.Option(help="--k8s: the overlay deployed.")]
TreeOpt = Annotated[Path, typer.Option(help="--k8s: the deployed kustomize tree.")]
ApplyOpt = Annotated[bool, typer.Option("--apply", help="--k8s: run the steps.")]


#: The running command as typed (`tandem k8s render`), for the missing-extra error.
_COMMAND: ContextVar[str] = ContextVar("command", default="tandem")


def _command() -> str:
    return _COMMAND.get()


def _fail(exc: TandemError) -> typer.Exit:
    """Print `exc` as one line on stderr; the exit to raise. An error raised from a missing
    import of an extra's module (an ExportError over a failed `import torch`) names that
    extra instead."""
    shown: TandemError = from_import_error(exc, _command()) or exc
    err_console.print(f"[bold red]error:[/] {escape(str(shown))}", highlight=False, soft_wrap=True)
    return typer.Exit(code=shown.exit_code)


def needs(extra: str | None = None) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """A command that needs `extra` checks it before it starts; an import of an extra's
    module that fails on the way (for any command) ends in the same one-line error."""

    def wrap(fn: Callable[P, R]) -> Callable[P, R]:
        command = "tandem " + fn.__name__.replace("_", " ")  # k8s_render: `tandem k8s render`

        @functools.wraps(fn)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            _COMMAND.set(command)
            try:
                if extra is not None:
                    require(extra, command)
                return fn(*args, **kwargs)
            except TandemError as exc:
                raise _fail(exc) from None
            except ImportError as exc:
                missing = from_import_error(exc, command, extra)
                if missing is None:
                    raise
                raise _fail(missing) from None

        return run

    return wrap


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"tandem {_version()}")
        raise typer.Exit()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # a source tree on PYTHONPATH, not installed
        from tandem import __version__

        return __version__


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_show_version,
            is_eager=True,
            help="Print the installed version and exit.",
        ),
    ] = False,
) -> None:
    """Tandem model serving: export TensorFlow and PyTorch models, serve them behind one
    API (TF Serving REST v1 + Open Inference Protocol v2), locally, with compose or on k8s."""


@app.command()
@needs("export")
def export(
    models: Annotated[
        list[str] | None, typer.Argument(help="Models to export (default: all).")
    ] = None,
    manifest: ManifestOpt = Path("models.yaml"),
    out: OutOpt = Path("build"),
    force: Annotated[bool, typer.Option(help="Re-export even when up to date.")] = False,
) -> None:
    """Export models to SavedModel / .mar, check parity, check that each twin's variants agree
    on its sample inputs (exit 2 when not: no config is written), and generate every server
    config."""
    from tandem.export import export_models, resolve_manifest, write_build_configs
    from tandem.export.twins import check_twins

    try:
        m = load_manifest(manifest)
        with console.status("exporting...") as status:
            results = export_models(
                m, models or [], out, force=force, progress=lambda msg: status.update(msg)
            )
            twin_checks = []
            changed = {r.model for r in results if not r.skipped}
            if m.twins and changed:
                status.update("comparing twins")
                twin_checks = check_twins(resolve_manifest(m, out), out, only=changed)
            status.update("writing configs")
            write_build_configs(m, out)
    except TandemError as exc:
        raise _fail(exc) from None
    table = Table(title="tandem export", title_justify="left")
    for col in ("model", "framework", "version", "parity max|diff|", "accuracy", "status"):
        table.add_column(col, no_wrap=True)
    for r in results:
        worst = max((p.worst for p in r.parity), default=None)
        parity = f"{worst:.1e} ({len(r.parity)} checks)" if worst is not None else "-"
        acc = r.metrics.get("accuracy")
        state = "up to date" if r.skipped else ("[green]ok[/]" if r.parity_ok else "[red]FAIL[/]")
        table.add_row(
            r.model,
            r.framework,
            str(r.version),
            parity,
            f"{acc:.4f}" if acc is not None else "-",
            state,
        )
    console.print(table)
    for r in results:
        stages = "; ".join(f"{p.stage} {p.worst:.1e}" for p in r.parity)
        detail = f"  [{stages}]" if stages else ""
        console.print(f"{r.model}: {os.path.relpath(r.artifact)}{detail}", highlight=False)
    for check in twin_checks:
        agreed = ", ".join(f"{v} {check.agreed[v]}/{check.samples}" for v in sorted(check.agreed))
        console.print(
            f"twin {check.twin}: agrees with {check.reference}: {agreed} "
            f"(objective {check.objective:.0%})",
            highlight=False,
        )
    console.print(f"configs: {os.path.relpath(out / 'config')}/")


@app.command()
@needs()
def configs(manifest: ManifestOpt = Path("models.yaml"), out: OutOpt = Path("build")) -> None:
    """Regenerate the server configs and routes from the manifest (and, for file sources
    without declared inputs/outputs, their export records or the artifacts themselves)."""
    from tandem.export import write_build_configs

    try:
        _, written = write_build_configs(load_manifest(manifest), out)
    except TandemError as exc:
        raise _fail(exc) from None
    for path in written:
        console.print(os.path.relpath(path))


@app.command()
@needs()
def inspect(
    path: Annotated[Path, typer.Argument(help="SavedModel directory, .pt2 or TorchScript file.")],
    signature: Annotated[
        str, typer.Option(help="SavedModel signature to read.")
    ] = "serving_default",
) -> None:
    """Print the manifest entry Tandem would use for an existing model file, to paste under
    `models:` (names, dtypes and shapes read from the artifact's own signature)."""
    from tandem.export import inspect_snippet

    try:
        snippet = inspect_snippet(path, signature)
    except TandemError as exc:
        raise _fail(exc) from None
    typer.echo(snippet, nl=False)


@app.command()
@needs("stack")
def up(
    manifest: ManifestOpt = Path("models.yaml"),
    out: OutOpt = Path("build"),
    insecure_dev: Annotated[
        bool, typer.Option("--insecure-dev", help="Turn TorchServe's token auth off (dev only).")
    ] = False,
    gateway: Annotated[bool, typer.Option(help="Start the gateway too.")] = True,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for readiness.")] = 240.0,
    monitoring: Annotated[
        bool, typer.Option("--monitoring", help="Also run Prometheus (Debian's `prometheus`).")
    ] = False,
    prometheus_port: Annotated[int, typer.Option(help="Prometheus port (127.0.0.1).")] = 9090,
) -> None:
    """Export what is missing or stale, start both backends and the gateway, stay in the
    foreground restarting a backend that dies; Ctrl-C (or `tandem down`) stops everything."""
    from tandem.export import export_models, write_build_configs
    from tandem.stack import Stack

    try:
        m = load_manifest(manifest)
        with console.status("exporting...") as status:
            export_models(m, [], out, progress=lambda msg: status.update(msg))
            m, _ = write_build_configs(m, out)
        stack = Stack(
            m,
            out,
            insecure_dev=insecure_dev,
            gateway=gateway,
            ready_timeout=timeout,
            monitoring=monitoring,
            prometheus_port=prometheus_port,
        )
        with console.status("starting...") as status:
            stack.up(progress=lambda msg: status.update(msg))
    except TandemError as exc:
        raise _fail(exc) from None
    _print_endpoints(stack)
    code = stack.serve_forever(lambda msg: console.print(msg, highlight=False))
    raise typer.Exit(code)


def _print_endpoints(stack: object) -> None:
    from tandem.stack import Stack

    assert isinstance(stack, Stack)
    s = stack.manifest.data.servers
    for service in stack.by_kind.values():
        endpoints = service.endpoints()
        if endpoints is not None:
            console.print(f"[bold]{endpoints[0]}[/]: {endpoints[1]}")
    if stack.gateway is not None:
        console.print(
            f"[bold]Gateway[/]: http://127.0.0.1:{s.gateway.port}  docs /docs"
            f"  (API key in {os.path.relpath(stack.gateway.api_key_file)})"
        )
        console.print(f"[bold]Status page[/]: http://127.0.0.1:{s.gateway.port}/ui")
        console.print(
            f"[bold]Gateway gRPC[/]: 127.0.0.1:{s.gateway.grpc_port}  (OIP v2"
            " inference.GRPCInferenceService; TF Serving PredictionService, ModelService;"
            " key in metadata x-api-key)"
        )
        console.print(
            "grpcurl -plaintext -import-path gateway/protos -proto inference/grpc_predict_v2.proto"
            f' -H "x-api-key: $(cat {os.path.relpath(stack.gateway.api_key_file)})"'
            f" 127.0.0.1:{s.gateway.grpc_port} inference.GRPCInferenceService/ServerReady",
            highlight=False,
            soft_wrap=True,
        )
    if stack.prometheus is not None:
        console.print(
            f"[bold]Prometheus[/]: {stack.prometheus.url}  (config, alert rules in "
            f"{os.path.relpath(stack.layout.config)}/; Grafana dashboard "
            "monitoring/grafana/tandem.json)"
        )
    for model, lines in [*stack.curls(_demo_example()).items(), *stack.twin_curls().items()]:
        console.print(f"\n[bold]{model}[/]")
        for line in lines:
            console.print(line, highlight=False, soft_wrap=True)
    console.print("\nready. Ctrl-C or `tandem down` stops everything.")


def _demo_example() -> KnownExample | None:
    """A held-out digit (a 6 that every demo model gets right) for the printed curls, when
    the demo data is installed; library code takes it as an argument, never imports it."""
    from tandem.stack import KnownExample

    try:
        from examples.digits.data import load_split
    except ImportError:
        return None
    split = load_split()
    return KnownExample(features=split.x_test[2:3], label=int(split.y_test[2]))


@app.command()
@needs()
def down(out: OutOpt = Path("build")) -> None:
    """Stop the stack that `tandem up` started from this build directory."""
    from tandem.stack import down as stop_stack

    stopped = stop_stack(out)
    console.print("stopped: " + ", ".join(stopped) if stopped else "nothing was running")


@app.command()
@needs("export")
def rollout(
    models: Annotated[list[str], typer.Argument(help="Models whose new version goes live.")],
    manifest: ManifestOpt = Path("models.yaml"),
    out: OutOpt = Path("build"),
    torchserve_management_url: Annotated[
        str | None,
        typer.Option(help="TorchServe management API (default: the manifest's, on 127.0.0.1)."),
    ] = None,
    torchserve_key_file: Annotated[
        Path | None, typer.Option(help="TorchServe key file (default: OUT/torchserve/).")
    ] = None,
    tfserving_url: Annotated[
        str | None, typer.Option(help="TF Serving REST (default: the manifest's, on 127.0.0.1).")
    ] = None,
    gateway_url: Annotated[
        str | None, typer.Option(help="Gateway (default: the manifest's, on 127.0.0.1).")
    ] = None,
    gateway_key_file: Annotated[
        Path | None, typer.Option(help="A gateway API key, to ask it (default: OUT/run/api_key).")
    ] = None,
    k8s: K8sOpt = False,
    overlay: OverlayOpt = "gpu",
    tree: TreeOpt = Path("k8s"),
    model_repository: Annotated[
        str | None,
        typer.Option(help="--k8s: URI of the model repository (default: the tree's)."),
    ] = None,
    apply: ApplyOpt = False,
) -> None:
    """Export the manifest's version of MODELS and put it live on the running stack (the
    compose stack too: pass its published management URL and a copy of its key file), or,
    with --k8s, on the cluster in three phases that fail no request."""
    from tandem.export import export_models, write_build_configs
    from tandem.stack.rollout import rollout as go_live

    try:
        if k8s and apply:  # the push runs tandem.k8s.storage (fsspec)
            require("k8s", _command())
        m = load_manifest(manifest)
        with console.status("exporting...") as status:
            export_models(m, models, out, progress=lambda msg: status.update(msg))
            m, _ = write_build_configs(m, out, routes=k8s)  # the rollout writes routes.json
        if k8s:
            _rollout_k8s(m, models, out, overlay, tree, model_repository, apply)
            return
        with console.status("rolling out..."):
            results = go_live(
                m,
                out,
                models,
                torchserve_management_url=torchserve_management_url,
                torchserve_key_file=torchserve_key_file,
                tfserving_url=tfserving_url,
                gateway_url=gateway_url,
                gateway_key_file=gateway_key_file,
            )
    except TandemError as exc:
        raise _fail(exc) from None
    for r in results:
        retired = f", retired {r.retired_versions}" if r.retired_versions else ""
        console.print(f"{r.model}: live versions {r.live_versions}{retired}")


@app.command()
@needs()
def promote(
    twin: Annotated[str, typer.Argument(help="The twin's public name.")],
    variant: Annotated[str, typer.Argument(help="The variant that takes its traffic.")],
    steps: Annotated[
        str, typer.Option(help="Percentages of the twin's traffic, step by step.")
    ] = "100",
    step_seconds: Annotated[
        float, typer.Option(help="Wait between steps (the gateway polls every second).")
    ] = 10.0,
    manifest: ManifestOpt = Path("models.yaml"),
    no_manifest: Annotated[
        bool,
        typer.Option("--no-manifest", help="Leave models.yaml as it is (routes only)."),
    ] = False,
    out: OutOpt = Path("build"),
    routes: Annotated[
        Path | None,
        typer.Option(help="Route file to rewrite (default: OUT/config/routes.json)."),
    ] = None,
    compose: Annotated[
        bool,
        typer.Option("--compose", help="The compose stack's routes (run in its export container)."),
    ] = False,
    k8s: K8sOpt = False,
    overlay: OverlayOpt = "gpu",
    tree: TreeOpt = Path("k8s"),
    apply: ApplyOpt = False,
) -> None:
    """Move TWIN's traffic to VARIANT (gradually with --steps 10,50,100); at 100% VARIANT
    becomes the default. Routing only: no request fails for it. The local stack's route file
    by default, compose's with --compose, the cluster's with --k8s; then models.yaml gets the
    twin's new default and weights, so the next render keeps them."""
    import subprocess

    from tandem.layout import Layout
    from tandem.stack import promote as p

    if sum((compose, k8s, routes is not None)) > 1:
        raise _fail(p.PromoteError("--routes, --compose and --k8s are exclusive")) from None
    try:
        percents = p.parse_steps(steps)
        # Read first: a typo in the twin or the manifest stops before any route changes.
        spec = None if no_manifest else load_manifest(manifest).twin(twin)
        if k8s:
            from tandem.k8s import promote as k8s_promote
            from tandem.k8s.rollout import apply as run_steps

            plan = k8s_promote.plan(
                tree, twin, variant, percents, out / "k8s" / "promote", overlay, step_seconds
            )
            for step in plan.steps:
                console.print(str(step), highlight=False, soft_wrap=True)
            final = plan.final["twins"][twin]
            console.print(f"kustomize tree: {os.path.relpath(tree)}/ (the last step's routes)")
            if apply:
                run_steps(plan.steps)
                console.print("promoted.")
        elif compose:
            argv = p.compose_argv(twin, variant, percents, step_seconds)
            console.print(" ".join(argv), highlight=False, soft_wrap=True)
            try:
                done = subprocess.run(
                    argv, check=False, timeout=600 + 2 * step_seconds * len(percents)
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise p.PromoteError(f"docker compose: {exc}") from exc
            if done.returncode != 0:
                raise p.PromoteError(f"docker compose run exited {done.returncode}")
            # The route file is in the volume: the manifest takes the same steps from its
            # own state.
            final = p.manifest_twin(spec) if spec is not None else {}
            for percent in percents if spec is not None else ():
                final = p.step_twin(final, twin, variant, percent)
        else:
            path = routes if routes is not None else Layout(out.resolve()).config / "routes.json"
            p.promote(
                path,
                twin,
                variant,
                percents,
                step_s=step_seconds,
                say=lambda msg: console.print(msg, highlight=False),
            )
            final = p.read_routes(path)["twins"][twin]
            console.print(f"routes: {os.path.relpath(path)}", highlight=False)
        if spec is not None:
            changed = p.edit_manifest(manifest, twin, final)
            default, _, weights = p.twin_state(final)
            state = "now says" if changed else "already said"
            console.print(
                f"{os.path.relpath(manifest)} {state}: {twin} default {default}, weights {weights}",
                highlight=False,
            )
    except TandemError as exc:
        raise _fail(exc) from None


@app.command()
@needs("loadtest")
def loadtest(
    out: Annotated[Path, typer.Option("--out", "-o", help="Report directory.")] = Path(
        "build/loadtest"
    ),
    quick: Annotated[bool, typer.Option(help="Reduced sweep, under 2 minutes.")] = False,
    profile: Annotated[str, typer.Option(help="quick | full (default full).")] = "full",
    models: Annotated[str | None, typer.Option(help="Comma-separated models.")] = None,
    twin: Annotated[
        str | None,
        typer.Option(help="Compare the variants of this twin (its models) in one run."),
    ] = None,
    paths: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated: direct-rest, direct-grpc, gateway-v1, "
            "gateway-v2-json, gateway-v2-binary (default: all)."
        ),
    ] = None,
    concurrency: Annotated[
        str | None, typer.Option(help="Closed-loop concurrencies, e.g. 1,8,32.")
    ] = None,
    rate: Annotated[str | None, typer.Option(help="Open-loop rates (req/s), e.g. 100,400.")] = None,
    arrival: Annotated[str, typer.Option(help="Open loop: constant | poisson.")] = "constant",
    build: Annotated[Path, typer.Option(help="Build directory of the stack.")] = Path("build"),
    manifest: ManifestOpt = Path("models.yaml"),
    gateway: Annotated[str | None, typer.Option(help="Gateway URL.")] = None,
    gateway_grpc: Annotated[str | None, typer.Option(help="Gateway gRPC host:port.")] = None,
    api_key: Annotated[str | None, typer.Option(help="Gateway API key.")] = None,
    tfserving_rest: Annotated[str | None, typer.Option(help="TF Serving REST URL.")] = None,
    tfserving_grpc: Annotated[str | None, typer.Option(help="TF Serving host:port.")] = None,
    torchserve_rest: Annotated[str | None, typer.Option(help="TorchServe REST URL.")] = None,
    torchserve_grpc: Annotated[str | None, typer.Option(help="TorchServe host:port.")] = None,
    torchserve_token: Annotated[str | None, typer.Option(help="TorchServe key.")] = None,
    allow_remote: Annotated[
        bool, typer.Option(help="Allow non-loopback targets (the default is loopback only).")
    ] = False,
    calibrate: Annotated[
        bool, typer.Option(help="First measure the generator's own ceiling.")
    ] = True,
    window_s: Annotated[
        float | None, typer.Option(help="Seconds per measurement window (profile's).")
    ] = None,
    max_windows: Annotated[
        int | None, typer.Option(help="Windows before a point is called unstable.")
    ] = None,
) -> None:
    """Load-test both backends directly and through the gateway; write report.json/.md/.html
    and CSV into --out."""
    from tandem.loadtest.cli import LoadTestOptions, run_loadtest

    options = LoadTestOptions(
        out=out,
        profile="quick" if quick else profile,
        models=models,
        twin=twin,
        paths=paths,
        concurrency=concurrency,
        rate=rate,
        arrival=arrival,
        build=build,
        manifest=manifest,
        endpoints={
            "gateway": gateway,
            "gateway_grpc": gateway_grpc,
            "api_key": api_key,
            "tfserving_rest": tfserving_rest,
            "tfserving_grpc": tfserving_grpc,
            "torchserve_rest": torchserve_rest,
            "torchserve_grpc": torchserve_grpc,
            "torchserve_token": torchserve_token,
        },
        allow_remote=allow_remote,
        calibrate=calibrate,
        window_s=window_s,
        max_windows=max_windows,
    )
    try:
        run_loadtest(options, console)
    except TandemError as exc:
        raise _fail(exc) from None


k8s_app = typer.Typer(no_args_is_help=True, help="Kubernetes manifests from the manifest.")
app.add_typer(k8s_app, name="k8s")


@k8s_app.command("render")
@needs()
def k8s_render(
    manifest: ManifestOpt = Path("models.yaml"),
    overlay: Annotated[
        list[str] | None,
        typer.Option(help="Overlay to build: cpu, gpu or gpu-pvc (repeatable; default all)."),
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Where the built YAML goes.")] = Path(
        "build/k8s"
    ),
    tree: Annotated[Path, typer.Option(help="Where the kustomize tree goes.")] = Path("k8s"),
    kserve: Annotated[
        bool, typer.Option("--kserve", help="Also write KServe InferenceServices.")
    ] = False,
    model_repository: Annotated[
        str | None,
        typer.Option(
            help="s3://, gs:// or file:// URI of the exported build/ directory "
            "(default: the one the tree was rendered with)."
        ),
    ] = None,
    build: Annotated[
        Path, typer.Option(help="--kserve: the export's build directory (.mar files).")
    ] = Path("build"),
) -> None:
    """Write the kustomize tree (base, components, overlays) from the manifest, then the
    built YAML of each overlay (`kubectl kustomize`) under --out."""
    from tandem.k8s.render import DEFAULT_MODEL_REPOSITORY, OVERLAYS, current_repository, render

    repo = model_repository or current_repository(tree) or DEFAULT_MODEL_REPOSITORY
    try:
        from tandem.export import resolve_manifest

        # A file source without declared inputs/outputs: from its export record in --build.
        m = resolve_manifest(load_manifest(manifest), build)
        built = render(m, tree, out, overlay or list(OVERLAYS), repo)
        if kserve:
            from tandem.k8s.kserve import write_kserve

            built.append(write_kserve(m, out, repo, build))
    except TandemError as exc:
        raise _fail(exc) from None
    console.print(f"kustomize tree: {os.path.relpath(tree)}/")
    for path in built:
        console.print(os.path.relpath(path))


def _rollout_k8s(
    m: Manifest,
    models: list[str],
    out: Path,
    overlay: str,
    tree: Path,
    model_repository: str | None,
    apply: bool,
) -> None:
    from tandem.k8s import rollout as k8s_rollout
    from tandem.k8s.render import DEFAULT_MODEL_REPOSITORY, current_repository

    repo = model_repository or current_repository(tree) or DEFAULT_MODEL_REPOSITORY
    p = k8s_rollout.plan(m, models, tree, out / "k8s" / "rollout", overlay, repo, out)
    for name, (before, after) in p.versions.items():
        console.print(f"{name}: versions {before} -> {after}", highlight=False)
    for step in p.steps:
        console.print(str(step), highlight=False, soft_wrap=True)
    if apply:
        k8s_rollout.apply(p.steps)
        console.print("rolled out.")


@app.command()
@needs()
def schema(
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write it here instead of stdout.")
    ] = None,
) -> None:
    """Print the JSON Schema of models.yaml, generated from the manifest model (editors:
    `# yaml-language-server: $schema=schemas/models.schema.json` on the first line)."""
    from tandem.manifest import json_schema_text

    text = json_schema_text()
    if out is None:
        typer.echo(text, nl=False)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    console.print(os.path.relpath(out))


def main() -> None:
    """Console-script entry point (`tandem`, `python -m tandem`)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(app(prog_name="tandem"))


if __name__ == "__main__":
    main()
