"""Background jobs of a workspace: at most one per project, and anyone may watch it.

Indexing a project, catching up with a watcher's batch of changed files and
rebuilding an index run in a thread of the process that owns the workspace
(the workspace service), so an assistant's ``index`` call returns at once and
``workspace_status`` shows the progress. A second request for the same
project attaches to the running job instead of starting another; changed paths
that arrive while a job runs are merged into one follow-up sync, so a branch
switch that touches thousands of files is one batch, never a storm of jobs.

The follow-up is a ``Job`` from the moment it is queued (phase ``queued``), so a
caller can wait for it; it starts in the same locked step that ends the job
before it, so no request can slip in between and run beside it, and a request
is never dropped: a full sync asked for while a sync of a few paths runs is
queued (the running job would not cover it), and joins a running full sync.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..core.errors import Cancelled, WqmError

log = logging.getLogger(__name__)

Progress = Callable[[dict[str, Any]], None]
#: What a job runs: given a progress callback (and the paths to sync, None for all).
Work = Callable[[Progress, "set[str] | None"], dict[str, Any]]


@dataclass
class JobState:
    """A job's progress, as ``status`` shows it."""

    key: str
    kind: str
    phase: str = "starting"
    files_total: int = 0
    files_done: int = 0
    keywords_total: int = 0
    keywords_done: int = 0
    dense_total: int = 0
    dense_done: int = 0
    started_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    error: str | None = None
    dense_started: float | None = None

    def update(self, event: dict[str, Any]) -> None:
        """Fold one progress event into the state."""
        phase = event.get("phase")
        if phase == "plan":
            self.files_total = int(event.get("files") or 0)
            self.keywords_total = int(event.get("total") or 0)
            self.phase = "keywords"
        elif phase == "keywords":
            self.keywords_done = int(event.get("done") or 0)
            self.phase = "keywords"
        elif phase == "embed":
            if self.dense_started is None:
                self.dense_started = time.time()
            self.dense_total = int(event.get("total") or 0)
            self.dense_done = int(event.get("done") or 0)
            self.phase = "dense"
        elif isinstance(phase, str):
            self.phase = phase
        self.updated_at = time.time()

    def eta_seconds(self) -> float | None:
        """Seconds until the dense pass ends, at its rate so far (None: not known yet)."""
        if self.dense_started is None or self.dense_done <= 0 or self.finished_at is not None:
            return None
        rate = self.dense_done / max(time.time() - self.dense_started, 1e-3)
        return round((self.dense_total - self.dense_done) / rate, 1)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "kind": self.kind,
            "phase": self.phase,
            "running": self.finished_at is None,
            "files_total": self.files_total,
            "keywords_done": self.keywords_done,
            "keywords_total": self.keywords_total,
            "dense_done": self.dense_done,
            "dense_total": self.dense_total,
            "eta_seconds": self.eta_seconds(),
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "error": self.error,
        }


