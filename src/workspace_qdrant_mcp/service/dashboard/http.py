"""Just enough HTTP/1.1 for a local dashboard: one request per connection, strict limits.

Why not ``http.server`` or a framework: the dashboard runs inside the
service's asyncio loop next to the socket server, serves a handful of routes
to one browser, and must refuse anything odd (oversized heads and bodies,
chunked bodies, absolute-form targets, duplicate ``Host``) with a 4xx and no
traceback. A small parser with those limits written down is easier to audit
than a general server configured to be strict. Every response closes its
connection (except an event stream), so no request smuggling across
keep-alive is possible.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

MAX_HEAD_BYTES = 8 * 1024
MAX_BODY_BYTES = 16 * 1024
MAX_HEADERS = 50
MAX_QUERY_FIELDS = 20
READ_TIMEOUT_SECONDS = 10.0

REASONS = {
    200: "OK", 204: "No Content", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 408: "Request Timeout", 409: "Conflict", 411: "Length Required",
    413: "Content Too Large", 415: "Unsupported Media Type", 431: "Request Header Fields Too Large",
    500: "Internal Server Error", 501: "Not Implemented", 503: "Service Unavailable",
}

#: Sent with every response. The page loads only its own files (no CDN, no inline script or
#: style), may not be framed, sends no Referer (the URL holds the token) and talks only to us.
SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
    "Cache-Control": "no-store",
}


class HttpError(Exception):
    """A request we refuse: its status and one sentence for whoever sent it."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


@dataclass(frozen=True)
class Request:
    """A parsed request: method, decoded path, first value of each query field, headers."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""
    target: str = field(default="", repr=False)

    def json(self) -> dict[str, Any]:
        """The body as a JSON object (an empty body is ``{}``)."""
        if not self.body:
            return {}
        try:
            value = json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            raise HttpError(400, "The request body is not valid JSON.") from None
        if not isinstance(value, dict):
            raise HttpError(400, "The request body must be a JSON object.")
        return value


_SINGLE = frozenset({"host", "content-length", "content-type", "authorization", "origin",
                     "x-wqm-csrf"})


def _headers(lines: list[bytes]) -> dict[str, str]:
    if len(lines) > MAX_HEADERS:
        raise HttpError(431, f"More than {MAX_HEADERS} request headers.")
    headers: dict[str, str] = {}
    for raw in lines:
        name, sep, value = raw.decode("latin-1").partition(":")
        if not sep or not name or name != name.strip() or " " in name:
            raise HttpError(400, "A request header is malformed.")
        key = name.lower()
        if key in headers:
            if key in _SINGLE:
                raise HttpError(400, f"The {name} header appears twice.")
            headers[key] += ", " + value.strip()
        else:
            headers[key] = value.strip()
    return headers


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    """The next request, or None when the peer closed before sending one.

    The reader's buffer limit must be ``MAX_HEAD_BYTES`` (``start_server(limit=...)``):
    that is what turns an endless head into a 431 instead of memory use.
    """
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT_SECONDS)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise HttpError(400, "The request ended before its headers did.") from None
    except asyncio.LimitOverrunError:
        raise HttpError(431, f"The request head exceeds {MAX_HEAD_BYTES} bytes.") from None
    except TimeoutError:
        raise HttpError(408, "The request took too long to arrive.") from None
    lines = head[:-4].split(b"\r\n")
    try:
        method, target, version = lines[0].decode("ascii").split(" ")
    except (UnicodeDecodeError, ValueError):
        raise HttpError(400, "The request line is malformed.") from None
    if version not in ("HTTP/1.1", "HTTP/1.0") or not target.startswith("/"):
        raise HttpError(400, "Only HTTP/1.x requests for a path are served.")
    headers = _headers(lines[1:])
    if "transfer-encoding" in headers:
        raise HttpError(411, "Chunked request bodies are not accepted; send Content-Length.")
    length_text = headers.get("content-length", "0")
    if not length_text.isdigit():
        raise HttpError(400, "Content-Length is not a number.")
    length = int(length_text)
    if length > MAX_BODY_BYTES:
        raise HttpError(413, f"The request body exceeds {MAX_BODY_BYTES} bytes.")
    body = b""
    if length:
        try:
            body = await asyncio.wait_for(reader.readexactly(length), READ_TIMEOUT_SECONDS)
        except (asyncio.IncompleteReadError, TimeoutError):
            raise HttpError(400, "The request body is shorter than its Content-Length.") from None
    parts = urlsplit(target)
    try:
        fields = parse_qs(parts.query, keep_blank_values=True, max_num_fields=MAX_QUERY_FIELDS)
    except ValueError:
        raise HttpError(400, "The query string has too many fields.") from None
    query = {key: values[0] for key, values in fields.items()}
    return Request(method, unquote(parts.path), query, headers, body, target)


def response(
    status: int,
    body: bytes = b"",
    content_type: str = "text/plain; charset=utf-8",
    headers: dict[str, str] | None = None,
    *,
    stream: bool = False,
) -> bytes:
    """A whole response (or, with ``stream``, the head of an open-ended one)."""
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}"]
    merged = {**SECURITY_HEADERS, **(headers or {}), "Content-Type": content_type,
              "Connection": "close"}
    if not stream:  # a stream ends when the connection does
        merged["Content-Length"] = str(len(body))
    lines += [f"{name}: {value}" for name, value in merged.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def json_response(status: int, data: Any, headers: dict[str, str] | None = None) -> bytes:
    """A JSON response."""
    body = json.dumps(data, default=str).encode()
    return response(status, body, "application/json; charset=utf-8", headers)


def error_response(error: HttpError) -> bytes:
    """The one error shape: ``{"ok": false, "error": ..., "status": ...}``."""
    return json_response(
        error.status, {"ok": False, "error": error.message, "status": error.status}, error.headers
    )
