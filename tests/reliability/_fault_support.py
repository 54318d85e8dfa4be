"""Helpers of the issue-10 regression tests: a data directory driven by the real ``wqm``.

Everything goes through real parts: the ``wqm`` executable of this
environment (a subprocess per command), the workspace service it starts on
demand (``WQM_SERVICE=auto``: the default mode, where most of issue 10 was
found), real git repositories, and the service's own files. The helpers read
the service's pid from its pid file rather than through the library, so the
same tests also run against an older checkout of the package (which is how
each test was seen to fail before its fix).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conftest import git

BIN = Path(sys.executable).parent
WQM = str(BIN / "wqm")
MCP_SERVER = str(BIN / "workspace-qdrant-mcp")
#: What a leaked Python exception looks like on a terminal.
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^\w+(Error|Exception): ", re.M)


@dataclass
class Wqm:
    """One data directory and the environment every ``wqm`` run against it gets."""

    data_dir: Path
    env: dict[str, str]
    runs: list[subprocess.CompletedProcess[str]] = field(default_factory=list)

    def run(self, *args: str, cwd: Path | None = None, timeout: float = 240,
            input: str | None = None, env: dict[str, str] | None = None,
            ) -> subprocess.CompletedProcess[str]:
        """Run ``wqm ARGS`` (stdin closed unless ``input``); every run is kept for later scans."""
        done = subprocess.run(
            [WQM, *args], cwd=cwd, env={**self.env, **(env or {})}, text=True,
            input=input, stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True, timeout=timeout, check=False,
        )
        self.runs.append(done)
        return done

    def ok(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        """``run`` that must exit 0."""
        done = self.run(*args, **kwargs)
        assert done.returncode == 0, f"wqm {' '.join(args)} exited {done.returncode}:\n" \
                                     f"{done.stdout}\n{done.stderr}"
        return done

    def json(self, *args: str, **kwargs: Any) -> Any:
        """``ok`` with ``--format json``, parsed."""
        return json.loads(self.ok(*args, "--format", "json", **kwargs).stdout)

    @property
    def run_dir(self) -> Path:
        """The service's run folder."""
        return self.data_dir / "run"

    def service_pid(self) -> int | None:
        """The pid of the service holding this data directory's pid file, else None."""
        try:
            info = json.loads((self.run_dir / "service.pid").read_text() or "{}")
        except (OSError, ValueError):
            return None
        pid = int(info.get("pid") or 0)
        return pid if pid and alive(pid) else None

    def kill_service(self) -> None:
        """SIGKILL the service if one runs (after SIGCONT, in case a test stopped it)."""
        pid = self.service_pid()
        if pid is None:
            return
        for sig in (signal.SIGCONT, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        wait_until(lambda: not alive(pid), 20, "the service to die")

    def log(self) -> str:
        """The service log (empty when none was written)."""
        path = self.run_dir / "service.log"
        return path.read_text(errors="replace") if path.exists() else ""


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_until(check: Any, seconds: float, what: str, step: float = 0.05) -> None:
    """Poll ``check()`` until it is true; fail the test naming ``what`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}")
        time.sleep(step)


def make_wqm(root: Path, service: bool = True, **extra: str) -> Wqm:
    """A fresh data directory under ``root`` (the service on by default)."""
    data_dir = root / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "WQM_DATA_DIR": str(data_dir),
           "WQM_SERVICE": "auto" if service else "off", **extra}
    env.pop("WQM_FAULT_POINT", None)
    return Wqm(data_dir, env)


@contextlib.contextmanager
def wqm_world(root: Path, service: bool = True, **extra: str) -> Iterator[Wqm]:
    """``make_wqm``, with whatever service it started killed at the end."""
    world = make_wqm(root, service, **extra)
    try:
        yield world
    finally:
        world.kill_service()


def repo(root: Path, files: dict[str, str | bytes] | None = None,
         remote: str | None = None) -> Path:
    """A real git repository with one commit of ``files`` (and ``origin`` when given)."""
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    for rel, content in (files or {"README.md": f"# {root.name}\n"}).items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", f"initial {root.name}")
    if remote:
        git(root, "remote", "add", "origin", remote)
    return root


def error_line(done: subprocess.CompletedProcess[str], code: int = 1) -> str:
    """The one ``Error:`` sentence of a failed command (no traceback anywhere); returns it."""
    output = done.stdout + done.stderr
    assert done.returncode == code, f"exit {done.returncode}, expected {code}:\n{output}"
    assert not TRACEBACK.search(output), f"a traceback or raw exception reached the user:\n{output}"
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, f"expected one 'Error:' line:\n{done.stderr}"
    return errors[0][len("Error:"):].strip()


def no_traceback(text: str, where: str) -> None:
    """No Python traceback or raw exception line in ``text``."""
    assert not TRACEBACK.search(text), f"a traceback or raw exception in {where}:\n{text}"


def start_service(world: Wqm, **extra: str) -> subprocess.Popen[bytes]:
    """Start the workspace service ourselves (e.g. with ``WQM_FAULT_POINT``), as a client would.

    The client strips ``WQM_FAULT_POINT`` from services it starts, so a test
    that wants a service armed with one must start it like this. Returns once
    its socket answers (the next ``wqm`` command then uses this service).
    """
    world.run_dir.mkdir(mode=0o700, exist_ok=True)
    log = (world.run_dir / "service.log").open("ab")
    env = {**world.env, **extra}
    child = subprocess.Popen([sys.executable, "-m", "workspace_qdrant_mcp.service"],
                             env=env, cwd="/", stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                             start_new_session=True)
    log.close()
    wait_until(lambda: world.service_pid() == child.pid or child.poll() is not None, 120,
               "the service to take its pid lock")
    assert child.poll() is None, f"the service exited {child.returncode}:\n{world.log()}"
    done = world.ok("service", "status", "--format", "json")
    assert json.loads(done.stdout)["pid"] == child.pid
    return child


class RawClient:
    """A connection to the service speaking its wire protocol directly (4-byte length + JSON).

    No client library: the requests go out exactly when the test says (several
    connections can fire at one barrier), and the same code talks to any
    version of the service.
    """

    def __init__(self, world: Wqm, timeout: float = 240) -> None:
        info = json.loads((world.run_dir / "service.pid").read_text())
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(info["socket"]))
        self.ids = 0

    def send(self, op: str, **params: Any) -> None:
        """Send one request."""
        self.ids += 1
        body = json.dumps({"v": 1, "id": self.ids, "op": op, "params": params}).encode()
        self.sock.sendall(struct.pack(">I", len(body)) + body)

    def reply(self) -> tuple[str, Any]:
        """The next final reply (progress frames skipped): ("result", value) or ("error", {..})."""
        while True:
            (length,) = struct.unpack(">I", self._exactly(4))
            frame = json.loads(self._exactly(length))
            if frame.get("type") == "progress":
                continue
            kind = str(frame.get("type"))
            return kind, frame.get("result" if kind == "result" else "error")

    def call(self, op: str, **params: Any) -> tuple[str, Any]:
        """``send`` then ``reply``."""
        self.send(op, **params)
        return self.reply()

    def _exactly(self, size: int) -> bytes:
        data = bytearray()
        while len(data) < size:
            part = self.sock.recv(size - len(data))
            if not part:
                raise ConnectionResetError("the service closed the connection")
            data.extend(part)
        return bytes(data)

    def close(self) -> None:
        """Close the connection."""
        self.sock.close()


def reap(child: subprocess.Popen[bytes], seconds: float = 60) -> int:
    """Wait for a service we started to end; returns its exit status (negative: a signal)."""
    return child.wait(timeout=seconds)


def mount_tmpfs(where: Path, size: str, read_only: bool = False) -> None:
    """Mount a small tmpfs at ``where`` (we run as root here); skip the test if refused."""
    where.mkdir(parents=True, exist_ok=True)
    options = f"size={size},mode=0700" + (",ro" if read_only else "")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or done.returncode}); "
                    "this test needs root and a kernel that allows it")


def umount(where: Path) -> None:
    """Unmount ``where`` (lazily: a killed process may still hold a file there)."""
    subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)


def fill(where: Path, leave_bytes: int = 0) -> Path:
    """Fill the filesystem of ``where`` until at most ``leave_bytes`` are free; returns the file."""
    ballast = where / "ballast.bin"
    chunk = b"\0" * (64 * 1024)
    with ballast.open("wb") as out:
        while True:
            free = os.statvfs(where).f_bavail * os.statvfs(where).f_frsize
            if free <= leave_bytes:
                break
            try:
                out.write(chunk[: max(1, min(len(chunk), free - leave_bytes))])
                out.flush()
            except OSError:
                break
    return ballast
