"""Which files of a project are worth indexing, and their text.

The index should hold what a developer considers the project's source: what git
would track. Inside a repository we ask git itself (``git ls-files -co
--exclude-standard``), so ``.gitignore`` files at every level,
``.git/info/exclude`` and the user's global excludes all apply exactly as git
applies them. Outside a repository we follow ``.gitignore`` files with
``pathspec`` (the same pattern rules, evaluated per folder, deepest first).

Generated and vendored folders (``node_modules``, ``.venv``, ``dist`` ...) are
skipped even when committed: their text drowns real results. A ``.wqmignore``
at the project's root (``.gitignore`` syntax) leaves out what git keeps but a
search should not see (e.g. committed benchmark data). Every file left out is
counted under a reason so the summary can say why.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

from ..core.identity import run_git

#: Folder names never indexed: dependencies, build output, caches, virtualenvs.
VENDORED_DIRS = frozenset(
    {
        ".git", ".hg", ".svn", "node_modules", "bower_components", "jspm_packages",
        "vendor", "dist", "build", "out", "target", ".venv", "venv", "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".tox",
        ".nox", ".eggs", "site-packages", ".gradle", ".next", ".nuxt", ".svelte-kit",
        ".parcel-cache", ".turbo", ".cache", ".terraform", ".idea", ".vscode", "coverage",
        "htmlcov", ".ipynb_checkpoints", "Pods", "DerivedData", ".dart_tool", "_build",
        "elm-stuff", ".stack-work", ".cargo",
    }
)

#: File names that are generated even when they sit among sources.
GENERATED_FILES = frozenset(
    {
        "package-lock.json", "yarn.lock", "pnpm-lock.yaml", "poetry.lock", "Cargo.lock",
        "composer.lock", "Gemfile.lock", "go.sum", "uv.lock", "Pipfile.lock",
    }
)

#: The project's own exclusions for wqm, at its root, in ``.gitignore`` syntax.
IGNORE_FILE = ".wqmignore"
#: Bytes read to decide "binary" (git's own heuristic: a NUL in the first 8000 bytes).
SNIFF_BYTES = 8000

# Skip reasons (keys of the summary's ``skipped`` counter).
SKIP_VENDORED = "generated_or_vendored"
SKIP_WQMIGNORE = "wqmignore"
SKIP_BINARY = "binary"
SKIP_TOO_LARGE = "too_large"
SKIP_NOT_UTF8 = "not_utf8"
SKIP_SPECIAL = "not_a_regular_file"
SKIP_UNREADABLE = "unreadable"
SKIP_EMPTY = "empty"
SKIP_NAME_NOT_UTF8 = "name_not_utf8"


@dataclass
class WalkResult:
    """Candidate files (relative POSIX paths, sorted) and what was left out at listing time."""

    files: list[str]
    skipped: Counter[str] = field(default_factory=Counter)
    git: bool = False
    #: Names skipped because they are not valid UTF-8, shown with the bad bytes escaped.
    bad_names: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class FileText:
    """A file read for indexing: its text, or why it was skipped."""

    text: str | None
    content_hash: str | None
    reason: str | None = None
    detail: str | None = None


def is_utf8_name(rel: str) -> bool:
    """True when a path (decoded with ``os.fsdecode``) is valid UTF-8 text.

    A name with other bytes cannot be stored, shown or matched as text (point ids,
    payloads and JSON all need UTF-8), so such a file is skipped and counted.
    """
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable_name(rel: str) -> str:
    """A path with its undecodable bytes shown as ``\\xNN`` (for messages only)."""
    return os.fsencode(rel).decode("utf-8", "backslashreplace")


def is_vendored(rel: str) -> bool:
    """True when a relative path lies in a generated/vendored folder or is a lock file."""
    parts = rel.split("/")
    if parts[-1] in GENERATED_FILES:
        return True
    return any(p in VENDORED_DIRS or p.endswith(".egg-info") for p in parts[:-1])


def walk(root: Path) -> WalkResult:
    """List the files under ``root`` that git would not ignore, minus vendored ones."""
    listed = _git_list(root)
    if listed is None:
        result = WalkResult(files=[], git=False)
        candidates = _walk_tree(root, result.skipped)
    else:
        result = WalkResult(files=[], git=True)
        candidates = listed
    own_rules = _own_rules(root)
    files: list[str] = []
    for rel in dict.fromkeys(candidates):
        if not is_utf8_name(rel):
            result.skipped[SKIP_NAME_NOT_UTF8] += 1
            result.bad_names.append(printable_name(rel))
            continue
        if is_vendored(rel):
            result.skipped[SKIP_VENDORED] += 1
            continue
        if own_rules is not None and own_rules.match_file(rel):
            result.skipped[SKIP_WQMIGNORE] += 1
            continue
        try:
            mode = os.lstat(root / rel).st_mode
        except OSError:
            continue  # tracked but deleted from the work tree: not part of the project now
        if stat.S_ISDIR(mode):
            continue  # a submodule or nested repository: its own project
        if not stat.S_ISREG(mode):
            result.skipped[SKIP_SPECIAL] += 1  # symlinks (may leave the project), sockets...
            continue
        files.append(rel)
    result.files = sorted(files)
    return result


def _own_rules(root: Path) -> pathspec.GitIgnoreSpec | None:
    """The rules of ``root/.wqmignore`` (None when there is none or it cannot be read)."""
    try:
        lines = (root / IGNORE_FILE).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    return pathspec.GitIgnoreSpec.from_lines(lines)


def _git_list(root: Path) -> list[str] | None:
    """Git's view of the work tree, or None when ``root`` is not inside a repository."""
    proc = run_git(root, ["ls-files", "-co", "--exclude-standard", "-z", "--full-name"])
    if proc.returncode != 0:
        return None
    top = run_git(root, ["rev-parse", "--show-prefix"])
    prefix = os.fsdecode(top.stdout).strip() if top.returncode == 0 else ""
    names = [os.fsdecode(n) for n in proc.stdout.split(b"\0") if n]
    if prefix:  # root is a sub-folder of the work tree: keep only its part, made relative
        names = [n[len(prefix):] for n in names if n.startswith(prefix)]
    return [n.rstrip("/") for n in names]


