"""Model lifecycle: which versions to load, loading them, routing requests, unloading.

``ModelManager`` is driven by :meth:`apply_config` (start-up, config-file poll, gRPC reload)
and by :meth:`poll` (every ``--file_system_poll_wait_seconds``). For each model it lists
the version directories (names read as TF Serving reads them: ``00000123/`` is version 123),
applies the version policy, loads new versions first (in a loader thread, warmup included),
makes them routable, and only then unloads versions the policy no longer wants: an
unloading version stops taking new requests and is released once its in-flight requests
finish. So a new version never fails a request.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from tf_serving.server.config import ModelSpec
from tf_serving.server.errors import FailedPrecondition, InvalidArgument, NotFound, ServingError
from tf_serving.server.metrics import Metrics
from tf_serving.server.servable import Servable

log = logging.getLogger(__name__)

State = Literal["START", "LOADING", "AVAILABLE", "UNLOADING", "END"]


@dataclass(frozen=True)
class ModelRef:
    """What a request names: a model and optionally a version or a label."""

    name: str
    version: int | None = None
    label: str | None = None

    def describe(self, version: int | None = None) -> str:
        """TF Serving's spelling of the request, e.g. ``Specific(m, 3)``."""
        v = version if version is not None else self.version
        return f"Specific({self.name}, {v})" if v is not None else f"Latest({self.name})"


@dataclass
class VersionState:
    """One version's lifecycle state, as GetModelStatus reports it."""

    version: int
    state: State = "START"
    error: ServingError | None = None
    servable: Servable | None = None
    in_flight: int = 0
    drained: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class Model:
    """A configured model and its versions."""

    spec: ModelSpec
    versions: dict[int, VersionState] = field(default_factory=dict)
    removed: bool = False


_INT64 = re.compile(r"[+-]?[0-9]+")


def parse_version(name: str) -> int | None:
    """A version directory name -> its number, as TF Serving's ``absl::SimpleAtoi`` reads it.

    Leading zeros (``00000123``), a sign and surrounding ASCII whitespace are allowed; any
    other name, or a number outside int64, is not a version (None).
    """
    text = name.strip(" \t\n\v\f\r")
    if not _INT64.fullmatch(text):
        return None
    value = int(text)
    return value if -(2**63) <= value < 2**63 else None


def list_versions(base_path: Path) -> dict[int, str]:
    """Versions under a model's base path -> the child name each is loaded from.

    Like TF Serving's file-system source, every child whose name parses as a version counts
    (children that do not are ignored); of two names for one version (``1`` and ``001``)
    the last in name order wins, with a warning.
    """
    try:
        names = sorted(p.name for p in base_path.iterdir())
    except OSError:
        return {}
    found: dict[int, str] = {}
    for name in names:
        version = parse_version(name)
        if version is None:
            continue
        if version in found:
            log.warning(
                "Duplicate version directories detected. Version %d will be loaded from %s, "
                "%s will be ignored.",
                version,
                name,
                found[version],
            )
        found[version] = name
    return found


