"""The torch reference of the dense model: dev and test only, never needed at run time.

transformers' ``AutoModel`` with mean pooling and L2 normalisation on top is the
definition the ONNX graph of :mod:`.onnx_graph` is checked against, and the
``torch`` backend of ``DenseEmbedder`` (bfloat16 on CPUs with native bfloat16).
``export_onnx`` is the torch exporter wqm used before it built graphs itself; the
equivalence test compares the two graphs. Requires the ``dev`` extra (torch,
transformers).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.errors import ModelError

if TYPE_CHECKING:
    import torch

__all__ = ["export_onnx", "load_torch_encoder", "native_bf16", "verify_export"]

_OPSET = 17
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_OUTPUT = "sentence_embedding"


def native_bf16() -> bool:
    """True when the CPU computes bfloat16 dot products in hardware.

    Elsewhere torch emulates bfloat16 and it is slower than float32, so the
    ``auto`` precision only picks it here.
    """
    import torch

    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)


def load_torch_encoder(model_path: Path, *, attn: str | None = None) -> torch.nn.Module:
    """The transformer with mean pooling and L2 normalisation on top, in eval mode.

    Pooling lives in the module so that the ONNX export contains it too and both
    backends share one definition of "the sentence embedding".
    """
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    class PooledEncoder(torch.nn.Module):
        def __init__(self, encoder: torch.nn.Module) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(
            self,
            input_ids: torch.Tensor,
            attention_mask: torch.Tensor,
            token_type_ids: torch.Tensor,
        ) -> torch.Tensor:
            hidden = self.encoder(
                input_ids=input_ids,
                attention_mask=attention_mask,
                token_type_ids=token_type_ids,
            ).last_hidden_state
            # Pool in float32 whatever the encoder's dtype: the sum over up to 256
            # tokens is where bfloat16 would lose the most.
            hidden = hidden.float()
            weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
            summed = (hidden * weights).sum(dim=1)
            counts = weights.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(summed / counts, p=2.0, dim=1)

    kwargs: dict[str, Any] = {"local_files_only": True}
    if attn is not None:
        kwargs["attn_implementation"] = attn
    bars: Any = hf_logging  # untyped module functions
    shown = bars.is_progress_bar_enabled()
    bars.disable_progress_bar()  # a CLI's stderr is no place for a weights bar
    try:
        encoder = AutoModel.from_pretrained(str(model_path), **kwargs)
    finally:
        if shown:
            bars.enable_progress_bar()
    return PooledEncoder(encoder).eval()


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence exporters: TracerWarnings, deprecation notes and dynamo's stdout chatter.

    stdout carries the CLI's data, so nothing may print there.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with contextlib.redirect_stdout(io.StringIO()):
            yield


def export_onnx(model: torch.nn.Module, target: Path) -> None:
    """Export the pooled encoder to ``target`` with dynamic batch and sequence axes.

    The legacy TorchScript exporter comes first: it takes ~2 s where the dynamo
    exporter takes ~9 s, and its graph runs as fast. Eager attention gives the
    plain MatMul/Softmax pattern that ONNX Runtime fuses into its Attention op.
    The example batch is padded so the attention mask is a real input of the graph.
    """
    import torch

    ids = torch.tensor([[101, 7592, 2088, 2003, 1037, 3231, 102], [101, 7592, 102, 0, 0, 0, 0]])
    mask = (ids != 0).long()
    args = (ids, mask, torch.zeros_like(ids))
    axes = {name: {0: "batch", 1: "sequence"} for name in _INPUTS}
    axes[_OUTPUT] = {0: "batch"}
    errors: list[str] = []
    with _quiet(), torch.no_grad():
        try:
            options: dict[str, Any] = {
                "input_names": list(_INPUTS),
                "output_names": [_OUTPUT],
                "dynamic_axes": axes,
                "opset_version": _OPSET,
                "do_constant_folding": True,
            }
            try:
                torch.onnx.export(model, args, str(target), dynamo=False, **options)
            except TypeError:  # torch < 2.5: no `dynamo` flag, the legacy exporter is the only one
                torch.onnx.export(model, args, str(target), **options)
            return
        except Exception as exc:  # noqa: BLE001 - any exporter failure means "try the other one"
            errors.append(f"legacy exporter: {exc}")
        try:
            batch = torch.export.Dim("batch")
            seq = torch.export.Dim("sequence", max=512)
            program = torch.onnx.export(
                model,
                args,
                input_names=list(_INPUTS),
                output_names=[_OUTPUT],
                dynamic_shapes={name: {0: batch, 1: seq} for name in _INPUTS},
                opset_version=max(_OPSET, 18),
                dynamo=True,
            )
            if program is None:
                raise RuntimeError("the exporter returned no program")
            program.save(str(target), external_data=False)
            return
        except Exception as exc:  # noqa: BLE001
            errors.append(f"dynamo exporter: {exc}")
    raise ModelError(f"Could not export the embedding model to ONNX ({'; '.join(errors)}).")


def verify_export(session: Any, model: torch.nn.Module) -> None:
    """Refuse an export whose output drifts from the torch model it came from.

    Costs one small batch at export time only; it guards against exporter bugs
    (a traced-away attention mask would still produce plausible vectors).
    """
    import torch

    ids = np.array(
        [[101, 2129, 2000, 2424, 1996, 5310, 2171, 102], [101, 2131, 20330, 102, 0, 0, 0, 0]],
        dtype=np.int64,
    )
    mask = (ids != 0).astype(np.int64)
    types = np.zeros_like(ids)
    with torch.inference_mode():
        expected = model(torch.from_numpy(ids), torch.from_numpy(mask), torch.from_numpy(types))
    got = session.run([_OUTPUT], dict(zip(_INPUTS, (ids, mask, types), strict=True)))[0]
    cosine = float(np.min(np.sum(np.asarray(got) * expected.numpy(), axis=1)))
    if not cosine >= 0.9999:
        raise ModelError(f"The ONNX export of the embedding model is wrong (cosine {cosine:.5f}).")
