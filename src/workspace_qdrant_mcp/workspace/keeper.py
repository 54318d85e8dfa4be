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
from ..core.index_registry import BUILDING, IndexRegistry
from .rebuild import gc, settle_collections
from .sync import project_job, rebuild_job, running_rebuild
from .watcher import Watcher
from .workspace import Workspace

log = logging.getLogger(__name__)


class IndexKeeper:
    """Watches the workspace's watched projects and keeps their indexes current."""

    def __init__(self, ws: Workspace, watch: bool = True) -> None:
        self.ws = ws
        self.watch = watch
        self.watcher = Watcher(self.watched_roots, self._changed)
        if watch:
            ws.watch_listeners.append(self._roots_changed)
            ws.watching = lambda: self.watcher.watched

    def watched_roots(self) -> set[str]:
        """Roots of projects with an index and watching on."""
        return {p.root_path for p in self.ws.state.projects() if p.watch}

    def start(self) -> None:
        """Finish interrupted rebuilds, catch up with edits made meanwhile, then watch."""
        for physical, change in settle_collections(self.ws):
            log.info("after a restart: %s: %s", physical, change)
        # Also here, not only hourly: a service that stops when idle may never run an hour.
        for removed in gc(self.ws, older_than_days=self.ws.settings.retention_days):
            log.info("removed %s, retired over %d days ago", removed["collection"],
                     self.ws.settings.retention_days)
        self._rebuild_outdated()
        if self.watch:
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

    def _rebuild_outdated(self) -> None:
        """Resume every unfinished rebuild; rebuild indexes an older recipe made (if allowed)."""
        registry = IndexRegistry(self.ws.state)
        current = self.ws.models.current()
        for project in self.ws.state.projects():
            if not os.path.isdir(project.root_path):
                continue
            building = [c for c in registry.collections(BUILDING)
                        if c.project_id == project.id]
            record = registry.collection(project.physical_collection)
            outdated = (record is not None and record.recipe is not None
                        and record.recipe.id != current.id and self.ws.settings.auto_reindex)
            if not building and not outdated:
                continue
            try:
                ctx = self.ws.project(project.root_path, auto_migrate=False)
                if ctx.physical == project.physical_collection:
                    log.info("rebuilding the index of %s in the background", project.root_path)
                    rebuild_job(self.ws, ctx, current)
            except WqmError as exc:
                log.info("not rebuilding %s: %s", project.root_path, exc)

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
        if paths is None and running_rebuild(self.ws, root) is not None:
            # The rebuild reads every file again anyway. A sync job waiting for it would
            # only make the project look "being indexed" (and its answers partial) meanwhile.
            return
        try:
            project_job(self.ws, ctx, only=paths, kind="sync")
        except WqmError as exc:  # e.g. it grew over the size limit: the next project still counts
            log.warning("not syncing %s: %s", root, exc)


__all__ = ["IndexKeeper"]
