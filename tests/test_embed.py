"""The embedding layer against the real model: tokenization, BM25 vectors, dense vectors.

Dense vectors are checked against sentence-transformers itself (the reference the
model was published with) on varied texts, one longer than the 256-token window.
"""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from workspace_qdrant_mcp.core.errors import InvalidArgument, ModelError
from workspace_qdrant_mcp.embed import (
    DENSE_DIM,
    DenseEmbedder,
    SparseEmbedder,
    SparseVec,
    default_model_path,
    get_dense_embedder,
    token_index,
    tokenize,
)
from workspace_qdrant_mcp.embed import sparse as sparse_mod
from workspace_qdrant_mcp.embed.dense import _batches

LONG_TEXT = " ".join(
    f"Paragraph {i} explains how the registry keeps every alias of a project reachable "
    "while the physical collection never changes its name."
    for i in range(40)
)  # ~800 tokens: the model must truncate at 256 exactly as sentence-transformers does

TEXTS = [
    "How do I rename a project without re-indexing it?",
    "def get_user_name(self) -> str:\n    return self._user.name\n",
    "function getUserName(user) { return user.firstName + ' ' + user.lastName; }",
    "SELECT id, name FROM users WHERE created_at > now() - interval '1 day';",
    "# Installation\n\nRun `pip install wqm` and then `wqm init` in your project.",
    "The quick brown fox jumps over the lazy dog.",
    "Qdrant aliases route every logical name to one physical collection.",
    "Die Sammlung bleibt unter jedem früheren Namen erreichbar.",
    "向量数据库支持语义搜索。",
    "Error: connection refused (ECONNREFUSED) on 127.0.0.1:6333",
    "🚀 Fast, offline embeddings!",
    "x",
    "",
    "class HTTPServerError(Exception):\n    pass",
    "a b c d e f g h i j k l m n o p",
    "   leading and trailing whitespace   ",
    "CamelCaseIdentifiersLikeThisOneAreCommonInJava",
    "The meeting notes say we should migrate on Friday after the release.",
    'if (err != nil) { return fmt.Errorf("open %s: %w", path, err) }',
    LONG_TEXT,
]


# --------------------------------------------------------------------------- sparse


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("getUserName", ["get", "user", "nam", "getusername"]),
        ("get_user_name", ["get", "user", "nam", "getusername"]),
        ("GetUserName", ["get", "user", "nam", "getusername"]),
        ("get-user-name", ["get", "user", "nam", "getusername"]),
        ("GET_USER_NAME", ["get", "user", "nam", "getusername"]),
        ("HTTPServerError", ["http", "server", "error", "httpservererror"]),
        ("IOError", ["io", "error", "ioerror"]),
        ("utf8Decoder", ["utf", "decoder", "utf8decoder"]),
        ("sha256", ["sha", "256", "sha256"]),
        ("__init__", ["init"]),
        ("self.user_id", ["self", "user", "id", "userid"]),
        ("src/core/state.py", ["src", "cor", "stat", "py"]),  # parts are stemmed
        ("The cat is on the mat", ["cat", "mat"]),
        ("Ärger überall", ["ärger", "überall"]),
        ("naïveBayes", ["naïve", "bay", "naïvebayes"]),
        ("x = a + b", []),
        ("", []),
    ],
)
def test_tokenize(text: str, expected: list[str]) -> None:
    assert tokenize(text) == expected


def test_tokenize_keeps_repeats_and_drops_huge_tokens() -> None:
    assert tokenize("name name Name") == ["nam", "nam", "nam"]
    assert tokenize("a" * 65 + " ok") == ["ok"]


def test_token_index_is_stable_32_bit() -> None:
    # Pinned: changing the hash would silently break every existing collection.
    assert token_index("user") == 2617406747
    assert token_index("name") == 1882584616
    assert all(0 <= token_index(t) < 2**32 for t in ("a", "getusername", "ünïcødé"))


def _check_vector(vec: SparseVec) -> None:
    assert len(vec.indices) == len(set(vec.indices)) == len(vec.values)
    assert vec.indices == sorted(vec.indices)
    assert all(v > 0 for v in vec.values)


