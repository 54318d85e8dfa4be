"""The workspace service: one process owns the embedded store, the registry and the models.

Qdrant's embedded mode admits one process per storage folder, while a user runs
several assistants (each with an MCP server) and a terminal at once. So the
first client that needs the workspace starts this service (detached, one per
data directory, guarded by a lock), and every CLI command and MCP server talks
to it over an owner-only Unix socket. The model loads once here, not once per
command. After ``service_idle_seconds`` without a request it stops by itself.

Requests from different connections run concurrently on a small thread pool;
calls into the embedded Qdrant client are serialised by ``core.store``, alias
changes by their cross-process lock, and embedding runs in parallel.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import logging.handlers
import os
import signal
import socket
import struct
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .. import __version__
from ..backends.dashboard import DASHBOARD_VERB, DashboardLink
from ..backends.protocol import (
    HEADER,
    MAX_FRAME_BYTES,
    PROTOCOL_VERSION,
    BadFrame,
    FrameTooLarge,
    code_fingerprint,
    decode,
    encode,
    error_payload,
)
from ..backends.service import DRAIN_SECONDS, EXIT_ALREADY_RUNNING
from ..config import Settings
from ..core.errors import WqmError
from ..core.runfiles import ServicePaths, unwritable
from ..ops import registry
from ..workspace.keeper import IndexKeeper
from ..workspace.rebuild import gc
from ..workspace.workspace import Workspace
from .dashboard import DashboardServer
from .metrics import RequestMetrics

log = logging.getLogger("wqm.service")


async def read_frame(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    """Next frame from an asyncio stream; None at a clean end of stream."""
    try:
        header = await reader.readexactly(HEADER.size)
    except asyncio.IncompleteReadError:
        return None
    (length,) = HEADER.unpack(header)
    if length > MAX_FRAME_BYTES:
        raise FrameTooLarge(f"frame of {length} bytes exceeds {MAX_FRAME_BYTES}")
    try:
        body = await reader.readexactly(length)
    except asyncio.IncompleteReadError:
        return None
    return decode(body)


USAGE_FLUSH_SECONDS = 5.0
#: Seconds between two checks for retired collections past their retention period.
GC_INTERVAL_SECONDS = 3600.0
#: Seconds a long operation gets to notice the stop and end cleanly after the drain.
CANCEL_SECONDS = 10.0


def _error(request_id: Any, message: str, cls: str = "InvalidArgument") -> dict[str, Any]:
    """An error reply frame."""
    return {"id": request_id, "type": "error", "error": {"class": cls, "message": message}}


class WorkspaceService:
    """Serves library operations to local clients over a Unix socket."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.paths = ServicePaths.for_settings(settings).prepare()
        self.workspace = Workspace(settings)
        self.executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="wqm-op")
        self.last_activity = time.monotonic()
        self.active_requests = 0
        self.started_at = time.time()
        self.requests_served = 0
        self._stop = asyncio.Event()
        self._writers: set[asyncio.StreamWriter] = set()
        self._pid_fd: int | None = None
        self.keeper: IndexKeeper | None = None
        self.metrics = RequestMetrics(registry.load())
        self.dashboard: DashboardServer | None = None
        self._dashboard_lock = asyncio.Lock()

    # -- lifecycle --------------------------------------------------------------------------

    def _take_pid_lock(self) -> bool:
        fd = os.open(self.paths.pid_file, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        info = {
            "pid": os.getpid(),
            "version": __version__,
            "fingerprint": code_fingerprint(),
            "socket": str(self.paths.socket),
            "started_at": self.started_at,
        }
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(info).encode())
        self._pid_fd = fd
        return True

    def _bind(self) -> socket.socket:
        path = self.paths.socket
        self.paths.clear_socket()  # we hold the pid lock, so whoever made it is dead
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)
        try:
            sock.bind(str(path))
        finally:
            os.umask(old_umask)
        os.chmod(path, 0o600)
        sock.listen(64)
        return sock

    async def run(self) -> int:
        """Serve until stopped or idle; returns the process exit code."""
        if not self._take_pid_lock():
            log.info("another service already runs for %s", self.settings.data_dir)
            return EXIT_ALREADY_RUNNING
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self.executor, self.workspace.open)
        except WqmError as exc:
            # Keep serving: every operation reports this sentence (and retries the open),
            # and `wqm project doctor` can diagnose and repair what is broken.
            log.warning("the workspace could not open: %s", exc)
        self.keeper = IndexKeeper(self.workspace, watch=self.settings.watch)
        try:
            await loop.run_in_executor(self.executor, self.keeper.start)
        except WqmError as exc:
            log.warning("keeping the indexes current could not start: %s", exc)
        server = await asyncio.start_unix_server(self._handle, sock=self._bind(), limit=2**16)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        log.info(
            "service %s (pid %d) serving %s on %s",
            __version__,
            os.getpid(),
            self.settings.engine_description(),
            self.paths.socket,
        )
        maintenance = asyncio.create_task(self._maintain())
        try:
            await self._stop.wait()
        finally:
            maintenance.cancel()
            server.close()  # no new connections
            if self.dashboard is not None:
                await self.dashboard.close()
            await self._drain()
            for writer in list(self._writers):
                writer.close()
            with contextlib.suppress(WqmError):
                self.paths.clear_socket()
            await asyncio.to_thread(self.workspace.close)
            self.executor.shutdown(wait=False, cancel_futures=True)
            log.info("service stopped after %d requests", self.requests_served)
        return 0

    async def _drain(self) -> None:
        """Let running requests finish (up to ``DRAIN_SECONDS``), then ask them to stop.

        A long operation checks ``workspace.stopping`` between steps and stops with
        a ``Cancelled`` sentence (an ingest resumes where it left off on its next
        run); a request still running after ``CANCEL_SECONDS`` more is abandoned
        when the process exits.
        """
        deadline = time.monotonic() + DRAIN_SECONDS
        if self.active_requests:
            log.info("stopping: waiting up to %.0f s for %d running request(s)",
                     DRAIN_SECONDS, self.active_requests)
        while self.active_requests and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self.keeper is not None:
            self.keeper.stop()
        self.workspace.stopping.set()  # background jobs (and anything still running) stop now
        deadline = time.monotonic() + CANCEL_SECONDS
        while (self.active_requests or self.workspace.jobs.running()) and (
                time.monotonic() < deadline):
            await asyncio.sleep(0.05)
        if self.active_requests or self.workspace.jobs.running():
            log.warning("stopping with %d request(s) and %d job(s) still running",
                        self.active_requests, len(self.workspace.jobs.running()))

    async def _maintain(self) -> None:
        loop = asyncio.get_running_loop()
        last_flush = last_gc = time.monotonic()
        while True:
            await asyncio.sleep(0.5)
            now = time.monotonic()
            if now - last_flush >= USAGE_FLUSH_SECONDS:
                last_flush = now
                with contextlib.suppress(WqmError):
                    await loop.run_in_executor(self.executor, self.workspace.state.flush_usage)
            if now - last_gc >= GC_INTERVAL_SECONDS:
                last_gc = now
                with contextlib.suppress(WqmError):
                    await loop.run_in_executor(self.executor, self._collect_retired)
            idle = now - self.last_activity
            if self._busy():
                self.last_activity = now
            elif idle >= self.settings.service_idle_seconds:
                log.info("idle for %.0f s: stopping", idle)
                self._stop.set()
                return

    def _collect_retired(self) -> None:
        """Remove indexes a rebuild replaced once their retention period is over."""
        removed = gc(self.workspace, older_than_days=self.settings.retention_days)
        if removed:
            log.info("removed %d retired collection(s) after %d days", len(removed),
                     self.settings.retention_days)

    def _busy(self) -> bool:
        """Work that keeps the service from stopping when idle.

        A running request or background job, or an open connection: MCP servers
        keep theirs open for their whole session, so the service (and its watch
        of the projects) lives as long as some assistant is connected, and stops
        by itself once every session has ended and it has been idle for a while.
        """
        return bool(self.active_requests or self._writers or self.workspace.jobs.running())

    # -- requests ---------------------------------------------------------------------------

    def _peer_is_owner(self, writer: asyncio.StreamWriter) -> bool:
        sock = writer.get_extra_info("socket")
        if sock is None or not hasattr(socket, "SO_PEERCRED"):
            return True
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _pid, uid, _gid = struct.unpack("3i", creds)
        return bool(uid == os.getuid())

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._peer_is_owner(writer):
            writer.close()
            return
        self._writers.add(writer)
        try:
            while not self._stop.is_set():
                try:
                    request = await read_frame(reader)
                except FrameTooLarge as exc:
                    await self._send(writer, _error(None, f"Request refused: {exc}."))
                    break  # the oversized body cannot be skipped safely: drop this connection
                except BadFrame as exc:
                    await self._send(writer, _error(None, f"Malformed request: {exc}."))
                    continue
                if request is None or self._stop.is_set():
                    break
                await self._serve(request, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()

    async def _send(self, writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
        frame = encode(message)
        if len(frame) - HEADER.size > MAX_FRAME_BYTES:
            # Never send what no client may read: the reply becomes a one-sentence error.
            size = (len(frame) - HEADER.size) / 1024 / 1024
            frame = encode(_error(message.get("id"), (
                f"The reply is {size:.1f} MiB, more than the {MAX_FRAME_BYTES // 1024 // 1024} "
                "MiB the service sends at once; ask for less (e.g. a smaller limit).")))
        writer.write(frame)
        await writer.drain()

    async def _serve(self, request: dict[str, Any], writer: asyncio.StreamWriter) -> None:
        request_id = request.get("id")
        op = request.get("op")
        params = request.get("params") or {}
        caller_request = request.get("request_id")
        client_request = caller_request if isinstance(caller_request, str) else None
        self.last_activity = time.monotonic()
        if (
            request.get("v") != PROTOCOL_VERSION
            or not isinstance(op, str)
            or not isinstance(params, dict)
        ):
            message = (
                f"Malformed request: expected protocol {PROTOCOL_VERSION} with an op name "
                "and a params object."
            )
            await self._send(writer, _error(request_id, message))
            return
        if op == "hello":
            await self._send(writer, {"id": request_id, "type": "result", "result": self.info()})
            return
        if op == "shutdown":
            await self._send(writer, {"id": request_id, "type": "result", "result": {"ok": True}})
            self._stop.set()
            return
        if op == DASHBOARD_VERB:
            await self._send(writer, await self._dashboard_reply(request_id, params))
            return
        loop = asyncio.get_running_loop()

        def progress(event: dict[str, Any]) -> None:
            frame = encode({"id": request_id, "type": "progress", "event": event})
            loop.call_soon_threadsafe(writer.write, frame)

        started = time.monotonic()
        try:
            result = await self.run_operation(op, params, via="socket", progress=progress,
                                              request_id=client_request)
            reply: dict[str, Any] = {"id": request_id, "type": "result", "result": result}
        except Exception as exc:
            if not isinstance(exc, WqmError):
                log.exception("operation %s failed", op)
            reply = {"id": request_id, "type": "error", "error": error_payload(exc)}
        finally:
            self.requests_served += 1
        log.info("%s %s in %.1f ms", op, reply["type"], (time.monotonic() - started) * 1000)
        await self._send(writer, reply)

    async def run_operation(
        self,
        op: str,
        params: dict[str, Any],
        *,
        via: str,
        progress: Callable[[dict[str, Any]], None] | None = None,
        request_id: str | None = None,
    ) -> Any:
        """Run an operation on the workspace in the thread pool, timed for ``/metrics``.

        The one path for socket requests and the dashboard alike; running counts as
        activity, so the service does not stop for idleness meanwhile.
        """
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        outcome = "error"
        self.active_requests += 1
        try:
            result = await loop.run_in_executor(
                self.executor,
                lambda: registry.run(self.workspace, op, params, progress, request_id),
            )
            outcome = "ok"
            return result
        finally:
            self.active_requests -= 1
            self.last_activity = time.monotonic()
            self.metrics.observe(op, via, outcome, time.monotonic() - started)

    def touch(self) -> None:
        """Count as activity now (an open dashboard keeps the service from idling out)."""
        self.last_activity = time.monotonic()

    async def open_dashboard(self, read_only: bool) -> DashboardLink:
        """Start the dashboard server on first use and hand out a new session."""
        async with self._dashboard_lock:
            if self.dashboard is None:
                server = DashboardServer(self)
                await server.start()
                self.dashboard = server
        # Read-only is the caller's choice per link (flag or WQM_DASHBOARD_READONLY, resolved by
        # the client): the service's own environment is whichever client happened to start it.
        return self.dashboard.new_session(read_only)

    async def _dashboard_reply(self, request_id: Any, params: dict[str, Any]) -> dict[str, Any]:
        self.touch()
        try:
            link = await self.open_dashboard(bool(params.get("read_only")))
        except WqmError as exc:
            return {"id": request_id, "type": "error", "error": error_payload(exc)}
        return {"id": request_id, "type": "result", "result": link}

    def info(self) -> dict[str, Any]:
        """What ``hello`` and ``wqm service status`` report."""
        return {
            "protocol": PROTOCOL_VERSION,
            "version": __version__,
            "fingerprint": code_fingerprint(),
            "pid": os.getpid(),
            "data_dir": str(self.settings.data_dir),
            "engine": self.settings.engine_description(),
            "socket": str(self.paths.socket),
            "started_at": self.started_at,
            "uptime_seconds": round(time.time() - self.started_at, 1),
            "idle_timeout_seconds": self.settings.service_idle_seconds,
            "requests_served": self.requests_served,
            "active_requests": self.active_requests,
            "dashboard_port": self.dashboard.port if self.dashboard is not None else None,
            "operations": registry.describe(),
        }


def _setup_logging(paths: ServicePaths) -> None:
    handler = logging.handlers.RotatingFileHandler(
        paths.log_file, maxBytes=1_000_000, backupCount=2
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    os.chmod(paths.log_file, 0o600)


def _refuse(paths: ServicePaths | None, sentence: str) -> None:
    """Say why the service cannot start: on stderr (the log) and to the client that started it."""
    print(f"Error: {sentence}", file=sys.stderr)
    if paths is not None:
        with contextlib.suppress(OSError):
            paths.start_error.write_text(sentence + "\n", encoding="utf-8")


def main() -> int:
    """Run the service for the data directory named by the environment (``WQM_DATA_DIR``).

    A failure before the service serves leaves its one sentence in
    ``run/start-error.txt`` for the client that started it to show. The process
    ends with ``os._exit`` so that a request abandoned at stop time (a thread
    that never returned) cannot keep it alive.
    """
    code = 1
    paths: ServicePaths | None = None
    try:
        settings = Settings.from_env()
        paths = ServicePaths.for_settings(settings).prepare()
        _setup_logging(paths)
        service = WorkspaceService(settings)
        code = asyncio.run(service.run())
    except OSError as exc:  # a run file (pid file, log) cannot be written
        # Name the file the OS named (a pid file that is a folder is not the log's fault).
        fallback = paths.log_file if paths is not None else Path("the data directory")
        where = Path(exc.filename) if exc.filename else fallback
        _refuse(paths, str(unwritable(where, exc)))
    except WqmError as exc:
        log.error("cannot serve: %s", exc)
        _refuse(paths, str(exc))
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