class ModelManager:
    """Owns every loaded servable; shared by the REST and gRPC front ends."""

    def __init__(
        self, metrics: Metrics, enable_warmup: bool = True, check_method_names: bool = False
    ) -> None:
        self._metrics = metrics
        self._warmup = enable_warmup
        self._check_method_names = check_method_names
        self._models: dict[str, Model] = {}
        self._lock = asyncio.Lock()  # one reconcile at a time
        # Loads run one at a time so they do not starve inference threads.
        self._loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tfs-load")

    # ------------------------------------------------------------------ configuration

    async def apply_config(self, specs: list[ModelSpec], check_labels: bool = True) -> None:
        """Make ``specs`` the served model list: add, update and remove models, then load.

        Raises FailedPrecondition when a version label points to a version that is not
        available after loading (TF Serving's rule); the new model list stays applied.
        """
        async with self._lock:
            wanted = {s.name: s for s in specs}
            for name, model in list(self._models.items()):
                if name not in wanted:
                    model.removed = True
            for spec in specs:
                existing = self._models.get(spec.name)
                if existing is None or existing.removed:
                    self._models[spec.name] = Model(spec=spec)
                else:
                    existing.spec = spec
            await self._reconcile_all()
            for name, model in list(self._models.items()):
                if model.removed and not any(
                    v.state in ("LOADING", "AVAILABLE", "UNLOADING")
                    for v in model.versions.values()
                ):
                    del self._models[name]
        if check_labels:
            for spec in specs:
                for _label, version in spec.labels.items():
                    state = self._models[spec.name].versions.get(version)
                    if state is None or state.state != "AVAILABLE":
                        raise FailedPrecondition(
                            f"Request to assign label to version {version} of model "
                            f"{spec.name}, which is not currently available for inference"
                        )

    async def poll(self) -> None:
        """Re-list every model's versions and load/unload accordingly."""
        async with self._lock:
            await self._reconcile_all()

    async def _reconcile_all(self) -> None:
        for model in list(self._models.values()):
            await self._reconcile(model)

    async def _reconcile(self, model: Model) -> None:
        on_disk = {} if model.removed else list_versions(model.spec.base_path)
        aspired = model.spec.policy.select(list(on_disk))
        if not aspired and not model.removed and not model.versions:
            log.warning(
                "No versions of model %s found under %s", model.spec.name, model.spec.base_path
            )
        for version in sorted(aspired, reverse=True):
            # A failed version stays END with its error (no retry loop flapping the status);
            # publish a new version number to try again. A cleanly unloaded one may return.
            state = model.versions.get(version)
            if state is None or (state.state == "END" and state.error is None):
                await self._load(model, version, on_disk[version])
        # Unload only after the new versions are serving.
        for state in list(model.versions.values()):
            if state.version not in aspired and state.state == "AVAILABLE":
                await self._unload(model, state)
        self._metrics.available.labels(model.spec.name).set(
            sum(v.state == "AVAILABLE" for v in model.versions.values())
        )

    async def _load(self, model: Model, version: int, child: str) -> None:
        state = VersionState(version=version, state="LOADING")
        model.versions[version] = state
        path = model.spec.base_path / child
        name = model.spec.name
        log.info("Loading servable: {name: %s version: %d} from %s", name, version, path)
        loop = asyncio.get_running_loop()
        try:
            servable = await loop.run_in_executor(
                self._loader, self._load_sync, name, version, path
            )
        except ServingError as exc:
            state.state, state.error = "END", exc
        except Exception as exc:  # TF raises many types for a broken SavedModel
            state.state, state.error = "END", FailedPrecondition(f"Failed to load {path}: {exc}")
        else:
            state.servable, state.state = servable, "AVAILABLE"
        if state.error:
            log.error("Loading %s version %d failed: %s", name, version, state.error.message)
            self._metrics.loads.labels(name, "error").inc()
        else:
            log.info("Successfully loaded servable version {name: %s version: %d}", name, version)
            self._metrics.loads.labels(name, "ok").inc()

    def _load_sync(self, name: str, version: int, path: Path) -> Servable:
        servable = Servable(name, version, path, self._check_method_names)
        if self._warmup:
            servable.warmup()
        return servable

    async def _unload(self, model: Model, state: VersionState) -> None:
        state.state = "UNLOADING"  # no new requests from here on
        if state.in_flight:
            await state.drained.wait()
        state.servable = None
        state.state = "END"
        log.info("Unloaded servable version {name: %s version: %d}", model.spec.name, state.version)

    # ---------------------------------------------------------------------- routing

    def _model(self, name: str) -> Model | None:
        model = self._models.get(name)
        return None if model is None or model.removed else model

    def resolve_version(self, ref: ModelRef) -> int | None:
        """The version a label names (None for "latest"); unknown labels are 400."""
        if ref.label is None:
            return ref.version
        model = self._model(ref.name)
        version = model.spec.labels.get(ref.label) if model else None
        if version is None:
            raise InvalidArgument(f"Unrecognized servable version label: {ref.label}")
        return version

    @asynccontextmanager
    async def acquire(self, ref: ModelRef) -> AsyncIterator[Servable]:
        """Pin an AVAILABLE version for the duration of one request."""
        if not ref.name:
            raise InvalidArgument("ModelSpec has no name specified.")
        version = self.resolve_version(ref)
        model = self._model(ref.name)
        state: VersionState | None = None
        if model is not None:
            if version is None:
                available = [v for v in model.versions.values() if v.state == "AVAILABLE"]
                state = max(available, key=lambda v: v.version, default=None)
            else:
                candidate = model.versions.get(version)
                state = candidate if candidate and candidate.state == "AVAILABLE" else None
        if state is None or state.servable is None:
            raise NotFound(f"Servable not found for request: {ref.describe(version)}")
        state.in_flight += 1
        try:
            yield state.servable
        finally:
            state.in_flight -= 1
            if not state.in_flight:
                state.drained.set()
            else:
                state.drained.clear()

    def status(self, ref: ModelRef) -> list[VersionState]:
        """Version states for GetModelStatus, newest first.

        As ``GetModelStatusImpl`` does, a label is ignored: only an explicit version narrows
        the answer (so ``/labels/anything`` lists every version).
        """
        version = ref.version
        model = self._models.get(ref.name)
        versions = model.versions if model else {}
        if version is not None:
            if version not in versions:
                raise NotFound(f"Could not find version {version} of model {ref.name}")
            return [versions[version]]
        if not versions:
            raise NotFound(f"Could not find any versions of model {ref.name}")
        return [versions[v] for v in sorted(versions, reverse=True)]

    async def aclose(self) -> None:
        """Drop every servable and stop the loader thread."""
        for model in self._models.values():
            for state in model.versions.values():
                state.servable = None
        self._loader.shutdown(wait=False, cancel_futures=True)
