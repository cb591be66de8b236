"""The on-disk store (issue 18): chunks in SQLite read by row id, BM25 saved at build, memory-mapped vectors,
and incremental builds as a main segment, a delta and tombstones. The embedder is the stand-in
(tests/fakes.HashingEmbedder): what is tested is the store, not the embedding."""

from __future__ import annotations

import json
import random
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import store_cases
from conftest import SEEDS
from fakes import HashingEmbedder

from rag import index_store
from rag.chunk_store import SegmentStore
from rag.chunking import ChunkingParams, chunk_article
from rag.collection import find_mentions
from rag.config import RetrievalWeights
from rag.index_store import load_index
from rag.retrieve import Filters, Retriever

EMBEDDER = HashingEmbedder()
REFERENCE = Path(__file__).parent / "store_reference.json"
RECORDED_WEIGHTS = RetrievalWeights(keyword_weight=0.3)  # the fusion the reference was recorded with


def build(corpus: Path, index: Path, **options):
    return index_store.build_index(corpus, index, embedder=EMBEDDER, show_progress=False, **options)


def results(retriever: Retriever, question: str) -> list:
    return [
        [p.chunk.chunk_id, round(p.score, 5), round(p.dense, 5), round(p.keyword, 5), p.speakers]
        for p in retriever.search(question, k=store_cases.K)
    ]


def test_the_store_answers_as_the_in_memory_index_did(tmp_path):
    """Every mode's top passages and scores, and the coverage, as recorded with the in-memory index of format 8
    (the same articles, questions and stand-in embedder: tests/record_store_reference.py run on main at 8f0eb37)."""
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    for name, text in store_cases.ARTICLES.items():
        (corpus / name).write_text(text, encoding="utf-8")
    build(corpus, tmp_path / "index")
    index = load_index(tmp_path / "index")
    reference = json.loads(REFERENCE.read_text(encoding="utf-8"))
    for mode in ("hybrid", "dense", "bm25", "rrf"):
        retriever = Retriever(index, embedder=EMBEDDER, mode=mode, weights=RECORDED_WEIGHTS)
        for question in store_cases.QUESTIONS:
            assert results(retriever, question) == reference[mode][question], (mode, question)
    retriever = Retriever(index, embedder=EMBEDDER, weights=RECORDED_WEIGHTS)
    for question in store_cases.QUESTIONS:
        shares = [round(retriever.cover(question, p.chunk).share, 5) for p in retriever.search(question, k=5)]
        assert shares == reference["cover"][question], question


def test_a_question_reads_only_its_candidates_from_the_store(tmp_path, monkeypatch):
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    for name, text in store_cases.ARTICLES.items():
        (corpus / name).write_text(text, encoding="utf-8")
    build(corpus, tmp_path / "index")
    read: list[int] = []
    chunk = SegmentStore.chunk
    monkeypatch.setattr(SegmentStore, "chunk", lambda self, row: read.append(row) or chunk(self, row))
    monkeypatch.setattr(SegmentStore, "scan", lambda self: pytest.fail("a question scanned the store"))
    index = load_index(tmp_path / "index")
    retriever = Retriever(index, embedder=EMBEDDER)
    assert read == []  # loading and starting the retriever parse no chunk
    retriever.search("What did Mia Lund say?", k=3, filters=Filters(sources=("Valley Times",)))
    assert 0 < len(read) < len(index.chunks)


# ---------------------------------------------------------------- a few thousand synthetic articles

