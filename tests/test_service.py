"""The workspace service: started on demand, one per data dir, private, robust to bad peers.

Every test runs a real service process (``python -m workspace_qdrant_mcp.service``)
on a temp data dir and talks to it over its real Unix socket.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from workspace_qdrant_mcp.backends.protocol import MAX_FRAME_BYTES, encode, read_frame_sync
from workspace_qdrant_mcp.backends.service import ServiceBackend, stop_service
from workspace_qdrant_mcp.config import Settings
from workspace_qdrant_mcp.core.runfiles import ServicePaths, read_pid_info


@pytest.fixture
def svc_settings(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings with the service on; the service is stopped at teardown."""
    monkeypatch.setenv("WQM_SERVICE", "auto")
    settings = Settings.from_env()
    yield settings
    stop_service(settings)


def _pid(settings: Settings) -> int:
    info = read_pid_info(ServicePaths.for_settings(settings))
    assert info is not None, "no service is running"
    return int(info["pid"])


def test_started_on_demand_with_private_files(svc_settings: Settings) -> None:
    backend = ServiceBackend(svc_settings)
    assert backend.call("ping")["ok"] is True
    paths = ServicePaths.for_settings(svc_settings)
    assert stat.S_IMODE(paths.run_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(paths.socket.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(paths.socket.stat().st_mode) == 0o600
    assert stat.S_ISSOCK(paths.socket.stat().st_mode)
    assert stat.S_IMODE(paths.log_file.stat().st_mode) == 0o600
    assert _pid(svc_settings) != os.getpid()
    backend.close()


def test_concurrent_starts_make_one_service(svc_settings: Settings) -> None:
    script = (
        "from workspace_qdrant_mcp.config import Settings\n"
        "from workspace_qdrant_mcp.backends.service import ServiceBackend\n"
        "b = ServiceBackend(Settings.from_env()); print(b.call('hello')['pid'])\n"
    )
    children = [
        subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    pids = {child.communicate(timeout=120)[0].strip() for child in children}
    assert all(child.returncode == 0 for child in children)
    assert len(pids) == 1
    assert pids == {str(_pid(svc_settings))}


def test_stale_socket_is_replaced(svc_settings: Settings) -> None:
    paths = ServicePaths.for_settings(svc_settings).prepare()
    # A socket file whose server is gone: bound, then closed without unlinking.
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(paths.socket))
    dead.close()
    assert paths.socket.exists()
    assert ServiceBackend(svc_settings).call("ping")["ok"] is True


def test_killed_service_is_reported_then_restarted(svc_settings: Settings) -> None:
    backend = ServiceBackend(svc_settings)
    backend.call("ping")
    first = _pid(svc_settings)
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while read_pid_info(ServicePaths.for_settings(svc_settings)) is not None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # The next call finds the dead socket, starts a new service and succeeds.
    assert backend.call("ping")["ok"] is True
    assert _pid(svc_settings) != first


def _raw(paths: ServicePaths) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(30)
    sock.connect(str(paths.socket))
    return sock


def test_malformed_request_gets_error_and_connection_survives(svc_settings: Settings) -> None:
    ServiceBackend(svc_settings).call("ping")
    paths = ServicePaths.for_settings(svc_settings)
    with _raw(paths) as sock:
        body = b"{not json"
        sock.sendall(struct.pack(">I", len(body)) + body)
        reply = read_frame_sync(sock)
        assert reply["type"] == "error" and "Malformed" in reply["error"]["message"]
        sock.sendall(encode({"v": 1, "id": 7, "op": "no_such_op", "params": {}}))
        reply = read_frame_sync(sock)
        assert reply["error"]["class"] == "InvalidArgument"
        sock.sendall(encode({"v": 99, "id": 8, "op": "ping", "params": {}}))
        assert read_frame_sync(sock)["type"] == "error"
        sock.sendall(encode({"v": 1, "id": 9, "op": "ping", "params": {}}))
        reply = read_frame_sync(sock)
        assert reply == {"id": 9, "type": "result", "result": reply["result"]}
        assert reply["result"]["ok"] is True


def test_oversized_request_is_refused_and_others_are_served(svc_settings: Settings) -> None:
    backend = ServiceBackend(svc_settings)
    backend.call("ping")
    paths = ServicePaths.for_settings(svc_settings)
    with _raw(paths) as sock:
        sock.sendall(struct.pack(">I", MAX_FRAME_BYTES + 1))
        reply = read_frame_sync(sock)
        assert reply["type"] == "error" and "exceeds" in reply["error"]["message"]
    assert backend.call("ping")["ok"] is True


def test_other_user_cannot_connect(svc_settings: Settings) -> None:
    if os.getuid() != 0:
        pytest.skip("needs root to act as another user")
    python = shutil.which("python3", path="/usr/bin:/bin")
    if python is None:
        pytest.skip("needs a system python3 that another user can run")
    ServiceBackend(svc_settings).call("ping")
    paths = ServicePaths.for_settings(svc_settings)
    probe = (
        "import socket, sys\n"
        "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
        "try:\n    s.connect(sys.argv[1])\nexcept PermissionError:\n    print('denied')\n"
        "else:\n    print('connected')\n"
    )
    result = subprocess.run(
        [python, "-c", probe, str(paths.socket)], capture_output=True, text=True,
        user=65534, group=65534, extra_groups=[], cwd="/", timeout=30, check=False,
    )
    assert result.stdout.strip() == "denied", result.stderr


def test_service_listens_on_no_network_address(svc_settings: Settings) -> None:
    ServiceBackend(svc_settings).call("ping")
    pid = _pid(svc_settings)
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd)
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    assert inodes, "the service should hold at least its listening socket"
    for table in ("tcp", "tcp6", "udp", "udp6"):
        lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        for line in lines:
            assert line.split()[9] not in inodes, f"service has an inet socket in {table}"


def test_stops_when_idle(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WQM_SERVICE", "auto")
    monkeypatch.setenv("WQM_SERVICE_IDLE", "1")
    settings = Settings.from_env()
    ServiceBackend(settings).call("ping")
    paths = ServicePaths.for_settings(settings)
    deadline = time.monotonic() + 15
    while read_pid_info(paths) is not None:
        assert time.monotonic() < deadline, "service did not stop when idle"
        time.sleep(0.1)
    assert not paths.socket.exists()


def test_outdated_service_is_replaced(svc_settings: Settings) -> None:
    """A service running older code is asked to stop and a current one starts.

    ``expected_fingerprint``/``code_loaded_at`` stand for a client whose code changed
    after the service started (what an upgrade or an edited install produces).
    """
    backend = ServiceBackend(svc_settings)
    backend.call("ping")
    first = _pid(svc_settings)
    paths = ServicePaths.for_settings(svc_settings)
    with _raw(paths) as sock:
        sock.sendall(encode({"v": 1, "id": 1, "op": "hello", "params": {}}))
        assert read_frame_sync(sock)["result"]["pid"] == first
    # A client built from other code expects another fingerprint: it stops the old service.
    newer_client = ServiceBackend(svc_settings, expected_fingerprint="0" * 16,
                                  code_loaded_at=time.time())
    assert newer_client._try_connect() is None
    assert read_pid_info(paths) is None
    assert ServiceBackend(svc_settings).call("ping")["ok"] is True
    assert _pid(svc_settings) != first


def test_service_log_is_plain_and_private(svc_settings: Settings) -> None:
    ServiceBackend(svc_settings).call("ping")
    log = ServicePaths.for_settings(svc_settings).log_file.read_text()
    assert "serving" in log
    assert json.loads(ServicePaths.for_settings(svc_settings).pid_file.read_text())["pid"]


def test_the_service_gets_the_callers_settings_not_only_its_environment(tmp_path: Path) -> None:
    """A library caller's Settings reach the service it starts (the service reads them back)."""
    from workspace_qdrant_mcp.backends.service import _service_env

    chosen = Settings(data_dir=tmp_path / "d", cache_dir=tmp_path / "c", watch=False,
                      auto_index=False, auto_reindex=False, retention_days=3,
                      max_project_files=123, max_project_bytes=4567, embed_recipe="precise",
                      recipe_tag="t1", dashboard_read_only=True, auto_migrate=False)
    served = Settings.from_env(_service_env(chosen))
    for name in ("data_dir", "cache_dir", "watch", "auto_index", "auto_reindex",
                 "retention_days", "max_project_files", "max_project_bytes", "embed_recipe",
                 "recipe_tag", "dashboard_read_only", "auto_migrate"):
        assert getattr(served, name) == getattr(chosen, name), name
