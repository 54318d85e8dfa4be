"""Bad input, property-based: hostile names and remote URLs never get past the rules.

Names. Random alias and collection names (any unicode, control characters,
lone surrogates, 255/256+ characters, the names of existing collections and
aliases, forbidden punctuation) are thrown at every alias write: create,
forced re-point, delete, multi-alias switch (also as the JSON ``alias_switch``
operation) and ``create_project_collection``. Each call either succeeds or is
refused with one of the library's own refusals, never a ``StoreError``: a name
the rules let through is one Qdrant accepts, and one they refuse never reaches
Qdrant. After every example: registry == Qdrant, nothing pending, every alias
in Qdrant passes the name rules, and ``PRAGMA integrity_check`` is ok.

Remote URLs. Random URLs (user names and tokens as user info, ports, odd and
upper-case schemes, ``transport::`` prefixes, scp form, ``file://``, queries,
fragments, unicode and garbage) give a collection name matching
``^[a-z0-9_]{1,255}$`` and containing no credential, or a clear
``InvalidRemoteURL`` that quotes no credential; the canonical form (stored in
the registry) and the display form hold no credential either. The credentials
use markers (``usr`` + digits, ``tok`` + text) that the rest of the URL cannot
spell (its alphabet has no ``k`` and no ``u``), so finding a marker in an
output means a credential leaked. A smaller run does the same through a real
git repository and ``detect_identity``.

Bounded run: 200 examples per property (60 for the git one); ``WQM_LONG=1``: 2,000 (400).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from _alias_support import new_project, upsert_random
from conftest import git
from workspace_qdrant_mcp.config import Settings
from workspace_qdrant_mcp.core import schema, store
from workspace_qdrant_mcp.core.collection_aliases import AliasChange
from workspace_qdrant_mcp.core.errors import (
    AliasError,
    InvalidArgument,
    InvalidName,
    InvalidRemoteURL,
    WqmError,
)
from workspace_qdrant_mcp.core.identity import (
    canonicalize_remote,
    detect_identity,
    remote_collection_name,
    sanitize_remote_url,
)
from workspace_qdrant_mcp.core.naming import is_opaque_physical_name, validate_name
from workspace_qdrant_mcp.ops.aliases import alias_switch
from workspace_qdrant_mcp.workspace.workspace import Workspace

from ._support import integrity, make_repo
from .conftest import scaled

pytestmark = pytest.mark.reliability

EXAMPLES = scaled(200, 2000)
GIT_EXAMPLES = scaled(60, 400)
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

PROJECT_A, PROJECT_B = "_path_badbadbad0a0", "_path_badbadbad0b0"
LEGACY = "legacy_collection"  # a collection that carries a logical name itself
BASE_ALIAS = "base_alias"
#: Refusals a name may earn; anything else (StoreError above all) is a failure.
REFUSALS = (InvalidName, InvalidArgument, AliasError)
COLLECTION_NAME = re.compile(r"^[a-z0-9_]{1,255}$")


class Stage:
    """One workspace shared by every example of a module, and its baseline alias table."""

    def __init__(self, path: Path) -> None:
        self.settings = Settings(data_dir=path, cache_dir=path / "cache", service="off")
        self.ws = Workspace(self.settings).open()
        am, client = self.ws.aliases, self.ws.client
        self.phys_a = new_project(am, PROJECT_A)
        self.phys_b = new_project(am, PROJECT_B)
        upsert_random(client, PROJECT_A, 7, seed=1)
        store.call(client, "create legacy", lambda: client.create_collection(
            LEGACY, vectors_config=schema.vectors_config()))
        am.switch_sync([AliasChange(BASE_ALIAS, PROJECT_A)])
        self.baseline = store.live_aliases(client)
        self.collections = store.collection_names(client)

    def existing_names(self) -> list[str]:
        return sorted({*self.baseline, *self.collections})

    def check_and_reset(self) -> None:
        """The invariants, then back to the baseline so examples stay independent."""
        am, client = self.ws.aliases, self.ws.client
        live = store.live_aliases(client)
        registry = {a.alias_name: a.collection_name for a in am.list_aliases_sync()}
        assert registry == live, "registry and Qdrant disagree"
        assert self.ws.state.pending_changes() == []
        for name in live:
            validate_name(name)  # nothing invalid ever reached Qdrant
        assert integrity(self.settings) == "ok"
        extra = sorted(set(live) - set(self.baseline))
        changes = [AliasChange(name, None) for name in extra]
        changes += [AliasChange(name, target) for name, target in self.baseline.items()
                    if live.get(name) != target]
        if changes:
            am.switch_sync(changes, force=True, reason="reset")
        for physical in store.collection_names(client) - self.collections:
            assert is_opaque_physical_name(physical)  # only create_project_collection adds any
            with store.guarded(client, "drop a created collection"):
                client.delete_collection(physical)
        assert store.live_aliases(client) == self.baseline


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stage]:
    """The shared workspace (hypothesis runs many examples; opening one each would cost seconds)."""
    built = Stage(tmp_path_factory.mktemp("bad-input"))
    yield built
    built.ws.close()


# ------------------------------------------------------------------------------ names

_SPECIAL = ["", " ", "  lead", "trail ", ".", "..", "a/b", "a\\b", "a:b", "*", "a?", "<x>", "a|b",
            '"q"', "\x00", "a\x00b", "\t", "a\nb", "\x7f", "\x85", "\u2028", "\ud800", "a\udfffb",
            "\u200b", "é", "名前", "🙂", "x" * 255, "x" * 256, "é" * 255, "é" * 256,
            "_" * 300,
            "-", "wqm_0123456789abcdef"]
names = st.one_of(
    st.text(max_size=40),
    st.text(st.characters(min_codepoint=0, max_codepoint=0x9F), max_size=20),
    st.text(min_size=250, max_size=300),
    st.text(st.characters(codec="utf-8"), min_size=256, max_size=400),
    st.from_regex(r"[a-z_][a-z0-9_.-]{0,30}", fullmatch=True),
    st.sampled_from(_SPECIAL),
    st.just(PROJECT_A), st.just(PROJECT_B), st.just(LEGACY), st.just(BASE_ALIAS),
)
OPS = ("create", "create_force", "delete", "delete_force", "switch", "alias_switch_op",
       "create_project_collection")
steps = st.lists(st.tuples(st.sampled_from(OPS), names, names, st.booleans()),
                 min_size=1, max_size=4)


def _target(stage: Stage, name: str, data: Any) -> str:
    """Half the time a real target (so the alias name is what gets tested), else the raw name."""
    choice: str = data.draw(st.sampled_from([name, PROJECT_A, PROJECT_B, LEGACY, BASE_ALIAS,
                                             stage.phys_a]))
    return choice


def _run_step(stage: Stage, op: str, name: str, target: str, flag: bool) -> None:
    am = stage.ws.aliases
    if op in ("create", "create_force"):
        am.switch_sync([AliasChange(name, target)], force=op == "create_force")
    elif op in ("delete", "delete_force"):
        am.switch_sync([AliasChange(name, None)], force=op == "delete_force")
    elif op == "switch":
        am.switch_sync([AliasChange(name, target), AliasChange(target, None if flag else name)],
                       force=flag)
    elif op == "alias_switch_op":
        alias_switch(stage.ws, [{"alias": name, "target": target, "expected": None},
                                {"alias": target, "target": name}], force=flag)
    else:
        am.create_project_collection_sync(
            name, vectors_config=schema.vectors_config(),
            sparse_vectors_config=schema.sparse_vectors_config())


@PROPERTY
@given(steps=steps, data=st.data())
def test_random_names_never_reach_qdrant_invalid_nor_corrupt_the_registry(
    stage: Stage, steps: list[tuple[str, str, str, bool]], data: Any
) -> None:
    try:
        for op, name, other, flag in steps:
            target = _target(stage, other, data)
            try:
                _run_step(stage, op, name, target, flag)
                event(f"{op}: done")
            except REFUSALS as exc:
                event(f"{op}: {type(exc).__name__}")
            except WqmError as exc:  # StoreError, RegistryError: the rules let a bad name by
                raise AssertionError(f"{op}({name!r}, {target!r}) reached the store: "
                                     f"{type(exc).__name__}: {exc}") from None
            try:
                valid = validate_name(name) == name
            except InvalidName:
                valid = False
            if not valid:
                live = store.live_aliases(stage.ws.client)
                assert name not in live and name not in store.collection_names(stage.ws.client)
    finally:
        stage.check_and_reset()


@PROPERTY
@given(name=names)
def test_a_name_the_rules_accept_is_one_qdrant_accepts(stage: Stage, name: str) -> None:
    """The converse: every valid, unused name can be created and removed through Qdrant."""
    try:
        validate_name(name)
    except InvalidName:
        return
    if name in stage.existing_names():
        return
    am = stage.ws.aliases
    try:
        am.switch_sync([AliasChange(name, PROJECT_B)])
        assert store.live_aliases(stage.ws.client)[name] == stage.phys_b
        assert am.resolve_sync(name) == stage.phys_b
        am.switch_sync([AliasChange(name, None)])
    finally:
        stage.check_and_reset()


# ------------------------------------------------------------------------- remote URLs

#: Alphabet of every part of a URL but its credentials: no k, no u, so no "tok", no "usr".
_PLAIN = "abcdefghijlmnopqrstvwxyzABCDEFGHIJLMNOPQRSTVWXYZ0123456789"
_label = st.text(_PLAIN + "-", min_size=1, max_size=10)
_odd_text = st.text(st.characters(exclude_characters="kKuU\x00"), max_size=12)
hosts = st.one_of(
    st.lists(_label, min_size=1, max_size=3).map(".".join),
    st.sampled_from(["github.com", "GitHub.COM", "www.gitlab.example.org", "gitlab.example.org.",
                     "[::1]", "[fe80::1%25eth0]", "127.0.0.1", "xn--bcher-kva.example", ""]),
    _odd_text,
)
segments = st.one_of(_label, st.sampled_from([".", "..", "", "x.git", ".git", "a_b", "a.b", "a b",
                                               "é", "名前", "%2e%2e", "~x"]), _odd_text)
paths = st.lists(segments, min_size=0, max_size=4).map("/".join)
users = st.builds(lambda n: f"usr{n}", st.integers(0, 99999))
tokens = st.builds(lambda t: f"tok{t}",
                   st.text("ABCDEFGHIJ0123456789_-.~!$&'()*+,;=%@:", min_size=4, max_size=24))
userinfos = st.one_of(
    st.builds(lambda u, t: f"{u}:{t}@", users, tokens),
    st.builds(lambda t: f"{t}@", tokens),
    st.builds(lambda u: f"{u}@", users),
    st.builds(lambda u: f"{u}:@", users),
    st.builds(lambda t: f":{t}@", tokens),
    st.builds(lambda t: f"x-access-token:{t}@", tokens),
    st.builds(lambda t: f"oauth2:{t}@", tokens),
)
ports = st.one_of(st.just(""), st.integers(0, 99999).map(lambda p: f":{p}"),
                  st.sampled_from([":", ":abc", ":-1", ": 22"]))
schemes = st.sampled_from(["https", "http", "ssh", "git", "git+ssh", "ssh+git", "ftp", "ftps",
                           "HTTPS", "Ssh", "svn+ssh", "weird-scheme", "a.b+c", "file", "git-x"])
suffixes = st.one_of(st.just(""), st.sampled_from(["/", ".git", ".git/", "/.git"]),
                     st.builds(lambda t: f"?access_token={t}", tokens),
                     st.builds(lambda t: f"#{t}", tokens))


@st.composite
def remote_urls(draw: Any) -> tuple[str, bool]:
    """(url, whether its credentials are in a place git reads as credentials)."""
    form = draw(st.sampled_from(["scheme", "scheme", "scp", "transport", "local", "garbage"]))
    cred = draw(st.one_of(st.just(""), userinfos))
    host, port, path = draw(hosts), draw(ports), draw(paths)
    if form == "scheme":
        return f"{draw(schemes)}://{cred}{host}{port}/{path}{draw(suffixes)}", True
    if form == "scp":
        return f"{cred}{host}:{path}{draw(st.sampled_from(['', '/', '.git']))}", True
    if form == "transport":
        inner = f"{draw(schemes)}://{cred}{host}{port}/{path}"
        helper = draw(st.sampled_from(["ext", "git-remote-x", "persistent-https"]))
        return f"{helper}::{inner}", True
    if form == "local":
        prefix = draw(st.sampled_from(["/", "//", "C:\\", "c:/", "\\\\server\\", "./", "../", ""]))
        return prefix + path.replace("/", draw(st.sampled_from(["/", "\\"]))), False
    return draw(st.text(max_size=60)), False


def _assert_no_credential(text: str, where: str) -> None:
    low = text.lower()
    assert "tok" not in low and "usr" not in low, f"credential in the {where}: {text!r}"


@PROPERTY
@given(case=remote_urls())
def test_random_remote_urls_give_a_safe_valid_name_or_a_clear_error(
    case: tuple[str, bool],
) -> None:
    url, has_credentials = case
    try:
        canonical = canonicalize_remote(url)
    except InvalidRemoteURL as exc:
        message = str(exc)
        assert message.startswith("Remote URL ") and message.endswith(".")
        _assert_no_credential(message, "error message")
        return
    name = remote_collection_name(canonical)
    assert COLLECTION_NAME.match(name) and name.startswith("_"), name
    validate_name(name)
    if has_credentials:
        _assert_no_credential(canonical, "canonical form")
        _assert_no_credential(name, "collection name")
        _assert_no_credential(sanitize_remote_url(url), "display form")


@pytest.fixture(scope="module")
def git_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real repository whose ``origin`` URL each example sets."""
    return make_repo(tmp_path_factory.mktemp("url-repo") / "repo",
                     remote="https://github.com/placeholder/repo.git")


