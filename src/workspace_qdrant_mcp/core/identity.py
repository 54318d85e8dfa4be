"""Project identity: which project a path belongs to, and the names it goes by.

Every collection name a user or assistant sees is derived here, and only here
(DESIGN.md §1), so two callers can never disagree about what a project is called.
A project is the git work tree that contains a path, or the path itself outside git.
It has a *path name* (``_path_`` + 12 hex of sha256 of its real path) and, when the
repository has a remote, a *remote name* built from the canonical form of the remote
URL (``host/owner/repo``), which stays the same across clones, sub-folders and
``git worktree`` checkouts.

Rules that keep the names safe and stable:

* Remote URLs often carry credentials (``https://user:token@host/...``). User info is
  dropped before anything is stored, hashed, displayed or quoted in an error;
  :class:`ProjectIdentity` never holds the raw URL, and :class:`InvalidRemoteURL`
  messages never quote the URL at all.
* Canonicalization and naming are pure functions (no I/O), pinned by test vectors.
* git runs with ``GIT_TERMINAL_PROMPT=0`` (never waits for a password),
  ``LC_ALL=C`` (its messages are parsed) and a timeout. It inherits the caller's
  environment, because ``PATH`` finds git and ``HOME`` finds the user's
  ``url.<base>.insteadOf`` rules, which must be honoured; variables that would point
  git at another repository (``GIT_DIR``, ``GIT_WORK_TREE``, ...) are removed so the
  answer depends only on the path asked about. git's stderr reaches an error message
  only after every URL-like word in it has been sanitized.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from workspace_qdrant_mcp.core.errors import (
    GitError,
    InvalidArgument,
    InvalidRemoteURL,
    NotADirectory,
)

GIT_TIMEOUT_SECONDS = 15.0
"""Upper bound for one git call; identity must not hang on a dead network mount."""

MAX_COLLECTION_NAME_LENGTH = 255
"""Qdrant's limit on the length of a collection or alias name."""

LOCAL_HOST = "local"
"""Host part of the canonical form of a remote that is a local path or ``file://`` URL."""

PATH_NAME_PREFIX = "_path_"

# Variables git itself clears when it runs in another repository
# (`git rev-parse --local-env-vars`): left set, they would make git answer about
# the caller's repository instead of the one at `cwd`.
_GIT_LOCAL_ENV_VARS = (
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_CONFIG",
    "GIT_CONFIG_COUNT",
    "GIT_CONFIG_PARAMETERS",
    "GIT_DIR",
    "GIT_GRAFT_FILE",
    "GIT_IMPLICIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_NAMESPACE",
    "GIT_NO_REPLACE_OBJECTS",
    "GIT_OBJECT_DIRECTORY",
    "GIT_PREFIX",
    "GIT_REPLACE_REF_BASE",
    "GIT_SHALLOW_FILE",
    "GIT_WORK_TREE",
)

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TRANSPORT_PREFIX = re.compile(r"^[a-z][a-z0-9+.-]*::(?=.)", re.IGNORECASE)
_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*)://(.*)$", re.IGNORECASE | re.DOTALL)
_DOS_DRIVE = re.compile(r"^([a-z]):[\\/]", re.IGNORECASE)
_HOST = re.compile(r"^(?:\[[0-9a-z:.%]+\]|\w[\w.~-]*)\Z")
_PORT = re.compile(r"^[0-9]*\Z")
_SSH_SCHEMES = frozenset({"ssh", "git+ssh", "ssh+git"})
# The conventional user of ssh forges: public, and it makes a displayed scp URL usable.
_PUBLIC_SSH_USER = "git"
_URL_LIKE_WORD = re.compile(r"[^\s'\"`<>()]*(?:://|@)[^\s'\"`<>()]*")

#: Forges whose repositories are always ``owner/repo`` (or deeper): one level names an owner.
_OWNER_REPO_FORGES = frozenset({"github.com", "gitlab.com", "bitbucket.org"})
_QUERY_OR_FRAGMENT = re.compile(r"[?#]")
_HELP_FORMS = "use a form like https://host/owner/repo, git@host:owner/repo or /abs/path/repo"


# --------------------------------------------------------------------------- pure


