"""Where the service's socket, locks, pid file and log live, with owner-only permissions.

Everything sits in ``<data dir>/run`` (mode 0700). Unix socket paths are limited
to about 107 bytes, so when that folder's path is too long the socket moves to
``/tmp/wqm-<uid>/<hash of the data dir>.sock`` (also a 0700 folder we own).
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from ..config import Settings
from ..core.errors import ServiceError

MAX_SOCKET_PATH = 100


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` with mode 0700, or check that an existing one is ours and private."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    info = path.stat()
    if info.st_uid != os.getuid():
        raise ServiceError(
            f"{path} belongs to another user; set WQM_DATA_DIR to a folder of your own."
        )
    if stat.S_IMODE(info.st_mode) != 0o700:
        os.chmod(path, 0o700)
    return path


@dataclass(frozen=True)
class ServicePaths:
    """The files of one data directory's service."""

    run_dir: Path
    socket: Path
    pid_file: Path
    start_lock: Path
    log_file: Path

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
        )

    def prepare(self) -> ServicePaths:
        """Create the private folders."""
        ensure_private_dir(self.run_dir)
        ensure_private_dir(self.socket.parent)
        return self
