"""Helpers of the reliability suite: real repositories, store snapshots, child processes.

Everything is real: git repositories made with the ``git`` executable, the
embedded Qdrant store and the SQLite registry opened in-process only while no
other process holds them, and children that are real ``wqm`` executables or
Python interpreters.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _alias_support import change_count, event_count
from _project_support import opened
from conftest import git
from workspace_qdrant_mcp.config import Settings
from workspace_qdrant_mcp.core import store

WQM = str(Path(sys.executable).with_name("wqm"))


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any ``WQM_*``/``QDRANT_*``, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WQM_", "QDRANT_"))}
    env.update(extra)
    return env


def make_repo(root: Path, remote: str | None = None, files: dict[str, str] | None = None) -> Path:
    """A real git repository with one commit (and ``origin`` when ``remote`` is given)."""
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    for rel, text in (files or {"README.md": "# reliability\n"}).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    if remote:
        git(root, "remote", "add", "origin", remote)
    return root


def world(settings: Settings) -> dict[str, Any]:
    """Both stores as they are now: alias tables, collections, exact point counts, log sizes."""
    with opened(settings) as ws:
        collections = store.collection_names(ws.client)
        return {
            "qdrant": store.live_aliases(ws.client),
            "registry": {a.alias_name: a.collection_name for a in ws.aliases.list_aliases_sync()},
            "collections": collections,
            "counts": {c: ws.client.count(c, exact=True).count for c in collections},
            "events": event_count(ws.aliases),
            "changes": change_count(ws.aliases),
            "pending": len(ws.state.pending_changes()),
        }


def integrity(settings: Settings) -> str:
    """``PRAGMA integrity_check`` of the registry, read through a separate connection."""
    import sqlite3

    with sqlite3.connect(str(settings.registry_path)) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


@dataclass
class Child:
    """A command to run as a separate process, and how it ended."""

    argv: Sequence[str]
    env: dict[str, str]
    cwd: Path | None = None
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0
    tags: dict[str, Any] = field(default_factory=dict)


def run_children(children: Sequence[Child], parallel: int = 2, timeout: float = 180) -> None:
    """Run independent children, ``parallel`` at a time (2 cores, shared: stay modest)."""
    waiting = list(children)
    running: list[tuple[Child, subprocess.Popen[str], float]] = []
    while waiting or running:
        while waiting and len(running) < parallel:
            child = waiting.pop(0)
            proc = subprocess.Popen(
                list(child.argv), env=child.env, cwd=child.cwd, text=True,
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )
            running.append((child, proc, time.monotonic()))
        child, proc, began = running.pop(0)
        child.stdout, child.stderr = proc.communicate(timeout=timeout)
        child.returncode = proc.returncode
        child.seconds = time.monotonic() - began
