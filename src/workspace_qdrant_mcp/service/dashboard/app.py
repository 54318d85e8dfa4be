"""The dashboard server: a local page about names, aliases and health, and ``/metrics``.

It runs inside the workspace service's event loop (started by the first
``wqm dashboard``), bound to 127.0.0.1 on a random port, and reads everything
through operations (``ops/overview.py`` and the alias operations) run on the
service's workspace, exactly as the CLI would get them.

Security, in the order a request meets it (docs/ARCHITECTURE.md, "Dashboard"):

1. ``Host`` must be ``127.0.0.1:PORT`` or ``localhost:PORT`` (a DNS-rebinding page
   reaches us under its own host name and is refused before anything else).
2. A session token (``?token=`` or ``Authorization: Bearer``) on every request,
   pages and files included; each ``wqm dashboard`` makes a session with its
   own random token. No cookies: a cookie for 127.0.0.1 would be sent to every
   other local port.
3. Actions are POST only, with the session's CSRF token in ``X-WQM-CSRF`` (a
   custom header: a cross-origin page cannot send it without a CORS preflight,
   which we never grant), a JSON body, and ``Origin``/``Sec-Fetch-Site``
   checked when the browser sends them; a read-only session refuses them all.
4. Every response carries a strict CSP (own files only, no inline code), no
   CORS headers, ``nosniff``, ``no-referrer`` and ``frame-ancestors 'none'``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any, Protocol

from ...backends.dashboard import DashboardLink
from ...core.errors import (
    AliasError,
    AliasNotFound,
    CollectionNotFound,
    InvalidArgument,
    InvalidName,
    ServiceError,
    WqmError,
)
from ..metrics import RequestMetrics
from .http import (
    MAX_HEAD_BYTES,
    HttpError,
    Request,
    error_response,
    json_response,
    read_request,
    response,
)
from .prometheus import CONTENT_TYPE as METRICS_CONTENT_TYPE
from .prometheus import render_metrics

log = logging.getLogger("wqm.dashboard")

ACTOR = "dashboard"
#: How often the registry is checked for changes while a page listens (at most 1/s).
POLL_SECONDS = 1.0
KEEPALIVE_SECONDS = 15.0
MAX_SESSIONS = 32
MAX_CONNECTIONS = 64
LINGER_SECONDS = 1.0
LINGER_BYTES = 1024 * 1024
STATIC_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".html": "text/html; charset=utf-8",
}


class Host(Protocol):
    """What the dashboard needs from the process serving it (the workspace service)."""

    metrics: RequestMetrics

    def touch(self) -> None:
        """Count as activity (the service does not stop for idleness meanwhile)."""

    def info(self) -> dict[str, Any]:
        """The service's facts (version, pid, uptime, requests served)."""

    async def run_operation(self, op: str, params: dict[str, Any], *, via: str) -> Any:
        """Run an operation on the service's workspace, off the event loop."""


@dataclass(frozen=True)
class Session:
    """One ``wqm dashboard`` link: its token, its CSRF token and whether it may act."""

    token: str
    csrf: str
    read_only: bool


def _int_param(query: dict[str, str], key: str, default: int, low: int, high: int) -> int:
    raw = query.get(key, "")
    if not raw:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise HttpError(400, f"{key} must be a whole number from {low} to {high}.")
    return int(raw)


ViewParams = Callable[[dict[str, str]], dict[str, Any]]

#: GET routes: path -> (read-only operation, its parameters from the query string).
VIEWS: dict[str, tuple[str, ViewParams]] = {
    "/api/version": ("registry_version", lambda q: {}),
    "/api/projects": ("projects_overview", lambda q: {}),
    "/api/graph": ("alias_graph",
                   lambda q: {"stale_days": _int_param(q, "stale_days", 30, 0, 3650)}),
    "/api/usage": ("alias_usage",
                   lambda q: {"days": _int_param(q, "days", 30, 1, 366),
                              "stale_days": _int_param(q, "stale_days", 30, 0, 3650)}),
    "/api/timeline": ("alias_timeline", lambda q: {"limit": _int_param(q, "limit", 100, 1, 1000)}),
    "/api/doctor": ("doctor", lambda q: {"fix": False}),
    "/api/alias": ("get_alias", lambda q: {"name": q.get("name", "")}),
}


