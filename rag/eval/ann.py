"""`python -m rag.eval.ann --vectors 1000000`: exact against approximate vector search at a given archive size.

The vectors are derived from real ones: the chunk vectors (vectors.faiss) and sentence vectors (sentences.npy) of
an index (the BBC index by default, 12k chunks and 58k sentences of all-MiniLM-L6-v2), each repeated with
Gaussian noise (`--noise`, per dimension) and renormalized, up to `--vectors`. The queries are real vectors held
out of the base: `--queries` of those rows are drawn at random before the copies are made, and neither they nor
any copy of them is in the base, as a question is not in the archive.

The noise sets how alike neighbours are, and an approximate index's recall depends on that: the report gives the
similarity of each vector's nearest and 10th-nearest other vector, for the real vectors among themselves and for
the derived set, and of the queries' nearest and 10th-nearest base vector, in both.

For exact search (IndexFlatIP) and each candidate (IVF at two cell counts with a sweep of nprobe, HNSW with a sweep
of efSearch, and what rag.vector_index.plan chooses for this size) it reports recall@10 against exact search, the
single-query search time (p50/p95, FAISS with its default threads and with 1 thread), the build time (training
included) and the index's size, prints a table and writes JSON with the machine, the revision and the time.
Search times are also given as CPU time of the process: on a machine shared with other work the wall-clock times
are mostly waiting for a core.

Measured on 2 shared cores (AMD EPYC, load average 10-13 from other work, so wall-clock times are inflated),
FAISS 1.15.1, 48,729 distinct real vectors, noise 0.04, 500 held-out queries (200 timed), CPU p95 with 1 thread:
    100k: exact 24 ms; IVF128 nprobe 32: recall@10 0.985, 5.7 ms, built in 3.4 s;
          HNSW32 (efConstruction 40) efSearch 64: 0.982, 1.1 ms, efSearch 128: 0.994, 2.1 ms, built in 176 s
    1M:   exact 191 ms; IVF1024 nprobe 64: 0.977, 15 ms; nprobe 96: 0.986, 25 ms (wall p95 54 ms at load 11);
          nprobe 128: 0.990, 29 ms; built in 94 s (k-means on 65k vectors, then 1M added), 1.45 GiB
Noise 0.04 was chosen for the queries' neighbours: their nearest and 10th-nearest base vector have similarity
0.59 and 0.56 (median) among the derived 1M, 0.69 and 0.52 among the real vectors; 0.03 gave 0.63 and 0.60.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from rag import vector_index
from rag.eval.bench import machine
from rag.eval.metrics import percentile
from rag.eval.provenance import git_revision, now

DEFAULT_INDEX = Path(__file__).resolve().parent.parent.parent / "corpora" / "index-news" / "current"
K = 10
NPROBES = (16, 32, 64, 96, 128, 192, 256)
EF_SEARCHES = (16, 32, 64, 128)


def real_vectors(generation: Path) -> tuple[np.ndarray, np.ndarray]:
    """The chunk vectors and the sentence vectors of an index generation, float32, normalized, each once: the
    index stores a sentence once per chunk holding it, and overlapping chunks share sentences."""
    if (generation / "main").is_dir():  # an index of segments: its main segment holds the vectors
        generation = generation / "main"
    chunks = faiss.read_index(str(generation / "vectors.faiss"))
    chunk_vectors = np.unique(chunks.reconstruct_n(0, chunks.ntotal).astype(np.float32), axis=0)
    sentence_vectors = np.unique(np.load(generation / "sentences.npy"), axis=0).astype(np.float32)
    faiss.normalize_L2(chunk_vectors)
    faiss.normalize_L2(sentence_vectors)
    return chunk_vectors, sentence_vectors


def derive(origins: np.ndarray, n: int, noise: float, seed: int = 0) -> np.ndarray:
    """`n` vectors: the origins in turn (shuffled), each with Gaussian noise of this deviation per dimension,
    renormalized. Made in blocks, so the only large array is the result."""
    rng = np.random.default_rng(seed)
    which = rng.permutation(np.arange(n) % len(origins))
    out = np.empty((n, origins.shape[1]), dtype=np.float32)
    block = 100_000
    for start in range(0, n, block):
        rows = which[start : start + block]
        part = origins[rows] + rng.normal(0.0, noise, (len(rows), origins.shape[1])).astype(np.float32)
        faiss.normalize_L2(part)
        out[start : start + len(rows)] = part
    return out


def _similarities(base: np.ndarray, probes: np.ndarray, skip_self: bool) -> dict[str, float]:
    """Percentiles of the probes' nearest and 10th-nearest similarity in `base` (exact); a probe that is a row of
    the base finds itself first, which `skip_self` leaves out."""
    index = faiss.IndexFlatIP(base.shape[1])
    index.add(base)
    scores, _ = index.search(probes, K + 1)
    scores = scores[:, 1:] if skip_self else scores[:, :K]
    first, tenth = scores[:, 0].tolist(), scores[:, K - 1].tolist()
    return {
        **{f"nearest_p{q}": round(percentile(first, q), 3) for q in (10, 50, 90)},
        **{f"tenth_p{q}": round(percentile(tenth, q), 3) for q in (10, 50, 90)},
    }


def neighbour_structure(real: np.ndarray, derived: np.ndarray, queries: np.ndarray, sample: int) -> dict:
    """How alike neighbours are among the real vectors and among the derived ones (a sample of each, against
    its own set), and for the queries against each."""
    rng = np.random.default_rng(1)
    real_sample = real[rng.choice(len(real), min(sample, len(real)), replace=False)]
    derived_sample = derived[rng.choice(len(derived), min(sample, len(derived)), replace=False)]
    return {
        "real_among_real": _similarities(real, real_sample, skip_self=True),
        "derived_among_derived": _similarities(derived, derived_sample, skip_self=True),
        "queries_in_real": _similarities(real, queries, skip_self=False),
        "queries_in_derived": _similarities(derived, queries, skip_self=False),
    }


def query_times(index: faiss.Index, queries: np.ndarray, threads: int) -> dict[str, float]:
    """Single-query search times in ms (p50, p95) with FAISS on `threads` threads: wall-clock, and the CPU time
    of this process (all its threads), which other work on a shared machine inflates far less."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(threads)
    try:
        for row in range(min(5, len(queries))):  # warm-up: first touches of the index's pages
            index.search(queries[row : row + 1], K)
        times, cpu = [], []
        for row in range(len(queries)):
            started, cpu_started = time.perf_counter(), time.process_time()
            index.search(queries[row : row + 1], K)
            times.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - cpu_started) * 1000)
    finally:
        faiss.omp_set_num_threads(before)
    return {
        "p50_ms": round(percentile(times, 50), 2),
        "p95_ms": round(percentile(times, 95), 2),
        "cpu_p50_ms": round(percentile(cpu, 50), 2),
        "cpu_p95_ms": round(percentile(cpu, 95), 2),
    }


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    """Recall@K: the share of the exact top K that the approximate top K holds, over all queries."""
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found.tolist(), truth.tolist(), strict=True)]))