def test_sparse_vectors_are_well_formed() -> None:
    emb = SparseEmbedder()
    docs = emb.embed_documents(TEXTS)
    assert len(docs) == len(TEXTS)
    for vec in docs:
        _check_vector(vec)
    _check_vector(emb.embed_query("how to rename getUserName"))
    assert emb.embed_documents([]) == []
    assert emb.embed_query("the of and") == SparseVec(indices=[], values=[])


@pytest.mark.parametrize("doc", ["user = getUserName()", "def get_user_name(): ...", "GetUserName"])
def test_query_user_name_matches_identifiers(doc: str) -> None:
    emb = SparseEmbedder()
    query = emb.embed_query("user name")
    document = emb.embed_documents([doc])[0]
    assert set(query.indices) <= set(document.indices)
    # and the identifier itself finds the other spellings
    assert set(emb.embed_query("getUserName").indices) <= set(document.indices)


def test_bm25_weights() -> None:
    emb = SparseEmbedder(k1=1.2, b=0.75, avgdl=256.0)
    doc = emb.embed_documents(["alpha alpha beta"])[0]
    weights = dict(zip(doc.indices, doc.values, strict=True))
    norm = 1.2 * (1 - 0.75 + 0.75 * 3 / 256.0)
    assert math.isclose(weights[token_index("alpha")], 2 * 2.2 / (2 + norm))
    assert math.isclose(weights[token_index("beta")], 1 * 2.2 / (1 + norm))
    assert emb.embed_query("alpha alpha beta").values == [1.0, 1.0]


def test_colliding_tokens_share_one_summed_index(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sparse_mod, "token_index", lambda token: 7)
    vec = SparseEmbedder().embed_query("alpha beta gamma")
    assert vec == SparseVec(indices=[7], values=[3.0])


@pytest.mark.parametrize("kwargs", [{"k1": -1.0}, {"b": 1.5}, {"avgdl": 0.0}])
def test_sparse_bad_parameters(kwargs: dict[str, float]) -> None:
    with pytest.raises(InvalidArgument):
        SparseEmbedder(**kwargs)


def test_sparse_rejects_a_bare_string() -> None:
    with pytest.raises(InvalidArgument, match="sequence of texts"):
        SparseEmbedder().embed_documents("getUserName")


# --------------------------------------------------------------------------- dense


@pytest.fixture(scope="module")
def cache_dir(model_cache_dir: Path) -> Path:
    """The session's temporary model cache (conftest): the export is paid once per run."""
    return model_cache_dir


@pytest.fixture(scope="module")
def onnx_embedder(cache_dir: Path) -> DenseEmbedder:
    emb = DenseEmbedder(backend="onnx", cache_dir=cache_dir)
    emb.load()
    return emb


@pytest.fixture(scope="module")
def torch_embedder() -> DenseEmbedder:
    return DenseEmbedder(backend="torch")


@pytest.fixture(scope="module")
def reference() -> Any:
    sentence_transformers = pytest.importorskip("sentence_transformers")
    model = sentence_transformers.SentenceTransformer(str(default_model_path()), device="cpu")
    assert model.max_seq_length == 256
    vectors = model.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    return np.asarray(vectors, dtype=np.float32)


