"""Cut text into line-range chunks that a search result can point at.

A chunk never splits a line, so every hit maps to ``path:start-end`` exactly.
Chunks hold at most 60 lines and 1,000 characters, and past a soft size (40
lines or 700 characters) prefer to end at a blank line, which in code is
usually a boundary between definitions. The character cap follows the dense
model, not habit: all-MiniLM-L6-v2 reads 256 word pieces and drops the rest,
and code averages ~3 characters a word piece, so with 1,500-character chunks
93% of this repository's chunks were cut and their last third was invisible
to dense search. 1,000 characters keeps most of a chunk inside the window.
A few lines of overlap keep a definition that straddles a boundary findable
from either side. A single line longer than the character limit (minified code,
data on one line) is cut into pieces of at most ``max_chars`` characters, each
a chunk of that one line with a column range (``start_col``..``end_col``), so
no chunk, and no embedding input, grows with the input.
Pure functions: no I/O, deterministic (chunk ids depend on it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

MAX_LINES = 60
SOFT_LINES = 40
MAX_CHARS = 1000
SOFT_CHARS = 700
OVERLAP_LINES = 3


@dataclass(frozen=True)
class Chunk:
    """Lines ``start_line``..``end_line`` (1-based, inclusive) of a text.

    A piece of one overlong line also has ``start_col``/``end_col``: the
    0-based character range of that line it holds (end exclusive).
    """

    index: int
    start_line: int
    end_line: int
    content: str
    start_col: int | None = None
    end_col: int | None = None


def chunk_text(
    text: str,
    *,
    max_lines: int = MAX_LINES,
    soft_lines: int = SOFT_LINES,
    max_chars: int = MAX_CHARS,
    soft_chars: int = SOFT_CHARS,
    overlap: int = OVERLAP_LINES,
    keep_blank: bool = False,
) -> list[Chunk]:
    """Split ``text`` into chunks of whole lines.

    With ``overlap=0`` and ``keep_blank=True`` the chunks concatenate back to
    ``text`` exactly (notes use this to return what was stored).
    """
    lines = split_lines(text)
    chunks: list[Chunk] = []
    start = 0
    while start < len(lines):
        if len(lines[start]) > max_chars:
            for offset in range(0, len(lines[start]), max_chars):
                piece = lines[start][offset:offset + max_chars]
                if keep_blank or piece.strip():
                    chunks.append(Chunk(len(chunks), start + 1, start + 1, piece, offset,
                                        offset + len(piece)))
            start += 1
            continue
        end = start  # exclusive
        chars = 0
        while end < len(lines):
            size = len(lines[end])
            if end > start and (end - start >= max_lines or chars + size > max_chars):
                break
            chars += size
            end += 1
            soft_reached = end - start >= soft_lines or chars >= soft_chars
            if soft_reached and end < len(lines) and not lines[end - 1].strip():
                break  # a blank line past the soft size: a natural boundary
        content = "".join(lines[start:end])
        if keep_blank or content.strip():
            chunks.append(Chunk(len(chunks), start + 1, end, content))
        if end >= len(lines):
            break
        start = _next_start(lines, start, end, overlap, max_chars)
    return chunks


def split_lines(text: str) -> list[str]:
    """Lines with their endings, split on ``\\n`` only (as editors and ``grep -n`` count them)."""
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _next_start(lines: list[str], start: int, end: int, overlap: int, max_chars: int) -> int:
    """Where the next chunk begins: up to ``overlap`` short lines before ``end``.

    The overlap is dropped when it would leave no room for the line at ``end``,
    so every chunk ends past the previous one (no runs of near-duplicates).
    """
    budget = max_chars // 4
    back = 0
    used = 0
    while back < overlap and end - back - 1 > start:
        size = len(lines[end - back - 1])
        if used + size > budget:
            break
        used += size
        back += 1
    if used + len(lines[end]) > max_chars:
        return end
    return end - back


#: Extension (lower case, with dot) -> language label stored in the payload.
EXTENSIONS: dict[str, str] = {
    ".py": "python", ".pyi": "python", ".pyx": "python", ".ipynb": "jupyter",
    ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascript",
    ".ts": "typescript", ".tsx": "typescript", ".mts": "typescript", ".cts": "typescript",
    ".go": "go", ".rs": "rust", ".java": "java", ".kt": "kotlin", ".kts": "kotlin",
    ".scala": "scala", ".groovy": "groovy", ".gradle": "groovy", ".c": "c", ".h": "c",
    ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".hpp": "cpp", ".hh": "cpp", ".hxx": "cpp",
    ".cs": "csharp", ".fs": "fsharp", ".swift": "swift", ".m": "objective-c",
    ".mm": "objective-c", ".rb": "ruby", ".php": "php", ".pl": "perl", ".pm": "perl",
    ".lua": "lua", ".r": "r", ".jl": "julia", ".dart": "dart", ".ex": "elixir",
    ".exs": "elixir", ".erl": "erlang", ".hrl": "erlang", ".hs": "haskell", ".ml": "ocaml",
    ".mli": "ocaml", ".clj": "clojure", ".cljs": "clojure", ".elm": "elm", ".zig": "zig",
    ".nim": "nim", ".v": "verilog", ".sv": "verilog", ".vhd": "vhdl", ".sol": "solidity",
    ".sh": "shell", ".bash": "shell", ".zsh": "shell", ".fish": "shell", ".ps1": "powershell",
    ".bat": "batch", ".cmd": "batch", ".sql": "sql", ".graphql": "graphql", ".gql": "graphql",
    ".proto": "protobuf", ".html": "html", ".htm": "html", ".css": "css", ".scss": "scss",
    ".sass": "sass", ".less": "less", ".vue": "vue", ".svelte": "svelte", ".md": "markdown",
    ".markdown": "markdown", ".mdx": "markdown", ".rst": "rst", ".txt": "text",
    ".adoc": "asciidoc", ".tex": "latex", ".json": "json", ".jsonc": "json", ".yaml": "yaml",
    ".yml": "yaml", ".toml": "toml", ".ini": "ini", ".cfg": "ini", ".conf": "config",
    ".xml": "xml", ".csv": "csv", ".tsv": "csv", ".tf": "terraform", ".hcl": "hcl",
    ".nix": "nix", ".cmake": "cmake", ".mk": "make", ".dockerfile": "dockerfile",
}

#: Whole file names (no usable extension) -> language.
FILENAMES: dict[str, str] = {
    "makefile": "make", "gnumakefile": "make", "dockerfile": "dockerfile",
    "containerfile": "dockerfile", "cmakelists.txt": "cmake", "rakefile": "ruby",
    "gemfile": "ruby", "jenkinsfile": "groovy", "vagrantfile": "ruby", "justfile": "make",
    ".gitignore": "gitignore", ".dockerignore": "gitignore", "license": "text",
    "readme": "text",
}


def language_of(path: str) -> str:
    """The language label of a relative path, from its name or extension (``text`` if unknown)."""
    name = PurePosixPath(path).name.lower()
    if name in FILENAMES:
        return FILENAMES[name]
    if name.startswith("dockerfile"):
        return "dockerfile"
    return EXTENSIONS.get(PurePosixPath(name).suffix, "text")
