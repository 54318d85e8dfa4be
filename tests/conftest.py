"""Shared fixtures: a clean environment, a real data directory, real git repositories.

Nothing here is mocked: each test gets its own data directory (real SQLite
registry, real embedded Qdrant store) and real ``git`` repositories in tmp_path.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from workspace_qdrant_mcp.config import Settings

GIT_ENV = {
    "GIT_AUTHOR_NAME": "wqm tests",
    "GIT_AUTHOR_EMAIL": "tests@example.invalid",
    "GIT_COMMITTER_NAME": "wqm tests",
    "GIT_COMMITTER_EMAIL": "tests@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_TERMINAL_PROMPT": "0",
}


#: The embedded engine the whole suite runs on (``WQM_ENGINE=local pytest ...``); kept by
#: clean_environ. Unset: a new data directory gets wqm's default engine (edge), and the
#: modules marked ``usefixtures("engine")`` run on both engines.
ENGINE = os.environ.get("WQM_ENGINE", "")
#: The engines an engine-parametrized test runs on.
ENGINES = [ENGINE] if ENGINE else ["edge", "local"]


@pytest.fixture(scope="session")
def model_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache (ONNX export of the model) for the whole session: exporting costs seconds."""
    return tmp_path_factory.mktemp("wqm-cache")


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, model_cache_dir: Path) -> None:
    """Remove every WQM_* and QDRANT_* variable so no test sees the developer's setup."""
    for name in list(os.environ):
        if name.startswith(("WQM_", "QDRANT_")):
            monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("HOME", str(home))  # no user git config leaks in
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("WQM_CACHE_DIR", str(model_cache_dir))
    # Watching is a background behaviour with its own tests (tests/test_keep_current.py);
    # elsewhere a service catching up with seeded, synthetic points would rewrite them.
    monkeypatch.setenv("WQM_WATCH", "0")
    if ENGINE:
        monkeypatch.setenv("WQM_ENGINE", ENGINE)
    monkeypatch.setenv("FASTMCP_SHOW_SERVER_BANNER", "false")
    monkeypatch.setenv("FASTMCP_CHECK_FOR_UPDATES", "off")


@pytest.fixture(scope="module", params=ENGINES)
def module_engine(request: pytest.FixtureRequest) -> str:
    """Each embedded engine in turn, for a module's shared (module-scoped) fixtures.

    Module-scoped fixtures pass it to ``Settings(engine=...)``; tests get it
    through ``engine``, so one module's tests and fixtures share one engine.
    """
    return str(request.param)


@pytest.fixture
def engine(module_engine: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test on each embedded engine (``pytestmark = pytest.mark.usefixtures("engine")``).

    Sets ``WQM_ENGINE``, so the test's settings, its in-process workspaces and
    the ``wqm`` subprocesses it runs all open a new data directory on that engine.
    """
    monkeypatch.setenv("WQM_ENGINE", module_engine)
    return module_engine


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh wqm data directory, also exported as WQM_DATA_DIR for subprocesses."""
    path = tmp_path / "wqm-data"
    path.mkdir()
    monkeypatch.setenv("WQM_DATA_DIR", str(path))
    monkeypatch.setenv("WQM_SERVICE", "off")
    return path


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    """Settings bound to the test's data directory (embedded store, in-process)."""
    return Settings.from_env()


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd`` and return its stdout (fails the test on error)."""
    result = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=False,
        env={**os.environ, **GIT_ENV},
    )
    if result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {result.stderr}")
    return result.stdout.strip()


@pytest.fixture
def make_repo(tmp_path: Path) -> Callable[..., Path]:
    """Factory: a real git repository with the given files committed."""

    def factory(
        name: str = "repo",
        files: dict[str, str | bytes] | None = None,
        remote: str | None = None,
    ) -> Path:
        root = tmp_path / name
        root.mkdir(parents=True)
        git(root, "init", "-q", "-b", "main")
        for rel, content in (files or {"README.md": "# demo\n"}).items():
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content)
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "initial")
        if remote:
            git(root, "remote", "add", "origin", remote)
        return root

    return factory


def run_wqm(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            input: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the real ``wqm`` executable of this environment in a subprocess."""
    exe = Path(sys.executable).with_name("wqm")
    return subprocess.run(
        [str(exe), *args], cwd=cwd, capture_output=True, text=True, input=input,
        timeout=timeout, env={**os.environ, **(env or {})}, check=False,
    )


@pytest.fixture
def wqm() -> Callable[..., subprocess.CompletedProcess[str]]:
    """The ``run_wqm`` helper as a fixture."""
    return run_wqm


@pytest.fixture
def open_workspace(settings: Settings) -> Iterator[Callable[[], object]]:
    """Factory for an opened in-process Workspace on the test data dir, closed at teardown."""
    from workspace_qdrant_mcp.workspace.workspace import Workspace

    opened: list[Workspace] = []

    def factory() -> Workspace:
        ws = Workspace(settings).open()
        opened.append(ws)
        return ws

    yield factory
    for ws in opened:
        ws.close()
