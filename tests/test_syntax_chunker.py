"""Syntax-aware chunks: real grammars on real files, no mocks.

Per language a small file with its expected chunks (``_syntax_samples.py``),
Markdown sections, merging and splitting against the budget, the fallbacks
(syntax errors, minified and oversized files, unknown languages, odd text),
the line-range invariant over a whole third-party package, and determinism.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import rich

from _syntax_samples import SAMPLES, WINDOW
from workspace_qdrant_mcp.ingest.chunker import split_lines
from workspace_qdrant_mcp.ingest.syntax import (
    CHUNKER_VERSION,
    GRAMMAR_VERSIONS,
    SYNTAX_LANGUAGES,
    CodeChunk,
    chunk_file,
    embedding_text,
    fallback_reason,
    symbol_words,
)
from workspace_qdrant_mcp.ingest.syntax.pieces import text_pieces


def _ranges(chunks: list[CodeChunk]) -> list[tuple[str | None, int, int]]:
    return [(c.symbol, c.start_line, c.end_line) for c in chunks]


def assert_exact_ranges(text: str, chunks: list[CodeChunk]) -> None:
    """Content is exactly the file's lines; chunks are in order, disjoint, and hold every line."""
    lines = split_lines(text)
    covered: set[int] = set()
    previous_end = 0
    for i, chunk in enumerate(chunks):
        assert chunk.index == i
        assert 1 <= chunk.start_line <= chunk.end_line <= len(lines)
        if chunk.start_col is not None:  # a piece of one overlong line, with its columns
            line = lines[chunk.start_line - 1]
            assert chunk.start_line == chunk.end_line
            assert chunk.content == line[chunk.start_col:chunk.end_col]
        else:
            assert chunk.content == "".join(lines[chunk.start_line - 1 : chunk.end_line])
        if chunk.kind != "lines":  # the line chunker overlaps its windows on purpose
            assert chunk.start_line > previous_end
        previous_end = chunk.end_line
        covered.update(range(chunk.start_line - 1, chunk.end_line))
    missing = [i + 1 for i, line in enumerate(lines) if line.strip() and i not in covered]
    assert not missing, f"lines not in any chunk: {missing[:10]}"


# ----------------------------------------------------------------------------- per language


@pytest.mark.parametrize(("path", "source", "expected"), SAMPLES, ids=[s[0] for s in SAMPLES])
def test_each_language_cuts_along_its_definitions(
    path: str, source: str, expected: list[tuple[str | None, int, int]]
) -> None:
    text = source[1:]
    chunks = chunk_file(path, text, window_pieces=WINDOW, merge_pieces=0)
    assert _ranges(chunks) == expected
    assert all(c.kind != "lines" for c in chunks)
    assert_exact_ranges(text, chunks)


def test_every_syntax_language_has_a_sample() -> None:
    from workspace_qdrant_mcp.ingest.chunker import language_of

    sampled = {language_of(path) for path, _, _ in SAMPLES} | {"markdown"}
    assert sampled == set(SYNTAX_LANGUAGES)


def test_kinds_and_all_symbols_of_a_chunk() -> None:
    path, source, _ = SAMPLES[0]  # Python: a dataclass with two methods, a function
    chunks = chunk_file(path, source[1:])  # default budget: small neighbours merge
    assert [(c.symbol, c.kind, c.symbols) for c in chunks] == [
        (None, "code", ()),
        ("Bucket", "class", ("Bucket", "Bucket.take", "Bucket.refill")),
        ("wait_time", "function", ("wait_time",)),
        (None, "code", ()),  # the __main__ block
    ]
    by_symbol = {c.symbol: c for c in chunk_file(path, source[1:], window_pieces=WINDOW,
                                                 merge_pieces=0)}
    assert by_symbol["Bucket.take"].kind == "method"
    assert by_symbol["Bucket.take"].content.startswith("    # Refill first")


MARKDOWN = """\
---
title: Cache
---

# Cache

A small in-memory cache.

## Install

Run the installer:

```sh
# not a heading
pip install cache
```

## Usage

Setext heading
--------------

Call `get` and `put`.

### Expiry

Entries expire after their TTL.
"""


