"""Input checks shared by the dense and sparse embedders."""

from __future__ import annotations

from collections.abc import Sequence

from ..core.errors import InvalidArgument


def check_texts(texts: Sequence[str], method: str) -> list[str]:
    """``texts`` as a list of strings; ``method`` names the caller in the error."""
    if isinstance(texts, str):
        raise InvalidArgument(f"{method}() takes a sequence of texts, not a single string.")
    items = list(texts)
    for item in items:
        if not isinstance(item, str):
            raise InvalidArgument(f"Texts to embed must be strings, not {type(item).__name__}.")
    return items
