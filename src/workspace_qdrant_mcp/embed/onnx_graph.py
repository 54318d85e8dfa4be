"""The ONNX graph of a BERT sentence encoder, built from its safetensors without torch.

Why: exporting with ``torch.onnx`` needs torch (a 750 MB wheel, several GB where
pip resolves a CUDA build) for a graph that is a few dozen standard operators.
Writing those operators with ``onnx.helper`` keeps the runtime install light and
the graph easy to audit. The graph computes exactly what sentence-transformers
computes for all-MiniLM-L6-v2: token + position (+ token type 0) embeddings,
layer norm, ``num_hidden_layers`` post-norm encoder layers (multi-head
self-attention with the padding mask, exact erf GELU feed-forward), mean pooling
over the attention mask and L2 normalisation. Inputs ``input_ids`` and
``attention_mask`` (int64, dynamic batch and sequence axes), output
``sentence_embedding`` (float32, batch x hidden). Checked against the torch export
to cosine >= 0.9999 in ``tests/test_embed_recipes.py``.

Only the standard ``ai.onnx`` domain is used (opset 17), so any ONNX runtime can
run it; ONNX Runtime fuses the layer norms, GELU and MatMul+Add itself.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..core.errors import ModelError

__all__ = [
    "GRAPH_FORMAT",
    "OPSET",
    "OUTPUT",
    "build_bert_graph",
    "build_from_folder",
    "load_weights",
    "save_model",
]

#: Opset of the built graph (LayerNormalization needs 17).
OPSET = 17
#: Name of the output; the embedder reads it by name.
OUTPUT = "sentence_embedding"
#: Part of every cache stamp of a built graph: bump it when the graph changes.
GRAPH_FORMAT = "bert-meanpool-l2-opset17-v1"

_FloatArray = npt.NDArray[np.float32]


class _Builder:
    """Collects nodes and initializers with unique names."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0

    def _name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, hint: str, value: npt.ArrayLike, dtype: Any = np.float32) -> str:
        from onnx import numpy_helper

        name = self._name(hint)
        self.initializers.append(
            numpy_helper.from_array(np.ascontiguousarray(np.asarray(value, dtype=dtype)), name)
        )
        return name

    def op(self, op_type: str, *inputs: str, hint: str = "", **attrs: Any) -> str:
        from onnx import helper

        out = self._name(hint or op_type.lower())
        self.nodes.append(
            helper.make_node(op_type, list(inputs), [out], name=f"{out}_node", **attrs)
        )
        return out

    def linear(self, x: str, weight: _FloatArray, bias: _FloatArray, hint: str) -> str:
        """``x @ weight.T + bias`` (torch's Linear stores weight as out x in)."""
        w = self.const(f"{hint}_w", weight.T)
        b = self.const(f"{hint}_b", bias)
        return self.op("Add", self.op("MatMul", x, w, hint=f"{hint}_mm"), b, hint=hint)

    def layer_norm(self, x: str, gamma: _FloatArray, beta: _FloatArray, eps: float) -> str:
        g = self.const("ln_g", gamma)
        b = self.const("ln_b", beta)
        return self.op("LayerNormalization", x, g, b, axis=-1, epsilon=eps, hint="ln")


def _tensor(weights: dict[str, _FloatArray], name: str) -> _FloatArray:
    """A weight by its name, with or without the ``bert.`` prefix some checkpoints carry."""
    for key in (name, f"bert.{name}"):
        if key in weights:
            return np.asarray(weights[key], dtype=np.float32)
    raise ModelError(
        f"The model weights lack the tensor {name}; the model file is not a BERT encoder."
    )


def _config_int(config: dict[str, Any], key: str) -> int:
    value = config.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ModelError(f"config.json of the embedding model has no valid {key}.")
    return value