def test_markdown_sections_follow_headings() -> None:
    chunks = chunk_file("docs/README.md", MARKDOWN, window_pieces=60, merge_pieces=0)
    assert [(c.symbol, c.start_line, c.end_line, c.kind) for c in chunks] == [
        (None, 1, 3, "code"),  # the front matter
        ("Cache", 5, 7, "section"),
        ("Cache > Install", 9, 16, "section"),  # the "#" inside the fence is no heading
        ("Cache > Usage", 18, 18, "section"),
        ("Cache > Setext heading", 20, 23, "section"),
        ("Cache > Setext heading > Expiry", 25, 27, "section"),
    ]
    assert_exact_ranges(MARKDOWN, chunks)


def test_a_big_markdown_section_splits_at_blank_lines() -> None:
    paragraph = "Words about caching and expiry of the entries in memory. " * 6 + "\n"
    text = "# Guide\n\n" + "\n".join([paragraph] * 12)
    chunks = chunk_file("guide.md", text)
    assert len(chunks) > 2
    assert {c.symbol for c in chunks} == {"Guide"}
    for chunk in chunks[1:]:  # each piece starts at a paragraph
        assert text.split("\n")[chunk.start_line - 2] == ""
    assert_exact_ranges(text, chunks)


# ----------------------------------------------------------------------------- budget


def _big_function(statements: int) -> str:
    body = "".join(f"    total += value_{i}(items[{i}], factor)\n" for i in range(statements))
    head = "# Sum everything.\n@cached\ndef accumulate(items, factor):\n    total = 0\n"
    return f"{head}{body}    return total\n"


def test_a_big_definition_splits_at_statements_into_similar_pieces() -> None:
    text = _big_function(80)
    chunks = chunk_file("calc.py", text)
    assert len(chunks) >= 3
    assert {c.symbol for c in chunks} == {"accumulate"}
    assert chunks[0].start_line == 1  # the comment and decorator open the first piece
    assert chunks[0].content.splitlines()[2].startswith("def accumulate")
    sizes = [text_pieces(embedding_text(c)) + 2 for c in chunks]
    assert max(sizes) <= 256
    assert min(sizes[:-1]) >= 0.5 * max(sizes)  # balanced, not full pieces and a stub
    assert_exact_ranges(text, chunks)


def test_small_neighbours_merge_up_to_the_merge_budget() -> None:
    text = "".join(f"def f{i}(x):\n    return x + {i}\n\n\n" for i in range(30))
    merged = chunk_file("small.py", text, merge_pieces=160)
    alone = chunk_file("small.py", text, merge_pieces=0)
    default = chunk_file("small.py", text)  # MERGE_PIECES: only tiny definitions merge
    assert len(alone) == 30
    assert 1 < len(merged) < len(default) < len(alone)
    assert merged[0].symbols[:3] == ("f0", "f1", "f2")
    assert [s for c in merged for s in c.symbols] == [f"f{i}" for i in range(30)]
    for chunk in merged:
        assert text_pieces(chunk.content) <= 160
    for chunk in default:
        assert text_pieces(chunk.content) <= 40


def test_a_small_method_in_a_big_class_is_a_chunk_of_its_own() -> None:
    methods = "".join(
        f"    def handler_{i}(self, event):\n"
        f"        \"\"\"Handle event number {i} of the stream.\"\"\"\n"
        f"        return self.dispatch(event, {i})\n\n" for i in range(40)
    )
    text = f"class Router:\n    \"\"\"Routes events.\"\"\"\n\n{methods}"
    chunks = chunk_file("router.py", text, merge_pieces=0)
    assert chunks[0].symbol == "Router"
    assert chunks[0].symbols == ("Router", "Router.handler_0")  # a class line is no chunk
    assert [c.symbol for c in chunks[1:]] == [f"Router.handler_{i}" for i in range(1, 40)]
    assert chunks[7].kind == "method"
    assert (chunks[7].start_line, chunks[7].end_line) == (4 + 7 * 4, 6 + 7 * 4)


