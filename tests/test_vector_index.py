"""The vector index chosen by size (rag.vector_index): exact up to RAG_EXACT_MAX vectors, IVF above, its record in
the manifest, its search parameters and row vectors kept through the file. Real FAISS throughout; the index store
test uses the stand-in embedder (tests/fakes.HashingEmbedder), as tests/test_index.py does."""

from __future__ import annotations

import json
import random
from pathlib import Path

import faiss
import numpy as np
import pytest
from fakes import HashingEmbedder

from rag import index_store, vector_index
from rag.config import EXACT_MAX
from rag.eval.scale import status_kib

DIMENSION = 64


def clustered(n: int, clusters: int = 200) -> np.ndarray:
    """Normalized vectors in clusters of unequal spread, as embeddings of texts on a few hundred topics are (the
    same clusters at every call: base and queries are split from one call)."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(clusters, DIMENSION)).astype(np.float32)
    spread = rng.uniform(0.3, 1.0, clusters).astype(np.float32)
    which = rng.integers(0, clusters, n)
    vectors = centres[which] + rng.normal(size=(n, DIMENSION)).astype(np.float32) * spread[which, None]
    faiss.normalize_L2(vectors)
    return vectors


def recall_at_10(index: faiss.Index, base: np.ndarray, queries: np.ndarray) -> float:
    exact = faiss.IndexFlatIP(base.shape[1])
    exact.add(base)
    _, truth = exact.search(queries, 10)
    _, found = index.search(queries, 10)
    return float(np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found.tolist(), truth.tolist(), strict=True)]))


def test_the_plan_is_exact_up_to_the_configured_threshold_and_ivf_above(monkeypatch):
    monkeypatch.delenv("RAG_EXACT_MAX", raising=False)
    assert vector_index.plan(EXACT_MAX)["kind"] == "flat"
    assert vector_index.plan(EXACT_MAX + 1)["kind"] == "ivf"
    monkeypatch.setenv("RAG_EXACT_MAX", "1000")
    assert vector_index.plan(1000)["kind"] == "flat"
    above = vector_index.plan(1001)
    assert above["kind"] == "ivf" and above["factory"] == f"IVF{above['nlist']},Flat"
    assert above["faiss"] == faiss.__version__ and above["metric"] == "inner_product"
    assert vector_index.plan(10**6, exact_max=10**7)["kind"] == "flat"  # an explicit threshold wins
    monkeypatch.setenv("RAG_EXACT_MAX", "-1")
    with pytest.raises(ValueError, match="RAG_EXACT_MAX"):
        vector_index.plan(10)


def test_ivf_cells_grow_with_the_index_and_a_query_scans_a_fixed_share_of_them():
    one_million = vector_index.plan(1_000_000, exact_max=0)
    assert (one_million["nlist"], one_million["search"]["nprobe"]) == (1024, 96)
    five_million = vector_index.plan(5_500_000, exact_max=0)
    assert five_million["nlist"] == 4096 and five_million["search"]["nprobe"] == 384
    assert vector_index.plan(150_000, exact_max=0)["search"]["nprobe"] == 32  # the floor: 12 would be 9%
    tiny = vector_index.plan(100, exact_max=0)  # k-means gets 39 vectors a cell at least
    assert tiny["nlist"] * 39 <= 100 and tiny["search"]["nprobe"] <= tiny["nlist"]


def test_the_planned_ivf_index_finds_98_percent_of_the_exact_top_10():
    vectors = clustered(60_300)
    base, queries = vectors[:60_000], vectors[60_000:]
    plan = vector_index.plan(len(base), exact_max=0)
    assert plan["kind"] == "ivf" and plan["search"]["nprobe"] < plan["nlist"]  # it scans part of the cells
    index = vector_index.build(base, plan)
    assert recall_at_10(index, base, queries) >= 0.98
    faiss.ParameterSpace().set_index_parameter(index, "nprobe", 1)  # the recall measured depends on the scan
    assert recall_at_10(index, base, queries) < 0.95


def test_the_record_round_trips_with_its_search_parameters(tmp_path):
    base = clustered(5_000)
    record = json.loads(json.dumps(vector_index.plan(len(base), exact_max=0)))  # as the manifest keeps it
    path = tmp_path / "vectors.faiss"
    faiss.write_index(vector_index.build(base, record), str(path))
    opened = vector_index.open(path, record)
    assert faiss.extract_index_ivf(opened).nprobe == record["search"]["nprobe"]
    # The record, not what the file holds, sets the search parameters.
    other = {**record, "search": {"nprobe": record["search"]["nprobe"] + 3}}
    assert faiss.extract_index_ivf(vector_index.open(path, other)).nprobe == record["search"]["nprobe"] + 3
    with pytest.raises(ValueError, match="the vector index is ivf, its manifest says flat"):
        vector_index.open(path, {"kind": "flat", "search": {}})
    hnsw = {"kind": "hnsw", "factory": "HNSW16,Flat", "search": {"efSearch": 77}}
    faiss.write_index(vector_index.build(base, hnsw), str(path))
    assert vector_index.open(path, hnsw).hnsw.efSearch == 77


def _anonymous_mib() -> float:
    """The process's own memory (RssAnon), not pages of mapped files, which the system can take back."""
    return status_kib(Path("/proc/self/status"), "RssAnon") / 1024


