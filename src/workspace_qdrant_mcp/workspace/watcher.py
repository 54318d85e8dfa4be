"""Watch the folders of indexed projects and keep their indexes in step, by OS notifications.

One thread watches every watched project's root with ``watchfiles`` (inotify on
Linux, FSEvents on macOS: no polling loop). A batch of changes (collected until
the file system is quiet for ``STEP_MS``, at most ``DEBOUNCE_MS``) becomes one
sync of exactly the paths that changed, queued on the project's job; changes
that arrive while a sync runs are merged into one follow-up, so the last
content of a file wins and a branch switch or ``git pull`` touching thousands of
files is one batch, not a storm. A change to a ``.gitignore`` (or to git's view
of the tree, e.g. ``.git/info/exclude``) re-syncs the whole project, because it
can change which files count. A watched folder that disappears is dropped from
the watch and reported by ``status``; it is not retried in a loop.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from watchfiles import Change, watch

from ..ingest.walker import VENDORED_DIRS

log = logging.getLogger(__name__)

#: Milliseconds of quiet after a change before a batch is handed over.
STEP_MS = 150
#: Longest a batch keeps collecting while changes keep coming.
DEBOUNCE_MS = 1500
#: Files whose change can change which files count: the whole project is re-synced.
_RULE_FILES = frozenset({".gitignore", "exclude"})

#: (project root, changed relative paths or None for "everything") -> None
OnBatch = Callable[[str, "set[str] | None"], None]


def _relevant(change: Change, path: str) -> bool:
    """Skip what can never be indexed: git's own files (but its rules) and vendored trees."""
    parts = Path(path).parts
    if ".git" in parts:
        return parts[-1] in _RULE_FILES or parts[-1] in ("HEAD", "index")
    return not any(part in VENDORED_DIRS for part in parts[:-1])


class Watcher:
    """Watches a set of project roots; ``roots()`` says which, ``refresh()`` re-reads it."""

    def __init__(self, roots: Callable[[], set[str]], on_batch: OnBatch) -> None:
        self._roots_source = roots
        self._on_batch = on_batch
        self._lock = threading.Lock()
        self._roots: set[str] = set()
        self._missing: set[str] = set()
        self._restart = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def watched(self) -> set[str]:
        """The roots watched now."""
        with self._lock:
            return set(self._roots)

    @property
    def missing(self) -> set[str]:
        """Roots that should be watched but whose folder is gone."""
        with self._lock:
            return set(self._missing)

    def refresh(self) -> None:
        """Re-read which roots to watch; restart the watch when that set changed."""
        wanted = self._roots_source()
        present = {root for root in wanted if os.path.isdir(root)}
        with self._lock:
            self._missing = wanted - present
            changed = present != self._roots
            self._roots = present
        if changed:
            self._restart.set()
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="wqm-watcher", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop watching (the thread ends within a second)."""
        self._stop.set()
        self._restart.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._restart.clear()
            roots = self.watched
            if not roots:
                self._restart.wait()
                continue
            try:
                for changes in watch(*roots, watch_filter=_relevant, step=STEP_MS,
                                     debounce=DEBOUNCE_MS, stop_event=self._restart,
                                     rust_timeout=1000, yield_on_timeout=False,
                                     raise_interrupt=False, ignore_permission_denied=True):
                    self._dispatch(roots, changes)
            except Exception:  # a root vanished under the watch, or the OS refused: re-read
                log.info("the file watch stopped; re-reading the watched folders", exc_info=True)
                self._stop.wait(1.0)
                self.refresh()

    def _dispatch(self, roots: set[str], changes: set[tuple[Change, str]]) -> None:
        """Hand each project its changed paths (None when its rules changed)."""
        batches: dict[str, set[str] | None] = {}
        for _change, path in changes:
            root = _owner(roots, path)
            if root is None:
                continue
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            name = rel.rsplit("/", 1)[-1]
            if name in _RULE_FILES or rel.startswith(".git/") or rel == ".git":
                batches[root] = None  # which files count may have changed: sync everything
            elif batches.get(root, set()) is not None:
                batches.setdefault(root, set()).add(rel)  # type: ignore[union-attr]
        for root, paths in batches.items():
            if not os.path.isdir(root):
                self.refresh()  # the project's folder went away
                continue
            try:
                self._on_batch(root, paths)
            except Exception:
                log.exception("could not queue the changes of %s", root)


def _owner(roots: set[str], path: str) -> str | None:
    """The watched root that contains ``path`` (the deepest, for nested projects)."""
    best: str | None = None
    for root in roots:
        if (path == root or path.startswith(root.rstrip(os.sep) + os.sep)) and (
                best is None or len(root) > len(best)):
            best = root
    return best


__all__ = ["Watcher"]
