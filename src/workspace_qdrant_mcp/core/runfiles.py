"""Where the workspace service's socket, locks, pid file and log live (owner-only), and who holds them.

Everything sits in ``<data dir>/run`` (mode 0700). Unix socket paths are limited
to about 107 bytes, so when that folder's path is too long the socket moves to
``/tmp/wqm-<uid>/<hash of the data dir>.sock`` (also a 0700 folder we own).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import Settings
from .errors import ServiceError

MAX_SOCKET_PATH = 100


def unwritable(path: Path, exc: OSError) -> ServiceError:
    """The one sentence for a run file or folder wqm cannot create or write."""
    if exc.errno == errno.EISDIR:  # permissions or space would be the wrong advice
        return ServiceError(f"{path} is a folder where wqm keeps a file; move it away and retry.")
    reason = exc.strerror or type(exc).__name__
    return ServiceError(
        f"Cannot write {path} ({reason}); wqm needs a writable data directory: fix its "
        "permissions or free space, or set WQM_DATA_DIR to another folder."
    )


def file_in_the_way(path: Path) -> Path | None:
    """The first of ``path`` and its parents that exists but is not a folder, else None."""
    return next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` with mode 0700, or check that an existing one is ours and private."""
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        # mkdir reports a file in the way as EEXIST or ENOTDIR: name the file, not the errno.
        blocker = file_in_the_way(path)
        if blocker is not None:
            raise ServiceError(
                f"{blocker} is a file where wqm keeps a folder; move it away and retry."
            ) from None
        raise unwritable(path, exc) from None
    info = path.stat()
    if info.st_uid != os.getuid():
        raise ServiceError(
            f"{path} belongs to another user; set WQM_DATA_DIR to a folder of your own."
        )
    if stat.S_IMODE(info.st_mode) != 0o700:
        try:
            os.chmod(path, 0o700)
        except OSError as exc:
            raise unwritable(path, exc) from None
    return path


@dataclass(frozen=True)
class ServicePaths:
    """The files of one data directory's service."""

    run_dir: Path
    socket: Path
    pid_file: Path
    start_lock: Path
    log_file: Path
    start_error: Path

    @classmethod
    def for_settings(cls, settings: Settings) -> ServicePaths:
        """Paths for ``settings.data_dir`` (folders are created by ``prepare``)."""
        run_dir = settings.run_dir
        socket = run_dir / "service.sock"
        if len(str(socket)) > MAX_SOCKET_PATH:
            digest = hashlib.sha256(str(settings.data_dir.resolve()).encode()).hexdigest()[:16]
            socket = Path("/tmp") / f"wqm-{os.getuid()}" / f"{digest}.sock"
        return cls(
            run_dir=run_dir,
            socket=socket,
            pid_file=run_dir / "service.pid",
            start_lock=run_dir / "start.lock",
            log_file=run_dir / "service.log",
            start_error=run_dir / "start-error.txt",
        )

    def prepare(self) -> ServicePaths:
        """Create the private folders."""
        ensure_private_dir(self.run_dir)
        ensure_private_dir(self.socket.parent)
        return self

    def clear_socket(self) -> None:
        """Remove a socket left by a dead service; refuse to remove anything that is not one."""
        try:
            mode = os.lstat(self.socket).st_mode
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(mode):
            kind = "folder" if stat.S_ISDIR(mode) else "file"
            raise ServiceError(
                f"{self.socket} is a {kind}, not the service's socket; move it away and retry."
            )
        try:
            self.socket.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise unwritable(self.socket, exc) from None


def read_pid_info(paths: ServicePaths) -> dict[str, Any] | None:
    """The running service's pid file contents, or None when no service holds it."""
    try:
        fd = os.open(paths.pid_file, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            with contextlib.suppress(ValueError, OSError):
                data = json.loads(os.pread(fd, 65536, 0).decode() or "{}")
                return data if isinstance(data, dict) else {}
            return {}
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None  # nobody holds the lock: no live service
    finally:
        os.close(fd)