def test_an_ivf_index_reads_its_cells_from_its_file_not_into_memory(tmp_path):
    base = clustered(200_000)  # 51 MB of vectors
    record = vector_index.plan(len(base), exact_max=0)
    built = vector_index.build(base, record)
    path = tmp_path / "vectors.faiss"
    faiss.write_index(built, str(path))
    queries = base[::997] + 0.01
    expected = built.search(queries, 10)
    del built
    before = _anonymous_mib()
    opened = vector_index.open(path, record)
    assert _anonymous_mib() - before < 10, "the cells were read into memory"  # the direct map is 1.6 MB
    cells = faiss.downcast_InvertedLists(faiss.extract_index_ivf(opened).invlists)
    assert type(cells).__name__ == "OnDiskInvertedLists"
    found = opened.search(queries, 10)
    np.testing.assert_array_equal(found[1], expected[1])
    np.testing.assert_array_equal(found[0], expected[0])
    np.testing.assert_array_equal(opened.reconstruct(4321), base[4321])
    every = vector_index.search_parameters(opened, faiss.IDSelectorRange(100, 200), every_row=True)
    _, rows = opened.search(queries, 5, params=every)
    assert ((rows >= 100) & (rows < 200)).all()


@pytest.mark.parametrize(
    "record",
    [
        vector_index.plan(3_000, exact_max=10**6),
        vector_index.plan(3_000, exact_max=0),
        {"kind": "hnsw", "factory": "HNSW16,Flat", "search": {"efSearch": 32}},
    ],
    ids=["flat", "ivf", "hnsw"],
)
def test_every_kind_gives_back_each_rows_vector_after_a_write_and_read(tmp_path, record):
    base = clustered(3_000) * 2.0  # not unit length: the index normalizes
    path = tmp_path / "vectors.faiss"
    faiss.write_index(vector_index.build(base, record), str(path))
    index = vector_index.open(path, record)
    expected = base / np.linalg.norm(base, axis=1, keepdims=True)
    for row in (0, 1, 1234, 2999):
        np.testing.assert_allclose(index.reconstruct(row), expected[row], atol=1e-6)
    np.testing.assert_allclose(index.reconstruct_n(0, index.ntotal), expected, atol=1e-6)


SYLLABLES = ("ka", "lo", "mi", "ru", "te", "vo", "zi", "pa")
WORDS = [f"{a}{b}" for a in SYLLABLES for b in ("ban", "dor", "fel", "gur", "hin")]


def _corpus(folder, articles: int) -> None:
    """Articles of made-up words on a few topics each, so chunks cluster as real ones do."""
    rng = random.Random(0)
    folder.mkdir()
    for n in range(articles):
        topic = rng.sample(WORDS, 6)
        sentences = [
            " ".join(rng.choice(topic) if rng.random() < 0.6 else rng.choice(WORDS) for _ in range(9)).capitalize()
            + "."
            for _ in range(16)
        ]
        (folder / f"{n:03d}.txt").write_text(f"Report {n}\n\n" + " ".join(sentences) + "\n", encoding="utf-8")


