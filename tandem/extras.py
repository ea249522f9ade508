"""Which optional extra of pyproject.toml brings which import, and the one-line error a
command gives when its extra is missing.

The base install runs every `tandem` command that needs no ML framework. A command that
needs more checks its extra before it starts (:func:`require`), so it fails at once instead
of after minutes of work; an import that still fails on the way (a framework read lazily,
e.g. a SavedModel's signature for `tandem configs`) becomes the same error through
:func:`from_import_error`. Who calls it: the commands of :mod:`tandem.cli`. The table is
checked against pyproject.toml by tests/cli/test_cli_extras.py.
"""

from __future__ import annotations

import importlib.util

from tandem.errors import MissingExtraError

#: The distribution name users install (pyproject.toml's `project.name`).
DISTRIBUTION = "tandem-serving"

_EXPORT = ("torch", "tensorflow", "keras", "tensorflow_serving", "ts", "model_archiver", "sklearn")
_GATEWAY = ("fastapi", "uvicorn", "httptools", "grpc", "google.protobuf", "prometheus_client")
_TF_SERVER = ("tensorflow", "tensorflow_serving", "aiohttp", "grpc", "prometheus_client")

#: extra -> the modules its commands import, in the order a missing one is named. The first
#: extra listing a module is the one named when a command without an extra of its own
#: (`tandem configs`, `tandem k8s render`) hits it.
EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "export": _EXPORT,
    "loadtest": ("hdrh", "httptools", "grpc", "google.protobuf"),
    "k8s": ("fsspec",),
    "gateway": _GATEWAY,
    "tf-server": _TF_SERVER,
    "stack": tuple(dict.fromkeys((*_EXPORT, *_GATEWAY, *_TF_SERVER))),
    "tracing": ("opentelemetry.sdk", "opentelemetry.exporter.otlp.proto.http"),
}


def install_line(extra: str) -> str:
    """The pip command that brings `extra`."""
    return f"pip install '{DISTRIBUTION}[{extra}]'"


def _message(command: str, extra: str, modules: list[str]) -> str:
    shown = ", ".join(modules[:2]) + (f" and {len(modules) - 2} more" if len(modules) > 2 else "")
    missing = shown if len(modules) != 2 else " and ".join(modules)
    verb = "is" if len(modules) == 1 else "are"
    return (
        f"'{command}' needs the {extra} extra ({missing} {verb} not installed): "
        f"{install_line(extra)}"
    )


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a missing parent package, or a broken sys.modules
        return False


def require(extra: str, command: str) -> None:
    """Raise MissingExtraError (exit 2, one line) unless every module of `extra` can be
    imported; nothing is imported (find_spec only), so the check is cheap."""
    missing = [m for m in EXTRA_MODULES[extra] if not _installed(m)]
    if missing:
        raise MissingExtraError(_message(command, extra, missing))


def _extra_of(module: str, preferred: str | None) -> str | None:
    """The extra that brings `module` (a missing import's name, maybe a parent package of
    a listed module such as `google` for `google.protobuf`)."""

    def listed(extra: str) -> bool:
        return any(
            module == m or module.startswith(f"{m}.") or m.startswith(f"{module}.")
            for m in EXTRA_MODULES[extra]
        )

    if preferred is not None and listed(preferred):
        return preferred
    return next((extra for extra in EXTRA_MODULES if listed(extra)), None)


def from_import_error(
    exc: BaseException, command: str, preferred: str | None = None
) -> MissingExtraError | None:
    """The missing-extra error for `exc` when it is, or was raised from, an import of a
    module that an extra brings (`preferred`, the command's own extra, named first);
    None for anything else (a real bug keeps its traceback)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ModuleNotFoundError) and current.name:
            extra = _extra_of(current.name, preferred)
            if extra is not None:
                return MissingExtraError(_message(command, extra, [current.name]))
        current = current.__cause__ or current.__context__
    return None
