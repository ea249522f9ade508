"""Generate the gateway's protobuf/gRPC stubs into ``gateway/_generated/`` (git-ignored).

Run as ``python -m gateway.protos.build``; the Makefile calls it before the tests. Inputs:

* the wire-compatible TF Serving subset under ``gateway/protos/`` (our own files, same
  packages, names and field numbers as TF Serving's public protos);
* TorchServe's ``inference.proto`` and what it imports, extracted from the TorchServe jar
  (``ts/frontend/model-server.jar``) when it is installed. The jar copy carries no licence
  header, so it is extracted at build time rather than committed.

Generated modules import each other as ``gateway._generated.<package>`` and register their
descriptors in the private pool of :mod:`gateway.protos.pool` (both rewritten after protoc),
so that they never resolve to, or clash with, the real ``tensorflow`` packages. The build is
idempotent: a stamp of the inputs' digests skips protoc when nothing changed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

PROTO_DIR = Path(__file__).resolve().parent
GATEWAY_DIR = PROTO_DIR.parent
OUT_DIR = GATEWAY_DIR / "_generated"
STAMP = OUT_DIR / ".stamp"

#: Proto files of the jar to extract, and where they go in the staging tree.
_JAR_MEMBERS = {
    "proto/inference.proto": "torchserve/inference.proto",
    "google/rpc/status.proto": "google/rpc/status.proto",
}
_REWRITE_ROOTS = ("tensorflow_serving", "tensorflow", "torchserve", "google.rpc", "inference")
_DEFAULT_POOL = "_descriptor_pool.Default()"
_POOL_IMPORT = "from google.protobuf import descriptor_pool as _descriptor_pool"
_IMPORT_RE = re.compile(
    r"^(\s*)(from|import) (" + "|".join(re.escape(r) for r in _REWRITE_ROOTS) + r")([. ])",
    re.MULTILINE,
)


def torchserve_jar() -> Path | None:
    """Return the installed TorchServe frontend jar, or ``None`` when TorchServe is absent."""
    spec = importlib.util.find_spec("ts")
    if spec is None or spec.submodule_search_locations is None:
        return None
    for location in spec.submodule_search_locations:
        jar = Path(location) / "frontend" / "model-server.jar"
        if jar.is_file():
            return jar
    return None


def _own_protos() -> list[Path]:
    return sorted(p for p in PROTO_DIR.rglob("*.proto") if "_generated" not in p.parts)


def _digest(own: list[Path], jar: Path | None) -> str:
    h = hashlib.sha256()
    for path in own:
        h.update(str(path.relative_to(PROTO_DIR)).encode())
        h.update(path.read_bytes())
    if jar is not None:
        stat = jar.stat()
        h.update(f"{jar}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    h.update(Path(__file__).read_bytes())
    h.update((PROTO_DIR / "pool.py").read_bytes())
    return h.hexdigest()


def _stage(staging: Path, own: list[Path], jar: Path | None) -> list[str]:
    files: list[str] = []
    for path in own:
        rel = path.relative_to(PROTO_DIR)
        dest = staging / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
        files.append(str(rel))
    if jar is not None:
        with zipfile.ZipFile(jar) as zf:
            for member, rel_name in _JAR_MEMBERS.items():
                text = zf.read(member).decode()
                dest = staging / rel_name
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_text(text)
                files.append(rel_name)
    return files


def _rewrite_imports(out: Path) -> None:
    for path in out.rglob("*.py"):
        text = path.read_text()
        new = _IMPORT_RE.sub(r"\1\2 gateway._generated.\3\4", text)
        if _DEFAULT_POOL in new:
            new = new.replace(_DEFAULT_POOL, "_gateway_pool.POOL").replace(
                _POOL_IMPORT, _POOL_IMPORT + "\nfrom gateway.protos import pool as _gateway_pool", 1
            )
        if new != text:
            path.write_text(new)
    for directory in [out, *(d for d in out.rglob("*") if d.is_dir())]:
        init = directory / "__init__.py"
        if not init.exists():
            init.write_text("")


def build(force: bool = False) -> bool:
    """Generate the stubs; return ``True`` when protoc ran, ``False`` when up to date."""
    own = _own_protos()
    jar = torchserve_jar()
    digest = _digest(own, jar)
    if not force and STAMP.is_file() and STAMP.read_text() == digest:
        return False

    from grpc_tools import protoc  # build-time only; never imported by the running gateway

    include = Path(protoc.__file__).resolve().parent / "_proto"
    with tempfile.TemporaryDirectory(prefix="gateway-protos-") as tmp:
        staging = Path(tmp) / "src"
        out = Path(tmp) / "out"
        out.mkdir()
        files = _stage(staging, own, jar)
        args = [
            "grpc_tools.protoc",
            f"-I{staging}",
            f"-I{include}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            *files,
        ]
        code = protoc.main(args)
        if code != 0:
            raise RuntimeError(f"protoc failed with exit code {code}")
        _rewrite_imports(out)
        if OUT_DIR.exists():
            shutil.rmtree(OUT_DIR)
        shutil.copytree(out, OUT_DIR)
    STAMP.write_text(digest)
    return True


def main() -> None:
    """CLI entry: ``python -m gateway.protos.build [--force]``."""
    ran = build(force="--force" in sys.argv[1:])
    print("gateway protos: generated" if ran else "gateway protos: up to date")


if __name__ == "__main__":
    main()
