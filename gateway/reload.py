"""Pick up a rewritten route file without a restart.

``tandem rollout`` rewrites ``routes.json`` once a new version is live on its backend. The
:class:`RouteReloader` polls the file's mtime and size every ``routes_reload_s`` (a stat, off
the request path), and on a change loads and validates the new table and hands it to
``apply`` (the dataplane's atomic swap). A file that does not load or validate leaves the old
table in place and is logged once, until the file changes again.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from gateway.route_table import RouteTable, load_route_table

log = logging.getLogger("gateway.reload")

#: What identifies one state of the file: (mtime in ns, size); None when it cannot be read.
Stamp = tuple[int, int] | None


def stamp(path: Path) -> Stamp:
    """The file's (mtime_ns, size), or None when it is missing or unreadable."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


class RouteReloader:
    """Watches one route file; ``apply`` receives each new valid table (and may refuse it by
    raising ``ValueError``, e.g. for a backend it cannot build)."""

    def __init__(self, path: Path, interval_s: float, apply: Callable[[RouteTable], None]) -> None:
        self.path = path
        self.interval_s = interval_s
        self._apply = apply
        self._seen: Stamp = stamp(path)
        self._task: asyncio.Task[None] | None = None
        self.reloads = 0
        """Tables swapped in so far (for tests and logs)."""
        self.errors = 0
        """Changed files refused so far."""

    def check(self) -> bool:
        """Reload if the file changed since the last check; True when a new table went in.

        Called by the polling task; tests call it directly."""
        current = stamp(self.path)
        if current is None or current == self._seen:
            return False
        self._seen = current
        try:
            table = load_route_table(self.path)
            self._apply(table)
        except (OSError, ValidationError, ValueError) as exc:
            self.errors += 1
            log.error(
                "route file %s changed but was not loaded; keeping the current table: %s",
                self.path,
                " ".join(str(exc).split())[:500],
            )
            return False
        self.reloads += 1
        log.info(
            "route table reloaded from %s",
            self.path,
            extra={"models": {n: r.default_version for n, r in table.models.items()}},
        )
        return True

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                self.check()
            except Exception:  # the watcher must outlive any surprise; the table stays
                log.exception("route file check failed")

    def start(self) -> None:
        """Start polling in the running loop (the app's lifespan calls this)."""
        if self._task is None and self.interval_s > 0:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop polling (the app's lifespan calls this on shutdown)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