class _Unparseable(Exception):
    """Private: why a URL failed to parse; always turned into InvalidRemoteURL."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _invalid(reason: str) -> _Unparseable:
    # Messages built from a reason never quote the URL: whatever part failed to
    # parse could be the one that holds a secret.
    return _Unparseable(reason)


def _split_userinfo(prefix: str) -> tuple[str | None, str]:
    """Split ``user:secret@rest`` at the last ``@``, so a secret holding ``@`` still goes."""
    userinfo, at, rest = prefix.rpartition("@")
    return (userinfo, rest) if at else (None, prefix)


def _scp_split(text: str) -> tuple[str | None, str, str] | None:
    """Split scp-like ``[user@]host:path`` into (userinfo, host, path), else None.

    Like git, the form applies when a ``:`` comes before any ``/``. User info is
    taken up to the last ``@`` before the first ``/`` so that a token containing
    ``:`` (``oauth2:glpat-x@host:group/proj``) is recognised as user info.
    """
    slash = text.find("/")
    head = text if slash < 0 else text[:slash]
    userinfo, rest_head = _split_userinfo(head)
    rest = rest_head + ("" if slash < 0 else text[slash:])
    if rest.startswith("["):
        end = rest.find("]")
        if end < 0 or not rest[end + 1 :].startswith(":"):
            return None
        return userinfo, rest[: end + 1], rest[end + 2 :]
    colon = rest.find(":")
    slash = rest.find("/")
    if colon <= 0 or (0 <= slash < colon):
        return None
    return userinfo, rest[:colon], rest[colon + 1 :]


def _canonical_host(hostport: str) -> str:
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise _invalid("has an unterminated [IPv6] host")
        host, port = hostport[: end + 1], hostport[end + 1 :]
        if port and not (port.startswith(":") and _PORT.match(port[1:])):
            raise _invalid("has an invalid port")
    else:
        host, _, port = hostport.partition(":")
        if not _PORT.match(port):
            raise _invalid("has an invalid port")
    host = host.lower().rstrip(".")
    if host.startswith("www.") and len(host) > len("www."):
        host = host[len("www.") :]
    if not host:
        raise _invalid("has no host")
    if not _HOST.match(host) or host.startswith("-"):
        raise _invalid("has an invalid host")
    return host


def _segments(path: str) -> list[str]:
    parts = [p for p in path.lower().split("/") if p not in ("", ".")]
    if parts and parts[-1] == ".git":
        parts.pop()
    if parts and parts[-1].endswith(".git"):
        parts[-1] = parts[-1][: -len(".git")]
        if not parts[-1]:
            parts.pop()
    if not parts:
        raise _invalid("has no repository path")
    return parts


def _local_segments(path: str) -> list[str]:
    drive = _DOS_DRIVE.match(path)
    if drive or path.startswith("\\\\"):
        # Windows: C:\x\y -> c/x/y, \\server\share\x -> server/share/x.
        path = path.replace("\\", "/")
        if drive:
            path = "/" + drive.group(1) + path[2:]
    return _segments(posixpath.normpath(path))


def _is_local_path(url: str) -> bool:
    """True when git would read ``url`` as a path on this machine (any form)."""
    return (
        _SCHEME.match(url) is None
        and _TRANSPORT_PREFIX.match(url) is None
        and (
            url.startswith(("/", "\\\\"))
            or _DOS_DRIVE.match(url) is not None
            or _scp_split(url) is None
        )
    )


def _parse(url: str) -> tuple[str, list[str]]:
    """Return (host, path segments) of a remote URL, lower-cased, without secrets."""
    if _CONTROL.search(url):
        raise _invalid("contains a control character")
    url = url.strip()
    if not url:
        raise _invalid("is empty")
    transport = _TRANSPORT_PREFIX.match(url)
    if transport:  # remote helper syntax: <transport>::<address>
        url = url[transport.end() :]
    scheme = _SCHEME.match(url)
    if scheme:
        name, rest = scheme.group(1).lower(), scheme.group(2)
        rest = re.split(r"[?#]", rest, maxsplit=1)[0]
        authority, _, path = rest.partition("/")
        # user info goes first, for every scheme: file://user:token@host/... names no token
        _, authority = _split_userinfo(authority)
        if name == "file":
            if authority.lower() in ("", "localhost"):
                return LOCAL_HOST, _local_segments("/" + path)
            return LOCAL_HOST, _local_segments("//" + authority + "/" + path)
        return _canonical_host(authority), _segments(path)
    if url.startswith(("/", "\\\\")) or _DOS_DRIVE.match(url):
        return LOCAL_HOST, _local_segments(url)
    scp = _scp_split(url)
    if scp is None:
        raise _invalid("has no host (a relative path cannot name a project)")
    _, host, path = scp
    # A query or fragment is never part of a repository path, and may carry a token.
    return _canonical_host(host), _segments(_QUERY_OR_FRAGMENT.split(path, maxsplit=1)[0])


def _check_forge_depth(host: str, segments: list[str]) -> None:
    """On forges whose repositories are ``owner/repo``, one path level names no repository."""
    if host in _OWNER_REPO_FORGES and len(segments) < 2:
        raise _invalid(f"names no repository ({host} paths are owner/repo)")


def canonicalize_remote(url: str) -> str:
    """Return the canonical ``host/owner/repo`` form of a git remote URL.

    Scheme, user info, port, a leading ``www.``, a trailing ``/`` and ``.git`` are
    removed and the result is lower case; every path level is kept
    (``gitlab.com/group/sub/proj``). scp form, ``ssh://``, ``git+ssh://``,
    ``git://`` and ``http(s)://`` URLs of one repository agree. A local path or
    ``file://`` URL becomes ``local/<path segments>``. Raises InvalidRemoteURL
    when the URL has no host or no path, or is relative, empty or garbage.
    """
    try:
        host, segments = _parse(url)
        _check_forge_depth(host, segments)
    except _Unparseable as exc:
        raise InvalidRemoteURL(f"Remote URL {exc.reason}; {_HELP_FORMS}.") from None
    return "/".join([host, *segments])


def sanitize_remote_url(url: str) -> str:
    """Return ``url`` fit for display: user info, query and fragment removed.

    The user name of an ssh URL is kept only when it is ``git`` (public, and it
    keeps ``git@github.com:owner/repo`` copy-pasteable); any other user info goes,
    because tokens often ride as the user name of an https URL. When the URL is
    ambiguous this errs towards hiding (the last ``@`` ends the user info). Control
    characters become U+FFFD, so a display cannot drive a terminal. Never raises.
    """
    text = _CONTROL.sub("\ufffd", url.strip())
    transport = _TRANSPORT_PREFIX.match(text)
    if transport:
        return text[: transport.end()] + sanitize_remote_url(text[transport.end() :])
    scheme = _SCHEME.match(text)
    if scheme:
        name, rest = scheme.group(1), scheme.group(2)
        rest = re.split(r"[?#]", rest, maxsplit=1)[0]
        userinfo, rest = _split_userinfo(rest)
        keep = name.lower() in _SSH_SCHEMES and userinfo == _PUBLIC_SSH_USER
        return f"{name}://{_PUBLIC_SSH_USER + '@' if keep else ''}{rest}"
    if _is_local_path(text):
        if text.startswith(("/", "\\\\")) or _DOS_DRIVE.match(text):
            return text
        # Not a usable remote (git would read it as a relative path): hide anything
        # before an @ in its first part, in case it is user info missing a scheme.
        head, slash, tail = text.partition("/")
        return _split_userinfo(head)[1] + slash + tail
    scp = _scp_split(text)
    if scp is None:  # pragma: no cover - _is_local_path covers every non-scp text
        return text
    userinfo, host, path = scp
    user = _PUBLIC_SSH_USER + "@" if userinfo == _PUBLIC_SSH_USER else ""
    return f"{user}{host}:{_QUERY_OR_FRAGMENT.split(path, maxsplit=1)[0]}"


def _short_hash(text: str, length: int) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:length]


def remote_collection_name(canonical: str) -> str:
    """Return the collection name of a canonical remote (see canonicalize_remote).

    ``_`` + the canonical form with every run of characters outside ``[a-z0-9]``
    turned into ``_``. When that flattening could merge two remotes (a path segment
    holds anything but ``[a-z0-9]``, or the host anything but ``[a-z0-9.]``), or the
    name would pass 255 characters, ``_`` + 8 hex of sha256(canonical) is appended.
    """
    if not canonical:
        raise InvalidArgument(
            "Canonical remote is empty; pass the output of canonicalize_remote()."
        )
    host, _, path = canonical.partition("/")
    ambiguous = re.search(r"[^a-z0-9.]", host) is not None or any(
        re.search(r"[^a-z0-9]", segment) for segment in path.split("/")
    )
    name = "_" + re.sub(r"[^a-z0-9]+", "_", canonical).strip("_")
    if not ambiguous and len(name) <= MAX_COLLECTION_NAME_LENGTH:
        return name
    suffix = "_" + _short_hash(canonical, 8)
    return name[: MAX_COLLECTION_NAME_LENGTH - len(suffix)].rstrip("_") + suffix


# ------------------------------------------------------------------------- git I/O


def _redact(text: str) -> str:
    """Sanitize every URL-like word of git's output before it reaches a message."""

    def scrub(match: re.Match[str]) -> str:
        clean = sanitize_remote_url(match.group(0))
        return "<url>" if "@" in re.sub(r"(^|://)git@", r"\1", clean) else clean

    return _URL_LIKE_WORD.sub(scrub, text)


