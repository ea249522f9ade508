"""The build directory's layout: the one place that knows where each file lives under `out`.

Export writes artifacts here, configgen points the servers at them, the stack runs from here
and the CLI prints these paths; none of them builds a path by hand.

    tensorflow/<name>/<version>/            SavedModel + assets.extra/tf_serving_warmup_requests
    torchserve/model-store/<name>.mar       version 1; later versions <name>.v<N>.mar
    torchserve/                             TorchServe's working directory (key_file.json, logs/)
    exports/<name>/<version>.json           what was exported, from which spec, with parity
    config/                                 generated server configs and routes.json
    run/                                    the running stack's state, keys, sample requests
    logs/                                   one log per local service
    prometheus/data/                        the TSDB of `tandem up --monitoring`
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

TORCHSERVE_KEY_FILE = "key_file.json"
"""TorchServe writes its token file into its working directory, `<out>/torchserve/`."""
WARMUP_FILE = "assets.extra/tf_serving_warmup_requests"
"""Inside a SavedModel version directory: TF Serving replays these requests at load time."""


def mar_filename(name: str, version: int) -> str:
    """`<name>.mar` for version 1; later versions get their own file beside it."""
    return f"{name}.mar" if version == 1 else f"{name}.v{version}.mar"


@dataclass(frozen=True)
class Layout:
    """Paths under one build directory `out` (absolute when the caller resolved it)."""

    out: Path

    @property
    def config(self) -> Path:
        return self.out / "config"

    @property
    def run(self) -> Path:
        return self.out / "run"

    @property
    def logs(self) -> Path:
        return self.out / "logs"

    @property
    def torchserve_home(self) -> Path:
        return self.out / "torchserve"

    @property
    def model_store(self) -> Path:
        return self.torchserve_home / "model-store"

    @property
    def torchserve_key_file(self) -> Path:
        return self.torchserve_home / TORCHSERVE_KEY_FILE

    def tensorflow_base(self, name: str) -> Path:
        """TF Serving's `base_path` for a model: one numbered directory per version below."""
        return self.out / "tensorflow" / name

    def tensorflow_version(self, name: str, version: int) -> Path:
        return self.tensorflow_base(name) / str(version)

    def mar(self, name: str, version: int) -> Path:
        return self.model_store / mar_filename(name, version)

    @property
    def gateway_api_key(self) -> Path:
        """The development API key `tandem up` writes (plaintext, 0600)."""
        return self.run / "api_key"

    @property
    def prometheus_data(self) -> Path:
        return self.out / "prometheus" / "data"

    def export_record(self, name: str, version: int) -> Path:
        return self.out / "exports" / name / f"{version}.json"