OUTLETS = ["Coast Herald", "Valley Times", "Northern Post", "Metro Daily"]
CITIES = ["Ashford", "Brinley", "Calder", "Dunmore", "Elsworth", "Farnham", "Glenrock", "Holloway"]
PARAGRAPHS = [
    "The council met on {day} to discuss the new {thing} in {city}. Officials said it would cost {n} million pounds.",
    "Residents of {city} have waited {n} years for the {thing}. Many said the plan came too late.",
    '"We will not give up on {city}," {person} said. The vote is expected in {month}.',
    "Engineers inspected the {thing} site on {day}. They found the ground softer than expected.",
    "Shops near the {thing} reported fewer visitors. Traders asked the council for help with rents.",
]
THINGS = ["bridge", "tram line", "school", "library", "sea wall", "stadium", "reservoir"]
PEOPLE = ["Mayor Ruth Okafor", "Councillor Dev Patel", "Engineer Mia Lund", "Treasurer Tom Reyes"]
SYLLABLES = ["var", "nok", "tel", "bri", "sam", "dor", "qua", "lin", "rex", "mo", "ul", "zan", "pe", "kir", "fa"]


def synthetic(count: int, seed: int = 5, taken: set[str] = frozenset()) -> dict[str, str]:
    """Articles of recombined paragraphs, each naming one made-up word no other article holds (nor any of
    `taken`, the names of articles made by an earlier call)."""
    rng = random.Random(seed)
    names: set[str] = set()
    while len(names) < count:
        name = "".join(rng.sample(SYLLABLES, 4)).capitalize()
        if name not in taken:
            names.add(name)
    articles = {}
    for n, name in enumerate(sorted(names)):
        values = {
            "day": rng.choice(["Monday", "Tuesday", "Friday"]),
            "thing": rng.choice(THINGS),
            "city": rng.choice(CITIES),
            "n": rng.randint(2, 90),
            "person": rng.choice(PEOPLE),
            "month": rng.choice(["March", "June", "October"]),
        }
        body = [p.format(**values) for p in rng.sample(PARAGRAPHS, rng.randint(2, 4))]
        body.insert(1, f"The {name} plan was first put forward by local groups.")
        date = f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} 10:00"
        head = f"{name} plan for {values['city']}\n發佈日期: {date}\n{rng.choice(OUTLETS)}\n\n"
        articles[f"a{n:05d}.txt"] = head + "\n\n".join(body)
    return articles


def write(corpus: Path, articles: dict[str, str]) -> None:
    corpus.mkdir(parents=True, exist_ok=True)
    for name, text in articles.items():
        (corpus / name).write_text(text, encoding="utf-8")


def unique_name(text: str) -> str:
    return text.split()[0]


def brute_force_mentions(index, term: str, filters: Filters | None = None):
    return find_mentions(term, list(index.chunks), filters)


ARTICLES = 2000


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """A built index of ARTICLES synthetic articles, its corpus and the articles."""
    folder = tmp_path_factory.mktemp("archive")
    articles = synthetic(ARTICLES)
    write(folder / "corpus", articles)
    build(folder / "corpus", folder / "index")
    return folder, articles


def copy_of(archive, tmp_path) -> tuple[Path, Path, dict[str, str]]:
    folder, articles = archive
    shutil.copytree(folder / "corpus", tmp_path / "corpus")
    shutil.copytree(folder / "index", tmp_path / "index", symlinks=True)
    return tmp_path / "corpus", tmp_path / "index", dict(articles)


