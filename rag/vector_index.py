"""The FAISS index behind the chunk vectors, chosen by how many there are.

Chunk vectors are normalized, so inner product is cosine. Up to `exact_max` vectors (rag.config, RAG_EXACT_MAX;
EXACT_MAX by default) the index is exact (`IndexFlatIP`): its search reads every vector, which stays well under
the 50 ms per-query budget there on 2 cores. Above it the index is an inverted file (`IVF<nlist>,Flat`):
k-means cells, of which a query scans `nprobe`. Both thresholds and parameters were measured with
`python -m rag.eval.ann` on vectors derived from the BBC index's real chunk and sentence vectors (the figures are
in the module docstring of rag/eval/ann.py). IVF was chosen over HNSW: it met the recall and latency targets at
1M vectors (recall@10 0.986, 25 ms CPU p95, built in 94 s), and HNSW, though faster to search (0.98 at ~1 ms),
builds its graph one vector at a time: 176 s for 100k vectors where IVF took 3.4 s, so tens of minutes at 1M,
paid again by every build, since a build writes the whole index anew.

`plan(n)` says which index and with what parameters; `build(vectors, plan)` makes it; the plan, with the FAISS
version, is the record the manifest keeps (`"vector_index"`), and `open(path, record)` reads the index back with
the record's search-time parameters applied (FAISS 1.15 keeps nprobe and efSearch in the file, but a record is
the one place they are stated, so they are set from it, whatever an older or newer FAISS wrote).

An IVF index's cells (its vectors, most of its bytes: 1.1 GiB at 763,231 vectors) are memory-mapped from its
file (FAISS's IO_FLAG_MMAP), not read into memory: a query reads the cells it scans, and the pages it read stay
in the page cache, which the system takes back under pressure, instead of in the process's own memory. A
segment's files are never changed once written (rag.index_store), so a mapped file cannot change under a reader.

Every kind answers `reconstruct(row)` with the row's stored vector (the retriever's cosine of keyword-only
candidates, a build taking the previous vectors over): the flat and HNSW kinds store vectors as they are, and
an IVF index is given a direct map (row -> its place in its cell), which it keeps in its file.

An approximate index returns at most the vectors of the cells it scans, so a search that must score every row a
filter allows passes `search_parameters(..., every_row=True)`: an IVF index then scans all its cells, which is
exact (its cells hold the vectors as they are) and costs what a flat search costs.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from rag.config import exact_max as configured_exact_max

# Measured (python -m rag.eval.ann, vectors derived from the BBC index's, 2-core AMD EPYC): at 1M vectors,
# IVF1024 (IVF_CELL_SIZE ~1000 vectors a cell) reached recall@10 0.977 against exact search at nprobe 64 and 0.98+
# at 96 (9% of the cells), 15-22 ms of CPU per query at p95 (exact: 191 ms), built in 94 s. At 100k (IVF128) 32
# cells of 128 gave 0.985: a small index needs a larger share, hence the floor.
IVF_CELL_SIZE = 1000  # vectors per k-means cell: nlist = n / IVF_CELL_SIZE, rounded to a power of two
IVF_PROBE_SHARE = 96 / 1024  # share of the cells a query scans
IVF_MIN_NPROBE = 32
IVF_MIN_NLIST = 16
IVF_TRAIN_PER_CELL = 64  # training vectors per cell (FAISS wants 39 to 256; more costs k-means time, not recall)
IVF_MIN_TRAIN_PER_CELL = 39  # below this FAISS warns that its k-means has too few points
TRAIN_SEED = 1234  # k-means starts from these rows: the same vectors give the same index


def plan(n_vectors: int, exact_max: int | None = None) -> dict[str, Any]:
    """Which index `n_vectors` chunk vectors get: "flat" (exact) up to `exact_max` (rag.config.exact_max() when
    None), "ivf" above it, with its parameters; the FAISS version is recorded with them."""
    limit = configured_exact_max() if exact_max is None else exact_max
    if n_vectors <= limit:
        record: dict[str, Any] = {"kind": "flat", "factory": "Flat", "search": {}}
    else:
        nlist = 2 ** round(math.log2(max(n_vectors / IVF_CELL_SIZE, IVF_MIN_NLIST)))
        # k-means wants at least IVF_MIN_TRAIN_PER_CELL vectors a cell (a small index forced approximate, in tests)
        nlist = min(nlist, 2 ** math.floor(math.log2(max(n_vectors // IVF_MIN_TRAIN_PER_CELL, 1))))
        nprobe = min(nlist, max(IVF_MIN_NPROBE, math.ceil(nlist * IVF_PROBE_SHARE)))
        record = {
            "kind": "ivf",
            "factory": f"IVF{nlist},Flat",
            "nlist": nlist,
            "train_vectors": min(n_vectors, nlist * IVF_TRAIN_PER_CELL),
            "search": {"nprobe": nprobe},
        }
    return {**record, "metric": "inner_product", "faiss": faiss.__version__}


def build(vectors: np.ndarray, plan: dict[str, Any]) -> faiss.Index:
    """The index `plan` describes, holding `vectors` in their row order (row i is vector i), normalized: a row
    whose norm is not 1 is normalized here; one that is stays bit for bit (a build takes vectors over)."""
    if vectors.ndim != 2:
        raise ValueError(f"vectors must be rows of a matrix, not an array of shape {vectors.shape}")
    vectors = np.array(vectors, dtype=np.float32, order="C")  # a copy: normalized here, the caller's left as is
    norms = np.linalg.norm(vectors, axis=1)
    off = np.abs(norms - 1) > 1e-5
    vectors[off] /= np.where(norms[off] > 0, norms[off], 1.0)[:, None]
    index = faiss.index_factory(vectors.shape[1], plan["factory"], faiss.METRIC_INNER_PRODUCT)
    for name, value in plan.get("build", {}).items():  # build-time parameters such as HNSW's efConstruction
        faiss.ParameterSpace().set_index_parameter(index, name, value)
    if not index.is_trained:
        train_vectors = plan.get("train_vectors", len(vectors))
        rows = np.random.default_rng(TRAIN_SEED).choice(len(vectors), min(train_vectors, len(vectors)), replace=False)
        index.train(vectors[np.sort(rows)])
    index.add(vectors)
    _ready(index, plan)
    return index


def open(path: Path | str, record: dict[str, Any] | None) -> faiss.Index:  # noqa: A001 - the module's verb
    """The index written at `path`, with the search-time parameters of its manifest record applied. None (a
    manifest from before the record) is an exact index."""
    record = record or {"kind": "flat", "search": {}}
    index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP if record["kind"] == "ivf" else 0)
    kind = _kind(index)
    if kind != record["kind"]:
        raise ValueError(f"the vector index is {kind}, its manifest says {record['kind']}")
    _ready(index, record)
    return index


def _kind(index: faiss.Index) -> str:
    if isinstance(index, faiss.IndexFlat):
        return "flat"
    if isinstance(index, faiss.IndexHNSW):
        return "hnsw"
    try:
        faiss.extract_index_ivf(index)
    except RuntimeError:
        return type(index).__name__
    return "ivf"


def _ready(index: faiss.Index, record: dict[str, Any]) -> None:
    """Apply the record's search parameters (nprobe, efSearch) and give an IVF index its direct map."""
    for name, value in record.get("search", {}).items():
        faiss.ParameterSpace().set_index_parameter(index, name, value)
    if record["kind"] == "ivf":
        ivf = faiss.extract_index_ivf(index)
        if ivf.direct_map.no():
            ivf.make_direct_map()  # what reconstruct(row) needs: row -> its place in its cell


def search_parameters(
    index: faiss.Index, selector: faiss.IDSelector | None = None, every_row: bool = False
) -> faiss.SearchParameters | None:
    """What a search of `index` passes as `params`: the rows `selector` allows (None: all), and with `every_row`
    an IVF index scans all its cells, so every allowed row is scored (None when there is nothing to set)."""
    ivf = faiss.try_extract_index_ivf(index)
    parameters: Any
    if ivf is not None and (every_row or selector is not None):
        parameters = faiss.SearchParametersIVF()
        parameters.nprobe = ivf.nlist if every_row else ivf.nprobe
    elif selector is not None:
        parameters = faiss.SearchParameters()
    else:
        return None
    if selector is not None:
        parameters.sel = selector
    return parameters
