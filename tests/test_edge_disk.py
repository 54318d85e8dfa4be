"""Edge shards and the disk: an optimised copy keeps its holes; a nearly full disk refuses writes.

Real shards in tmp_path; the full disk is a real tmpfs mounted for the test
(root only, else skipped), since an Edge write through a map to a disk with no
free block is a SIGBUS that would kill the process running it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from qdrant_client import models as qm

from reliability._fault_support import mount_tmpfs, umount
from workspace_qdrant_mcp.core.edge import EdgeClient, OptimizePolicy
from workspace_qdrant_mcp.core.edge.disk import MIN_FREE_BYTES, copy_tree, used_bytes
from workspace_qdrant_mcp.core.errors import StoreError

DIM = 8


def _fill(client: EdgeClient, name: str, count: int) -> None:
    client.create_collection(
        name, vectors_config={"dense": qm.VectorParams(size=DIM, distance=qm.Distance.COSINE)})
    client.upsert(name, points=[
        qm.PointStruct(id=i, vector={"dense": [((i * 7 + d) % 11) / 10 + 0.01
                                               for d in range(DIM)]}, payload={"n": i})
        for i in range(count)])


def test_an_optimised_shard_takes_the_disk_its_data_takes(tmp_path: Path) -> None:
    client = EdgeClient(tmp_path / "edge", optimize=OptimizePolicy(enabled=False))
    try:
        _fill(client, "c", 200)
        shard = client.collection_path("c")
        assert shard is not None
        before = used_bytes(shard)
        assert client.optimize_collection("c") is True
        after_path = client.collection_path("c")
        assert after_path is not None and after_path != shard
        # A plain copy wrote the maps' zeros out: 0.2 MB became 131 MB.
        assert used_bytes(after_path) < before + 8 * 1024 * 1024
        assert client.count("c").count == 200
    finally:
        client.close()


def test_copy_tree_keeps_content_and_holes(tmp_path: Path) -> None:
    source = tmp_path / "a"
    (source / "sub").mkdir(parents=True)
    sparse = source / "sub" / "map.dat"
    with sparse.open("wb") as handle:
        handle.write(b"head")
        handle.seek(64 * 1024 * 1024)
        handle.write(b"tail")
    (source / "plain.txt").write_text("hello")
    copy_tree(source, tmp_path / "b")
    copied = tmp_path / "b" / "sub" / "map.dat"
    assert copied.stat().st_size == sparse.stat().st_size
    with copied.open("rb") as handle:
        assert handle.read(4) == b"head"
        handle.seek(64 * 1024 * 1024)
        assert handle.read(4) == b"tail"
    assert copied.stat().st_blocks * 512 < 4 * 1024 * 1024
    assert (tmp_path / "b" / "plain.txt").read_text() == "hello"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 48 MB tmpfs (under the free space an Edge store keeps): root only, else skipped."""
    mount = tmp_path / "disk"
    mount_tmpfs(mount, "48m")  # skips the test where a tmpfs cannot be mounted
    try:
        yield mount
    finally:
        umount(mount)


def test_a_nearly_full_disk_refuses_writes_in_one_sentence_and_reads_go_on(
    small_disk: Path,
) -> None:
    assert 48 * 1024 * 1024 < MIN_FREE_BYTES
    client = EdgeClient(small_disk / "edge", optimize=OptimizePolicy(enabled=False))
    try:
        client.create_collection(
            "c", vectors_config={"dense": qm.VectorParams(size=DIM, distance=qm.Distance.COSINE)})
        with pytest.raises(StoreError) as refused:
            client.upsert("c", points=[qm.PointStruct(id=1, vector={"dense": [0.5] * DIM})])
        message = str(refused.value)
        assert message.startswith(f"The disk holding {small_disk / 'edge'} has ")
        assert message.endswith("free some space and retry.") and "\n" not in message
        assert client.count("c").count == 0  # nothing half-written; reads still answer
    finally:
        client.close()
