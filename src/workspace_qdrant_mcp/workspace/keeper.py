"""The index keeper: the workspace service's duty to keep every watched project current.

At start it catches up: each watched project is re-synced by content hash
(cheap: a file whose size and mtime did not change is not even read), so edits
made while no service ran are picked up. Then it watches the projects' folders
(``watcher.py``) and queues each batch of changed files on the project's job.
Only projects that already have an index are kept: a folder that now holds a
different repository is never indexed behind its owner's back.
"""

from __future__ import annotations

import logging
import os

from ..core.errors import WqmError
from .sync import project_job
from .watcher import Watcher
from .workspace import Workspace

log = logging.getLogger(__name__)


class IndexKeeper:
    """Watches the workspace's watched projects and keeps their indexes current."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.watcher = Watcher(self.watched_roots, self._changed)
        ws.watch_listeners.append(self._roots_changed)
        ws.watching = lambda: self.watcher.watched

    def watched_roots(self) -> set[str]:
        """Roots of projects with an index and watching on."""
        return {p.root_path for p in self.ws.state.projects() if p.watch}

    def start(self) -> None:
        """Catch up with edits made while nothing watched, then watch."""
        self._roots_changed()

    def _roots_changed(self) -> None:
        """Re-read which projects to watch; catch up with each newly watched one.

        A project whose watching was off (``wqm watch on``), or whose service was
        not running, may have changed meanwhile: a full sync by content hash finds
        what did (it reads only files whose size or mtime changed). A project just
        given its first index is already being synced in full: that job is joined.
        """
        before = self.watcher.watched
        self.watcher.refresh()
        for root in sorted(self.watcher.watched - before):
            self._changed(root, None)

    def stop(self) -> None:
        """Stop watching."""
        self.watcher.stop()

    def _changed(self, root: str, paths: set[str] | None) -> None:
        if not os.path.isdir(root):
            return
        try:
            ctx = self.ws.project(root, auto_migrate=False)
        except WqmError as exc:
            log.info("not syncing %s: %s", root, exc)
            return
        if ctx.physical is None or str(ctx.root) != root:
            return  # no index of the project now at that folder: nothing to keep
        try:
            project_job(self.ws, ctx, only=paths, kind="sync")
        except WqmError as exc:  # e.g. it grew over the size limit: the next project still counts
            log.warning("not syncing %s: %s", root, exc)


__all__ = ["IndexKeeper"]
