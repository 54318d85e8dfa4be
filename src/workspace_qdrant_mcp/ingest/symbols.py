"""What a chunk's symbol contributes to search: a short text to embed, and names to filter on.

A chunk that starts in or with a definition has a qualified ``symbol``
(``Client.get_user``; Markdown sections ``Guide > Install``). Search embeds
``symbol_text`` as a third signal beside the chunk's own dense and BM25
vectors: the name as written and as words, then the definition's signature as
words (parameter names carry meaning too). On its own that text says what a
small method is for better than its body does; the measured effect is in
docs/ARCHITECTURE.md ("Ranking"). ``symbol_names`` are the forms a
``--symbol`` filter matches: each qualified name and each of its tails, so
``get_user`` and ``Client.get_user`` both find ``pkg.Client.get_user``.

Pure functions, no I/O. ``SYMBOL_TEXT_VERSION`` names what ``symbol_text``
produces; the index recipe records it (change it with the output).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .syntax import symbol_words

__all__ = ["MAX_SIGNATURE_CHARS", "SYMBOL_TEXT_VERSION", "symbol_names", "symbol_text"]

#: Changes whenever ``symbol_text`` can give another text: the index recipe records it.
SYMBOL_TEXT_VERSION = "sig-1"
#: A signature is read over at most this many lines and kept to this many characters.
MAX_SIGNATURE_LINES = 8
MAX_SIGNATURE_CHARS = 400
#: Separators of qualified names: code (``a.b``), Markdown sections (``A > B``).
_SEPARATORS = re.compile(r"\.| > ")
# A line that ends a definition's header: Python's ``:``, a brace, a declaration's ``;``.
_HEADER_END = (":", "{", ";", "=>")
_IDENTIFIER = re.compile(r"[^\W\d]\w*")
_COMMENTS = ("#", "//", "/*", "*", "--", ";")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s")


def _as_words(text: str) -> str:
    """Code with each identifier as lower-case words (``getUser(user_id)`` -> ``get user(user id)``)."""
    return _IDENTIFIER.sub(lambda m: symbol_words(m.group()) or m.group(), text)


def _last_name(symbol: str) -> str:
    return _SEPARATORS.split(symbol)[-1].strip()


def symbol_text(symbol: str, content: str) -> str:
    """The text embedded for a chunk's symbol: name, name as words, signature as words.

    The signature is read from the first line of ``content`` that holds the
    symbol's own name, up to the line that ends the header (``:``, ``{``, ``;``)
    and at most ``MAX_SIGNATURE_LINES`` lines; a Markdown heading is its own
    signature. A chunk continuing a definition
    (its signature is in an earlier chunk) gets the names alone.
    """
    name = symbol.strip()
    head = f"{name} {symbol_words(name)}".strip()
    last = _last_name(name)
    if not last:
        return head
    lines = content.splitlines()
    found = [i for i, line in enumerate(lines) if last in line]
    if not found:
        return head
    # The definition's own line, not a comment that mentions it (a Markdown heading looks
    # like a comment: it is taken when nothing else names the symbol).
    i = next((j for j in found if not lines[j].lstrip().startswith(_COMMENTS)), found[0])
    end = i
    while (not _HEADING.match(lines[i]) and end < min(len(lines) - 1, i + MAX_SIGNATURE_LINES - 1)
           and not lines[end].rstrip().endswith(_HEADER_END)):
        end += 1
    signature = " ".join(x.strip() for x in lines[i:end + 1])[:MAX_SIGNATURE_CHARS]
    return f"{head} {_as_words(signature)}".strip()


def symbol_names(symbols: Iterable[str]) -> list[str]:
    """Every qualified name and each of its tails after a separator, in order, once each.

    ``["pkg.Client.get"]`` -> ``["pkg.Client.get", "Client.get", "get"]``: a filter
    on any of them matches (a name equal to NAME or ending with ``.NAME``).
    """
    out: dict[str, None] = {}
    for symbol in symbols:
        name = symbol.strip()
        if not name:
            continue
        out[name] = None
        for match in _SEPARATORS.finditer(name):
            tail = name[match.end():].strip()
            if tail:
                out[tail] = None
    return list(out)
