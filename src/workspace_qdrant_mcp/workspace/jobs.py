"""Background jobs of a workspace: at most one per project, and anyone may watch it.

Indexing a project, catching up with a watcher's batch of changed files and
rebuilding an index run in a thread of the process that owns the workspace
(the workspace service), so an assistant's ``index`` call returns at once and
``workspace_status`` shows the progress. A second request for the same
project attaches to the running job instead of starting another; changed paths
that arrive while a job runs are merged into one follow-up sync, so a branch
switch that touches thousands of files is one batch, never a storm of jobs.
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

    def __init__(self, key: str, kind: str, work: Work, only: set[str] | None) -> None:
        self.state = JobState(key, kind)
        self.only = only
        self._work = work
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
        try:
            self.result = self._work(self._emit, self.only)
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
    """At most one job per key (a project's root); paths changed meanwhile are merged."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._follow_up: dict[str, tuple[str, Work, set[str] | None]] = {}

    def start(self, key: str, kind: str, work: Work, only: Iterable[str] | None = None) -> Job:
        """The running job for ``key`` if there is one, else a new one running ``work``."""
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and job.running:
                return job
            job = Job(key, kind, self._chained(key, work), None if only is None else set(only))
            self._jobs[key] = job
        job.thread.start()
        return job

    def queue(self, key: str, kind: str, work: Work, paths: Iterable[str] | None) -> Job:
        """Sync ``paths`` (None: everything) now, or right after the running job for ``key``."""
        wanted = None if paths is None else set(paths)
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and job.running:
                _, _, queued = self._follow_up.get(key, (kind, work, set()))
                merged = None if wanted is None or queued is None else queued | wanted
                self._follow_up[key] = (kind, work, merged)
                return job
        return self.start(key, kind, work, wanted)

    def _chained(self, key: str, work: Work) -> Work:
        """``work``, then any follow-up queued while it ran (as one more job)."""

        def run(progress: Progress, only: set[str] | None) -> dict[str, Any]:
            try:
                return work(progress, only)
            finally:
                threading.Thread(target=self._start_follow_up, args=(key,), daemon=True).start()

        return run

    def _start_follow_up(self, key: str) -> None:
        job = self._jobs.get(key)
        if job is not None:
            job.join()
        with self._lock:
            follow = self._follow_up.pop(key, None)
        if follow is not None:
            kind, work, only = follow
            self.start(key, kind, work, only)

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
            follow = self._follow_up.get(key)
        if follow is None:
            return 0
        return None if follow[2] is None else len(follow[2])


__all__ = ["Job", "JobManager", "JobState"]
