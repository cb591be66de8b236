"""The synthetic archives of the scale benchmark (rag.eval.synth) and the parts of its harness (rag.eval.scale),
on a small fake "BBC" corpus written here: no test needs ../shared or reads an evaluation set's questions."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from rag.articles import load_corpus, parse_plain
from rag.chunking import split_sentences
from rag.eval.scale import (
    Measured,
    ScaleOptions,
    build_figures,
    estimated_minutes,
    markdown_table,
    measured_run,
    parse_sizes,
    run_scale,
)
from rag.eval.synth import OUTLETS, ParagraphPool, add_articles, gold_documents, headline, synthesize
from rag.index_store import BuildReport, Skipped

SECTIONS = {
    "business": ["shares", "profits", "bank", "airline", "steel", "retail", "oil", "currency"],
    "sport": ["cup", "striker", "coach", "marathon", "tennis", "rugby", "cricket", "league"],
}
GOLD = {"bbc/business/001.txt", "bbc/sport/002.txt"}
# A sentence of a gold article that another (non-gold) article repeats, as copies of one story do in the BBC set.
SHARED = "The regulator confirmed the business shares inquiry would report in March."


def _paragraph(section: str, article: int, number: int) -> str:
    topic = SECTIONS[section][(article + number) % len(SECTIONS[section])]
    return (
        f"The {section} desk reported on {topic} story {article} part {number} on Monday. "
        f"Officials said {topic} figures {article}-{number} were higher than expected."
    )


@pytest.fixture
def bbc(tmp_path: Path) -> Path:
    """Two sections of eight articles, four paragraphs each; the gold business article's first sentence is
    repeated in a non-gold one."""
    root = tmp_path / "bbc"
    for section in SECTIONS:
        for article in range(1, 9):
            paragraphs = [_paragraph(section, article, n) for n in range(4)]
            if section == "business" and article == 1:
                paragraphs[0] = SHARED + " " + paragraphs[0]
            if section == "business" and article == 5:
                paragraphs[2] = paragraphs[2] + " " + SHARED
            path = root / section / f"{article:03d}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"{section.title()} headline {article}\n\n" + "\n\n".join(paragraphs) + "\n")
    (root / "README.TXT").write_text("not an article folder\n")
    return root


@pytest.fixture
def seeds(tmp_path: Path) -> Path:
    folder = tmp_path / "seeds"
    folder.mkdir()
    (folder / "000_seed.txt").write_text("Seed title\nPublished: 2025-12-03 20:32\nSeed News\n\nThe seed body.\n")
    return folder


def _files(archive: Path) -> dict[str, bytes]:
    return {str(p.relative_to(archive)): p.read_bytes() for p in sorted(archive.rglob("*")) if p.is_file()}


def _gold_sentences(bbc: Path) -> set[str]:
    texts = [(bbc.parent / doc).read_text().split("\n", 1)[1] for doc in GOLD]
    return {" ".join(text[s:e].split()) for text in texts for s, e in split_sentences(text)}


def test_the_same_seed_writes_the_same_archive_and_another_seed_another(bbc, seeds, tmp_path):
    one = synthesize(bbc, seeds, tmp_path / "one", 120, GOLD, seed=3)
    two = synthesize(bbc, seeds, tmp_path / "two", 120, GOLD, seed=3)
    other = synthesize(bbc, seeds, tmp_path / "other", 120, GOLD, seed=4)
    assert _files(tmp_path / "one") == _files(tmp_path / "two")
    assert _files(tmp_path / "one") != _files(tmp_path / "other")
    assert one == two or one.folder != two.folder
    assert other.synthetic == one.synthetic


def test_an_archive_has_n_articles_with_the_seed_and_the_real_ones_at_their_own_paths(bbc, seeds, tmp_path):
    archive = synthesize(bbc, seeds, tmp_path / "archive", 200, GOLD)
    out = tmp_path / "archive"
    files = _files(out)
    assert len(files) == 200 == archive.articles
    assert archive.real == 1 + 16 and archive.synthetic == 200 - 17
    assert files["000_seed.txt"] == (seeds / "000_seed.txt").read_bytes()
    for section in SECTIONS:
        for article in range(1, 9):
            name = f"bbc/{section}/{article:03d}.txt"
            assert files[name] == (bbc.parent / name).read_bytes()
    assert "bbc/README.TXT" not in files  # not an article
    folders = {p.parent for p in out.rglob("*.txt")}
    assert all(len(list(f.iterdir())) <= 1_000 for f in folders)


def test_a_smaller_archive_keeps_the_seed_and_the_gold_articles_only(bbc, seeds, tmp_path):
    archive = synthesize(bbc, seeds, tmp_path / "archive", 10, GOLD)
    real = {p for p in _files(tmp_path / "archive") if not p.startswith("synth/")}
    assert real == {"000_seed.txt", *GOLD}
    assert archive.synthetic == 7
    with pytest.raises(ValueError, match="at least 3"):
        synthesize(bbc, seeds, tmp_path / "tiny", 2, GOLD)


def test_archive_files_read_with_title_outlet_and_date_spread_over_years(bbc, seeds, tmp_path):
    archive = synthesize(bbc, seeds, tmp_path / "archive", 300, GOLD)
    corpus = load_corpus(tmp_path / "archive")
    assert not corpus.skipped
    assert len(corpus.articles) + len(corpus.duplicates) == 300
    # A re-run (the same body under another title) is indexed once; near-duplicates are articles of their own.
    assert len(corpus.duplicates) == archive.reruns > 0
    assert archive.near_duplicates > 0
    assert 0.08 < (archive.near_duplicates + archive.reruns) / archive.synthetic < 0.25
    synthetic = [a for a in corpus.articles if a.article_id.startswith("synth/")]
    for article in synthetic:
        assert article.title and article.source in OUTLETS
        assert article.published is not None and "2019" <= article.published[:4] <= "2026"
        first_line = (tmp_path / "archive" / article.article_id).read_text().split("\n", 1)[0]
        assert article.title == first_line
    assert len({a.published[:4] for a in synthetic if a.published}) >= 6
    assert len({a.source for a in synthetic}) >= 12


def test_bodies_come_from_their_own_section_and_never_hold_a_gold_sentence(bbc, seeds, tmp_path):
    synthesize(bbc, seeds, tmp_path / "archive", 400, GOLD)
    origin = {}  # paragraph -> the section it was written for
    for section in SECTIONS:
        for path in (bbc / section).iterdir():
            for paragraph in path.read_text().split("\n\n")[1:]:
                origin[" ".join(paragraph.split())] = section
    gold = _gold_sentences(bbc)
    assert " ".join(SHARED.split()) in gold
    used = set()
    for path in (tmp_path / "archive" / "synth").rglob("*.txt"):
        section = path.relative_to(tmp_path / "archive" / "synth").parts[0]
        _, body, _, _, _ = parse_plain(path.name, path.read_text())
        for paragraph in body.split("\n\n"):
            assert origin[paragraph] == section
            used.add(paragraph)
            sentences = {" ".join(paragraph[s:e].split()) for s, e in split_sentences(paragraph)}
            assert not sentences & gold, path
    # Drawn from nearly everything else: the test would have seen a gold paragraph had one been in the pool.
    allowed = {p for p in origin if not {" ".join(p[s:e].split()) for s, e in split_sentences(p)} & gold}
    assert len(used) >= 0.9 * len(allowed)


def test_added_articles_go_to_their_own_folder_and_differ_from_the_archive(bbc, seeds, tmp_path):
    archive = synthesize(bbc, seeds, tmp_path / "archive", 60, GOLD)
    pool = ParagraphPool.from_bbc(bbc, GOLD)
    before = _files(tmp_path / "archive")
    added = add_articles(tmp_path / "archive", pool, 10, seed=0)
    assert len(added) == 10 and all(p.relative_to(tmp_path / "archive").parts[0] == "added" for p in added)
    assert {p.read_bytes() for p in added}.isdisjoint(before.values())
    # All ten are indexed: none is a re-run the build would set aside as a duplicate.
    assert len(load_corpus(tmp_path / "archive").duplicates) == archive.reruns


def test_gold_documents_are_read_from_the_doc_field_alone(tmp_path):
    (tmp_path / "a.jsonl").write_text(
        json.dumps({"id": "1", "question": "q", "doc": "bbc/tech/001.txt"})
        + "\n\n"
        + json.dumps({"id": "2", "question": "q", "doc": None})
        + "\n"
    )
    (tmp_path / "b.jsonl").write_text(json.dumps({"id": "3", "doc": "000_seed.txt"}) + "\n")
    assert gold_documents(tmp_path) == {"bbc/tech/001.txt", "000_seed.txt"}


def test_a_headline_is_the_key_words_of_the_first_sentence():
    lead = (
        "Electrolux saw its shares rise 14% on Tuesday after it said it would be shifting more of its "
        "manufacturing to low-cost countries. The Swedish firm said more."
    )
    assert headline(lead) == "Electrolux saw shares rise 14% Tuesday shifting"
    assert headline(lead, skip=1, words=3) == "Saw shares rise"


# --- the harness's parts ---------------------------------------------------------------------------------


def test_sizes_are_read_from_repeated_and_comma_separated_flags():
    assert parse_sizes(["2000,20000", "100k", "2000"]) == [2000, 20000, 100000]
    with pytest.raises(ValueError):
        parse_sizes(["0"])


def test_build_figures_are_read_from_what_the_build_prints():
    report = BuildReport(
        added=["a", "b", "c"], unchanged=["d"], skipped=[Skipped("x", "empty")], chunks=17, embedded_chunks=12
    )
    report.duplicates = {"e": "a"}
    report.seconds = 4.25
    figures = build_figures(Measured(5.0, 812.4, 0, "loading\n" + report.summary()))
    assert figures["added"] == 3 and figures["unchanged"] == 1 and figures["skipped"] == 1
    assert figures["duplicates"] == 1 and figures["chunks"] == 17 and figures["embedded_chunks"] == 12
    assert figures["reported_s"] == 4.25 and figures["wall_s"] == 5.0 and figures["peak_mib"] == 812
    with pytest.raises(RuntimeError, match="exit 2"):
        build_figures(Measured(1.0, 1.0, 2, "error: no readable articles"))


def test_the_peak_memory_is_each_process_own():
    big = measured_run(
        [
            sys.executable,
            "-c",
            "import time; x = bytearray(300 * 2**20); x[::4096] = b'1' * len(x[::4096]); time.sleep(0.3)",
        ]
    )
    small = measured_run([sys.executable, "-c", "print('done')"])
    assert big.returncode == small.returncode == 0 and small.output.strip() == "done"
    assert big.peak_mib > 300 > 100 > small.peak_mib  # RUSAGE_CHILDREN would report 300+ for both


def test_a_build_estimated_too_long_is_skipped_from_the_last_rate():
    assert estimated_minutes(20_000, None) is None
    assert estimated_minutes(20_000, 4.0) == pytest.approx(83.3, abs=0.1)


def _figures(articles: int) -> dict:
    return {
        "archive": {"articles": articles, "real": 329, "synthetic": articles - 329, "near_duplicates": 5, "reruns": 1},
        "build": {"added": articles - 1, "duplicates": 1, "chunks": 9 * articles, "wall_s": 400.0,
                  "articles_per_s": articles / 400, "peak_mib": 1800},
        "index_mib": 70.5,
        "noop": {"wall_s": 21.0},
        "add": {"wall_s": 30.0},
        "remove": {"wall_s": 25.0},
        "probe": {"load_index_s": 0.8, "start_s": 9.1, "index_peak_mib": 400, "pipeline_peak_mib": 1500,
                  "retrieval_p50_s": 0.025, "retrieval_p95_s": 0.046},
        "quality": {"qa_bbc:all": {"hit@1": 0.7, "hit@5": 0.9, "mrr": 0.8, "answerable": 100}},
    }  # fmt: skip


def test_the_table_has_a_row_per_measure_and_a_column_per_size():
    report = {
        "sizes": {
            "2000": _figures(2000),
            "20000": {
                "archive": {"articles": 20000, "real": 2226, "synthetic": 17774, "near_duplicates": 9, "reruns": 2},
                "skipped": "build estimated at 83 min",
            },
        }
    }
    lines = markdown_table(report).splitlines()
    assert lines[0] == "| | 2,000 articles | 20,000 articles |"
    assert all(line.count("|") == 4 for line in lines)
    rows = {line.split("|")[1].strip(): line.split("|")[2:4] for line in lines[2:]}
    assert rows["build / articles per s"][0].strip() == "400 s / 5.0"
    assert "83 min" in rows["build"][1]
    assert rows["qa_bbc:all hit@1 / hit@5 / MRR"][0].strip() == "0.700 / 0.900 / 0.800"
    assert rows["answer p50 / p95"][0].strip() == "not run"
    assert rows["peak memory: index / pipeline searched"][0].strip() == "400 MiB / 1.46 GiB"


@pytest.mark.embedder  # runs sentence-transformers (a stand-in model, not MiniLM) in every subprocess: slow
def test_the_harness_measures_a_tiny_archive_with_a_stand_in_embedder(bbc, seeds, tmp_path):
    import numpy as np
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import StaticEmbedding
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    words = sorted({w.strip(".,").lower() for p in bbc.rglob("*.txt") for w in p.read_text().split()})
    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(["[UNK]", *words])}, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    weights = np.random.default_rng(0).standard_normal((len(words) + 1, 16)).astype(np.float32)
    stand_in = tmp_path / "static-embedder"
    SentenceTransformer(modules=[StaticEmbedding(tokenizer, embedding_weights=weights)], device="cpu").save(
        str(stand_in)
    )
    eval_dir = tmp_path / "eval"
    eval_dir.mkdir()
    qa = eval_dir / "qa.jsonl"
    qa.write_text(
        json.dumps({"id": "q1", "question": "What did officials say about bank figures?", "answers": ["higher"],
                    "doc": "bbc/business/001.txt", "unanswerable": False}) + "\n"
    )  # fmt: skip
    options = ScaleOptions(
        sizes=[40],
        work=tmp_path / "work",
        bbc=bbc,
        seeds=seeds,
        eval_dir=eval_dir,
        timing_qa=qa,
        quality_sets=[(qa, "all")],
        max_build_minutes=10,
        embedder=str(stand_in),
    )
    figures = run_scale(options, log=lambda _: None)["sizes"]["40"]
    assert figures["build"]["added"] + figures["build"]["duplicates"] == 40
    assert figures["noop"]["added"] == 0 and figures["noop"]["unchanged"] == figures["build"]["added"]
    assert figures["add"]["added"] == 10 and figures["remove"]["removed"] == 10
    assert figures["index_mib"] > 0 and figures["probe"]["questions"] == 1
    assert figures["probe"]["pipeline_peak_mib"] >= figures["probe"]["index_peak_mib"] > 0
    probe = figures["probe"]
    assert 0 < probe["pipeline_own_mib"] and 0 < probe["pipeline_mapped_mib"]
    assert probe["pipeline_own_mib"] + probe["pipeline_mapped_mib"] <= probe["pipeline_peak_mib"] + 1
    assert figures["quality"]["qa:all"]["answerable"] == 1
    assert not (options.work / "n40" / "archive" / "added").exists()
    assert os.path.isdir(options.work / "n40" / "index" / "current")
