"""The request being served: an id the caller chose before sending it.

A client picks a request id before it sends a write. Every alias change made
while serving that request records the id, so a client whose connection broke
can ask afterwards what happened to it ("applied" or "not applied") instead of
guessing, and a write whose effect is derived from the id (a note's id) is
idempotent when sent twice. The id travels in a context variable, set by the
dispatcher for the duration of one operation, so no operation signature has to
carry it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_current: ContextVar[str | None] = ContextVar("wqm_request_id", default=None)


def new_request_id() -> str:
    """A fresh request id (random, 32 hex)."""
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    """The id of the request being served, if the caller gave one."""
    return _current.get()


@contextmanager
def serving(request_id: str | None) -> Iterator[None]:
    """Mark ``request_id`` as the request being served in this context."""
    token = _current.set(request_id)
    try:
        yield
    finally:
        _current.reset(token)