def _git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _GIT_LOCAL_ENV_VARS}
    env.update(GIT_TERMINAL_PROMPT="0", LC_ALL="C", GIT_OPTIONAL_LOCKS="0")
    return env


def run_git(cwd: Path, args: Sequence[str]) -> subprocess.CompletedProcess[bytes]:
    """Run git the one way wqm does: scrubbed environment, no prompt, a timeout."""
    try:
        return subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=_git_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=GIT_TIMEOUT_SECONDS,
            check=False,
        )
    except FileNotFoundError:
        raise GitError("git is not installed or not on PATH; install git, then retry.") from None
    except subprocess.TimeoutExpired:
        raise GitError(
            f"git took longer than {GIT_TIMEOUT_SECONDS:g} s in '{cwd}'; "
            "check that the folder is reachable, then retry."
        ) from None


def _stderr(result: subprocess.CompletedProcess[bytes]) -> str:
    return os.fsdecode(result.stderr).strip()


def _git_failure(cwd: Path, result: subprocess.CompletedProcess[bytes]) -> GitError:
    err = _stderr(result)
    if "dubious ownership" in err:
        return GitError(
            f"git refuses to read '{cwd}' because another user owns it; run "
            f"`git config --global --add safe.directory '{cwd}'`, then retry."
        )
    if "must be run in a work tree" in err:
        return GitError(
            f"'{cwd}' is inside a .git folder or a bare repository; "
            "pass a folder of the work tree instead."
        )
    first = _redact(err.splitlines()[0]) if err else "no message"
    return GitError(
        f"git failed in '{cwd}' (exit {result.returncode}: {first}); "
        "fix the repository, then retry."
    )


