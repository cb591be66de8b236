"""One configuration path: the settings tree, the environment read in rag/config.py only, flags declared once."""

from __future__ import annotations

import argparse
import json
import re
from datetime import datetime
from pathlib import Path

import pytest

from rag.cli import add_corpus_argument, add_embedder_argument, add_pipeline_arguments, settings_from
from rag.config import DEFAULT_EMBEDDER, DEFAULT_MODEL, ReadingSettings, RetrievalWeights, Settings
from rag.eval.provenance import git_revision, now, provenance

ROOT = Path(__file__).resolve().parent.parent
VARIABLES = ("RAG_CORPUS", "RAG_INDEX", "RAG_EMBEDDER", "RAG_MODEL", "RAG_TOP_K", "RAG_HOST", "RAG_PORT")


@pytest.fixture
def clean_env(monkeypatch):
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    add_corpus_argument(parser)
    add_embedder_argument(parser)
    add_pipeline_arguments(parser)
    return parser


def test_the_retrieval_weights_and_reading_steps_keep_their_values():
    assert RetrievalWeights() == RetrievalWeights(
        rrf_k=60,
        candidates=50,
        rerank_depth=15,
        keyword_weight=0.5,
        sentence_weight=1.0,
        sentence_keyword_weight=1.0,
        answer_type_bonus=0.25,
        speaker_bonus=0.25,
        outlet_bonus=2.0,
        recency_bonus=0.5,
    )
    reading = ReadingSettings()
    assert (reading.top_k, reading.retrieval, reading.focused, reading.windows, reading.check) == (
        3, "hybrid", True, (2, 1, 0), True
    )  # fmt: skip
    assert (reading.refusal_threshold, reading.yes_threshold, reading.rules_off) == (0.5, 0.75, frozenset())


def test_settings_are_frozen_and_unknown_rules_are_refused():
    with pytest.raises(AttributeError):
        ReadingSettings().top_k = 5  # type: ignore[misc]
    with pytest.raises(ValueError, match="unknown rule"):
        ReadingSettings(rules_off={"no_such_rule"})
    assert ReadingSettings(rules_off={"coverage"}).rules_off == frozenset({"coverage"})


def test_the_environment_gives_the_defaults_and_settings_alone_read_nothing(clean_env):
    clean_env.setenv("RAG_TOP_K", "7")
    clean_env.setenv("RAG_MODEL", "/models/other.gguf")
    clean_env.setenv("RAG_INDEX", "")  # empty: as if unset
    assert Settings().reading.top_k == 3 and Settings().model == DEFAULT_MODEL
    from_env = Settings.from_env()
    assert from_env.reading.top_k == 7 and from_env.model == "/models/other.gguf" and from_env.index == "index"
    assert from_env.embedder == DEFAULT_EMBEDDER


def test_each_flag_defaults_to_its_variable_and_names_it(clean_env):
    clean_env.setenv("RAG_INDEX", "elsewhere")
    clean_env.setenv("RAG_EMBEDDER", "/models/mini")
    parser = _parser()
    settings = settings_from(parser.parse_args([]))
    assert settings.index == "elsewhere" and settings.embedder == "/models/mini" and settings.corpus == "seeds"
    assert settings_from(parser.parse_args(["--index", "mine", "--top-k", "5"])).index == "mine"
    assert settings_from(parser.parse_args(["--top-k", "5"])).reading.top_k == 5
    text = parser.format_help()
    for name in ("RAG_CORPUS", "RAG_INDEX", "RAG_EMBEDDER", "RAG_MODEL", "RAG_TOP_K"):
        assert name in text


def test_the_flags_make_the_whole_tree(clean_env):
    args = _parser().parse_args(["--no-check", "--rule-off", "coverage", "--windows", "1,0", "--retrieval", "rrf"])
    settings = settings_from(args)
    assert settings.reading == ReadingSettings(
        check=False, rules_off=frozenset({"coverage"}), windows=(1, 0), retrieval="rrf"
    )
    assert settings.retrieval == RetrievalWeights()
    tree = json.loads(json.dumps(settings.to_dict()))  # JSON as it is, for reports
    assert tree["reading"]["rules_off"] == ["coverage"] and tree["reading"]["windows"] == [1, 0]
    assert tree["retrieval"]["outlet_bonus"] == 2.0 and tree["model"] == DEFAULT_MODEL


def test_reports_record_settings_revision_and_time(tmp_path):
    stamp = provenance(Settings(), started="2025-12-03T20:32:00+00:00")
    assert stamp["settings"] == Settings().to_dict() and stamp["time"] == "2025-12-03T20:32:00+00:00"
    revision = git_revision()
    assert revision is None or re.fullmatch(r"[0-9a-f]{40}(\+dirty)?", revision)
    assert git_revision(tmp_path) is None  # not a checkout of the project
    assert datetime.fromisoformat(now()).tzinfo is not None


def test_the_environment_is_read_in_rag_config_only():
    readers = [
        path.relative_to(ROOT).as_posix()
        for path in [ROOT / "app.py", *sorted((ROOT / "rag").rglob("*.py"))]
        if re.search(r"os\.environ|os\.getenv|getenv\(", path.read_text(encoding="utf-8"))
    ]
    assert readers == ["rag/config.py"]
