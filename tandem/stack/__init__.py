"""The local stack: both backends and the gateway as processes on this machine.

- `stack`: `Stack` (start, wait ready, supervise, stop) and `down` for another shell;
- `backends`: each service's command line, environment and readiness;
- `process`: spawning and stopping process trees;
- `samples`: the request bodies behind the printed curls;
- `rollout`: a new model version live without failing a request.
"""

from tandem.stack.backends import Layout, java_version
from tandem.stack.samples import KnownExample
from tandem.stack.stack import Stack, down

__all__ = ["KnownExample", "Layout", "Stack", "down", "java_version"]
