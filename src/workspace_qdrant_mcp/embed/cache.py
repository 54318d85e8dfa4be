"""Derived model files (built graphs, quantized graphs, static tables) with a stamp.

Each derived file ``<kind>-<key><suffix>`` has a stamp beside it,
``<file>.stamp.json``, recording what made it: the builder's format, the wqm
version, the sha256 of every input, and the size and sha256 of the file itself.
The key in the name is a hash of format and inputs, so a new model or a changed
builder simply uses another name. The stamp catches the rest before the file is
used: a file written by another wqm version, a truncated or altered file, a stamp
without its file. Any of these is rebuilt (under a cross-process lock, published
by an atomic rename: a concurrent reader sees the old file or the new one, whole).

Checking costs one read of the file (about 50 ms for 90 MB), memoised per file
version in the process.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..core.locks import exclusive
from .weights import file_sha256

__all__ = ["STAMP_SUFFIX", "Derived", "build_counts", "ensure_derived", "stamp_problem"]

log = logging.getLogger(__name__)

STAMP_SUFFIX = ".stamp.json"

#: Builds performed in this process, per kind: tests use it to tell reuse from rebuild.
_builds: Counter[str] = Counter()
_builds_lock = threading.Lock()


def build_counts() -> dict[str, int]:
    """How many derived files of each kind this process has built."""
    with _builds_lock:
        return dict(_builds)


@dataclass(frozen=True)
class Derived:
    """A derived file: what kind, which builder format, from which inputs."""

    kind: str
    fmt: str
    inputs: Mapping[str, str] = field(default_factory=dict)
    suffix: str = ".onnx"

    @property
    def key(self) -> str:
        """Hash of format and inputs: files with different origins never share a name."""
        digest = hashlib.sha256(f"{self.kind}\0{self.fmt}".encode())
        for name in sorted(self.inputs):
            digest.update(f"\0{name}={self.inputs[name]}".encode())
        return digest.hexdigest()[:16]

    def path(self, cache_dir: Path) -> Path:
        """Where this file lives in ``cache_dir``."""
        return cache_dir / f"{self.kind}-{self.key}{self.suffix}"


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + STAMP_SUFFIX)


def _expected_stamp(spec: Derived) -> dict[str, Any]:
    return {
        "kind": spec.kind,
        "format": spec.fmt,
        "wqm_version": __version__,
        "inputs": dict(sorted(spec.inputs.items())),
    }


def stamp_problem(path: Path, spec: Derived) -> str | None:
    """Why the file at ``path`` cannot be used for ``spec`` (None: it can)."""
    stamp_file = _stamp_path(path)
    if not path.is_file():
        return "missing"
    try:
        stamp = json.loads(stamp_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "no stamp"
    except (OSError, ValueError):
        return "unreadable stamp"
    if not isinstance(stamp, dict):
        return "unreadable stamp"
    for name, value in _expected_stamp(spec).items():
        if stamp.get(name) != value:
            return f"built with another {name.replace('_', ' ')} ({stamp.get(name)!r})"
    if stamp.get("size") != path.stat().st_size:
        return "truncated or altered (size)"
    if stamp.get("sha256") != file_sha256(path):
        return "altered (checksum)"
    return None


def _publish(tmp: Path, final: Path, spec: Derived) -> None:
    """fsync, stamp and rename ``tmp`` to ``final`` (file first, then its stamp)."""
    with tmp.open("rb+") as fh:
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o644)  # mkstemp makes 0600; a cache is readable like any other file
    stamp = {
        **_expected_stamp(spec),
        "size": tmp.stat().st_size,
        "sha256": file_sha256(tmp),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    stamp_tmp = tmp.with_name(tmp.name + ".stamp")
    stamp_tmp.write_text(json.dumps(stamp, indent=1) + "\n", encoding="utf-8")
    os.chmod(stamp_tmp, 0o644)
    os.replace(tmp, final)
    os.replace(stamp_tmp, _stamp_path(final))


def _build_into(cache_dir: Path, spec: Derived, build: Callable[[Path], None]) -> Path:
    final = spec.path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    with exclusive(cache_dir / ".locks" / f"{final.name}.lock"):
        problem = stamp_problem(final, spec)  # another process may have built it meanwhile
        if problem is None:
            return final
        if problem != "missing":
            log.warning("Rebuilding %s: %s.", final.name, problem)
        fd, name = tempfile.mkstemp(prefix=f".{spec.kind}-", suffix=".tmp", dir=cache_dir)
        os.close(fd)
        tmp = Path(name)
        try:
            started = time.perf_counter()
            build(tmp)
            _publish(tmp, final, spec)
            with _builds_lock:
                _builds[spec.kind] += 1
            log.info("Built %s in %.1f s", final.name, time.perf_counter() - started)
        finally:
            for leftover in (tmp, tmp.with_name(tmp.name + ".stamp")):
                with contextlib.suppress(OSError):
                    leftover.unlink()
    return final


def ensure_derived(
    cache_dir: Path | None, spec: Derived, build: Callable[[Path], None], *, scratch: Path
) -> Path:
    """The path of a valid derived file, building it with ``build(target)`` when needed.

    :param cache_dir: the model cache; None, or a cache that cannot be written,
        builds into ``scratch`` (the caller's temporary folder) for this process only.
    :param build: writes the file at the path it is given; may raise ModelError.
    """
    if cache_dir is not None:
        final = spec.path(cache_dir)
        if stamp_problem(final, spec) is None:
            return final
        try:
            return _build_into(cache_dir, spec, build)
        except OSError as exc:  # a read-only or full cache costs seconds, not the recipe
            log.warning("Model cache %s unusable (%s); building for this process.", cache_dir, exc)
    return _build_into(scratch, spec, build)
