"""Thin, error-wrapping helpers over qdrant-client for alias and collection bookkeeping.

Every Qdrant exception is turned into a ``StoreError`` here so that no
qdrant-client or transport exception leaks to users. The embedded (local) mode
is not thread-safe, so calls are serialised per client object.
"""

from __future__ import annotations

import logging
import re
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

from qdrant_client import QdrantClient
from qdrant_client import models as qm

from .errors import StoreError

T = TypeVar("T")
log = logging.getLogger("wqm.store")

_locks: weakref.WeakKeyDictionary[QdrantClient, threading.RLock] = weakref.WeakKeyDictionary()
_locks_guard = threading.Lock()


def client_lock(client: QdrantClient) -> threading.RLock:
    """The lock serialising calls on one client object."""
    with _locks_guard:
        lock = _locks.get(client)
        if lock is None:
            lock = threading.RLock()
            _locks[client] = lock
        return lock


@contextmanager
def guarded(client: QdrantClient, what: str) -> Iterator[None]:
    """Serialise a Qdrant call and translate its failure into one clear StoreError."""
    with client_lock(client):
        try:
            yield
        except StoreError:
            raise
        except Exception as exc:  # qdrant-client raises many unrelated types
            # Users get one line; the traceback goes to the service log (INFO, so an
            # unconfigured CLI process never prints it) for diagnosis, except for a name
            # that reaches nothing: a user's mistake, worth one line, not a traceback.
            short = _short(exc)
            log.info("Qdrant could not %s: %s", what, short, exc_info=not _missing(short))
            raise StoreError(f"Qdrant could not {what}: {short}") from None


def _missing(message: str) -> bool:
    """True when Qdrant says a collection (or alias) does not exist."""
    low = message.lower()
    return "not found" in low or "doesn't exist" in low or "does not exist" in low


def call(client: QdrantClient, what: str, fn: Callable[[], T]) -> T:
    """Run ``fn`` under ``guarded``."""
    with guarded(client, what):
        return fn()


_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]*@")


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    text = _USERINFO.sub(r"\1", text)  # a server URL with credentials never reaches a message
    return text if len(text) <= 300 else text[:297] + "..."


def live_aliases(client: QdrantClient) -> dict[str, str]:
    """Qdrant's current alias table: alias name -> collection name."""
    response = call(client, "list aliases", client.get_aliases)
    return {a.alias_name: a.collection_name for a in response.aliases}


def collection_names(client: QdrantClient) -> set[str]:
    """Names of the physical collections."""
    response = call(client, "list collections", client.get_collections)
    return {c.name for c in response.collections}


def apply_alias_operations(
    client: QdrantClient, changes: Sequence[tuple[str, str | None, str | None]]
) -> None:
    """Apply (alias, current, target) changes in ONE atomic Qdrant call."""
    ops: list[qm.CreateAliasOperation | qm.DeleteAliasOperation | qm.RenameAliasOperation] = []
    for alias, current, target in changes:
        if current is not None:
            ops.append(qm.DeleteAliasOperation(delete_alias=qm.DeleteAlias(alias_name=alias)))
        if target is not None:
            ops.append(
                qm.CreateAliasOperation(
                    create_alias=qm.CreateAlias(collection_name=target, alias_name=alias)
                )
            )
    if not ops:
        return
    call(
        client,
        "switch aliases",
        lambda: client.update_collection_aliases(change_aliases_operations=ops),
    )