class Job:
    """One running (or finished) job; progress fans out to every attached listener."""

    def __init__(self, key: str, kind: str, work: Work, only: set[str] | None,
                 on_finish: Callable[[Job], None] | None = None) -> None:
        self.state = JobState(key, kind)
        self.only = only
        self._work = work
        self._on_finish = on_finish
        self._listeners: list[Progress] = []
        self._lock = threading.Lock()
        self._done = threading.Event()
        self.result: dict[str, Any] | None = None
        self.exception: WqmError | None = None
        self.thread = threading.Thread(target=self._run, name=f"wqm-job-{kind}", daemon=True)

    def _emit(self, event: dict[str, Any]) -> None:
        with self._lock:
            self.state.update(event)
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception:
                log.debug("a progress listener failed", exc_info=True)

    def _run(self) -> None:
        self.execute(lambda: self._work(self._emit, self.only))

    def execute(self, fn: Callable[[], dict[str, Any]]) -> None:
        """Run ``fn`` as this job's work (in its thread, or inline in another job's) and end."""
        try:
            self.result = fn()
            self.state.phase = "done"
        except WqmError as exc:
            self.exception = exc
            self.state.error = str(exc)
            self.state.phase = "stopped" if isinstance(exc, Cancelled) else "failed"
            log.info("%s job for %s ended: %s", self.state.kind, self.state.key, exc)
        except Exception as exc:  # a bug: keep the traceback in the log, one sentence out
            log.exception("%s job for %s failed", self.state.kind, self.state.key)
            self.exception = WqmError(f"The {self.state.kind} job failed: {type(exc).__name__}: "
                                      f"{exc}".splitlines()[0])
            self.state.error = str(self.exception)
            self.state.phase = "failed"
        finally:
            self.state.finished_at = time.time()
            if self._on_finish is not None:
                try:
                    self._on_finish(self)  # starts the follow-up before anyone sees this end
                except Exception:
                    log.exception("could not start the job queued after %s", self.state.key)
            self._done.set()

    @property
    def running(self) -> bool:
        """True until the job ends."""
        return not self._done.is_set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the job to end, whatever its outcome; False on timeout."""
        return self._done.wait(timeout)

    def wait(self, progress: Progress | None = None, timeout: float | None = None
             ) -> dict[str, Any]:
        """Wait for the job (reporting its progress to ``progress``); its result or its error."""
        if progress is not None:
            with self._lock:
                self._listeners.append(progress)
        try:
            if not self._done.wait(timeout):
                raise TimeoutError
        finally:
            if progress is not None:
                with self._lock:
                    self._listeners.remove(progress)
        if self.exception is not None:
            raise self.exception
        assert self.result is not None
        return self.result


class JobManager:
    """At most one running job per key (a project's root), and at most one queued after it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._next: dict[str, Job] = {}

    def start(self, key: str, kind: str, work: Work) -> Job:
        """The job that brings all of ``key`` up to date.

        A running full sync is joined; while a sync of some paths runs, a full
        sync is queued after it (and returned, so the caller can wait for it).
        """
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and job.running:
                if job.only is None:
                    return job
                return self._enqueue(key, kind, work, None)
            return self._launch(key, kind, work, None)

    def queue(self, key: str, kind: str, work: Work, paths: Iterable[str] | None) -> Job:
        """Sync ``paths`` (None: everything) now, or right after the running job for ``key``.

        Paths that changed again since the running job read them must be read
        again, so a running job is never taken to cover them: they are merged
        into the one job queued after it.
        """
        wanted = None if paths is None else set(paths)
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and job.running:
                return self._enqueue(key, kind, work, wanted)
            return self._launch(key, kind, work, wanted)

    def _launch(self, key: str, kind: str, work: Work, only: set[str] | None) -> Job:
        """Start a job now (the manager's lock is held)."""
        job = Job(key, kind, work, only, self._finished)
        self._jobs[key] = job
        job.thread.start()
        return job

    def _enqueue(self, key: str, kind: str, work: Work, only: set[str] | None) -> Job:
        """Merge a request into the job queued for ``key`` (the manager's lock is held)."""
        queued = self._next.get(key)
        if queued is None:
            queued = Job(key, kind, work, only, self._finished)
            queued.state.phase = "queued"
            self._next[key] = queued
        elif only is None or queued.only is None:
            queued.only = None
            if only is None:
                queued.state.kind = kind  # a full sync: named after what asked for it
        else:
            queued.only |= only
        return queued

    def run_queued_now(self, key: str, run: Callable[[set[str], Progress], dict[str, Any]]
                       ) -> set[str]:
        """Let the running job for ``key`` do the queued sync of a few paths itself, now.

        Called by a long job between two steps (``Indexer``'s interleave hook), so a
        file saved while a project's full index is being built is searchable in
        seconds instead of after the whole index. A queued full sync stays queued.
        Returns the paths synced (empty when none were waiting).
        """
        with self._lock:
            queued = self._next.get(key)
            if queued is None or not queued.only:
                return set()
            del self._next[key]  # anything asked for from now on queues a new job
            paths = set(queued.only)
            queued.state.phase = "starting"
            queued.state.started_at = queued.state.updated_at = time.time()
        queued.execute(lambda: run(paths, queued._emit))
        if queued.exception is not None:
            raise queued.exception  # e.g. Cancelled: the running job stops too
        return paths

    def _finished(self, job: Job) -> None:
        """Called by a job as it ends: its queued follow-up, if any, starts now."""
        with self._lock:
            if self._jobs.get(job.state.key) is not job:
                return
            queued = self._next.pop(job.state.key, None)
            if queued is not None:
                self._jobs[job.state.key] = queued
                queued.state.phase = "starting"
                queued.state.started_at = queued.state.updated_at = time.time()
                queued.thread.start()

    def get(self, key: str) -> Job | None:
        """The running or last job for ``key``."""
        with self._lock:
            return self._jobs.get(key)

    def running(self) -> list[Job]:
        """Jobs still running (the service does not stop for idleness meanwhile)."""
        with self._lock:
            return [job for job in self._jobs.values() if job.running]

    def pending(self, key: str) -> int | None:
        """Paths queued behind the running job (None: a full sync is queued; 0: none)."""
        with self._lock:
            queued = self._next.get(key)
            if queued is None:
                return 0
            return None if queued.only is None else len(queued.only)


__all__ = ["Job", "JobManager", "JobState"]
