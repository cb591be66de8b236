"""Defaults shared by the commands; every one can be changed by a flag or an environment variable."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def default_corpus() -> str:
    return os.environ.get("RAG_CORPUS", "seeds")


def default_index() -> str:
    return os.environ.get("RAG_INDEX", "index")


def default_top_k() -> int:
    return int(os.environ.get("RAG_TOP_K", "3"))


def cache_dir() -> Path:
    """Where the assembled default model lives (shared by every clone on the machine)."""
    if os.environ.get("RAG_CACHE"):
        return Path(os.environ["RAG_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "newsrag"
