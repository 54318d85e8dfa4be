"""Client side of the workspace service: find it, start it on demand, call operations.

This module is imported by every CLI command and MCP server, so it stays light:
no qdrant-client, no model code. Starting is guarded by a lock file so that two
clients starting at once make one service; a socket left by a dead service is
detected (connection refused) and replaced.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import itertools
import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .. import __version__
from ..config import Settings
from ..core.errors import ServiceError
from ..core.runfiles import ServicePaths, read_pid_info
from ..ops.registry import prepare_params
from .protocol import (
    PROTOCOL_VERSION,
    FrameTooLarge,
    code_fingerprint,
    encode,
    raise_from_payload,
    read_frame_sync,
)

START_TIMEOUT_SECONDS = 60.0
#: When this process loaded its code: a service started before that may run older code.
CODE_LOADED_AT = time.time()
Progress = Callable[[dict[str, Any]], None]


def _connect(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
    except OSError:
        sock.close()
        raise
    return sock


def _exchange(
    sock: socket.socket, request_id: int, op: str, params: dict[str, Any], progress: Progress | None
) -> Any:
    sock.sendall(encode({"v": PROTOCOL_VERSION, "id": request_id, "op": op, "params": params}))
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
    fd = os.open(paths.start_lock, os.O_RDWR | os.O_CREAT, 0o600)
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
    for name, value in (
        ("QDRANT_URL", settings.qdrant_url),
        ("QDRANT_API_KEY", settings.qdrant_api_key),
        ("WQM_MODEL_PATH", settings.model_path),
    ):
        if value:
            env[name] = str(value)
        else:
            env.pop(name, None)
    env.pop("WQM_FAULT_POINT", None)
    return env


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
        info = _exchange(sock, next(self._ids), "hello", {}, None)
        if not isinstance(info, dict):
            raise ServiceError(
                "The workspace service answered the handshake oddly; "
                "run `wqm service stop` and retry."
            )
        return info

    def _try_connect(self) -> socket.socket | None:
        try:
            sock = _connect(self.paths.socket)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno in (errno.ECONNREFUSED, errno.ENOENT):
                return None
            raise ServiceError(
                f"Cannot reach the workspace service at {self.paths.socket}: {exc.strerror}."
            ) from None
        try:
            info = self._hello(sock)
        except (ConnectionError, FrameTooLarge, OSError):
            sock.close()
            return None
        same_code = (
            info.get("version") == __version__
            and info.get("fingerprint") == self.expected_fingerprint
        )
        older = float(info.get("started_at") or 0) < self.code_loaded_at
        if info.get("protocol") != PROTOCOL_VERSION or (not same_code and older):
            # An older (or other) service: ask it to stop, then start ours.
            with contextlib.suppress(Exception):
                _exchange(sock, next(self._ids), "shutdown", {}, None)
            sock.close()
            self._wait_for_exit()
            return None
        self.service_info = info
        return sock

    def _wait_for_exit(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and read_pid_info(self.paths) is not None:
            time.sleep(0.05)

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
            with contextlib.suppress(FileNotFoundError):
                self.paths.socket.unlink()  # stale: its service is dead
        with open(self.paths.log_file, "ab") as log:
            os.chmod(self.paths.log_file, 0o600)
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
            if code is not None and code != 3:
                raise ServiceError(
                    f"The workspace service failed to start (exit {code}); see "
                    f"{self.paths.log_file} or run `wqm service logs`."
                )
            time.sleep(0.03)
        raise ServiceError(
            f"The workspace service did not answer within "
            f"{START_TIMEOUT_SECONDS:.0f} s; see `wqm service logs`."
        )

    # -- calls ------------------------------------------------------------------------------

    def call(self, op: str, progress: Progress | None = None, **params: Any) -> Any:
        """Run ``op`` in the service; a read-only call cut by a restart is retried once."""
        for attempt in (1, 2):
            sock = self.connect()
            info = self.operation_info(op)
            if attempt == 1:
                params = prepare_params(info, params, os.getcwd(), self.settings.project_path)
            try:
                return _exchange(sock, next(self._ids), op, params, progress)
            except (ConnectionError, BrokenPipeError, OSError) as exc:
                self.close()
                if attempt == 1 and info.get("retry_safe") and not isinstance(exc, FrameTooLarge):
                    continue
                raise ServiceError(
                    f"The workspace service stopped while running '{op}'; the request failed. "
                    "Run it again: a new service starts by itself and no data is lost."
                ) from None
        raise AssertionError("unreachable")

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


def stop_service(settings: Settings, timeout: float = 15.0) -> dict[str, Any] | None:
    """Ask the data directory's service to stop; returns its last info, or None if none ran."""
    paths = ServicePaths.for_settings(settings)
    info = read_pid_info(paths)
    if info is None:
        return None
    try:
        sock = _connect(paths.socket)
        with contextlib.closing(sock):
            _exchange(sock, 1, "shutdown", {}, None)
    except OSError:
        pid = int(info.get("pid") or 0)
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 15)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and read_pid_info(paths) is not None:
        time.sleep(0.05)
    return info