# ----------------------------------------------------------------------------- header


def test_header_names_path_symbols_and_their_words() -> None:
    text = "class HttpClient:\n    def getUserName(self):\n        return self.name\n"
    (chunk,) = chunk_file("pkg/client.py", text)
    assert chunk.symbols == ("HttpClient", "HttpClient.getUserName")
    assert chunk.header == (
        "pkg/client.py\nHttpClient, HttpClient.getUserName\nhttp client get user name"
    )
    assert embedding_text(chunk) == chunk.header + "\n" + text
    (statement,) = chunk_file("pkg/conf.py", "DEBUG = True\n")
    assert statement.header == "pkg/conf.py" and statement.symbol is None


@pytest.mark.parametrize(("name", "words"), [
    ("getUserName", "get user name"),
    ("Client.send_request", "client send request"),
    ("HTTPServerError", "http server error"),
    ("utf8_decode", "utf 8 decode"),
    ("shop.Product.priceWithTax", "shop product price with tax"),
    ("Cache > Setext heading", "cache setext heading"),
    ("größe_berechnen", "größe berechnen"),
])
def test_symbol_words(name: str, words: str) -> None:
    assert symbol_words(name) == words


# ----------------------------------------------------------------------------- fallbacks


@pytest.mark.parametrize("broken", [
    "def broken(x):\n    return x +\n",
    "def broken(x):\n    y = = 2\n    return y\n",
    "def broken(x) {\n    return 1;\n}\n",
])
def test_a_syntax_error_stays_local(broken: str) -> None:
    text = (
        "def before(x):\n    return x + 1\n\n\n" + broken
        + "\n\nclass After:\n    def method(self):\n        return 2\n"
    )
    chunks = chunk_file("bad.py", text, merge_pieces=0)
    assert [c.symbol for c in chunks][::2] == ["before", "After"]
    assert chunks[1].start_line == 5 and chunks[1].kind != "lines"
    assert_exact_ranges(text, chunks)


def test_an_error_that_swallows_the_file_gets_line_chunks() -> None:
    """An unclosed parenthesis: Python's recovery turns the rest of the file into ERROR nodes."""
    text = (
        "def before(x):\n    return x + 1\n\n\n"
        "def broken(x:\n    return x +\n\n\n"
        "class After:\n    def method(self):\n        return 2\n"
    )
    chunks = chunk_file("bad.py", text)
    assert {c.kind for c in chunks} == {"lines"}
    assert_exact_ranges(text, chunks)


def test_a_file_that_does_not_parse_gets_line_chunks() -> None:
    text = "".join(f"x{i} = = ) ( ] {i} :: ;;\n" for i in range(50))
    chunks = chunk_file("garbage.py", text)
    assert {c.kind for c in chunks} == {"lines"}
    assert all(c.symbol is None and c.header == "garbage.py" for c in chunks)
    assert_exact_ranges(text, chunks)


def test_a_minified_bundle_gets_line_chunks() -> None:
    body = ";".join(f"function f{i}(a,b){{return a*{i}+b}}" for i in range(2000))
    text = f"!function(){{{body}}}();\n"
    assert fallback_reason("dist/app.min.js", text) == "minified (long lines)"
    chunks = chunk_file("dist/app.min.js", text)
    # One overlong line: cut into pieces of the line chunker, each with its column range.
    assert {(c.kind, c.start_line, c.end_line) for c in chunks} == {("lines", 1, 1)}
    assert all(c.start_col is not None and text[c.start_col:c.end_col] == c.content
               for c in chunks)
    assert "".join(c.content for c in chunks) in (text, text.rstrip("\n"))


def test_a_huge_generated_file_is_not_parsed() -> None:
    text = "".join(f"TABLE_{i} = {i * 7919 % 104729}\n" for i in range(80_000))
    assert len(text) > 1 << 20
    assert fallback_reason("gen/table.py", text) == "over the parse size limit"
    chunks = chunk_file("gen/table.py", text)
    assert {c.kind for c in chunks} == {"lines"}
    assert_exact_ranges(text, chunks)


