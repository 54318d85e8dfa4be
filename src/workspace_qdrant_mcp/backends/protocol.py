"""The workspace service's wire protocol: length-prefixed JSON frames over a Unix socket.

A frame is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON.
Requests: ``{"v": 1, "id": n, "op": name, "params": {...}, "request_id": hex}``
(``request_id``: chosen by the client before sending, recorded with any alias
change the request makes, see ``core/requests.py``). Replies for a
request: zero or more ``{"id": n, "type": "progress", "event": {...}}``, then
exactly one ``{"id": n, "type": "result", "result": ...}`` or
``{"id": n, "type": "error", "error": {"class": ..., "message": ...}}``.

A frame never exceeds ``MAX_FRAME_BYTES``: a reader refuses a bigger one (and
must drop that connection: its body cannot be skipped safely), and the service
answers with an error instead of sending a reply that big.

Version 1. The handshake op ``hello`` returns the service's protocol version,
package version and code fingerprint; a client that finds a different one asks
the old service to stop and starts its own.
"""

from __future__ import annotations

import hashlib
import json
import socket
import struct
from functools import lru_cache
from pathlib import Path
from typing import Any

from .. import __version__
from ..core import errors as errors_module
from ..core.errors import ProtocolError, ServiceError, WqmError

PROTOCOL_VERSION = 1
MAX_FRAME_BYTES = 16 * 1024 * 1024
_HEADER = struct.Struct(">I")


HEADER = _HEADER


class FrameTooLarge(ProtocolError):
    """A peer announced a frame above MAX_FRAME_BYTES."""


class BadFrame(ProtocolError):
    """A frame is not valid JSON or not an object."""


def encode(message: dict[str, Any]) -> bytes:
    """One frame holding ``message``."""
    body = json.dumps(message, separators=(",", ":"), default=str).encode("utf-8")
    return _HEADER.pack(len(body)) + body


def decode(body: bytes) -> dict[str, Any]:
    """Parse a frame body into a JSON object."""
    try:
        message = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadFrame(f"not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise BadFrame("a frame must hold a JSON object")
    return message


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ConnectionResetError("the workspace service closed the connection")
        chunks.extend(chunk)
    return bytes(chunks)


def read_frame_sync(sock: socket.socket) -> dict[str, Any]:
    """Next frame from a blocking socket (raises ConnectionResetError at end of stream)."""
    (length,) = _HEADER.unpack(_recv_exactly(sock, _HEADER.size))
    if length > MAX_FRAME_BYTES:
        raise FrameTooLarge(f"frame of {length} bytes exceeds {MAX_FRAME_BYTES}")
    return decode(_recv_exactly(sock, length))


def error_payload(exc: BaseException) -> dict[str, str]:
    """How an exception travels: its WqmError class name and its one-line message."""
    if isinstance(exc, WqmError):
        return {"class": type(exc).__name__, "message": str(exc)}
    return {
        "class": "ServiceError",
        "message": f"The workspace service failed: {type(exc).__name__}: {exc}".splitlines()[0],
    }


def raise_from_payload(payload: dict[str, Any]) -> None:
    """Re-raise an error reply as the same WqmError subclass on the client side."""
    name = str(payload.get("class", "ServiceError"))
    message = str(payload.get("message", "The workspace service failed."))
    cls = getattr(errors_module, name, None)
    if isinstance(cls, type) and issubclass(cls, WqmError):
        raise cls(message)
    raise ServiceError(message)


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """A short hash of the package's source files: a service running other code is restarted."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256(__version__.encode())
    for path in sorted(root.rglob("*.py")):
        stat = path.stat()
        digest.update(f"{path.relative_to(root)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]
