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
import fcntl
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conftest import git

BIN = Path(sys.executable).parent
WQM = str(BIN / "wqm")
MCP_SERVER = str(BIN / "workspace-qdrant-mcp")
#: What a leaked Python exception looks like on a terminal.
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^\w+(Error|Exception): ", re.MULTILINE)


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


# -- a man in the middle ----------------------------------------------------------------------


class Proxy:
    """Stands where a data directory's service is expected and forwards to a real one.

    It holds the data directory's pid lock and binds its socket, so every client
    of that directory talks to it; each connection is relayed frame by frame to
    the real service of *another* data directory (the same code, so the
    handshake matches). For the first request whose op is in ``ops`` it does
    what ``mode`` says instead of relaying the reply:

    - ``oversize``: sends a header announcing 20 MiB and a few bytes of body,
    - ``garbage``: sends a well-sized frame that is not JSON,
    - ``mute``: sends nothing, ever, on that connection (a server that hangs).

    Everything else passes through untouched, so a client that resets its
    connection after a bad frame gets real answers on its next call.
    """

    def __init__(self, front: Wqm, back_socket: str, mode: str, ops: set[str]) -> None:
        self.front, self.back_socket, self.mode, self.ops = front, back_socket, mode, ops
        self.tampered = 0
        self._lock = threading.Lock()
        front.run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.socket_path = str(front.run_dir / "service.sock")
        assert len(self.socket_path) < 100, "keep the proxy's data directory path short"
        self._pid_fd = os.open(front.run_dir / "service.pid", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._pid_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        info = {"pid": os.getpid(), "socket": self.socket_path, "started_at": time.time()}
        os.ftruncate(self._pid_fd, 0)
        os.write(self._pid_fd, json.dumps(info).encode())
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.socket_path)
        self._server.bind(self.socket_path)
        self._server.listen(16)
        self._threads: list[threading.Thread] = []
        self._closed = False
        accept = threading.Thread(target=self._accept, daemon=True)
        accept.start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._relay, args=(client,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _relay(self, client: socket.socket) -> None:
        back = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        back.connect(self.back_socket)
        muted = False
        try:
            while True:
                request = _read_raw(client)
                if request is None:
                    return
                back.sendall(request)
                op = json.loads(request[4:]).get("op")
                with self._lock:
                    tamper = op in self.ops and self.tampered == 0
                    self.tampered += tamper
                while True:  # the reply: progress frames, then one final frame
                    frame = _read_raw(back)
                    if frame is None:
                        return
                    final = json.loads(frame[4:]).get("type") != "progress"
                    if tamper and final:
                        if self.mode == "oversize":
                            client.sendall(struct.pack(">I", 20 * 1024 * 1024) + b"{\"id\"")
                        elif self.mode == "garbage":
                            junk = b"\xff\xfe{not json"
                            client.sendall(struct.pack(">I", len(junk)) + junk)
                        else:
                            muted = True
                    elif not muted:
                        client.sendall(frame)
                    if final:
                        break
        except OSError:
            return
        finally:
            back.close()
            client.close()

    def close(self) -> None:
        """Stop serving and release the data directory."""
        self._closed = True
        self._server.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.socket_path)
        os.close(self._pid_fd)


def _read_raw(sock: socket.socket) -> bytes | None:
    """One whole frame (header included), or None at the end of the stream."""
    header = _recv(sock, 4)
    if header is None:
        return None
    (length,) = struct.unpack(">I", header)
    body = _recv(sock, length)
    return None if body is None else header + body


def _recv(sock: socket.socket, size: int) -> bytes | None:
    data = bytearray()
    while len(data) < size:
        part = sock.recv(size - len(data))
        if not part:
            return None
        data.extend(part)
    return bytes(data)


# -- an MCP client over stdio ------------------------------------------------------------------


@dataclass
class McpSession:
    """A live session with a ``workspace-qdrant-mcp`` subprocess."""

    session: Any
    stderr: Path

    async def call(self, tool: str, **arguments: Any) -> tuple[bool, str]:
        """Call ``tool``; returns (is_error, its one text block)."""
        result = await self.session.call_tool(tool, arguments)
        assert len(result.content) == 1 and result.content[0].type == "text", result
        return bool(result.is_error), str(result.content[0].text)

    async def ok(self, tool: str, **arguments: Any) -> str:
        """``call`` that must succeed."""
        failed, text = await self.call(tool, **arguments)
        assert not failed, f"{tool} failed: {text}"
        return text


@contextlib.asynccontextmanager
async def mcp_session(world: Wqm, project: Path, workdir: Path,
                      **extra: str) -> AsyncIterator[McpSession]:
    """Spawn the MCP server for ``project`` on ``world``'s data directory; one client session."""
    from mcp import ClientSession, StdioServerParameters, stdio_client

    env = {**world.env, "WQM_PROJECT_PATH": str(project), **extra}
    workdir.mkdir(parents=True, exist_ok=True)
    params = StdioServerParameters(command=MCP_SERVER, args=[], env=env, cwd=str(workdir))
    stderr = workdir / "mcp.stderr"
    with stderr.open("w") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write, read_timeout_seconds=300) as session,
        ):
            await session.initialize()
            yield McpSession(session, stderr)