def test_added_changed_and_removed_articles_as_a_delta_and_tombstones(archive, tmp_path):
    corpus, index_dir, articles = copy_of(archive, tmp_path)
    first = load_index(index_dir)
    assert list(first.manifest["segments"]) == ["main"] and first.dead is None
    removed, changed = "a00007.txt", "a00011.txt"
    gone_name, changed_name = unique_name(articles[removed]), unique_name(articles[changed])
    # The removed article's own outlet, speaker and date: nothing else has them.
    articles[removed] = articles[removed].replace(
        "\n\n", "\n\n" + '"We were sorry about the delay," Quillon Brask said on Monday. ', 1
    )
    articles[removed] = re.sub(r"\n[A-Z][a-z]+ [A-Z][a-z]+\n", "\nLone Gazette\n", articles[removed], count=1)
    articles[removed] = re.sub(r"2024-\d\d-\d\d", "2031-01-01", articles[removed])
    write(corpus, {removed: articles[removed]})
    assert build(corpus, index_dir).updated == [removed]
    with_it = Retriever(load_index(index_dir), embedder=EMBEDDER)
    assert "brask" in with_it.speakers_in("What did Quillon Brask say?")
    assert any(outlet == "Lone Gazette" for outlet, _ in with_it.outlets)

    taken = {unique_name(text) for text in articles.values()}
    added = {f"new{n}.txt": text for n, text in enumerate(synthetic(10, seed=99, taken=taken).values())}
    write(corpus, added)
    (corpus / removed).unlink()
    write(corpus, {changed: articles[changed].replace(changed_name, "Zindrovex")})
    main_before = (index_dir / "current").resolve() / "main"
    files = ("vectors.faiss", "sentences.npy", "chunks.sqlite", "bm25/data.csc.index.npy")
    inodes = [(main_before / name).stat().st_ino for name in files]
    report = build(corpus, index_dir)
    assert sorted(report.added) == sorted(added) and report.updated == [changed] and report.removed == [removed]

    index = load_index(index_dir)
    assert list(index.manifest["segments"]) == ["main", "delta"] and index.manifest["removed_rows"] > 0
    assert [(index.path / "main" / name).stat().st_ino for name in files] == inodes  # linked, not copied
    assert len(index.chunks) == report.chunks == sum(a["chunks"] for a in index.manifest["articles"].values())
    assert {c.article_id for c in index.chunks} == set(index.manifest["articles"])
    retriever = Retriever(index, embedder=EMBEDDER)
    for name, text in added.items():
        assert retriever.search(f"{unique_name(text)} plan", k=1)[0].chunk.article_id == name
    assert retriever.search("Zindrovex plan", k=1)[0].chunk.article_id == changed
    for mode in ("hybrid", "bm25", "dense"):
        searching = Retriever(index, embedder=EMBEDDER, mode=mode)
        for question in (f"{gone_name} plan", f"{changed_name} plan", "Quillon Brask sorry delay"):
            passages = searching.search(question, k=20)
            assert not any(p.chunk.article_id == removed or changed_name in p.chunk.text for p in passages)
    assert retriever.speakers_in("What did Quillon Brask say?") == set()
    assert all(outlet != "Lone Gazette" for outlet, _ in retriever.outlets)
    assert retriever.search("plan", k=5, filters=Filters(date_from="2031-01-01")) == []
    assert retriever.search("plan", k=5, filters=Filters(sources=("Lone Gazette",))) == []
    for term in (gone_name, changed_name, "Zindrovex", unique_name(added["new3.txt"]), "Calder", "Mia Lund", "the"):
        narrowed = find_mentions(term, index.chunks, rows=retriever.mention_rows(term))
        assert narrowed.articles == brute_force_mentions(index, term).articles, term
    assert find_mentions(gone_name, index.chunks, rows=retriever.mention_rows(gone_name)).articles == 0
    assert retriever.cover("Zindrovex plan", retriever.search("Zindrovex plan", k=1)[0].chunk).share == 1.0


def test_filters_and_mentions_with_filters_match_a_check_of_every_chunk(archive, tmp_path):
    corpus, index_dir, articles = copy_of(archive, tmp_path)
    write(corpus, {f"new{n}.txt": text for n, text in enumerate(synthetic(5, seed=7).values())})
    (corpus / "a00003.txt").unlink()
    build(corpus, index_dir)
    index = load_index(index_dir)
    assert "delta" in index.manifest["segments"]
    retriever = Retriever(index, embedder=EMBEDDER)
    filters = Filters(sources=("Coast Herald", "Metro Daily"), date_from="2024-03-01", date_to="2024-06-30")
    mask = retriever.allowed(filters)
    expected = {row for row, chunk in index.chunks.items() if filters.allows(chunk)}
    assert set(np.flatnonzero(mask & index.live()).tolist()) == expected
    for passage in retriever.search("council vote bridge", k=10, filters=filters):
        assert filters.allows(passage.chunk)
    for term in ("Calder", "Dev Patel", "bridge"):
        narrowed = find_mentions(term, index.chunks, filters, rows=retriever.mention_rows(term), allowed=mask)
        assert narrowed.articles == brute_force_mentions(index, term, filters).articles > 0