def build_bert_graph(
    weights: dict[str, _FloatArray], config: dict[str, Any], *, normalize: bool = True
) -> Any:
    """The ``onnx.ModelProto`` of the pooled, normalised encoder for these weights.

    :param weights: tensors by name, as ``safetensors.numpy.load_file`` returns them.
    :param config: the model's ``config.json``.
    :param normalize: L2-normalise the pooled vector (False: the plain masked mean,
        which the static distillation needs).
    :raises ModelError: the weights or config are not those of a BERT encoder.
    """
    from onnx import TensorProto, helper

    if config.get("model_type", "bert") != "bert":
        raise ModelError(f"Only BERT encoders can be built, not {config.get('model_type')!r}.")
    if config.get("hidden_act", "gelu") != "gelu":
        raise ModelError(f"Unsupported activation {config.get('hidden_act')!r} in config.json.")
    hidden = _config_int(config, "hidden_size")
    heads = _config_int(config, "num_attention_heads")
    layers = _config_int(config, "num_hidden_layers")
    if hidden % heads:
        raise ModelError("config.json: hidden_size is not a multiple of num_attention_heads.")
    head_dim = hidden // heads
    eps = float(config.get("layer_norm_eps", 1e-12))

    g = _Builder()
    # Embeddings: word + position + token type 0 (wqm never sends a second segment, so the
    # type row is folded into the position table).
    word = g.const("word_emb", _tensor(weights, "embeddings.word_embeddings.weight"))
    positions = _tensor(weights, "embeddings.position_embeddings.weight")
    types = _tensor(weights, "embeddings.token_type_embeddings.weight")
    pos = g.const("pos_emb", positions + types[0][None, :])
    seq = g.op("Shape", "input_ids", start=1, end=2, hint="seq_len")
    pos_rows = g.op(
        "Slice", pos, g.const("zero", [0], np.int64), seq, g.const("axis0", [0], np.int64)
    )
    x = g.op("Add", g.op("Gather", word, "input_ids", axis=0, hint="tok"), pos_rows, hint="emb")
    x = g.layer_norm(
        x,
        _tensor(weights, "embeddings.LayerNorm.weight"),
        _tensor(weights, "embeddings.LayerNorm.bias"),
        eps,
    )

    # Padding mask as an additive bias on the attention scores: [batch, 1, 1, sequence].
    mask_f = g.op("Cast", "attention_mask", to=TensorProto.FLOAT, hint="mask_f")
    blocked = g.op("Sub", g.const("one", 1.0), mask_f, hint="blocked")
    bias = g.op("Mul", blocked, g.const("neg", np.finfo(np.float32).min), hint="mask_bias")
    bias = g.op("Unsqueeze", bias, g.const("axes12", [1, 2], np.int64), hint="mask_bias4")

    split_heads = g.const("split_heads", [0, 0, heads, head_dim], np.int64)
    merge_heads = g.const("merge_heads", [0, 0, hidden], np.int64)
    scale = 1.0 / math.sqrt(head_dim)
    sqrt2 = g.const("sqrt2", math.sqrt(2.0))
    half = g.const("half", 0.5)
    one = g.const("one", 1.0)
    for i in range(layers):
        p = f"encoder.layer.{i}."
        # The 1/sqrt(head_dim) score scale is folded into the query projection.
        q = g.linear(
            x,
            _tensor(weights, p + "attention.self.query.weight") * scale,
            _tensor(weights, p + "attention.self.query.bias") * scale,
            f"l{i}_q",
        )
        k = g.linear(
            x,
            _tensor(weights, p + "attention.self.key.weight"),
            _tensor(weights, p + "attention.self.key.bias"),
            f"l{i}_k",
        )
        v = g.linear(
            x,
            _tensor(weights, p + "attention.self.value.weight"),
            _tensor(weights, p + "attention.self.value.bias"),
            f"l{i}_v",
        )
        qh = g.op("Transpose", g.op("Reshape", q, split_heads), perm=[0, 2, 1, 3], hint=f"l{i}_qh")
        kh = g.op("Transpose", g.op("Reshape", k, split_heads), perm=[0, 2, 3, 1], hint=f"l{i}_kh")
        vh = g.op("Transpose", g.op("Reshape", v, split_heads), perm=[0, 2, 1, 3], hint=f"l{i}_vh")
        scores = g.op("Add", g.op("MatMul", qh, kh), bias, hint=f"l{i}_scores")
        probs = g.op("Softmax", scores, axis=-1, hint=f"l{i}_probs")
        ctx = g.op("Transpose", g.op("MatMul", probs, vh), perm=[0, 2, 1, 3], hint=f"l{i}_ctx")
        ctx = g.op("Reshape", ctx, merge_heads, hint=f"l{i}_ctx2")
        attn = g.linear(
            ctx,
            _tensor(weights, p + "attention.output.dense.weight"),
            _tensor(weights, p + "attention.output.dense.bias"),
            f"l{i}_attn_out",
        )
        x = g.layer_norm(
            g.op("Add", attn, x, hint=f"l{i}_res1"),
            _tensor(weights, p + "attention.output.LayerNorm.weight"),
            _tensor(weights, p + "attention.output.LayerNorm.bias"),
            eps,
        )
        h = g.linear(
            x,
            _tensor(weights, p + "intermediate.dense.weight"),
            _tensor(weights, p + "intermediate.dense.bias"),
            f"l{i}_ffn_in",
        )
        # Exact GELU, x * 0.5 * (1 + erf(x / sqrt(2))): the pattern ONNX Runtime fuses.
        gelu = g.op("Add", g.op("Erf", g.op("Div", h, sqrt2)), one)
        h = g.op("Mul", g.op("Mul", h, gelu), half, hint=f"l{i}_gelu")
        out = g.linear(
            h,
            _tensor(weights, p + "output.dense.weight"),
            _tensor(weights, p + "output.dense.bias"),
            f"l{i}_ffn_out",
        )
        x = g.layer_norm(
            g.op("Add", out, x, hint=f"l{i}_res2"),
            _tensor(weights, p + "output.LayerNorm.weight"),
            _tensor(weights, p + "output.LayerNorm.bias"),
            eps,
        )

    # Mean over real tokens, then unit length (torch.nn.functional.normalize: eps 1e-12).
    mask3 = g.op("Unsqueeze", mask_f, g.const("axis2", [2], np.int64), hint="mask3")
    axis1 = g.const("axis1", [1], np.int64)
    summed = g.op("ReduceSum", g.op("Mul", x, mask3), axis1, keepdims=0, hint="summed")
    counts = g.op("ReduceSum", mask3, axis1, keepdims=0, hint="counts")
    mean = g.op("Div", summed, g.op("Max", counts, g.const("tiny", 1e-9)), hint="mean")
    if normalize:
        norm = g.op("ReduceL2", mean, axes=[1], keepdims=1, hint="norm")
        g.nodes.append(
            helper.make_node(
                "Div", [mean, g.op("Max", norm, g.const("eps", 1e-12))], [OUTPUT], name="normalize"
            )
        )
    else:
        g.nodes.append(helper.make_node("Identity", [mean], [OUTPUT], name="pooled"))

    inputs = [
        helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "sequence"])
        for name in ("input_ids", "attention_mask")
    ]
    output = helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", hidden])
    graph = helper.make_graph(g.nodes, "sentence_encoder", inputs, [output], g.initializers)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="wqm",
        producer_version=GRAPH_FORMAT,
    )
    model.ir_version = min(model.ir_version, 8)  # readable by every ONNX Runtime since 1.14
    return model


def load_weights(model_path: Path) -> dict[str, _FloatArray]:
    """The float tensors of ``model.safetensors`` in ``model_path``.

    :raises ModelError: the file is missing or not a readable safetensors file.
    """
    from safetensors.numpy import load_file

    path = model_path / "model.safetensors"
    try:
        tensors = load_file(str(path))
    except FileNotFoundError:
        raise ModelError(f"The model file {path} is missing.") from None
    except Exception as exc:
        raise ModelError(f"The model file {path} is damaged ({exc}).") from exc
    return {k: v for k, v in tensors.items() if v.dtype.kind == "f"}


def build_from_folder(model_path: Path, *, normalize: bool = True) -> Any:
    """Build the graph of the model in ``model_path`` (config.json + model.safetensors)."""
    try:
        config = json.loads((model_path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"The model file {model_path / 'config.json'} is unreadable.") from exc
    if not isinstance(config, dict):
        raise ModelError(f"The model file {model_path / 'config.json'} is not a JSON object.")
    return build_bert_graph(load_weights(model_path), config, normalize=normalize)


def save_model(model: Any, target: Path) -> None:
    """Write ``model`` as one self-contained file (MiniLM is far below protobuf's 2 GB cap)."""
    target.write_bytes(model.SerializeToString())
