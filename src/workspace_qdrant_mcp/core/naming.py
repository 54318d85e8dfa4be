"""Name rules for collections and aliases: pure functions, no I/O.

We check names before they reach Qdrant so that a bad name fails with one clear
sentence instead of a storage error (and never leaves half a change behind).
"""

from __future__ import annotations

import secrets
import unicodedata

from .errors import InvalidName

MAX_NAME_LENGTH = 255
FORBIDDEN_CHARACTERS = frozenset('/\\:*?"<>|')
PHYSICAL_PREFIX = "wqm_"


def validate_name(name: object, what: str = "name") -> str:
    """Return ``name`` if it is a usable collection or alias name, else raise InvalidName."""
    if not isinstance(name, str):
        raise InvalidName(f"The {what} must be text, got {type(name).__name__}.")
    if not name or not name.strip():
        raise InvalidName(f"The {what} is empty; give a non-empty name.")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidName(
            f"The {what} is {len(name)} characters long; the limit is {MAX_NAME_LENGTH}."
        )
    if name != name.strip():
        raise InvalidName(
            f"The {what} {name.strip()!r} has leading or trailing spaces; remove them."
        )
    for char in name:
        if char in FORBIDDEN_CHARACTERS:
            raise InvalidName(
                f"The {what} {_shown(name)} contains {char!r}; "
                'names cannot contain / \\ : * ? " < > |.'
            )
        if char == "\x00" or unicodedata.category(char) in {"Cc", "Cs"}:
            raise InvalidName(
                f"The {what} {_shown(name)} contains a control character; use printable text."
            )
    return name


def _shown(name: str) -> str:
    """A short, printable rendering of a name for error messages."""
    printable = "".join(c if c.isprintable() else "?" for c in name)
    return repr(printable if len(printable) <= 60 else printable[:57] + "...")


def new_physical_name() -> str:
    """A fresh opaque name for a project's physical collection (never shown as a project name)."""
    return f"{PHYSICAL_PREFIX}{secrets.token_hex(8)}"


def is_opaque_physical_name(name: str) -> bool:
    """True for names wqm made for physical collections (they are not logical names)."""
    return name.startswith(PHYSICAL_PREFIX) and len(name) == len(PHYSICAL_PREFIX) + 16
