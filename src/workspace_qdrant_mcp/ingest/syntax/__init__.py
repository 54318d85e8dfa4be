"""Syntax-aware chunks: a chunk follows a definition, and fits the dense model's window.

``chunk_file(path, text)`` is the one entry point. Code in a language with a
grammar (``SYNTAX_LANGUAGES``) is parsed with tree-sitter and cut along its
definitions (``layout.py`` says how); Markdown is cut by headings; everything
else, and anything a parser handles badly, goes to the line chunker
(``ingest/chunker.py:chunk_text``). It never raises.

When the line chunker takes over (``fallback_reason`` says why):

* no grammar for the language (or the grammar package is not installed);
* the file is over ``MAX_PARSE_BYTES`` (1 MiB: generated code, amalgamations);
* it looks minified: lines over 1,000 characters hold over 25% of its text;
* ERROR/MISSING nodes cover over ``MAX_ERROR_SHARE`` (30%) of its non-blank
  lines. Below that the damage is local (a syntax error inside one function, a
  grammar gap) and the rest of the file still has its structure; above it the
  tree is mostly guesswork. A C header is retried as C++ when C finds errors;
* the parser or the layout fails in any other way (logged at debug level).

Every chunk keeps an exact line range: ``content`` is exactly lines
``start_line..end_line`` of the file (1-based, inclusive), chunks do not
overlap, and together they hold every non-blank line. What the models read is
``embedding_text(chunk)``: a short ``header`` (path, the qualified names the
chunk defines or belongs to, and those names split into words) then the
content. The header carries context a small method lacks on its own, without
typed signatures, which would eat the 256-piece window.

Sizes are in estimated word pieces (``pieces.py``): content and header fit in
``WINDOW_PIECES`` (256, the model's window, less a margin for the estimate's
error); tiny adjacent definitions merge while the merged chunk stays under
``MERGE_PIECES`` (40: a definition is worth a chunk of its own, measured). Bump ``CHUNKER_VERSION`` whenever the output can change
(these constants, the rules, a grammar version in ``rules.GRAMMAR_VERSIONS``).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from ..chunker import chunk_text, language_of, split_lines
from .layout import Budget, Layout, Piece, assemble
from .markdown import markdown_units
from .pieces import piece_prefix, text_pieces
from .rules import GRAMMAR_VERSIONS, LANGUAGES, grammar_of
from .treesitter import error_share, parse, root_units

__all__ = [
    "CHUNKER_VERSION",
    "GRAMMAR_VERSIONS",
    "MAX_ERROR_SHARE",
    "MAX_PARSE_BYTES",
    "MERGE_PIECES",
    "SYNTAX_LANGUAGES",
    "WINDOW_PIECES",
    "CodeChunk",
    "chunk_file",
    "embedding_text",
    "fallback_reason",
    "symbol_words",
]

log = logging.getLogger(__name__)

#: Changes whenever chunk output can change: the index recipe records it.
CHUNKER_VERSION = "syntax-1"

#: The dense model's window (all-MiniLM-L6-v2: 256 word pieces with [CLS] and [SEP]).
WINDOW_PIECES = 256
#: Estimated pieces kept free for [CLS]/[SEP] and the estimate's error (~8% under on C).
_MARGIN_PIECES = 22
#: Adjacent definitions merge while the chunk stays under this many pieces: only tiny
#: ones. On the quality dev set, merging up to 160 pieces cost dense MRR@10 0.506 -> 0.459
#: (hybrid 0.495 -> 0.492): a small method drowns in its neighbours' embedding.
MERGE_PIECES = 40
MAX_PARSE_BYTES = 1 << 20
MAX_ERROR_SHARE = 0.30
_LONG_LINE = 1000
_MAX_LONG_SHARE = 0.25

#: Languages (``chunker.language_of`` labels) cut along their syntax.
SYNTAX_LANGUAGES = frozenset({*LANGUAGES, "markdown"} - {"tsx"})


@dataclass(frozen=True)
class CodeChunk:
    """Lines ``start_line``..``end_line`` (1-based, inclusive) of a file, exactly.

    ``symbol`` is the qualified name of the definition the chunk starts in or
    with (None for top-level statements); ``symbols`` lists every definition
    the chunk holds or continues, ``symbol`` first. ``kind`` is that
    definition's kind (function, method, class, struct, ..., section), ``code``
    for statements, ``lines`` when the line chunker made the chunk.
    """

    index: int
    start_line: int
    end_line: int
    content: str
    symbol: str | None
    symbols: tuple[str, ...]
    kind: str
    header: str
    #: A piece of one overlong line (line chunker only): its 0-based column range.
    start_col: int | None = None
    end_col: int | None = None


def embedding_text(chunk: CodeChunk) -> str:
    """What the dense and BM25 models read for a chunk: its header, then its lines."""
    return f"{chunk.header}\n{chunk.content}"


_WORDS = re.compile(r"[^\W_]+")
_ASCII_PARTS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")


def symbol_words(name: str) -> str:
    """A name as lower-case words: ``Client.getUserName`` -> ``client get user name``.

    camelCase is split in ASCII names only; other scripts keep their words whole.
    """
    parts: list[str] = []
    for word in _WORDS.findall(name):
        parts.extend(_ASCII_PARTS.findall(word) if word.isascii() else [word])
    return " ".join(part.lower() for part in parts)


def _header(path: str, symbols: tuple[str, ...]) -> str:
    if not symbols:
        return path
    shown = symbols[:6]
    names = ", ".join(shown) + (", ..." if len(symbols) > len(shown) else "")
    words = " ".join(dict.fromkeys(w for s in shown for w in symbol_words(s).split()))
    return f"{path}\n{names}\n{words}" if words else f"{path}\n{names}"


def fallback_reason(path: str, text: str) -> str | None:
    """Why ``chunk_file`` would use the line chunker before parsing, or None."""
    language = language_of(path)
    if language != "markdown" and grammar_of(path, language) is None:
        return f"no grammar for {language}"
    if len(text) > MAX_PARSE_BYTES:
        return "over the parse size limit"
    long_chars = sum(len(line) for line in text.split("\n") if len(line) > _LONG_LINE)
    if long_chars > _MAX_LONG_SHARE * len(text):
        return "minified (long lines)"
    return None


def chunk_file(
    path: str,
    text: str,
    *,
    window_pieces: int = WINDOW_PIECES,
    merge_pieces: int = MERGE_PIECES,
) -> list[CodeChunk]:
    """Cut one file into chunks along its syntax (or its lines); never raises.

    :param path: the file's path relative to the project (its language comes
        from the name, and it heads every chunk's header).
    :param text: the file's text.
    :param window_pieces: the dense model's window in word pieces.
    :param merge_pieces: adjacent definitions merge up to this size (0: never).
    """
    try:
        if fallback_reason(path, text) is None:
            pieces = _syntax_pieces(path, text, window_pieces, merge_pieces)
            if pieces is not None:
                return _chunks(path, split_lines(text), pieces)
    except Exception:  # any parser or layout failure: the line chunker, never a failed ingest
        log.debug("syntax chunking failed for %s; using line chunks", path, exc_info=True)
    return [
        CodeChunk(c.index, c.start_line, c.end_line, c.content, None, (), "lines", path,
                  c.start_col, c.end_col)
        for c in chunk_text(text)
    ]


def _syntax_pieces(path: str, text: str, window: int, merge: int) -> list[Piece] | None:
    lines = split_lines(text)
    if not lines:
        return []
    language = language_of(path)
    # A header names the path and a few symbols: reserve its size in every chunk.
    reserve = _MARGIN_PIECES + text_pieces(path) + 18
    budget = Budget(max_pieces=max(window - reserve, 32), merge_pieces=min(merge, window - reserve))
    layout = Layout(lines, piece_prefix(lines), budget,
                    separator=" > " if language == "markdown" else ".")
    if language == "markdown":
        layout.pack(markdown_units(lines))
    else:
        grammar = grammar_of(path, language)
        if grammar is None:
            return None
        source = text.encode("utf-8", "surrogatepass")
        root = parse(grammar, source)
        share = error_share(root, lines)
        if share > 0.05 and grammar == "c":
            alternative = parse("cpp", source)
            alt_share = error_share(alternative, lines)
            if alt_share < share:
                grammar, root, share = "cpp", alternative, alt_share
        if share > MAX_ERROR_SHARE:
            return None
        layout.pack(root_units(grammar, root))

    return assemble(lines, layout.pieces, layout.trivial)


def _chunks(path: str, lines: list[str], pieces: list[Piece]) -> list[CodeChunk]:
    chunks: list[CodeChunk] = []
    for piece in pieces:
        symbols = tuple(dict.fromkeys(piece.symbols))
        chunks.append(CodeChunk(
            index=len(chunks),
            start_line=piece.start + 1,
            end_line=piece.end + 1,
            content="".join(lines[piece.start : piece.end + 1]),
            symbol=symbols[0] if symbols else None,
            symbols=symbols,
            kind=piece.kind if symbols else "code",
            header=_header(path, symbols),
        ))
    return chunks
