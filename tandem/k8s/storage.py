"""Copy the model repository between object storage and a directory, through fsspec.

The model-fetch initContainer runs `python -m tandem.k8s.storage fetch URI DEST PATH...`: it
copies each PATH (relative to the repository root URI: a version directory such as
`tensorflow/digits_mlp_tf/1` or a file such as `torchserve/model-store/x.mar`) into DEST, and
fails with one line when any is missing, so a pod never starts a server over a partial
repository. `tandem rollout --k8s` pushes a build directory the other way with `push`.

`s3://` needs s3fs and `gs://` needs gcsfs (installed in the fetch image, k8s/model-fetch/);
`file://` and `memory://` work with fsspec alone (the `k8s` extra). Only stdlib and fsspec are
imported, so the fetch image carries this file without the rest of Tandem. The whole copy is
bounded by `--timeout` seconds (SIGALRM), since fsspec backends differ in their own timeouts.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any


class StorageError(Exception):
    """A copy to or from the model repository failed; the message is one line."""


def _fs(uri: str) -> tuple[Any, str]:
    try:  # here, not at the top: without fsspec the command still fails in one line
        import fsspec  # type: ignore[import-untyped]
    except ModuleNotFoundError as exc:
        raise StorageError(
            "fsspec is not installed: pip install 'tandem-serving[k8s]' (fsspec; s3fs or "
            "gcsfs for s3:// or gs://)"
        ) from exc
    try:
        fs, root = fsspec.core.url_to_fs(uri)
    except (ImportError, ValueError) as exc:  # unknown protocol or its package missing
        raise StorageError(f"{uri}: {exc}") from exc
    return fs, root.rstrip("/")


def fetch(uri: str, dest: Path, paths: Sequence[str]) -> list[Path]:
    """Copy `paths` (relative to `uri`) into `dest`, keeping their relative layout.

    Every path must exist (a file or a non-empty directory); the first missing one raises
    StorageError before anything is copied.
    """
    fs, root = _fs(uri)
    missing = [p for p in paths if not fs.exists(f"{root}/{p}")]
    if missing:
        raise StorageError(f"{uri}: missing in the model repository: {', '.join(missing)}")
    copied: list[Path] = []
    for rel in paths:
        src = f"{root}/{rel}"
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if fs.isdir(src):
            if not fs.ls(src):
                raise StorageError(f"{uri}: {rel} is an empty directory")
            fs.get(src + "/", str(target) + "/", recursive=True)
        else:
            fs.get(src, str(target))
        copied.append(target)
    return copied


def push(build: Path, uri: str, paths: Sequence[str]) -> list[str]:
    """Upload `paths` (relative to the build directory) to `uri`; existing files are
    overwritten, nothing else under `uri` is touched (old versions stay for running pods)."""
    fs, root = _fs(uri)
    sent: list[str] = []
    for rel in paths:
        src = build / rel
        if not src.exists():
            raise StorageError(f"{src}: not found; run `tandem export` first")
        dst = f"{root}/{rel}"
        if src.is_dir():
            fs.put(str(src) + "/", dst + "/", recursive=True)
        else:
            fs.makedirs(dst.rsplit("/", 1)[0], exist_ok=True)
            fs.put(str(src), dst)
        sent.append(dst)
    return sent


def _alarm(_signum: int, _frame: FrameType | None) -> None:
    raise StorageError("timed out")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the model-fetch initContainer; exit 1 with one line on failure."""
    parser = argparse.ArgumentParser(prog="python -m tandem.k8s.storage")
    parser.add_argument("--timeout", type=int, default=900, help="seconds for the whole copy")
    sub = parser.add_subparsers(dest="command", required=True)
    f = sub.add_parser("fetch", help="copy PATHs from URI into DEST")
    f.add_argument("uri")
    f.add_argument("dest", type=Path)
    f.add_argument("paths", nargs="+")
    p = sub.add_parser("push", help="copy PATHs from BUILD to URI")
    p.add_argument("build", type=Path)
    p.add_argument("uri")
    p.add_argument("paths", nargs="+")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(args.timeout)
    try:
        if args.command == "fetch":
            for path in fetch(args.uri, args.dest, args.paths):
                print(f"fetched {path}")
        else:
            for dst in push(args.build, args.uri, args.paths):
                print(f"pushed {dst}")
    except (StorageError, OSError) as exc:
        print(f"model repository: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.alarm(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