def test_an_index_built_past_the_threshold_loads_as_ivf_and_finds_what_the_exact_one_finds(tmp_path, monkeypatch):
    corpus = tmp_path / "corpus"
    _corpus(corpus, 250)
    embedder = HashingEmbedder(dimension=DIMENSION)
    monkeypatch.setenv("RAG_EXACT_MAX", str(10**6))
    index_store.build_index(corpus, tmp_path / "exact", embedder=embedder, show_progress=False, log=lambda m: None)
    monkeypatch.setenv("RAG_EXACT_MAX", "100")
    index_store.build_index(corpus, tmp_path / "ivf", embedder=embedder, show_progress=False, log=lambda m: None)
    exact, approximate = index_store.load_index(tmp_path / "exact"), index_store.load_index(tmp_path / "ivf")

    def record_of(index):
        return json.loads((index.path / "main" / index_store.VECTOR_INDEX).read_text())

    assert record_of(exact)["kind"] == "flat"
    record = record_of(approximate)
    # ~1000 chunks make 16 cells, all scanned (IVF_MIN_NPROBE): what is checked here is the store's use of the
    # index (the record, the load, rows and vectors), the approximation is test_the_planned_ivf_index_... 's.
    assert record["kind"] == "ivf" and record["nlist"] == 16, record
    assert faiss.extract_index_ivf(approximate.vectors.parts[0]).nprobe == record["search"]["nprobe"]
    assert [c.chunk_id for c in approximate.chunks] == [c.chunk_id for c in exact.chunks]
    queries = embedder.encode([c.text for c in list(exact.chunks)[::25]] + ["kaban lodor mifel", "vogur zihin paban"])
    _, exact_rows = exact.vectors.search(queries, 1)
    _, approximate_rows = approximate.vectors.search(queries, 1)
    assert approximate_rows[:, 0].tolist() == exact_rows[:, 0].tolist()
    np.testing.assert_allclose(approximate.vectors.reconstruct(7), exact.vectors.reconstruct(7), atol=1e-6)

    # A build on the approximate index takes its vectors over (reconstruct_n) for the articles left as they were.
    (corpus / "000.txt").unlink()
    report = index_store.build_index(corpus, tmp_path / "ivf", embedder=embedder, show_progress=False)
    assert report.embedded_chunks == 0 and report.removed == ["000.txt"]
    rebuilt = index_store.load_index(tmp_path / "ivf")
    kept = [row for row, c in enumerate(exact.chunks) if c.article_id != "000.txt"]
    before = exact.vectors.reconstruct_n(0, exact.vectors.ntotal)[kept]
    # The removed article's rows stay in the main segment as removed rows until the next merge.
    live = rebuilt.vectors.reconstruct_n(0, rebuilt.vectors.ntotal)
    live = live if rebuilt.dead is None else live[~rebuilt.dead]
    np.testing.assert_allclose(live, before, atol=1e-6)


def test_a_search_of_every_row_scores_every_row_of_an_approximate_index():
    """A filtered search asks for every chunk: an IVF index, which scans only some cells, must still score all."""
    base = clustered(20_000)
    index = vector_index.build(base, vector_index.plan(len(base), exact_max=1000))
    faiss.extract_index_ivf(index).nprobe = 2  # of 16 cells: as a large index scans a small share of its cells
    query = base[:1]
    _, partial = index.search(query, len(base))
    assert (partial[0] >= 0).sum() < len(base)  # the cells not scanned give no rows
    scores, rows = index.search(query, len(base), params=vector_index.search_parameters(index, every_row=True))
    assert sorted(rows[0].tolist()) == list(range(len(base)))
    np.testing.assert_allclose(scores[0][:5], (base @ query[0])[np.argsort(-(base @ query[0]))[:5]], atol=1e-5)