def test_dense_shape_and_norm(onnx_embedder: DenseEmbedder) -> None:
    vectors = onnx_embedder.embed(TEXTS)
    assert onnx_embedder.dim == DENSE_DIM == 384
    assert onnx_embedder.model_name == "sentence-transformers/all-MiniLM-L6-v2"
    assert vectors.shape == (len(TEXTS), 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert onnx_embedder.embed([]).shape == (0, 384)
    query = onnx_embedder.embed_query("rename a project")
    assert isinstance(query, list) and len(query) == 384 and isinstance(query[0], float)


@pytest.mark.parametrize("backend", ["onnx", "torch"])
def test_dense_matches_sentence_transformers(
    backend: str, onnx_embedder: DenseEmbedder, torch_embedder: DenseEmbedder, reference: Any
) -> None:
    embedder = onnx_embedder if backend == "onnx" else torch_embedder
    cosines = np.sum(embedder.embed(TEXTS) * reference, axis=1)
    assert cosines.min() >= 0.999, dict(zip(TEXTS, cosines.round(5).tolist(), strict=True))
    assert embedder.active_backend == backend


def test_backends_agree(onnx_embedder: DenseEmbedder, torch_embedder: DenseEmbedder) -> None:
    # torch may run bfloat16 (CPUs with native bf16), hence 0.999 and not 0.99999.
    cosines = np.sum(onnx_embedder.embed(TEXTS) * torch_embedder.embed(TEXTS), axis=1)
    assert cosines.min() >= 0.999
    assert torch_embedder.active_precision in ("float32", "bfloat16")


def test_batching_does_not_change_vectors(onnx_embedder: DenseEmbedder) -> None:
    # Texts are length-sorted and padded per batch; the result must not depend on it.
    alone = np.stack([onnx_embedder.embed([t])[0] for t in TEXTS[:8]])
    small = DenseEmbedder(backend="onnx", cache_dir=onnx_embedder.cache_dir, batch_size=3)
    together = small.embed(TEXTS[:8])
    assert np.sum(alone * together, axis=1).min() >= 0.99999


def test_batches_group_similar_lengths() -> None:
    lengths = np.array([5, 256, 7, 9, 3, 200, 10])
    batches = [b.tolist() for b in _batches(lengths, 3, 3 * 128)]
    # sorted by length; the long texts get batches of their own instead of padding the rest
    assert batches == [[4, 0, 2], [3, 6], [5], [1]]
    assert [len(b) for b in _batches(np.full(70, 65), 32, 32 * 128)] == [32, 32, 6]


def test_first_use_from_many_threads(cache_dir: Path, onnx_embedder: DenseEmbedder) -> None:
    emb = DenseEmbedder(cache_dir=cache_dir)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda t: emb.embed([t]), TEXTS[:8]))
    expected = onnx_embedder.embed(TEXTS[:8])
    assert np.sum(np.concatenate(results) * expected, axis=1).min() >= 0.99999


def test_export_is_cached_and_reused(onnx_embedder: DenseEmbedder, cache_dir: Path) -> None:
    assert [p.name for p in cache_dir.iterdir() if p.suffix == ".onnx"] != []
    assert not [p for p in cache_dir.iterdir() if p.name.endswith(".tmp")]
    again = DenseEmbedder(cache_dir=cache_dir)
    again.load()
    assert again.active_backend == "onnx"
    assert again.export_seconds is None  # loaded from the cache


def test_two_processes_export_at_once(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from workspace_qdrant_mcp.embed import DenseEmbedder
        emb = DenseEmbedder(backend="onnx", cache_dir=Path({str(cache)!r}))
        print(round(float(emb.embed(["same text"])[0][0]), 6))
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert outputs[0] == outputs[1] != ""
    files = sorted(p.name for p in cache.iterdir() if p.is_file())
    assert len(files) == 2 and files[0].endswith(".onnx")  # one graph, no temp files
    assert files[1] == files[0] + ".stamp.json"


def test_embedder_is_cached_per_process(cache_dir: Path) -> None:
    first = get_dense_embedder(cache_dir=cache_dir)
    assert get_dense_embedder(cache_dir=cache_dir) is first
    assert get_dense_embedder(default_model_path(), "cpu", "auto", cache_dir) is first
    assert get_dense_embedder(cache_dir=cache_dir, backend="torch") is not first


def test_missing_model_path_raises_model_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelError, match="does not exist") as info:
        DenseEmbedder(missing)
    assert str(missing) in str(info.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match=r"config\.json is missing"):
        DenseEmbedder(tmp_path / "empty")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"backend": "tensorflow"},
        {"batch_size": 0},
        {"precision": "int8"},
        {"backend": "onnx", "device": "cuda"},
    ],
)
def test_dense_bad_arguments(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgument):
        DenseEmbedder(**kwargs)


def test_dense_rejects_bad_texts(onnx_embedder: DenseEmbedder) -> None:
    with pytest.raises(InvalidArgument, match="sequence of texts"):
        onnx_embedder.embed("one string")
    with pytest.raises(InvalidArgument, match="must be strings"):
        onnx_embedder.embed(["ok", 3])  # type: ignore[list-item,unused-ignore]