def test_the_delta_is_merged_into_a_new_main_past_the_threshold(archive, tmp_path, monkeypatch):
    corpus, index_dir, articles = copy_of(archive, tmp_path)
    write(corpus, {f"new{n}.txt": text for n, text in enumerate(synthetic(5, seed=3).values())})
    build(corpus, index_dir)
    assert "delta" in load_index(index_dir).manifest["segments"]
    monkeypatch.setattr(index_store, "DELTA_MAX_SHARE", 0.0)  # any change now passes it
    (corpus / "a00001.txt").unlink()
    build(corpus, index_dir)
    merged = load_index(index_dir)
    assert (
        list(merged.manifest["segments"]) == ["main"] and merged.dead is None and merged.manifest["removed_rows"] == 0
    )
    # The merge gives exactly what a full build of the same corpus gives: the same rows, in corpus order.
    build(corpus, tmp_path / "fresh")
    fresh = load_index(tmp_path / "fresh")
    assert [c.chunk_id for c in merged.chunks] == [c.chunk_id for c in fresh.chunks]
    # (equal up to float rounding: every write normalizes the vectors again, rag.vector_index.build)
    assert np.allclose(
        merged.vectors.reconstruct_n(0, merged.vectors.ntotal),
        fresh.vectors.reconstruct_n(0, fresh.vectors.ntotal),
        atol=1e-6,
    )
    assert np.array_equal(np.asarray(merged.sentence_vectors), np.asarray(fresh.sentence_vectors))
    one, other = Retriever(merged, embedder=EMBEDDER), Retriever(fresh, embedder=EMBEDDER)
    for question in ("council vote bridge", "What did Mia Lund say?", "Calder reservoir cost"):
        assert results(one, question) == results(other, question)


def test_chunking_in_worker_processes_gives_the_same_chunks(monkeypatch, tmp_path):
    from rag.articles import load_corpus

    write(tmp_path / "corpus", synthetic(40, seed=11))
    articles = load_corpus(tmp_path / "corpus").articles
    params = ChunkingParams()
    monkeypatch.setattr(index_store, "PARALLEL_CHUNKING_FROM", 1)
    monkeypatch.setattr(index_store.os, "cpu_count", lambda: 2)
    parallel = index_store._chunk_articles(articles, params)
    assert parallel == [chunk for article in articles for chunk in chunk_article(article, params)]


def test_a_large_file_is_checked_by_size_and_sampled_blocks(archive, tmp_path, monkeypatch):
    _, index_dir, _ = copy_of(archive, tmp_path)
    generation = (index_dir / "current").resolve()
    path = generation / "main" / "sentences.npy"
    monkeypatch.setattr(index_store, "FULL_HASH_BYTES", 1 << 16)  # as if it were a large file
    manifest = json.loads((generation / "manifest.json").read_text())
    manifest = index_store.seal(generation, {k: v for k, v in manifest.items() if k not in ("files", "checksum")})
    (generation / "manifest.json").write_text(json.dumps(manifest))
    assert "sampled_sha256" in manifest["files"]["main/sentences.npy"]
    load_index(index_dir)
    size = path.stat().st_size
    with open(path, "r+b") as handle:  # a torn write: the middle block zeroed
        handle.seek(size // 2 - (size // 2) % 4096)
        handle.write(bytes(4096 * 20))
    with pytest.raises(index_store.IndexMissingError, match="sentences.npy does not match its checksum"):
        load_index(index_dir)