def _walk_tree(root: Path, skipped: Counter[str]) -> list[str]:
    """Walk a folder outside git, honouring nested ``.gitignore`` files and pruning vendored dirs."""
    found: list[str] = []
    specs: list[tuple[str, pathspec.GitIgnoreSpec]] = []  # (folder prefix, its rules)

    def ignored(rel: str, is_dir: bool) -> bool:
        for prefix, spec in reversed(specs):  # the deepest .gitignore has the last word
            if prefix and not rel.startswith(prefix):
                continue
            sub = rel[len(prefix):] + ("/" if is_dir else "")
            decision = spec.check_file(sub).include
            if decision is not None:
                return bool(decision)
        return False

    device = os.stat(root).st_dev
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root).replace(os.sep, "/")
        prefix = "" if rel_dir == "." else rel_dir + "/"
        specs[:] = [(p, s) for p, s in specs if not p or prefix.startswith(p)]
        gitignore = Path(dirpath) / ".gitignore"
        if gitignore.is_file():
            try:
                lines = gitignore.read_text(encoding="utf-8", errors="replace").splitlines()
                specs.append((prefix, pathspec.GitIgnoreSpec.from_lines(lines)))
            except OSError:
                pass
        keep: list[str] = []
        for d in sorted(dirnames):
            rel = prefix + d
            full = os.path.join(dirpath, d)
            if ignored(rel, True) or os.path.islink(full) or _other_device(full, device):
                continue  # like `find -xdev`: never wander into /proc, /sys or other mounts
            if d in VENDORED_DIRS or d.endswith(".egg-info"):
                skipped[SKIP_VENDORED] += 1  # a pruned folder counts once, unopened
                continue
            keep.append(d)
        dirnames[:] = keep
        for name in filenames:
            rel = prefix + name
            if not ignored(rel, False):
                found.append(rel)
    return found


def _other_device(path: str, device: int) -> bool:
    try:
        return os.stat(path).st_dev != device
    except OSError:
        return True


def read_file(path: Path, max_bytes: int) -> FileText:
    """Read ``path`` as UTF-8 text, or say why it is not indexable."""
    try:
        info = path.stat()
        size = info.st_size
        if not stat.S_ISREG(info.st_mode):
            return FileText(None, None, SKIP_SPECIAL)
        if size == 0:  # nothing to index (and never read: kernel files report 0 and block)
            return FileText(None, None, SKIP_EMPTY)
        if size > max_bytes:
            return FileText(None, None, SKIP_TOO_LARGE, f"{size} bytes > {max_bytes}")
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        return FileText(None, None, SKIP_UNREADABLE, exc.strerror or type(exc).__name__)
    if len(data) > max_bytes:  # grew since stat
        return FileText(None, None, SKIP_TOO_LARGE, f"more than {max_bytes} bytes")
    if b"\0" in data[:SNIFF_BYTES]:
        return FileText(None, None, SKIP_BINARY)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return FileText(None, None, SKIP_NOT_UTF8, f"invalid UTF-8 at byte {exc.start}")
    if not text.strip():
        return FileText(None, None, SKIP_EMPTY)
    return FileText(text, hashlib.sha256(data).hexdigest())