@pytest.mark.parametrize("path", ["notes.txt", "Makefile", "config.yaml", "page.vue", "x.unknown"])
def test_languages_without_a_grammar_get_line_chunks(path: str) -> None:
    text = "first line\n\nsecond: line\n" * 20
    assert fallback_reason(path, text) is not None
    chunks = chunk_file(path, text)
    assert {c.kind for c in chunks} == {"lines"}
    assert_exact_ranges(text, chunks)


@pytest.mark.parametrize("text", [
    "",
    "\n\n\n",
    "   \n\t\n",
    "x = 1",  # no final newline
    "def f():\r\n    return 1\r\n\r\nclass A:\r\n    pass\r\n",
    "def f():\n    return '\x00\x01'\n",
    "s = '\ud800 lone surrogate'\n",
    "x = " + "[" * 5000 + "]" * 5000 + "\n",
    "".join(f"{'    ' * i}def f{i}():\n" for i in range(300)) + "    " * 300 + "pass\n",
    "\ufeffimport os\n",
])
def test_never_raises_and_keeps_exact_ranges(text: str) -> None:
    chunks = chunk_file("odd.py", text)
    assert_exact_ranges(text, chunks)


# ----------------------------------------------------------------------------- a real package


def test_line_ranges_are_exact_over_a_whole_third_party_package() -> None:
    """Every chunk of every file of rich (~100 files, 1.2 MB) is an exact, covering range."""
    root = Path(rich.__file__).parent
    files = sorted(root.rglob("*.py"))
    assert len(files) > 50
    kinds: set[str] = set()
    for file in files:
        text = file.read_text(encoding="utf-8")
        chunks = chunk_file(str(file.relative_to(root.parent)), text)
        assert_exact_ranges(text, chunks)
        kinds.update(c.kind for c in chunks)
    assert {"class", "method", "function", "code"} <= kinds and "lines" not in kinds


def _console_chunks() -> str:
    root = Path(rich.__file__).parent
    text = (root / "console.py").read_text(encoding="utf-8")
    chunks = chunk_file("rich/console.py", text)
    return json.dumps([[c.start_line, c.end_line, c.symbols, c.kind, c.header] for c in chunks])


def test_output_is_deterministic_across_calls_and_processes() -> None:
    first = _console_chunks()
    chunk_file("other.ts", "export function f() { return 1; }\n")  # warm other caches
    assert _console_chunks() == first
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from test_syntax_chunker import _console_chunks; print(_console_chunks())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run(
        [sys.executable, "-c", code, str(Path(__file__).parent)],
        capture_output=True, text=True, env=env, check=True,
    )
    assert result.stdout.strip() == first


# ----------------------------------------------------------------------------- versions


def test_installed_grammars_are_the_ones_the_chunker_was_written_for() -> None:
    """A grammar upgrade can move chunk boundaries: it must come with a CHUNKER_VERSION bump."""
    installed = {name: importlib.metadata.version(name) for name in GRAMMAR_VERSIONS}
    assert installed == GRAMMAR_VERSIONS, f"update GRAMMAR_VERSIONS and bump {CHUNKER_VERSION}"


def test_the_chunk_output_is_pinned_to_its_version() -> None:
    """If this fails, chunks changed: bump CHUNKER_VERSION (the index recipe records it),
    then update the digest."""
    outputs = [
        [c.start_line, c.end_line, c.symbols, c.kind, c.header]
        for path, source, _ in SAMPLES
        for c in chunk_file(path, source[1:])
    ]
    outputs += [[c.start_line, c.end_line, c.symbols] for c in chunk_file("d/README.md", MARKDOWN)]
    digest = hashlib.sha256(json.dumps(outputs).encode("utf-8")).hexdigest()[:16]
    assert (CHUNKER_VERSION, digest) == ("syntax-1", "ccf23c4e86698420")