def _undo(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    change_id = body.get("change_id")
    if isinstance(change_id, bool) or not isinstance(change_id, int):
        raise HttpError(400, "Say which change to undo (change_id), as the page showed it.")
    return "undo", {"change_id": change_id, "actor": ACTOR}


def _remove_alias(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    name = body.get("name")
    if not isinstance(name, str) or not name:
        raise HttpError(400, "Say which alias to remove (name).")
    return "remove_alias", {"name": name, "actor": ACTOR}


def _doctor_fix(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return "doctor", {"fix": True, "actor": ACTOR}


#: POST routes: the CLI's own operations, logged with ``actor="dashboard"``.
ACTIONS: dict[str, Callable[[dict[str, Any]], tuple[str, dict[str, Any]]]] = {
    "/api/undo": _undo,
    "/api/remove-alias": _remove_alias,
    "/api/doctor-fix": _doctor_fix,
}


def _status_of(exc: WqmError) -> int:
    if isinstance(exc, (InvalidArgument, InvalidName)):
        return 400
    if isinstance(exc, (AliasNotFound, CollectionNotFound)):
        return 404
    return 409 if isinstance(exc, AliasError) else 503


def _load_static() -> dict[str, tuple[bytes, str]]:
    """The page's files, read once from the installed package (no network, no CDN)."""
    files: dict[str, tuple[bytes, str]] = {}
    try:
        folder = resources.files(__package__ or "").joinpath("static")
        for item in folder.iterdir():
            suffix = "." + item.name.rsplit(".", 1)[-1]
            if item.is_file() and suffix in STATIC_TYPES:
                files[item.name] = (item.read_bytes(), STATIC_TYPES[suffix])
    except OSError:
        files = {}
    if "index.html" not in files:
        raise ServiceError("The dashboard's files are missing from the installed package; "
                           "reinstall wqm.")
    return files


async def _linger(reader: asyncio.StreamReader) -> None:
    """Read and drop what the client still sends before closing (a close with unread data
    resets the connection, and the client may lose the error response we just sent)."""
    deadline = asyncio.get_running_loop().time() + LINGER_SECONDS
    dropped = 0
    with contextlib.suppress(TimeoutError, ConnectionError, asyncio.LimitOverrunError):
        while dropped < LINGER_BYTES:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return
            chunk = await asyncio.wait_for(reader.read(65536), left)
            if not chunk:
                return
            dropped += len(chunk)


class DashboardServer:
    """HTTP on 127.0.0.1:<random port> for the sessions handed out by ``new_session``."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.port = 0
        self._static = _load_static()
        self._server: asyncio.Server | None = None
        self._sessions: dict[str, Session] = {}
        self._writers: set[asyncio.StreamWriter] = set()
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self._version: dict[str, Any] | None = None
        self._poller: asyncio.Task[None] | None = None

    @property
    def origin(self) -> str:
        """The page's origin."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def listeners(self) -> int:
        """Pages listening for changes now."""
        return len(self._subscribers)

    async def start(self) -> None:
        """Listen on 127.0.0.1 at a port the OS picks."""
        try:
            self._server = await asyncio.start_server(
                self._handle, host="127.0.0.1", port=0, limit=MAX_HEAD_BYTES
            )
        except OSError as exc:
            raise ServiceError(f"The dashboard cannot listen on 127.0.0.1: {exc.strerror}.") from None
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("dashboard listening on %s", self.origin)

    def new_session(self, read_only: bool) -> DashboardLink:
        """A new session with fresh random tokens (the oldest is dropped past MAX_SESSIONS)."""
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), read_only)
        self._sessions[session.token] = session
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.pop(next(iter(self._sessions)))
        return {
            "url": f"{self.origin}/?token={session.token}",
            "metrics_url": f"{self.origin}/metrics",
            "port": self.port,
            "token": session.token,
            "read_only": read_only,
        }

    async def close(self) -> None:
        """Stop listening and drop every connection (open pages see the stream end)."""
        if self._poller is not None:
            self._poller.cancel()
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)

    # -- one connection, one request --------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._writers) >= MAX_CONNECTIONS:
            writer.close()
            return
        self._writers.add(writer)
        status = 0
        request: Request | None = None
        try:
            try:
                request = await read_request(reader)
                if request is None:
                    return
                self.host.touch()
                status = await self._dispatch(request, reader, writer)
            except HttpError as exc:
                status = exc.status
                writer.write(error_response(exc))
            except Exception:
                log.exception("dashboard request failed")
                status = 500
                writer.write(error_response(HttpError(
                    500, "The dashboard hit an internal error; see `wqm service logs`.")))
            await writer.drain()
            if status >= 400:
                if writer.can_write_eof():
                    writer.write_eof()  # the client sees the end of our reply at once
                await _linger(reader)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()
            if request is not None:  # the path only: the token is in the query, never logged
                log.info("dashboard %s %s -> %d", request.method, request.path[:200], status)

    def _check_host(self, request: Request) -> None:
        allowed = (f"127.0.0.1:{self.port}", f"localhost:{self.port}")
        if request.headers.get("host", "").lower() not in allowed:
            raise HttpError(403, "This dashboard answers only to 127.0.0.1 or localhost "
                                 "on its own port.")

    def _session(self, request: Request) -> Session:
        supplied = request.query.get("token", "")
        auth = request.headers.get("authorization", "")
        if not supplied and auth.lower().startswith("bearer "):
            supplied = auth[7:].strip()
        given = supplied.encode()
        for token, session in self._sessions.items():
            if hmac.compare_digest(token.encode(), given):
                return session
        raise HttpError(403, "A valid dashboard token is required; `wqm dashboard` prints a link.")

    @staticmethod
    def _method(request: Request, allowed: str) -> None:
        if request.method != allowed:
            raise HttpError(405, f"Use {allowed} here.", {"Allow": allowed})

    async def _dispatch(
        self, request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> int:
        self._check_host(request)
        session = self._session(request)
        path = request.path
        if path in ACTIONS:
            self._method(request, "POST")
            self._check_action(request, session)
            op, params = ACTIONS[path](request.json())
            return await self._run(writer, op, params)
        self._method(request, "GET")
        if path == "/":
            writer.write(self._index(session))
            return 200
        name = path[len("/static/"):] if path.startswith("/static/") else ""
        if name in self._static and name != "index.html":  # the page itself only at /
            body, kind = self._static[name]
            writer.write(response(200, body, kind))
            return 200
        if path == "/api/session":
            writer.write(json_response(200, self._session_info(session)))
            return 200
        if path == "/api/events":
            await self._stream(reader, writer)
            return 200
        if path == "/metrics":
            text = await self._metrics_text()
            writer.write(response(200, text.encode(), METRICS_CONTENT_TYPE))
            return 200
        if path in VIEWS:
            view_op, view_params = VIEWS[path]
            return await self._run(writer, view_op, view_params(request.query))
        raise HttpError(404, "There is no such page here.")

    def _check_action(self, request: Request, session: Session) -> None:
        if session.read_only:
            raise HttpError(403, "This dashboard is read-only; run `wqm dashboard` without "
                                 "--read-only to act from it.")
        sent = request.headers.get("x-wqm-csrf", "").encode()
        if not hmac.compare_digest(sent, session.csrf.encode()):
            raise HttpError(403, "The CSRF token is missing or wrong; reload the page.")
        origin = request.headers.get("origin")
        if origin is not None and origin not in (self.origin, f"http://localhost:{self.port}"):
            raise HttpError(403, "Actions are accepted only from the dashboard's own page.")
        if request.headers.get("sec-fetch-site", "same-origin") != "same-origin":
            raise HttpError(403, "Actions are accepted only from the dashboard's own page.")
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/json":
            raise HttpError(415, "Send actions as application/json.")

    async def _run(self, writer: asyncio.StreamWriter, op: str, params: dict[str, Any]) -> int:
        try:
            result = await self.host.run_operation(op, params, via=ACTOR)
        except WqmError as exc:
            status = _status_of(exc)
            writer.write(json_response(status, {"ok": False, "error": str(exc), "status": status,
                                                 "class": type(exc).__name__}))
            return status
        writer.write(json_response(200, result))
        return 200

    # -- pages ------------------------------------------------------------------------------

    def _index(self, session: Session) -> bytes:
        html = self._static["index.html"][0].decode()
        # Both tokens are URL-safe base64, so they need no escaping in an attribute or a URL.
        html = html.replace("__TOKEN__", session.token).replace("__CSRF__", session.csrf)
        return response(200, html.encode(), STATIC_TYPES[".html"])

    def _session_info(self, session: Session) -> dict[str, Any]:
        info = self.host.info()
        keys = ("version", "pid", "data_dir", "engine", "started_at", "uptime_seconds",
                "idle_timeout_seconds", "requests_served")
        return {"read_only": session.read_only, "poll_seconds": POLL_SECONDS,
                **{k: info.get(k) for k in keys}}

    async def _metrics_text(self) -> str:
        registry = await self.host.run_operation("registry_metrics", {}, via=ACTOR)
        return render_metrics(registry, self.host.info(), self.host.metrics.snapshot(),
                              sessions=len(self._sessions), listeners=self.listeners)

    # -- live refresh: server-sent events -----------------------------------------------------

    async def _stream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Send the registry's version now and whenever it moves, until the page goes away."""
        writer.write(response(200, b"", "text/event-stream; charset=utf-8", stream=True))
        writer.write(b"retry: 3000\n\n")
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=4)
        if self._version is not None:
            queue.put_nowait(self._version)
        self._subscribers.add(queue)
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(self._poll())
        gone = asyncio.ensure_future(reader.read(1))  # EOF: the page was closed
        try:
            while not gone.done():
                await writer.drain()
                getter = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait(
                    {getter, gone}, timeout=KEEPALIVE_SECONDS, return_when=asyncio.FIRST_COMPLETED
                )
                if getter in done:
                    writer.write(f"event: version\ndata: {json.dumps(getter.result())}\n\n"
                                 .encode())
                    continue
                getter.cancel()
                if not gone.done():
                    writer.write(b": keepalive\n\n")
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._subscribers.discard(queue)
            gone.cancel()

    async def _poll(self) -> None:
        """While a page listens: read the registry's version once a second, push changes."""
        try:
            while self._subscribers:
                self.host.touch()
                try:
                    version = await self.host.run_operation("registry_version", {}, via=ACTOR)
                except WqmError as exc:
                    log.warning("dashboard: cannot read the registry version: %s", exc)
                    version = None
                if isinstance(version, dict) and version != self._version:
                    self._version = version
                    for queue in list(self._subscribers):
                        if queue.full():
                            queue.get_nowait()  # a slow page only needs the latest version
                        queue.put_nowait(version)
                await asyncio.sleep(POLL_SECONDS)
        finally:
            self._version = None