@settings(max_examples=GIT_EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(case=remote_urls())
def test_remote_urls_through_real_git_never_leak(git_repo: Path, case: tuple[str, bool]) -> None:
    url, has_credentials = case
    if not url.strip() or any(not c.isprintable() for c in url) or url.startswith("-"):
        return  # git itself refuses or rewrites these; the pure property covers them
    git(git_repo, "remote", "set-url", "origin", url)
    try:
        ident = detect_identity(git_repo)
    except InvalidRemoteURL as exc:
        _assert_no_credential(str(exc), "error message")
        return
    assert COLLECTION_NAME.match(ident.current_name), ident.current_name
    if has_credentials:
        for field in (ident.current_name, ident.canonical_remote or "",
                      ident.remote_url_display or ""):
            _assert_no_credential(field, "identity")
    assert ident.path_name.startswith("_path_") and COLLECTION_NAME.match(ident.path_name)


@pytest.mark.parametrize("changes", [
    [], "x", [["a", "b"]], [{"alias": "a"}], [{"target": "b"}], [{"alias": 1, "target": None}],
    [{"alias": "a", "target": 2}], [{"alias": "a", "target": None, "expected": 3}],
    [{"alias": "a", "target": None, "extra": 1}],
])
def test_alias_switch_refuses_malformed_changes_before_anything_runs(
    stage: Stage, changes: Any
) -> None:
    with pytest.raises(InvalidArgument):
        alias_switch(stage.ws, changes)
    stage.check_and_reset()


def test_alias_switch_reports_what_it_applied(stage: Stage) -> None:
    try:
        made = alias_switch(stage.ws, [{"alias": "op_alias", "target": PROJECT_B,
                                        "expected": None}])
        assert made["status"] == "applied"
        assert made["operations"] == [{"alias": "op_alias", "before": None,
                                       "after": stage.phys_b}]
        again = alias_switch(stage.ws, [{"alias": "op_alias", "target": PROJECT_B}])
        assert again == {"status": "nothing_to_do", "change_id": None, "operations": []}
        moved = alias_switch(stage.ws, [{"alias": "op_alias", "target": PROJECT_A,
                                         "expected": stage.phys_b}])
        assert moved["operations"][0]["before"] == stage.phys_b
        gone = alias_switch(stage.ws, [{"alias": "op_alias", "target": None}])
        assert gone["operations"] == [{"alias": "op_alias", "before": stage.phys_a,
                                       "after": None}]
    finally:
        stage.check_and_reset()
