"""Watch the folders of indexed projects and keep their indexes in step, by OS notifications.

Each watched project's root has its own ``watchfiles`` watch in its own thread
(inotify on Linux, FSEvents on macOS: no polling loop). One watch per root,
because ``watchfiles`` cannot add a folder to a running watch: with one watch
for every root, adding a project (its first index, ``wqm watch on``, a move)
or losing one (its folder deleted) restarted the watch of all of them, and a
file saved in any project during that restart was never seen.

A batch of changes (collected until the file system is quiet for ``STEP_MS``,
at most ``DEBOUNCE_MS``) becomes one sync of exactly the paths that changed,
queued on the project's job; changes that arrive while a sync runs are merged
into one follow-up, so the last content of a file wins and a branch switch or
``git pull`` touching thousands of files is one batch, not a storm. A change
to a ``.gitignore`` or ``.wqmignore`` (or to git's view of the tree, e.g. ``.git/info/exclude``,
``HEAD``) re-syncs the whole project, because it can change which files count.
A watched folder that disappears is dropped from the watch and reported by
``status``; a watch that fails for another reason is retried with a growing
delay, never in a tight loop.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

from watchfiles import Change, watch

from ..ingest.walker import VENDORED_DIRS

log = logging.getLogger(__name__)

#: Milliseconds of quiet after a change before a batch is handed over.
STEP_MS = 150
#: Longest a batch keeps collecting while changes keep coming.
DEBOUNCE_MS = 1500
#: Files whose change can change which files count: the whole project is re-synced.
_RULE_FILES = frozenset({".gitignore", "exclude", ".wqmignore"})
#: Files of ``.git`` worth a full re-sync (a branch switch, a pull, a staged rename).
_GIT_FILES = _RULE_FILES | {"HEAD", "index"}
#: Seconds before a failed watch is tried again (doubling up to ``RETRY_MAX``).
RETRY_FIRST = 1.0
RETRY_MAX = 300.0

#: (project root, changed relative paths or None for "everything") -> None
OnBatch = Callable[[str, "set[str] | None"], None]


def relevant(root: str) -> Callable[[Change, str], bool]:
    """The filter of ``root``'s watch: skip git's own files (but its rules) and vendored trees.

    Judged on the path below the root: a project that lives under a folder
    named like a vendored one (``~/build/app``) is watched like any other.
    """
    prefix = root.rstrip(os.sep) + os.sep

    def keep(_change: Change, path: str) -> bool:
        rel = path[len(prefix):] if path.startswith(prefix) else os.path.basename(path)
        parts = rel.split(os.sep)
        if parts[0] == ".git":
            return parts[-1] in _GIT_FILES
        return not any(part in VENDORED_DIRS for part in parts[:-1])

    return keep


class _RootWatch:
    """The watch of one root, in its own thread, until stopped or its folder is gone."""

    def __init__(self, root: str, on_changes: Callable[[str, set[tuple[Change, str]]], None],
                 on_end: Callable[[str], None]) -> None:
        self.root = root
        self._on_changes = on_changes
        self._on_end = on_end
        self.stop_event = threading.Event()
        self.failures = 0
        self.thread = threading.Thread(target=self._run, name=f"wqm-watch-{os.path.basename(root)}",
                                       daemon=True)

    def stop(self) -> None:
        """Ask the watch to end (within ``STEP_MS``)."""
        self.stop_event.set()

    def _run(self) -> None:
        keep = relevant(self.root)
        while not self.stop_event.is_set():
            try:
                for changes in watch(self.root, watch_filter=keep, step=STEP_MS,
                                     debounce=DEBOUNCE_MS, stop_event=self.stop_event,
                                     rust_timeout=1000, yield_on_timeout=False,
                                     raise_interrupt=False, ignore_permission_denied=True):
                    self.failures = 0
                    self._on_changes(self.root, changes)
                    if not os.path.isdir(self.root):
                        break  # the project's folder went away: nothing left to watch
            except Exception:  # the folder vanished under the watch, or the OS refused
                self.failures += 1
                log.info("the watch of %s stopped", self.root, exc_info=True)
            if not os.path.isdir(self.root):
                break
            if not self.stop_event.is_set() and self.failures:
                delay = min(RETRY_FIRST * 2 ** (self.failures - 1), RETRY_MAX)
                log.info("watching %s again in %.0f s", self.root, delay)
                self.stop_event.wait(delay)
        self._on_end(self.root)


class Watcher:
    """Watches a set of project roots; ``roots()`` says which, ``refresh()`` re-reads it."""

    def __init__(self, roots: Callable[[], set[str]], on_batch: OnBatch) -> None:
        self._roots_source = roots
        self._on_batch = on_batch
        self._lock = threading.Lock()
        self._watches: dict[str, _RootWatch] = {}
        self._missing: set[str] = set()
        self._stopped = False

    @property
    def watched(self) -> set[str]:
        """The roots watched now."""
        with self._lock:
            return set(self._watches)

    @property
    def missing(self) -> set[str]:
        """Roots that should be watched but whose folder is gone."""
        with self._lock:
            return set(self._missing)

    def refresh(self) -> None:
        """Re-read which roots to watch; start and stop watches so that exactly those are watched.

        The watch of a root that stays is left alone, so no change to it is missed.
        """
        wanted = self._roots_source()
        present = {root for root in wanted if os.path.isdir(root)}
        with self._lock:
            if self._stopped:
                return
            self._missing = wanted - present
            for root in set(self._watches) - present:
                self._watches.pop(root).stop()
            for root in sorted(present - set(self._watches)):
                watch_ = _RootWatch(root, self._dispatch, self._ended)
                self._watches[root] = watch_
                watch_.thread.start()

    def stop(self) -> None:
        """Stop watching (every watch ends within a second)."""
        with self._lock:
            self._stopped = True
            watches = list(self._watches.values())
            self._watches.clear()
        for watch_ in watches:
            watch_.stop()
        for watch_ in watches:
            watch_.thread.join(timeout=5)

    def _ended(self, root: str) -> None:
        """A root's watch ended by itself (its folder is gone): forget it, report it missing."""
        with self._lock:
            current = self._watches.get(root)
            if current is not None and current.stop_event.is_set():
                return  # stopped on purpose (and maybe replaced): nothing to do
            if current is not None and not os.path.isdir(root):
                del self._watches[root]
                self._missing.add(root)

    def _dispatch(self, root: str, changes: set[tuple[Change, str]]) -> None:
        """Hand the project its changed paths (None when its rules changed)."""
        changed: set[str] = set()
        everything = False
        for _change, path in changes:
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            name = rel.rsplit("/", 1)[-1]
            if name in _RULE_FILES or rel.startswith(".git/") or rel == ".git":
                everything = True  # which files count may have changed: sync everything
                break
            if rel != "." and not rel.startswith("../"):
                changed.add(rel)
        paths = None if everything else changed
        if not os.path.isdir(root):
            self.refresh()  # the project's folder went away
            return
        if paths is not None and not paths:
            return
        try:
            self._on_batch(root, paths)
        except Exception:
            log.exception("could not queue the changes of %s", root)


__all__ = ["Watcher", "relevant"]