def _locate(path: str | Path) -> tuple[Path, bool]:
    """Return (project root, whether it is a git work tree)."""
    p = Path(path)
    if not p.exists():
        raise NotADirectory(f"Path '{p}' does not exist; pass an existing project folder.")
    if not p.is_dir():
        raise NotADirectory(
            f"Path '{p}' is not a folder; pass the project folder that contains it."
        )
    result = run_git(p, ["rev-parse", "--show-toplevel"])
    if result.returncode != 0:
        if "not a git repository" in _stderr(result):
            return Path(os.path.realpath(p)), False
        raise _git_failure(p, result)
    root = Path(os.path.realpath(os.fsdecode(result.stdout).rstrip("\n")))
    if run_git(root, ["rev-parse", "--verify", "--quiet", "HEAD"]).returncode != 0:
        raise GitError(
            f"The git repository at '{root}' has no commits yet; commit once, then retry."
        )
    return root, True


def find_project_root(path: str | Path) -> Path:
    """Return the git work tree containing ``path``, else the resolved path itself.

    Raises NotADirectory for a missing path or a file, and GitError when git is
    missing, fails, or the repository has no commits yet.
    """
    return _locate(path)[0]


def choose_remote(root: Path) -> str | None:
    """Return the remote that names the project: origin, upstream, else first by name."""
    result = run_git(root, ["remote"])
    if result.returncode != 0:
        raise _git_failure(root, result)
    remotes = sorted(os.fsdecode(result.stdout).split())
    for preferred in ("origin", "upstream"):
        if preferred in remotes:
            return preferred
    return remotes[0] if remotes else None


