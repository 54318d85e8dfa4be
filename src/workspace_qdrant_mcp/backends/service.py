"""Client side of the workspace service: find it, start it on demand, call operations.

This module is imported by every CLI command and MCP server, so it stays light:
no qdrant-client, no model code. Starting is guarded by a lock file so that two
clients starting at once make one service; a socket left by a dead service is
detected (connection refused) and replaced.

What a caller can rely on:

* **Every wait is bounded.** The handshake waits ``HELLO_TIMEOUT``; a call waits
  its operation's timeout class (``ops/registry.TIMEOUT_SECONDS``), reset by
  every progress frame, so a hung service (stopped, deadlocked, or a socket
  whose server never replies) gives one sentence and a way out
  (``wqm service stop --force``) instead of a hang.
* **A broken connection is never reused.** A protocol error (a reply too large
  or not JSON) or a timeout closes the connection; the next call reconnects.
* **A write cut short says what happened.** Each call carries a request id the
  client chose before sending. When the service dies mid-call, a retry-safe
  operation is sent again once; any other write is looked up by its request id
  in the service that comes back (which has settled the change by then), and
  the error says "applied" or "not applied" rather than advising a re-run that
  could change something else.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import itertools
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from .. import __version__
from ..config import Settings
from ..core.errors import ProtocolError, ServiceError, WqmError
from ..core.requests import new_request_id
from ..core.runfiles import ServicePaths, read_pid_info, unwritable
from ..ops.registry import TIMEOUT_SECONDS, prepare_params
from .protocol import (
    PROTOCOL_VERSION,
    code_fingerprint,
    encode,
    raise_from_payload,
    read_frame_sync,
)

START_TIMEOUT_SECONDS = 60.0
#: Seconds the handshake (and a stop request) may take before the service counts as hung.
HELLO_TIMEOUT = 10.0
#: Seconds a stopping service has to let running requests finish (``service/server.py``).
DRAIN_SECONDS = 30.0
#: Exit code of a service that found another one already serving the data directory.
EXIT_ALREADY_RUNNING = 3
#: When this process loaded its code: a service started before that may run older code.
CODE_LOADED_AT = time.time()
Progress = Callable[[dict[str, Any]], None]


def _connect(path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        raise
    return sock


def _exchange(
    sock: socket.socket,
    frame_id: int,
    op: str,
    params: dict[str, Any],
    progress: Progress | None,
    timeout: float,
    request_id: str | None = None,
) -> Any:
    """Send one request and read its reply; ``timeout`` bounds each silence, not the whole call."""
    sock.settimeout(timeout)
    frame: dict[str, Any] = {"v": PROTOCOL_VERSION, "id": frame_id, "op": op, "params": params}
    if request_id is not None:
        frame["request_id"] = request_id
    sock.sendall(encode(frame))
    while True:
        reply = read_frame_sync(sock)
        kind = reply.get("type")
        if kind == "progress":
            if progress is not None:
                progress(reply.get("event") or {})
            continue
        if kind == "error":
            raise_from_payload(reply.get("error") or {})
        return reply.get("result")


@contextlib.contextmanager
def _start_lock(paths: ServicePaths) -> Iterator[None]:
    try:
        fd = os.open(paths.start_lock, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise unwritable(paths.start_lock, exc) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _service_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env["WQM_DATA_DIR"] = str(settings.data_dir)
    env["WQM_CACHE_DIR"] = str(settings.cache_dir)
    env["WQM_SERVICE_IDLE"] = str(settings.service_idle_seconds)
    env["WQM_AUTO_MIGRATE"] = "1" if settings.auto_migrate else "0"
    env["WQM_EMBED_BACKEND"] = settings.embed_backend
    env["WQM_DEVICE"] = settings.device
    env["WQM_MAX_FILE_BYTES"] = str(settings.max_file_bytes)
    # Every setting the service acts on goes down from the Settings object, not only from the
    # caller's environment: a library caller's Settings(watch=False) must reach the service.
    env["WQM_MAX_PROJECT_FILES"] = str(settings.max_project_files)
    env["WQM_MAX_PROJECT_BYTES"] = str(settings.max_project_bytes)
    env["WQM_AUTO_INDEX"] = "1" if settings.auto_index else "0"
    env["WQM_WATCH"] = "1" if settings.watch else "0"
    env["WQM_AUTO_REINDEX"] = "1" if settings.auto_reindex else "0"
    env["WQM_RETENTION_DAYS"] = str(settings.retention_days)
    env["WQM_EMBED_RECIPE"] = settings.embed_recipe
    env["WQM_DASHBOARD_READONLY"] = "1" if settings.dashboard_read_only else "0"
    for name, value in (
        ("QDRANT_URL", settings.qdrant_url),
        ("QDRANT_API_KEY", settings.qdrant_api_key),
        ("WQM_MODEL_PATH", settings.model_path),
        ("WQM_RECIPE_TAG", settings.recipe_tag),
    ):
        if value:
            env[name] = str(value)
        else:
            env.pop(name, None)
    env.pop("WQM_FAULT_POINT", None)
    if settings.engine:  # None: the service serves whatever engine the data directory holds
        env["WQM_ENGINE"] = settings.engine
    else:
        env.pop("WQM_ENGINE", None)
    env.pop("WQM_PROJECT_PATH", None)  # the project travels with each call, from its caller
    return env


def _hung(pid: Any, what: str, seconds: float) -> ServiceError:
    return ServiceError(
        f"The workspace service (pid {pid or '?'}) did not answer {what} within {seconds:.0f} s; "
        "it may be hung: `wqm service stop --force` stops it (no data is lost)."
    )


class ServiceBackend:
    """Runs operations in the shared workspace service, starting it when needed."""

    def __init__(
        self,
        settings: Settings,
        expected_fingerprint: str | None = None,
        code_loaded_at: float | None = None,
    ) -> None:
        self.settings = settings
        #: The code fingerprint of this client; a service reporting another one that started
        #: before ``code_loaded_at`` runs older code and is replaced. A service started later
        #: runs code at least as new as ours and is kept (replacing it would loop).
        self.expected_fingerprint = expected_fingerprint or code_fingerprint()
        self.code_loaded_at = CODE_LOADED_AT if code_loaded_at is None else code_loaded_at
        self.paths = ServicePaths.for_settings(settings)
        self._sock: socket.socket | None = None
        self._ids = itertools.count(1)
        self.service_info: dict[str, Any] | None = None

    # -- connection -------------------------------------------------------------------------

    def _hello(self, sock: socket.socket) -> dict[str, Any]:
        try:
            info = _exchange(sock, next(self._ids), "hello", {}, None, HELLO_TIMEOUT)
        except TimeoutError:
            pid = (read_pid_info(self.paths) or {}).get("pid")
            raise _hung(pid, "the handshake", HELLO_TIMEOUT) from None
        if not isinstance(info, dict):
            raise ServiceError(
                "The workspace service answered the handshake oddly; "
                "run `wqm service stop` and retry."
            )
        return info

    def _try_connect(self) -> socket.socket | None:
        try:
            sock = _connect(str(self.paths.socket))
        except FileNotFoundError:
            return None
        except OSError as exc:
            # ENOTDIR: a file sits where the run folder (or the data folder) belongs, so no
            # service can be there; preparing the folders then says which file is in the way.
            if exc.errno in (errno.ECONNREFUSED, errno.ENOENT, errno.ENOTSOCK, errno.ENOTDIR):
                return None
            raise ServiceError(
                f"Cannot reach the workspace service at {self.paths.socket}: {exc.strerror}."
            ) from None
        try:
            info = self._hello(sock)
        except (ConnectionError, ProtocolError):
            sock.close()
            return None
        except BaseException:
            sock.close()
            raise
        same_code = (
            info.get("version") == __version__
            and info.get("fingerprint") == self.expected_fingerprint
        )
        older = float(info.get("started_at") or 0) < self.code_loaded_at
        if info.get("protocol") != PROTOCOL_VERSION or (not same_code and older):
            # An older (or other) service: ask it to stop, then start ours.
            with contextlib.suppress(Exception):
                _exchange(sock, next(self._ids), "shutdown", {}, None, HELLO_TIMEOUT)
            sock.close()
            self._wait_for_exit(DRAIN_SECONDS + HELLO_TIMEOUT)
            return None
        self.service_info = info
        return sock

    def _wait_for_exit(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if read_pid_info(self.paths) is None:
                return True
            time.sleep(0.05)
        return False

    def connect(self) -> socket.socket:
        """A connection to a current service, starting one if none answers."""
        if self._sock is not None and not _peer_closed(self._sock):
            return self._sock
        self.close()
        sock = self._try_connect()
        if sock is None:
            self.paths.prepare()
            with _start_lock(self.paths):
                sock = self._try_connect()
                if sock is None:
                    sock = self._start_and_connect()
        self._sock = sock
        return sock

    def _start_and_connect(self) -> socket.socket:
        if read_pid_info(self.paths) is None:
            self.paths.clear_socket()  # its service is dead
        try:
            self.paths.start_error.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise unwritable(self.paths.start_error, exc) from None
        try:
            log = open(self.paths.log_file, "ab")  # noqa: SIM115 - handed to the child
            os.chmod(self.paths.log_file, 0o600)
        except OSError as exc:
            raise unwritable(self.paths.log_file, exc) from None
        with log:
            child = subprocess.Popen(
                [sys.executable, "-m", "workspace_qdrant_mcp.service"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=_service_env(self.settings),
                start_new_session=True,
                close_fds=True,
                cwd="/",
            )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            sock = self._try_connect()
            if sock is not None:
                return sock
            code = child.poll()
            if code is not None and code != EXIT_ALREADY_RUNNING:
                raise self._start_failure(code)
            time.sleep(0.03)
        with contextlib.suppress(OSError):
            child.kill()  # never leave a service behind that nobody could reach
        raise ServiceError(
            f"The workspace service did not answer within "
            f"{START_TIMEOUT_SECONDS:.0f} s and was stopped; see `wqm service logs`."
        )

    def _start_failure(self, code: int) -> ServiceError:
        """Why the service could not start: its own one sentence when it left one."""
        try:
            reason = self.paths.start_error.read_text(encoding="utf-8").strip()
        except OSError:
            reason = ""
        if reason:
            return ServiceError(f"The workspace service could not start: {reason}")
        return ServiceError(
            f"The workspace service failed to start (exit {code}); see "
            f"{self.paths.log_file} or run `wqm service logs`."
        )

    # -- calls ------------------------------------------------------------------------------

    def operations(self) -> dict[str, dict[str, Any]]:
        """The service's operation table (from its ``hello``; starts the service if needed)."""
        self.connect()
        table = (self.service_info or {}).get("operations")
        return table if isinstance(table, dict) else {}

    def operation_info(self, op: str) -> dict[str, Any]:
        """The service's declaration of ``op`` (from its ``hello``); {} for protocol verbs."""
        if op in ("hello", "shutdown"):
            return {"retry_safe": op == "hello"}
        table = (self.service_info or {}).get("operations") or {}
        found = table.get(op)
        return found if isinstance(found, dict) else {}

    def call(self, op: str, progress: Progress | None = None, **params: Any) -> Any:
        """Run ``op`` in the service (see the module docstring for what failures mean)."""
        request_id = new_request_id()
        prepared: dict[str, Any] | None = None
        for attempt in (1, 2):
            sock = self.connect()
            info = self.operation_info(op)
            if prepared is None:
                prepared = prepare_params(info, params, os.getcwd(), self.settings.project_path)
            timeout = HELLO_TIMEOUT if op == "hello" else TIMEOUT_SECONDS[
                str(info.get("timeout") or "short")]
            try:
                return _exchange(sock, next(self._ids), op, prepared, progress, timeout,
                                 request_id)
            except TimeoutError:
                self.close()
                raise _hung((self.service_info or {}).get("pid"), f"'{op}'", timeout) from None
            except ProtocolError as exc:
                self.close()
                raise ServiceError(
                    f"The reply to '{op}' could not be read ({exc}); the connection was reset, "
                    "so the next command works."
                ) from None
            except OSError:
                self.close()
                if attempt == 1 and info.get("retry_safe"):
                    continue
                raise self._interrupted(op, request_id) from None
        raise AssertionError("unreachable")

    def _interrupted(self, op: str, request_id: str) -> ServiceError:
        """The error for a write whose service died mid-call: was it applied or not?"""
        try:
            outcome = self.call("request_outcome", request_id=request_id)
        except WqmError:
            return ServiceError(
                f"The workspace service stopped while running '{op}', and whether it was applied "
                "cannot be told now; `wqm project history` shows what changed."
            )
        if isinstance(outcome, dict) and outcome.get("status") == "applied":
            changes = ", ".join(str(c) for c in outcome.get("change_ids") or [])
            if not changes:  # not an alias change (an engine move): nothing in the history
                return ServiceError(
                    f"The workspace service stopped while answering '{op}', but it was applied; "
                    "do not run it again."
                )
            return ServiceError(
                f"The workspace service stopped while answering '{op}', but it was applied "
                f"(change {changes}); do not run it again: `wqm project history` shows it."
            )
        return ServiceError(
            f"The workspace service stopped while running '{op}'; it was not applied, so "
            "running the command again is safe."
        )

    def close(self) -> None:
        """Drop the connection (the service keeps running for others)."""
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None


