"""Identity test vectors (DESIGN.md §1) and behaviour against real git repositories."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import subprocess
from pathlib import Path

import pytest

from workspace_qdrant_mcp.core.errors import (
    GitError,
    InvalidArgument,
    InvalidRemoteURL,
    NotADirectory,
)
from workspace_qdrant_mcp.core.identity import (
    ProjectIdentity,
    _redact,
    canonicalize_remote,
    choose_remote,
    detect_identity,
    find_project_root,
    get_remote_url,
    path_collection_name,
    remote_collection_name,
    sanitize_remote_url,
)

NAME_RE = re.compile(r"^[a-z0-9_]{1,255}$")
PATH_NAME_RE = re.compile(r"^_path_[0-9a-f]{12}$")
HASHED_RE = re.compile(r"_[0-9a-f]{8}$")


# ---------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def git_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make commits work and keep the user's git config out of the tests."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Test")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "test@example.com")
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_CEILING_DIRECTORIES"):
        monkeypatch.delenv(var, raising=False)


def git(cwd: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=30
    )
    return result.stdout.strip()


def make_repo(path: Path, remotes: dict[str, str] | None = None, commit: bool = True) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    if commit:
        git(path, "commit", "-q", "--allow-empty", "-m", "init")
    for name, url in (remotes or {}).items():
        git(path, "remote", "add", name, url)
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo", {"origin": "git@github.com:user/repo.git"})


# ---------------------------------------------------------------- canonical form and names


@pytest.mark.parametrize(
    "url",
    [
        "git@github.com:user/repo.git",
        "https://github.com/user/repo",
        "ssh://git@github.com/user/repo.git",
        "https://user:ghp_token@github.com/User/Repo.git/",
        "git+ssh://git@github.com:22/user/repo",
        "ssh+git://git@github.com/user/repo",
        "git://github.com/user/repo.git",
        "http://github.com/user/repo/",
        "https://www.github.com/user/repo",
        "HTTPS://GitHub.COM/USER/REPO.GIT",
        "https://x-access-token:ghs_secret@github.com/user/repo.git",
        "https://github.com/user/repo.git?ref=main#frag",
        "  https://github.com/user/repo  ",
    ],
)
def test_equivalent_urls_share_one_name(url: str) -> None:
    assert canonicalize_remote(url) == "github.com/user/repo"
    assert remote_collection_name(canonicalize_remote(url)) == "_github_com_user_repo"


@pytest.mark.parametrize(
    ("url", "canonical", "name"),
    [
        (
            "https://gitlab.com/group/sub/proj.git",
            "gitlab.com/group/sub/proj",
            "_gitlab_com_group_sub_proj",
        ),
        (
            "git@gitlab.com:group/sub/deeper/proj.git",
            "gitlab.com/group/sub/deeper/proj",
            "_gitlab_com_group_sub_deeper_proj",
        ),
        (
            "https://gitlab.com/group/subproj",
            "gitlab.com/group/subproj",
            "_gitlab_com_group_subproj",
        ),
        ("https://www.gitlab.com/g/p", "gitlab.com/g/p", "_gitlab_com_g_p"),
        ("ssh://git@host.example:2222/team/app", "host.example/team/app", "_host_example_team_app"),
        ("/srv/git/Proj.git/", "local/srv/git/proj", "_local_srv_git_proj"),
        ("file:///srv/git/proj.git", "local/srv/git/proj", "_local_srv_git_proj"),
        ("file://localhost/srv/git/proj", "local/srv/git/proj", "_local_srv_git_proj"),
        ("/srv/work/proj/.git", "local/srv/work/proj", "_local_srv_work_proj"),
        ("C:\\Users\\me\\proj.git", "local/c/users/me/proj", "_local_c_users_me_proj"),
        ("hg::https://hg.example/a/b", "hg.example/a/b", "_hg_example_a_b"),
    ],
)
def test_canonical_vectors(url: str, canonical: str, name: str) -> None:
    assert canonicalize_remote(url) == canonical
    assert remote_collection_name(canonical) == name


def test_ambiguous_flattening_gets_distinct_hashed_names() -> None:
    urls = [
        "https://github.com/user/my.repo",
        "https://github.com/user/my_repo",
        "https://github.com/user/my-repo",
        "https://github.com/user/my/repo",
        "https://github.com/user/myrepo",
    ]
    names = [remote_collection_name(canonicalize_remote(u)) for u in urls]
    assert len(set(names)) == len(names)
    for canonical_name in names[:3]:
        assert canonical_name.startswith("_github_com_user_my_repo_")
        assert HASHED_RE.search(canonical_name)
    canonical = "github.com/user/my.repo"
    expected = "_github_com_user_my_repo_" + hashlib.sha256(canonical.encode()).hexdigest()[:8]
    assert remote_collection_name(canonical) == expected


@pytest.mark.parametrize(
    "canonical",
    ["my-gitlab.example.com/a/b", "[::1]/a/b", "gitlab.exämple.org/a/b", "local/srv/my proj"],
)
def test_unusual_hosts_and_segments_are_hashed_and_valid(canonical: str) -> None:
    name = remote_collection_name(canonical)
    assert NAME_RE.match(name)
    assert HASHED_RE.search(name)


def test_long_names_are_truncated_with_hash_and_never_collide() -> None:
    base = "github.com/" + "a" * 300
    one, two = remote_collection_name(base + "/x"), remote_collection_name(base + "/y")
    for name in (one, two):
        assert len(name) <= 255
        assert NAME_RE.match(name)
        assert HASHED_RE.search(name)
    assert one != two


def test_empty_canonical_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="canonicalize_remote"):
        remote_collection_name("")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("\t", "control character"),
        ("https://github.com/user/repo\n", "control character"),
        ("https://github.com/us\x00er/repo", "control character"),
        ("garbage", "no host"),
        ("not a url at all", "no host"),
        ("../relative/repo.git", "no host"),
        ("https://", "no host"),
        ("https:///user/repo", "no host"),
        ("git@:user/repo", "no host"),
        ("https://github.com", "no repository path"),
        ("https://github.com/", "no repository path"),
        ("git@github.com:", "no repository path"),
        ("https://github.com/.git", "no repository path"),
        ("/", "no repository path"),
        ("https://github.com:abc/user/repo", "invalid port"),
        ("ssh://-oProxyCommand=x/user/repo", "invalid host"),
        ("https://bad host/user/repo", "invalid host"),
        ("https://[::1/user/repo", "unterminated"),
    ],
)
def test_unparseable_urls_raise_helpful_error(url: str, reason: str) -> None:
    with pytest.raises(InvalidRemoteURL) as info:
        canonicalize_remote(url)
    message = str(info.value)
    assert message.startswith("Remote URL ")
    assert reason in message
    assert "https://host/owner/repo" in message


# ---------------------------------------------------------------- secrets never leak

SECRET_URLS = [
    ("https://user:ghp_abc123@github.com/User/Repo.git/", ["ghp_abc123", "user:"]),
    ("https://ghp_abc123@github.com/user/repo", ["ghp_abc123"]),
    ("https://oauth2:glpat-xyz@gitlab.com/group/sub/proj.git", ["glpat-xyz", "oauth2"]),
    ("oauth2:glpat-xyz@gitlab.com:group/proj.git", ["glpat-xyz", "oauth2"]),
    ("https://x-access-token:ghs_s3cr3t@github.com/o/r", ["ghs_s3cr3t", "x-access-token"]),
    ("https://user:p@ss@w0rd@bitbucket.org/team/repo.git", ["p@ss", "w0rd"]),
    ("ssh://deploy:hunter2@host.example:2222/team/app", ["hunter2", "deploy"]),
    ("https://gitlab.com/g/p.git?private_token=glpat-xyz", ["glpat-xyz", "private_token"]),
    ("hg::https://ghp_abc123@hg.example/a/b", ["ghp_abc123"]),
]
BROKEN_SECRET_URLS = [
    ("https://user:ghp_abc123@", ["ghp_abc123"]),
    ("https://user:ghp_abc123@github.com", ["ghp_abc123"]),
    ("https://oauth2:glpat-xyz@gitlab.com:bad/g/p", ["glpat-xyz"]),
    ("https://oauth2:glpat-xyz@bad host/g/p", ["glpat-xyz"]),
    ("oauth2:glpat-xyz@gitlab.com:", ["glpat-xyz"]),
    ("https://user:ghp_abc123@github.com/u/r\n", ["ghp_abc123"]),
    ("ghp_abc123@github.com/user/repo", ["ghp_abc123"]),
]


@pytest.mark.parametrize(("url", "secrets"), SECRET_URLS)
def test_no_credential_in_canonical_name_or_display(url: str, secrets: list[str]) -> None:
    canonical = canonicalize_remote(url)
    outputs = [canonical, remote_collection_name(canonical), sanitize_remote_url(url)]
    for output in outputs:
        for secret in secrets:
            assert secret.lower() not in output.lower(), output


@pytest.mark.parametrize(("url", "secrets"), BROKEN_SECRET_URLS)
def test_no_credential_in_error_or_display_of_broken_url(url: str, secrets: list[str]) -> None:
    with pytest.raises(InvalidRemoteURL) as info:
        canonicalize_remote(url)
    for output in (str(info.value), sanitize_remote_url(url)):
        for secret in secrets:
            assert secret not in output, output


@pytest.mark.parametrize(
    ("url", "display"),
    [
        ("https://user:tok@h.example/x", "https://h.example/x"),
        ("https://ghp_abc123@github.com/u/r.git", "https://github.com/u/r.git"),
        ("git@github.com:user/repo.git", "git@github.com:user/repo.git"),
        ("ssh://git@github.com/user/repo.git", "ssh://git@github.com/user/repo.git"),
        ("git+ssh://git@github.com:22/user/repo", "git+ssh://git@github.com:22/user/repo"),
        ("ssh://deploy@host/team/app", "ssh://host/team/app"),
        ("deploy@host:team/app", "host:team/app"),
        ("https://git@github.com/u/r", "https://github.com/u/r"),
        ("https://gitlab.com/g/p?private_token=x#f", "https://gitlab.com/g/p"),
        ("/srv/git/proj.git", "/srv/git/proj.git"),
        ("https://h/x\x1b[31m", "https://h/x\ufffd[31m"),
        ("", ""),
    ],
)
def test_sanitize_remote_url(url: str, display: str) -> None:
    assert sanitize_remote_url(url) == display


def test_git_stderr_is_redacted() -> None:
    line = "fatal: unable to access 'https://user:ghp_abc123@github.com/u/r/': timeout"
    assert "ghp_abc123" not in _redact(line)
    assert "https://github.com/u/r/" in _redact(line)
    assert "glpat" not in _redact("fatal: 'oauth2:glpat-xyz@gitlab.com:g/p' failed")


def test_identity_of_repo_with_token_remote_holds_no_secret(tmp_path: Path) -> None:
    url = "https://oauth2:glpat-xyz@gitlab.com/Group/Sub/Proj.git"
    identity = detect_identity(make_repo(tmp_path / "r", {"origin": url}))
    assert identity.remote_name == "_gitlab_com_group_sub_proj"
    assert identity.remote_url_display == "https://gitlab.com/Group/Sub/Proj.git"
    text = repr(identity) + repr(dataclasses.asdict(identity))
    assert "glpat" not in text
    assert "oauth2" not in text


def test_unparseable_remote_names_remote_not_url(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "r", {"origin": "https://user:ghp_abc123@"})
    with pytest.raises(InvalidRemoteURL) as info:
        detect_identity(root)
    message = str(info.value)
    assert "remote 'origin'" in message
    assert "git remote set-url origin" in message
    assert "ghp_abc123" not in message


# ---------------------------------------------------------------- path names


def test_path_name_format_and_value(tmp_path: Path) -> None:
    name = path_collection_name(tmp_path)
    assert PATH_NAME_RE.match(name)
    real = os.fsencode(os.path.realpath(tmp_path))
    assert name == "_path_" + hashlib.sha256(real).hexdigest()[:12]
    assert path_collection_name(tmp_path / "other") != name


def test_symlinked_folder_has_same_path_name(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    assert path_collection_name(link) == path_collection_name(real)
    assert detect_identity(link).path_name == detect_identity(real).path_name
    assert find_project_root(link) == Path(os.path.realpath(real))


def test_folder_outside_git_is_its_own_project(tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    identity = detect_identity(folder)
    assert identity.root == Path(os.path.realpath(folder))
    assert identity.remote is None
    assert identity.remote_url_display is None
    assert identity.canonical_remote is None
    assert identity.remote_name is None
    assert identity.current_name == identity.path_name
    assert identity.names == (identity.path_name,)


# ---------------------------------------------------------------- git repositories


def test_identity_of_repo(repo: Path) -> None:
    identity = detect_identity(repo)
    assert identity == ProjectIdentity(
        root=Path(os.path.realpath(repo)),
        path_name=path_collection_name(repo),
        remote="origin",
        remote_url_display="git@github.com:user/repo.git",
        canonical_remote="github.com/user/repo",
        remote_name="_github_com_user_repo",
    )
    assert identity.current_name == "_github_com_user_repo"
    assert identity.names == ("_github_com_user_repo", identity.path_name)
    with pytest.raises(dataclasses.FrozenInstanceError):
        identity.remote_name = "x"


def test_repo_without_remote_uses_path_name(tmp_path: Path) -> None:
    identity = detect_identity(make_repo(tmp_path / "r"))
    assert identity.remote is None
    assert identity.current_name == identity.path_name


def test_subdirectory_and_worktree_share_remote_name(repo: Path, tmp_path: Path) -> None:
    sub = repo / "src" / "pkg"
    sub.mkdir(parents=True)
    worktree = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", "-b", "feature", str(worktree))

    main, in_sub, in_wt = detect_identity(repo), detect_identity(sub), detect_identity(worktree)
    assert find_project_root(sub) == main.root
    assert in_sub == main
    assert in_wt.root == Path(os.path.realpath(worktree))
    assert in_wt.remote_name == main.remote_name == "_github_com_user_repo"
    assert in_wt.path_name != main.path_name


@pytest.mark.parametrize(
    ("remotes", "chosen"),
    [
        ({}, None),
        ({"zeta": "https://h/z/z", "alpha": "https://h/a/a"}, "alpha"),
        (
            {"zeta": "https://h/z/z", "upstream": "https://h/u/u", "alpha": "https://h/a/a"},
            "upstream",
        ),
        (
            {"upstream": "https://h/u/u", "origin": "https://h/o/o", "alpha": "https://h/a/a"},
            "origin",
        ),
        ({"fork": "https://h/f/f"}, "fork"),
    ],
)
def test_remote_choice_order(tmp_path: Path, remotes: dict[str, str], chosen: str | None) -> None:
    root = make_repo(tmp_path / "r", remotes)
    assert choose_remote(root) == chosen
    identity = detect_identity(root)
    assert identity.remote == chosen
    if chosen is not None:
        assert get_remote_url(root, chosen) == remotes[chosen]
        assert identity.canonical_remote == canonicalize_remote(remotes[chosen])


def test_insteadof_is_honoured(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "r", {"origin": "gh:User/Repo"})
    assert detect_identity(root).canonical_remote == "gh/user/repo"
    git(root, "config", "url.https://github.com/.insteadOf", "gh:")
    assert get_remote_url(root, "origin") == "https://github.com/User/Repo"
    identity = detect_identity(root)
    assert identity.remote_name == "_github_com_user_repo"
    assert identity.remote_url_display == "https://github.com/User/Repo"


def test_local_remote_resolves_relative_to_root(tmp_path: Path) -> None:
    bare = tmp_path / "server" / "proj.git"
    bare.mkdir(parents=True)
    git(bare, "init", "-q", "--bare")
    root = make_repo(tmp_path / "work", {"origin": "../server/proj.git"})
    (root / "deep").mkdir()
    expected = canonicalize_remote(os.path.realpath(bare))
    assert expected.startswith("local/")
    assert detect_identity(root).canonical_remote == expected
    assert detect_identity(root / "deep").canonical_remote == expected
    other = make_repo(tmp_path / "other", {"origin": "file://" + str(bare)})
    assert detect_identity(other).remote_name == detect_identity(root).remote_name


def test_get_remote_url_of_missing_remote(repo: Path) -> None:
    with pytest.raises(GitError, match="no remote 'nope'"):
        get_remote_url(repo, "nope")


# ---------------------------------------------------------------- bad inputs


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(NotADirectory, match="does not exist"):
        find_project_root(tmp_path / "missing")


def test_file_is_not_a_project(tmp_path: Path) -> None:
    file = tmp_path / "notes.txt"
    file.write_text("x")
    with pytest.raises(NotADirectory, match="not a folder"):
        detect_identity(file)


def test_repo_without_commits(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "fresh", commit=False)
    with pytest.raises(GitError, match="has no commits yet; commit once, then retry"):
        find_project_root(root)


def test_inside_dot_git_folder(repo: Path) -> None:
    with pytest.raises(GitError, match=r"inside a \.git folder"):
        find_project_root(repo / ".git")


def test_git_not_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(GitError, match="git is not installed"):
        find_project_root(tmp_path)


def test_outer_git_dir_variable_is_ignored(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = make_repo(tmp_path / "other", {"origin": "https://h/other/other"})
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    assert detect_identity(repo).canonical_remote == "github.com/user/repo"