def get_remote_url(root: Path, remote: str) -> str:
    """Return the fetch URL of ``remote`` as git resolves it (``insteadOf`` applied).

    The result may hold credentials: pass it to canonicalize_remote or
    sanitize_remote_url, never to a log or a message.
    """
    result = run_git(root, ["remote", "get-url", "--", remote])
    if result.returncode != 0:
        if "No such remote" in _stderr(result):
            raise GitError(
                f"The repository at '{root}' has no remote '{remote}'; "
                "list remotes with `git remote`, then retry."
            )
        raise _git_failure(root, result)
    return os.fsdecode(result.stdout).strip()


def root_commits(root: Path) -> frozenset[str]:
    """The root commit(s) of the repository at ``root`` (empty when git cannot say)."""
    result = run_git(root, ["rev-list", "--max-parents=0", "HEAD"])
    if result.returncode != 0:
        return frozenset()
    return frozenset(os.fsdecode(result.stdout).split())


def path_collection_name(root: Path) -> str:
    """Return ``_path_`` + 12 hex of sha256 of the real path of ``root``."""
    real = os.fsencode(os.path.realpath(root))
    return PATH_NAME_PREFIX + hashlib.sha256(real).hexdigest()[:12]


def _resolve_local_remote(url: str, root: Path) -> str:
    """Make a local-path remote absolute and real, so every spelling agrees.

    git reads a relative remote path from the top of the work tree, so that is
    the base used here too.
    """
    scheme = _SCHEME.match(url)
    if scheme and scheme.group(1).lower() == "file":
        authority, _, path = scheme.group(2).partition("/")
        if authority.lower() not in ("", "localhost"):
            return url
        return os.path.realpath("/" + path)
    if (
        _is_local_path(url)
        and not _DOS_DRIVE.match(url)
        and not url.startswith("\\\\")
        and ":" not in url.partition("/")[0]  # git reads `x@:y` as ssh, never as a path
    ):
        return os.path.realpath(root / url)
    return url


@dataclass(frozen=True)
class ProjectIdentity:
    """Who a project is: its root and the collection names it goes by.

    Holds no raw remote URL, only its sanitized display form and canonical form.
    """

    root: Path
    path_name: str
    remote: str | None = None
    remote_url_display: str | None = None
    canonical_remote: str | None = None
    remote_name: str | None = None
    #: The repository's root commit(s): what survives a move or a re-clone, and what a
    #: different repository at the same path does not share. Empty outside git. Evidence
    #: about the project, not part of its names, so identities compare by names alone.
    root_commits: frozenset[str] = field(default=frozenset(), compare=False)

    @property
    def current_name(self) -> str:
        """The name to use now: the remote-based name if any, else the path name."""
        return self.remote_name if self.remote_name is not None else self.path_name

    @property
    def names(self) -> tuple[str, ...]:
        """Every name of the project, current name first."""
        if self.remote_name is None:
            return (self.path_name,)
        return (self.remote_name, self.path_name)


def detect_identity(path: str | Path) -> ProjectIdentity:
    """Return the identity of the project containing ``path``.

    Raises the errors of find_project_root, and InvalidRemoteURL (naming the
    remote, never its URL) when the chosen remote's URL cannot be parsed.
    """
    root, is_git = _locate(path)
    path_name = path_collection_name(root)
    commits = root_commits(root) if is_git else frozenset()
    remote = choose_remote(root) if is_git else None
    if remote is None:
        return ProjectIdentity(root=root, path_name=path_name, root_commits=commits)
    raw = get_remote_url(root, remote)
    if not raw.strip():  # `git remote add origin ""`: a remote that names nothing
        return ProjectIdentity(root=root, path_name=path_name, root_commits=commits)
    try:
        host, segments = _parse(_resolve_local_remote(raw, root))
        _check_forge_depth(host, segments)
    except _Unparseable as exc:
        raise InvalidRemoteURL(
            f"The URL of remote '{remote}' {exc.reason}; fix it with "
            f"`git remote set-url {remote} <url>` ({_HELP_FORMS})."
        ) from None
    canonical = "/".join([host, *segments])
    return ProjectIdentity(
        root=root,
        path_name=path_name,
        remote=remote,
        remote_url_display=sanitize_remote_url(raw),
        canonical_remote=canonical,
        remote_name=remote_collection_name(canonical),
        root_commits=commits,
    )


__all__ = [
    "ProjectIdentity",
    "canonicalize_remote",
    "choose_remote",
    "detect_identity",
    "find_project_root",
    "get_remote_url",
    "path_collection_name",
    "remote_collection_name",
    "root_commits",
    "run_git",
    "sanitize_remote_url",
]