def _peer_closed(sock: socket.socket) -> bool:
    """True when the service closed our idle connection (e.g. it stopped when idle)."""
    readable, _, _ = select.select([sock], [], [], 0)
    if not readable:
        return False
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def stop_service(settings: Settings, *, force: bool = False) -> dict[str, Any] | None:
    """Stop the data directory's service; returns its last info, or None if none ran.

    Politely first: a ``shutdown`` request, after which the service lets running
    requests finish for up to ``DRAIN_SECONDS``; a service that does not answer
    gets SIGTERM. ``force`` sends SIGKILL at once, which works on a hung or
    stopped (SIGSTOP) process; the store stays consistent (every write is
    crash-safe) and an interrupted ingest resumes on its next run.
    """
    paths = ServicePaths.for_settings(settings)
    info = read_pid_info(paths)
    if info is None:
        return None
    pid = int(info.get("pid") or 0)
    if force and pid:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    else:
        try:
            with contextlib.closing(_connect(str(paths.socket))) as sock:
                _exchange(sock, 1, "shutdown", {}, None, HELLO_TIMEOUT)
        except (OSError, WqmError):
            if pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
    waited = DRAIN_SECONDS + 2 * HELLO_TIMEOUT
    deadline = time.monotonic() + waited
    while time.monotonic() < deadline:
        if read_pid_info(paths) is None:
            with contextlib.suppress(WqmError):
                paths.clear_socket()
            return info
        time.sleep(0.05)
    raise ServiceError(
        f"The workspace service (pid {pid or '?'}) did not stop within {waited:.0f} s; "
        "`wqm service stop --force` stops it at once (no data is lost)."
    )


__all__ = ["ServiceBackend", "stop_service"]