def candidates(n: int, hnsw: bool) -> list[tuple[str, dict[str, Any], str, tuple[int, ...]]]:
    """(name, plan, the search parameter swept, its values) for each approximate index measured at `n`."""
    chosen = vector_index.plan(n, exact_max=0)
    out = []
    for cell_size in (1000, 2000):
        nlist = 2 ** round(np.log2(max(n / cell_size, 16)))
        plan = {
            "kind": "ivf",
            "factory": f"IVF{nlist},Flat",
            "train_vectors": min(n, nlist * vector_index.IVF_TRAIN_PER_CELL),
            "search": {},
        }
        out.append((f"IVF{nlist},Flat", plan, "nprobe", tuple(p for p in NPROBES if p <= nlist)))
    if hnsw:
        out.append(
            ("HNSW32,Flat efC40", {"kind": "hnsw", "factory": "HNSW32,Flat", "search": {}}, "efSearch", EF_SEARCHES)
        )
    out.append(("plan: " + chosen["factory"], chosen, "nprobe", (chosen["search"]["nprobe"],)))
    return out


def measure(
    base: np.ndarray, queries: np.ndarray, hnsw: bool, timed: int, log=print
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The rows of the table: exact search, then every candidate at every value of its swept parameter. Recall
    is over all queries, times over the first `timed`."""
    timed_queries = queries[:timed]
    threads = faiss.omp_get_max_threads()
    started = time.perf_counter()
    exact = faiss.IndexFlatIP(base.shape[1])
    exact.add(base)
    build_seconds = time.perf_counter() - started
    _, truth = exact.search(queries, K)
    rows = [
        {
            "index": "Flat (exact)",
            "parameter": "",
            "recall_at_10": 1.0,
            "build_s": round(build_seconds, 1),
            "bytes": int(faiss.serialize_index(exact).nbytes),
            f"threads_{threads}": query_times(exact, timed_queries, threads),
            "threads_1": query_times(exact, timed_queries, 1),
        }
    ]
    log(_line(rows[-1], threads), flush=True)
    del exact
    chosen: dict[str, Any] = {}
    for name, plan, parameter, values in candidates(len(base), hnsw):
        started = time.perf_counter()
        index = vector_index.build(base, plan)
        build_seconds = time.perf_counter() - started
        size = int(faiss.serialize_index(index).nbytes)
        for value in values:
            faiss.ParameterSpace().set_index_parameter(index, parameter, value)
            _, found = index.search(queries, K)
            rows.append(
                {
                    "index": name,
                    "parameter": f"{parameter}={value}",
                    "recall_at_10": round(recall(found, truth), 4),
                    "build_s": round(build_seconds, 1),
                    "bytes": size,
                    f"threads_{threads}": query_times(index, timed_queries, threads),
                    "threads_1": query_times(index, timed_queries, 1),
                }
            )
            log(_line(rows[-1], threads), flush=True)
        if name.startswith("plan: "):
            chosen = plan
        del index
    return rows, chosen


def _line(row: dict[str, Any], threads: int) -> str:
    many, one = row[f"threads_{threads}"], row["threads_1"]
    return (
        f"{row['index']:<22} {row['parameter']:<12} {row['recall_at_10']:>6.4f} {many['p50_ms']:>8.2f} "
        f"{many['p95_ms']:>8.2f} {one['p50_ms']:>8.2f} {one['p95_ms']:>8.2f} {one['cpu_p95_ms']:>8.2f} "
        f"{row['build_s']:>8.1f} {row['bytes'] / 2**20:>8.0f}"
    )


def _header(threads: int) -> str:
    return (
        f"{'index':<22} {'search':<12} {'rec@10':>6} {f'p50 {threads}t':>8} {f'p95 {threads}t':>8} {'p50 1t':>8} "
        f"{'p95 1t':>8} {'cpu95 1t':>8} {'build s':>8} {'MiB':>8}"
    )


def build_parser() -> argparse.ArgumentParser:
    """The command's flags."""
    parser = argparse.ArgumentParser(prog="python -m rag.eval.ann", description=__doc__.split("\n\n")[0])
    parser.add_argument("--vectors", type=int, required=True, help="size of the derived base")
    parser.add_argument("--queries", type=int, default=500, help="real vectors held out as queries (default: 500)")
    parser.add_argument(
        "--noise", type=float, default=0.04, help="Gaussian noise per dimension of each copy (default: %(default)s)"
    )
    parser.add_argument(
        "--index", default=str(DEFAULT_INDEX), help="index generation whose vectors are copied (default: the BBC one)"
    )
    parser.add_argument(
        "--timed-queries", type=int, default=200, help="queries timed one by one (default: %(default)s)"
    )
    parser.add_argument(
        "--structure-sample",
        type=int,
        default=1000,
        help="vectors whose neighbours are compared (default: %(default)s)",
    )
    parser.add_argument("--no-hnsw", action="store_true", help="leave HNSW out (its build takes longest)")
    parser.add_argument("--structure-only", action="store_true", help="report the neighbour similarities only")
    parser.add_argument("--out", help="write the report as JSON to this file")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    started, revision = now(), git_revision()
    chunk_vectors, sentence_vectors = real_vectors(Path(args.index))
    real = np.vstack([chunk_vectors, sentence_vectors])
    held_out = np.random.default_rng(0).choice(len(real), args.queries, replace=False)
    queries = np.ascontiguousarray(real[held_out])
    origins = np.delete(real, held_out, axis=0)
    base = derive(origins, args.vectors, args.noise)
    structure = neighbour_structure(origins, base, queries, sample=args.structure_sample)
    threads = faiss.omp_get_max_threads()
    print(f"{args.vectors} vectors from {len(origins)} real ones (noise {args.noise}), {len(queries)} held-out queries")
    print(f"{machine()}; FAISS {faiss.__version__}, {threads} threads; load {os.getloadavg()}")
    for name, figures in structure.items():
        print(f"  similarity, {name}: {figures}")
    rows: list[dict[str, Any]] = []
    chosen: dict[str, Any] = {}
    if not args.structure_only:
        print(_header(threads), flush=True)
        rows, chosen = measure(base, queries, hnsw=not args.no_hnsw, timed=args.timed_queries)
    report = {
        "vectors": args.vectors,
        "real_vectors": {"chunks": len(chunk_vectors), "sentences": len(sentence_vectors), "source": args.index},
        "queries": {"count": len(queries), "what": "real chunk and sentence vectors held out of the base"},
        "noise": args.noise,
        "neighbour_similarity": structure,
        "rows": rows,
        "plan": chosen,
        "machine": machine(),
        "faiss": faiss.__version__,
        "threads": threads,
        "load_average_after": os.getloadavg(),
        "revision": revision,
        "time": started,
    }
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
