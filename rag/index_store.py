"""Stage 4: the on-disk index (vectors + chunk store + BM25 + manifest), built incrementally and atomically.

Layout of an index folder:
    current -> gen-<n>-<time>-<pid>/  a symlink, replaced atomically when a build finishes; n counts builds
    gen-.../manifest.json          format, embedder, chunking, one content hash per article, the segments;
                                   the size and checksum of every file below, and a checksum of its own content
    gen-.../main/                  the main segment:
        vectors.faiss                normalized chunk embeddings in an inner-product index, one row per chunk,
                                     exact or approximate by their number (rag.vector_index)
        vector_index.json            which of the two, with its parameters
        sentences.npy                one float16 embedding per chunk sentence, in chunk order (memory-mapped)
        sentence_offsets.npy         where each chunk's sentence rows start (rag.chunk_store)
        chunks.sqlite                the chunks, read by row id (rag.chunk_store), with the people each quotes
        sources.npy, published.npy   each row's outlet code and date, what filters compare (vectorized)
        bm25/                        BM25 over the chunks, in bm25s' own format (memory-mapped at load)
    gen-.../delta/                 the delta segment (same files): articles added or changed since the last merge
    gen-.../removed.npy            main's rows of articles removed or changed since (tombstones), sorted
    gen-.../loaded-ok              written by the generation's first successful load
    .lock                          held by a build from reading the corpus to the swap (flock: a killed
                                   build's lock goes with its process)
Rows are numbered main's first, then the delta's; a search, a filter, the speakers, the mentions and the
coverage all leave the removed rows out (rag.retrieve, rag.collection).

Nothing is read into Python objects per row at load: the chunks stay in SQLite (a small cache of parsed rows),
the sentence vectors, BM25's postings and an IVF index's cells are memory-mapped, and what a question asks
of every row (outlet, date) is a compact numpy column. Sentence vectors are computed at build time because
every question re-ranks its candidates by their best sentence: embedding ~90 sentences per question cost
0.3-0.4 s.

Incremental builds. A build writes a new generation beside the old one, fsyncs it, and only then swaps
`current`, so a crash, a kill or Ctrl-C during a build leaves the previous index intact and loadable. A
build that adds, changes or removes a few articles does not rewrite the archive: the new generation
hard-links (os.link) the previous main segment's files, which no generation ever changes, writes a new delta
(the previous delta's kept rows and the new articles' chunks) and the tombstones. Once the delta and the
tombstones pass DELTA_MAX_SHARE of main's rows, or on a full rebuild or an upgrade, the build merges
everything into a new main segment (and the next delta starts empty). BM25 is one bm25s index per segment
(bm25s cannot add documents to an index): a delta's IDF is its own until the merge, so a term's weight in
new articles is read off the few of them; dense search over both segments is exact (flat inner product).
Nor does it read the archive again: the manifest records each one-article file's size and modification
time (its stamp) and the body hash, and a file whose stamp is unchanged is passed over unread (as make,
rsync and git's stat cache do; a file changed within RACY_NS before the last build's scan is read again).
Measured at 100,000 synthetic articles before stamps (582,275 chunks, 4.2 GB; 2 shared cores): adding 10
articles took 65 s, of which 58 s went to reading every file again, ~7 s to the index (the previous
generation's load, the delta, the manifest). A merge writes the archive again: BM25 over all chunks is
most of it. A full rebuild (another embedder or chunking) reads every file.

Which generations are kept: `current`, and every older one back to the newest that has loaded once
(`loaded-ok`), so the generation a build replaced stays until the new one has been loaded successfully.
A load that fails (a file damaged or missing) removes nothing: it says what to run, and the generations
before it stay on disk. A generation newer than `current` was left by a build that died before its swap.
What is not kept is removed by the next load that succeeds and by every build, always under the build lock
(so never while a build writes; a load that finds a build running leaves the removing to it).

Checksums. A load checks every file against the manifest and refuses a generation changed or damaged after
its build, naming the file. A file up to FULL_HASH_BYTES is hashed whole (sha256, ~1 GB/s here); a larger one
by its size and the sha256 of SAMPLE_BLOCKS blocks spread over it, its first and last included. At 100,000
articles the files hold ~4 GB: hashing them all would take most of the 10 s a load may take and read every
byte of the memory-mapped files into the page cache, while the damage a load must catch (a truncated file,
a torn or zeroed write, a file of another generation) changes the size or a sampled block; a flipped bit
inside a large file can pass, and is caught when the build that reads it merges (it hashes what it writes).
For the same reason a large sentence-vector file is not scanned for non-numbers at load (a small one is):
the build checks the vectors it embeds before writing them.
The manifest knows the embedder by name, dimension and its vector of a fixed probe sentence: a retriever
refuses an embedder whose vector of it differs (same name, other weights), and a build takes such an
embedder for another one (a full rebuild), so a build on an index loads the embedder even when no article
changed (the app and rag.ask then search with that same loaded embedder).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import multiprocessing
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import bm25s
import faiss
import numpy as np

from rag import vector_index
from rag.articles import MAX_FILE_MB, Article, FileStamp, KnownFile, Skipped, load_corpus
from rag.chunk_store import (
    PUBLISHED,
    SENTENCE_OFFSETS,
    SOURCES,
    ChunkStore,
    SegmentStore,
    write_segment_store,
)
from rag.chunking import Chunk, ChunkingParams, chunk_article, heading_for_embedding, text_for_keywords
from rag.config import build_pause_at
from rag.embedding import Embedder, Encoder, embedder_name, get_embedder
from rag.keywords import build_bm25, load_bm25

# 3: sentence vectors; 4: quotes running on into the next paragraph or chunk; 5: the outlet in the embedded text;
# 6: dates as news exports write them, saved web pages read as pages (every article re-read)
# 7: the roles of the people each chunk names, also in the embedded text
# 8: the size and sha256 of every file, and of the manifest itself, recorded and checked at load; the
#    embedder's vector of a probe sentence (a chunk's vector derived from its sentences' vectors since the
#    chunking parameters record heading_weight: an index without it is rebuilt, its chunking changed)
# 9: chunks in SQLite read by row id, BM25 saved at build, per-row columns; main and delta segments, tombstones
FORMAT_VERSION = 9
# Format 8 holds the same vectors (chunk vectors in vectors.faiss, sentence vectors in sentences.npy, chunks in
# chunks.jsonl): a build takes them over and writes them as format 9, so an upgrade embeds nothing again.
UPGRADABLE_FORMAT = 8
CURRENT = "current"
SEGMENTS = ("main", "delta")
VECTORS = "vectors.faiss"
VECTOR_INDEX = "vector_index.json"  # which FAISS index holds a segment's vectors, and its parameters (rag.vector_index)
SENTENCES = "sentences.npy"
BM25_DIR = "bm25"
REMOVED = "removed.npy"
# The files of a format-8 generation (read only to upgrade it).
FORMAT8_FILES = ("vectors.faiss", "sentences.npy", "chunks.jsonl")
LOADED_OK = "loaded-ok"
# A build merges the delta into a new main segment when the delta's rows and the tombstones would pass this
# share of main's rows: a delta build rewrites the delta (and its BM25) whole, so its cost grows with it, and
# its IDF drifts from the archive's; at 100,000 articles 5% is ~27,000 chunks, written in seconds.
DELTA_MAX_SHARE = 0.05
FULL_HASH_BYTES = 64 << 20  # files up to this size are hashed whole at load, larger ones sampled
SAMPLE_BLOCKS = 64
SAMPLE_BLOCK_BYTES = 64 << 10
# Chunking (sentences, quotes, roles; ~70 articles/s per core) runs in worker processes from this many articles
# on: below it, starting the workers (a fresh interpreter each) costs more than it saves.
PARALLEL_CHUNKING_FROM = 400
# Points of a build where tests/test_kill.py can stop it (rag.config.build_pause_at) to kill it there.
BUILD_STEPS = (
    "embedded",
    "wrote vectors.faiss",
    "wrote sentences.npy",
    "wrote chunks.sqlite",
    "wrote bm25",
    "wrote manifest.json",
    "swapped",
)
# An embedder is known by its name, its dimension and its vector of this sentence, recorded at build: a name
# says which model was asked for, not which weights answered (a model folder replaced, another revision).
PROBE_TEXT = "The central bank raised interest rates on Tuesday, its governor told reporters in Frankfurt."
PROBE_MIN_COSINE = 0.999  # the same weights give ~1.0 (float noise); another fine-tune or revision far less


class IndexMissingError(Exception):
    """No usable index at the given folder; the message says which command builds one."""

    def __init__(self, problem: str, index_dir: Path | str, verb: str = "rebuild") -> None:
        super().__init__(f"{problem}: {verb} it with `{build_command(index_dir)}`")
        self.problem = problem  # what is wrong, without the command (a build logs it as its reason)


class EmbedderMismatchError(IndexMissingError):
    """The embedder at hand does not embed as the one the index was built with did."""


def build_command(index_dir: Path | str, corpus_dir: Path | str | None = None) -> str:
    corpus = f" --corpus {corpus_dir}" if corpus_dir else ""
    return f"python -m rag.build_index{corpus} --index {index_dir}"


@dataclass
class Segment:
    """One segment of a generation: its rows' vectors, sentence vectors, chunks and BM25."""

    name: str
    vectors: faiss.Index
    sentence_vectors: np.ndarray  # memory-mapped; row i's sentences: sentence_offsets[i] .. sentence_offsets[i + 1]
    sentence_offsets: np.ndarray
    store: SegmentStore | None  # None for a format-8 generation read to upgrade it (its chunks in `listed`)
    bm25: bm25s.BM25 | None = None
    sources: np.ndarray | None = None  # int32 outlet code per row (store.outlets), -1 for none
    published: np.ndarray | None = None  # <U10 per row
    listed: list[Chunk] | None = None

    @property
    def rows(self) -> int:
        return int(self.vectors.ntotal)

    def article_ids(self) -> list[str]:
        if self.store is None:
            return [chunk.article_id for chunk in self.listed or []]
        return [article for (article,) in self.store.query("SELECT article_id FROM chunks ORDER BY row")]

    def chunks_at(self, rows: list[int]) -> dict[int, Chunk]:
        if self.store is None:
            return {row: (self.listed or [])[row] for row in rows}
        return self.store.chunks(rows)


class SegmentedVectors:
    """The chunk vectors of all segments as one inner-product index over the generation's rows (main's, then
    the delta's): an exact search over each, merged by score, without the removed rows."""

    def __init__(self, parts: list[faiss.Index], dead: np.ndarray | None = None) -> None:
        self.parts = parts
        self.offsets = np.cumsum([0] + [p.ntotal for p in parts]).astype(np.int64)
        self.ntotal = int(self.offsets[-1])
        self.d = parts[0].d if parts else 0
        self.dead = dead

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """faiss' (scores, rows) of the k best rows, only among `allowed` (a mask over all rows) and the live."""
        filtered = allowed is not None  # a filter's rows are all scored, also in an approximate index
        if allowed is None and self.dead is not None:
            allowed = ~self.dead
        elif allowed is not None and self.dead is not None:
            allowed = allowed & ~self.dead
        found_scores, found_rows = [], []
        for part, offset in zip(self.parts, self.offsets, strict=False):
            if part.ntotal == 0 or k <= 0:
                continue
            mask = None if allowed is None else allowed[offset : offset + part.ntotal]
            if mask is not None and not mask.any():
                continue
            selector, bitmap = None, None
            if mask is not None and not mask.all():
                bitmap = np.packbits(mask, bitorder="little")
                selector = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bitmap))  # both kept alive while searched
            parameters = vector_index.search_parameters(part, selector, every_row=filtered)
            scores, rows = part.search(queries, min(k, part.ntotal), params=parameters)
            found_scores.append(scores)
            found_rows.append(np.where(rows >= 0, rows + offset, -1))
        if not found_scores:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        scores, rows = np.hstack(found_scores), np.hstack(found_rows)
        if len(found_scores) > 1:
            order = np.argsort(np.where(rows >= 0, -scores, np.inf), axis=1, kind="stable")[:, :k]
            scores, rows = np.take_along_axis(scores, order, 1), np.take_along_axis(rows, order, 1)
        return scores, rows

    def _part(self, row: int) -> tuple[faiss.Index, int]:
        number = int(np.searchsorted(self.offsets, row, side="right")) - 1
        return self.parts[number], row - int(self.offsets[number])

    def reconstruct(self, row: int) -> np.ndarray:
        part, local = self._part(int(row))
        return np.asarray(part.reconstruct(local))

    def reconstruct_n(self, start: int, n: int) -> np.ndarray:
        pieces = []
        for part, offset in zip(self.parts, self.offsets, strict=False):
            first, last = max(start, int(offset)), min(start + n, int(offset) + part.ntotal)
            if first < last:
                pieces.append(part.reconstruct_n(first - int(offset), last - first))
        return np.vstack(pieces) if pieces else np.zeros((0, self.d), np.float32)


class Index:
    """A loaded index generation: what retrieval reads."""

    def __init__(self, path: Path, manifest: dict, segments: list[Segment], dead: np.ndarray | None = None) -> None:
        self.path = path
        self.manifest = manifest
        self.segments = segments
        self.dead = dead if dead is not None and dead.any() else None  # mask over all rows: removed since main
        self.vectors = SegmentedVectors([s.vectors for s in segments], self.dead)
        self.row_offsets = self.vectors.offsets
        self.chunks: ChunkStore | list[Chunk]
        if all(s.store is not None for s in segments):
            self.chunks = ChunkStore([s.store for s in segments if s.store is not None], self.dead)
        else:  # a format-8 generation, read in full only to upgrade it
            self.chunks = [chunk for s in segments for chunk in s.listed or []]
        # The outlets of all segments, and each row's outlet as a code into them (-1: none).
        self.outlets: list[str] = []
        codes: list[np.ndarray] = []
        published: list[np.ndarray] = []
        for segment in segments:
            if segment.store is None or segment.sources is None or segment.published is None:
                continue
            known = {name: n for n, name in enumerate(self.outlets)}
            mapping = np.array([known.setdefault(name, len(known)) for name in segment.store.outlets] + [-1], np.int32)
            self.outlets = list(known)
            codes.append(mapping[segment.sources])  # -1 indexes the appended -1
            published.append(segment.published)
        self.source_codes = np.concatenate(codes) if codes else np.zeros(0, np.int32)
        self.published = np.concatenate(published) if published else np.zeros(0, "<U10")

    @property
    def sentence_vectors(self) -> np.ndarray:
        """All rows' sentence vectors (main's memory-mapped array itself when it is the only segment)."""
        if len(self.segments) == 1:
            return self.segments[0].sentence_vectors
        return np.concatenate([s.sentence_vectors for s in self.segments])

    def live(self) -> np.ndarray:
        """A mask over all rows: True for the rows not removed."""
        return np.ones(self.vectors.ntotal, bool) if self.dead is None else ~self.dead

    def sentence_count(self) -> int:
        """The sentences of the live rows (the rows of sentences.npy the removed rows do not own)."""
        counts = np.concatenate([np.diff(s.sentence_offsets) for s in self.segments] or [np.zeros(0, np.int64)])
        return int(counts[self.live()].sum()) if len(counts) else 0

    def segment_of(self, row: int) -> tuple[Segment, int]:
        number = int(np.searchsorted(self.row_offsets, row, side="right")) - 1
        return self.segments[number], int(row) - int(self.row_offsets[number])

    def chunk_sentence_vectors(self, row: int) -> np.ndarray:
        segment, local = self.segment_of(row)
        offsets = segment.sentence_offsets
        return segment.sentence_vectors[offsets[local] : offsets[local + 1]]

    @property
    def params(self) -> ChunkingParams:
        return ChunkingParams(**self.manifest["chunking"])

    @property
    def embedder(self) -> str:
        return self.manifest["embedder"]["name"]

    @property
    def article_count(self) -> int:
        return len(self.manifest["articles"])

    def check_embedder(self, model: Embedder) -> None:
        """Raise EmbedderMismatchError unless `model` is the embedder this index was built with: same name,
        same dimension, and its vector of the probe sentence the one recorded at build."""
        difference = embedder_difference(self.manifest["embedder"], model)
        if difference:
            index_dir = self.path.parent
            raise EmbedderMismatchError(
                f"the index at {index_dir} cannot be searched with this embedder: {difference}", index_dir
            )


def embedder_record(model: Embedder) -> dict:
    """What the manifest records of the embedder: name, dimension and its vector of the probe sentence."""
    vector = model.encode([PROBE_TEXT])[0]
    return {
        "name": model.name,
        "dimension": model.dimension,
        "probe": {"text": PROBE_TEXT, "vector": [round(float(x), 6) for x in vector]},
    }


def embedder_difference(recorded: dict, model: Embedder) -> str | None:
    """How `model` differs from the embedder a manifest records (None when it is the same one)."""
    if recorded["name"] != model.name:
        return f"embedder changed from {recorded['name']!r} to {model.name!r}"
    if recorded["dimension"] != model.dimension:
        return f"embedder {model.name!r} now gives {model.dimension} dimensions, not {recorded['dimension']}"
    if "probe" not in recorded:
        return None  # an index of UPGRADABLE_FORMAT, known by name and dimension only
    stored = np.asarray(recorded["probe"]["vector"], dtype=np.float64)
    fresh = np.asarray(model.encode([recorded["probe"]["text"]])[0], dtype=np.float64)
    norms = float(np.linalg.norm(stored) * np.linalg.norm(fresh))
    cosine = float(stored @ fresh) / norms if norms else float(not stored.any() and not fresh.any())
    if not cosine >= PROBE_MIN_COSINE:  # NaN fails too
        return (
            f"embedder {model.name!r} has other weights than the one the index was built with (its vector of "
            f"the probe sentence has cosine {cosine:.4f} with the recorded one, {PROBE_MIN_COSINE} needed)"
        )
    return None


def file_record(path: Path, sampled: bool | None = None) -> dict:
    """What the manifest records of an index file: its size and sha256, or for a file over FULL_HASH_BYTES
    the sha256 of SAMPLE_BLOCKS blocks spread over it (see the module docstring). `sampled` says which,
    to check a record made so (format 8 hashed every file whole)."""
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if not (size > FULL_HASH_BYTES if sampled is None else sampled):
            return {"bytes": size, "sha256": hashlib.file_digest(handle, "sha256").hexdigest()}
        digest = hashlib.sha256()
        last = max(0, size - SAMPLE_BLOCK_BYTES)
        for block in range(SAMPLE_BLOCKS):
            handle.seek(last * block // (SAMPLE_BLOCKS - 1))
            digest.update(handle.read(SAMPLE_BLOCK_BYTES))
    return {"bytes": size, "sampled_sha256": digest.hexdigest()}


def manifest_checksum(manifest: dict) -> str:
    """The sha256 of the manifest's content, its own "checksum" left out (key order and layout do not count)."""
    content = {key: value for key, value in manifest.items() if key != "checksum"}
    return hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def generation_files(generation: Path) -> list[str]:
    """The index files of a generation (paths relative to it), the manifest and loaded-ok left out."""
    files = [REMOVED] if (generation / REMOVED).is_file() else []
    for name in SEGMENTS:
        if (generation / name).is_dir():
            files += sorted(str(p.relative_to(generation)) for p in (generation / name).rglob("*") if p.is_file())
    return files


def seal(generation: Path, manifest: dict, known: dict | None = None) -> dict:
    """The manifest with the record (file_record) of every file of the generation and its own checksum.
    `known` gives the records of files linked from the previous generation, which are not read again."""
    known = known or {}
    files = {name: known.get(name) or file_record(generation / name) for name in generation_files(generation)}
    sealed = {**manifest, "files": files}
    sealed["checksum"] = manifest_checksum(sealed)
    return sealed


def _verify_files(generation: Path, manifest: dict) -> None:
    """Every index file as the build wrote it, or a ValueError naming the first that is not (a changed size
    is told apart by its own message)."""
    if manifest.get("checksum") != manifest_checksum(manifest):
        raise ValueError("manifest.json does not match its checksum: it was changed or damaged after the build")
    files = manifest["files"]
    for name in files:  # the cheap checks of all files first, so the message names the plainest damage
        if not (generation / name).is_file():
            raise ValueError(f"{name} is missing")
    for name, recorded in files.items():
        size = (generation / name).stat().st_size
        if size != recorded["bytes"]:
            raise ValueError(f"{name} has {size} bytes, the build wrote {recorded['bytes']}")
    for name, recorded in files.items():
        if file_record(generation / name, sampled="sampled_sha256" in recorded) != recorded:
            raise ValueError(f"{name} does not match its checksum: it was changed or damaged after the build")


def load_index(index_dir: Path | str, upgrading: bool = False) -> Index:
    """The generation `current` points at, checked; its first successful load marks it `loaded-ok` and
    removes the generations before it (see the module docstring). `upgrading` (a build's read of the index
    it builds on) also accepts UPGRADABLE_FORMAT."""
    index_dir = Path(index_dir)
    for attempt in range(3):
        if not (index_dir / CURRENT).exists():
            raise IndexMissingError(f"no index at {index_dir}", index_dir, verb="build")
        # `current` is resolved once: a build swapping it in meanwhile cannot make this load mix two generations.
        generation = (index_dir / CURRENT).resolve()
        try:
            index = _load_generation(index_dir, generation, upgrading)
        except IndexMissingError:
            if attempt < 2 and (index_dir / CURRENT).resolve() != generation:
                continue  # replaced (and maybe removed) while it was read: load the new one
            raise
        _mark_loaded(index_dir, generation)
        return index
    raise AssertionError("unreachable")


def _load_generation(index_dir: Path, generation: Path, upgrading: bool = False) -> Index:
    try:
        try:
            manifest = json.loads((generation / "manifest.json").read_text(encoding="utf-8"))
        except ValueError as error:  # not JSON, or not UTF-8
            raise ValueError(f"manifest.json is not a manifest ({error})") from error
        if not isinstance(manifest, dict):
            raise ValueError("manifest.json is not a manifest")
        version = manifest.get("format_version")
        upgrade = upgrading and version == UPGRADABLE_FORMAT
        if version != FORMAT_VERSION and not upgrade:
            age = "an older" if isinstance(version, int) and version < FORMAT_VERSION else "another"
            raise IndexMissingError(
                f"the index at {index_dir} was built by {age} version of this tool (format {version}, now "
                f"{FORMAT_VERSION})",
                index_dir,
            )
        _verify_files(generation, manifest)
        dimension = manifest["embedder"]["dimension"]
        if upgrade:
            return _load_format8(generation, manifest, dimension)
        segments = [_load_segment(generation / name, dimension) for name in manifest["segments"]]
        dead = None
        if (generation / REMOVED).is_file():
            dead = np.zeros(sum(s.rows for s in segments), bool)
            dead[np.load(generation / REMOVED)] = True
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, IndexError) as error:
        raise IndexMissingError(f"the index at {index_dir} is unreadable ({error})", index_dir) from error
    return Index(generation, manifest, segments, dead)


def _check_sentences(sentence_vectors: np.ndarray, offsets: np.ndarray, rows: int, dimension: int) -> None:
    if len(offsets) != rows + 1 or (rows and int(offsets[-1]) != len(sentence_vectors)):
        raise ValueError(f"{len(sentence_vectors)} sentence vectors for the chunks' sentences")
    if len(sentence_vectors) and sentence_vectors.shape[1] != dimension:
        raise ValueError(f"vectors of another dimension than the embedder's {dimension}")
    # A large file is not read whole at load (module docstring): its build checked what it wrote.
    if sentence_vectors.nbytes <= FULL_HASH_BYTES and not np.isfinite(sentence_vectors).all():
        raise ValueError("sentence vectors hold values that are not numbers")


def _load_segment(folder: Path, dimension: int) -> Segment:
    # The vector index is read here (and written in _write_vectors): one place each for the kind of index.
    record = json.loads((folder / VECTOR_INDEX).read_text(encoding="utf-8"))
    vectors = vector_index.open(folder / VECTORS, record)
    store = SegmentStore(folder)
    if vectors.ntotal != store.rows:
        raise ValueError(f"{vectors.ntotal} vectors for {store.rows} chunks")
    if vectors.d != dimension:
        raise ValueError(f"vectors of another dimension than the embedder's {dimension}")
    sentence_vectors = np.load(folder / SENTENCES, mmap_mode="r")
    offsets = np.load(folder / SENTENCE_OFFSETS)
    _check_sentences(sentence_vectors, offsets, store.rows, dimension)
    sources, published = np.load(folder / SOURCES), np.load(folder / PUBLISHED)
    if len(sources) != store.rows or len(published) != store.rows:
        raise ValueError(f"{folder.name}'s row columns do not have one value per chunk")
    bm25 = load_bm25(folder / BM25_DIR)
    if (bm25.scores["num_docs"] if bm25 else 0) != store.rows:
        raise ValueError(f"{folder.name}'s BM25 index does not have one document per chunk")
    return Segment(folder.name, vectors, sentence_vectors, offsets, store, bm25, sources, published)


def _load_format8(generation: Path, manifest: dict, dimension: int) -> Index:
    """A format-8 generation (chunks.jsonl, vectors.faiss, sentences.npy at its top), read to be upgraded."""
    with open(generation / "chunks.jsonl", encoding="utf-8") as handle:
        chunks = [Chunk.from_dict(json.loads(line)) for line in handle if line.strip()]
    vectors = faiss.read_index(str(generation / "vectors.faiss"))
    if vectors.ntotal != len(chunks) or vectors.d != dimension:
        raise ValueError(f"{vectors.ntotal} vectors of {vectors.d} dimensions for {len(chunks)} chunks")
    sentence_vectors = np.load(generation / "sentences.npy", mmap_mode="r")
    counts = [len(c.sentences) for c in chunks]
    offsets = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)]).astype(np.int64)
    _check_sentences(sentence_vectors, offsets, len(chunks), dimension)
    return Index(generation, manifest, [Segment("", vectors, sentence_vectors, offsets, None, listed=chunks)])


@dataclass
class BuildReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    duplicates: dict[str, str] = field(default_factory=dict)
    chunks: int = 0
    embedded_chunks: int = 0
    seconds: float = 0.0
    full_rebuild_reason: str | None = None
    wrote: bool = False
    not_read: int = 0  # files passed over unread: size and modification time as the index recorded them

    def summary(self) -> str:
        lines = [
            f"articles: {len(self.added)} added, {len(self.updated)} updated, {len(self.removed)} removed, "
            f"{len(self.unchanged)} unchanged, {len(self.skipped)} skipped, "
            f"{len(self.duplicates)} duplicates",
            f"chunks: {self.chunks} in the index, {self.embedded_chunks} embedded now",
            f"seconds: {self.seconds:.2f}",
        ]
        if self.full_rebuild_reason:
            lines.insert(0, f"full rebuild: {self.full_rebuild_reason}")
        if self.not_read:
            lines.append(f"files not read again (size and modification time unchanged): {self.not_read}")
        for item in self.skipped:
            lines.append(f"skipped {item.path}: {item.reason}")
        for duplicate, kept in self.duplicates.items():
            lines.append(f"duplicate {duplicate}: same text as {kept}, indexed once")
        if not self.wrote:
            lines.append("index unchanged: nothing to write")
        return "\n".join(lines)


@contextmanager
def _build_lock(index_dir: Path):
    """One build at a time per index folder (the CLI and the app may both build)."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _previous(index_dir: Path) -> tuple[Index | None, str | None]:
    """The current index, or why it cannot be built on (None when there is none yet)."""
    try:
        return load_index(index_dir, upgrading=True), None
    except IndexMissingError as error:
        return None, (error.problem if (index_dir / CURRENT).exists() else None)


def _incompatibility(
    previous: Index, embedder: str, params: ChunkingParams, load: Callable[[], Embedder]
) -> str | None:
    """Why the previous index's vectors cannot be kept (None when they can). The embedder is loaded only
    when its name and the chunking agree, to compare its weights with the recorded ones."""
    if previous.embedder != embedder:
        return f"embedder changed from {previous.embedder!r} to {embedder!r}"
    if previous.manifest["chunking"] != params.as_dict():
        return f"chunking changed from {previous.manifest['chunking']} to {params.as_dict()}"
    return embedder_difference(previous.manifest["embedder"], load())


def _article_meta(article: Article, chunk_count: int, stamp: FileStamp | None) -> dict:
    meta: dict[str, object] = {
        "hash": article.file_hash,
        "title": article.title,
        "source": article.source,
        "published": article.published,
        "url": article.url,
        "chunks": chunk_count,
        "body": article.body_hash,
    }
    if stamp is not None:
        meta["stamp"] = [stamp.size, stamp.mtime_ns]
    return meta


# A file changed within this long before a scan may have changed again in the same tick of the file
# system's clock after it was read (git's "racily clean" entries): its stamp is not trusted.
RACY_NS = 2_000_000_000


def _known_files(previous: Index | None, corpus_dir: Path) -> dict[str, KnownFile]:
    """The one-article files the previous build read from this corpus folder, with their stamps: the files
    a build need not read again while their size and modification time are unchanged."""
    if previous is None or previous.manifest.get("corpus") != str(corpus_dir.resolve()):
        return {}
    trusted_before = previous.manifest.get("scanned_ns", 0) - RACY_NS
    known = {}
    for article_id, meta in previous.manifest["articles"].items():
        stamp, body = meta.get("stamp"), meta.get("body")
        if stamp and body and stamp[1] < trusted_before:
            article = Article(
                article_id,
                meta["title"],
                "",
                meta["source"],
                meta["published"],
                meta["url"],
                meta["hash"],
                recorded_body_hash=body,
            )
            known[article_id] = KnownFile(FileStamp(stamp[0], stamp[1]), article)
    return known


def _step(name: str) -> None:
    """A point of the build (BUILD_STEPS): a build asked to pause there says so and waits to be killed."""
    if build_pause_at() == name:
        print(f"paused at {name}", file=sys.stderr, flush=True)
        time.sleep(600)


def _fsync_dir(folder: Path) -> None:
    """Make the entries of a folder (files made, a link replaced) durable, as fsync does a file's content."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _chunk_articles(articles: list[Article], params: ChunkingParams) -> list[Chunk]:
    """The chunks of the articles, in their order; from PARALLEL_CHUNKING_FROM articles on, in one worker
    process per core. The workers are started fresh ("spawn"): a fork of a process whose torch threads
    are running can hang in the child."""
    workers = min(os.cpu_count() or 1, 8)
    if len(articles) < PARALLEL_CHUNKING_FROM or workers < 2:
        return [chunk for article in articles for chunk in chunk_article(article, params)]
    chunksize = max(1, len(articles) // (workers * 16))  # few round trips, yet even work to the end
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        per_article = pool.map(chunk_article, articles, [params] * len(articles), chunksize=chunksize)
        return [chunk for chunks in per_article for chunk in chunks]


# One row of a segment being written: (the previous generation's segment number, its row there), or
# (-1, the position among the chunks embedded now).
Piece = tuple[int, int]


@dataclass
class _Sources:
    """Where the rows of a segment being written come from: the previous generation's segments and the
    chunks embedded by this build."""

    segments: list[Segment]
    chunks: list[Chunk]
    vectors: np.ndarray
    sentences: list[np.ndarray]
    params: ChunkingParams

    def sentence_count(self, piece: Piece) -> int:
        number, row = piece
        if number < 0:
            return len(self.sentences[row])
        offsets = self.segments[number].sentence_offsets
        return int(offsets[row + 1] - offsets[row])

    def sentence_vectors(self, piece: Piece) -> np.ndarray:
        number, row = piece
        if number < 0:
            return self.sentences[row]
        segment = self.segments[number]
        return segment.sentence_vectors[segment.sentence_offsets[row] : segment.sentence_offsets[row + 1]]

    def chunks_in_order(self, pieces: list[Piece]) -> Iterator[Chunk]:
        for start in range(0, len(pieces), 1000):
            batch = pieces[start : start + 1000]
            wanted: dict[int, list[int]] = {}
            for number, row in batch:
                if number >= 0:
                    wanted.setdefault(number, []).append(row)
            found = {number: self.segments[number].chunks_at(rows) for number, rows in wanted.items()}
            for number, row in batch:
                yield self.chunks[row] if number < 0 else found[number][row]


def _write_vectors(folder: Path, dimension: int, vectors: np.ndarray) -> None:
    """The chunk vectors of a segment, as the index searched at load (see _load_segment): exact or approximate
    by their number (rag.vector_index), the kind and its parameters recorded beside it (VECTOR_INDEX)."""
    record = vector_index.plan(len(vectors))
    faiss.write_index(vector_index.build(vectors.reshape(-1, dimension), record), str(folder / VECTORS))
    (folder / VECTOR_INDEX).write_text(json.dumps(record, indent=1), encoding="utf-8")


def _write_segment(folder: Path, pieces: list[Piece], sources: _Sources, dimension: int) -> None:
    """A segment's files, its rows taken from `sources` in the order of `pieces`."""
    folder.mkdir(parents=True)
    vectors = np.zeros((len(pieces), dimension), dtype=np.float32)
    positions: dict[int, tuple[list[int], list[int]]] = {}
    for position, (number, row) in enumerate(pieces):
        where, rows = positions.setdefault(number, ([], []))
        where.append(position)
        rows.append(row)
    for number, (where, rows) in positions.items():
        if number < 0:
            vectors[where] = sources.vectors[rows]
        else:
            part = sources.segments[number].vectors
            vectors[where] = part.reconstruct_n(0, part.ntotal)[rows]
    _write_vectors(folder, dimension, vectors)
    del vectors
    _step("wrote vectors.faiss")

    counts = np.array([sources.sentence_count(piece) for piece in pieces], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    # Written through a memory map: a merge at 100,000 articles has ~2 GB of them, never all in memory.
    out = np.lib.format.open_memmap(folder / SENTENCES, "w+", np.float16, (int(offsets[-1]), dimension))
    for position, piece in enumerate(pieces):
        out[offsets[position] : offsets[position + 1]] = sources.sentence_vectors(piece)
    out.flush()
    del out
    np.save(folder / SENTENCE_OFFSETS, offsets)
    _step("wrote sentences.npy")

    texts: list[str] = []

    def chunks() -> Iterator[Chunk]:
        for chunk in sources.chunks_in_order(pieces):
            texts.append(text_for_keywords(chunk, sources.params))
            yield chunk

    write_segment_store(folder, chunks())
    _step("wrote chunks.sqlite")
    build_bm25(texts, folder / BM25_DIR)
    _step("wrote bm25")


def _link_segment(source: Path, target: Path) -> None:
    """A segment of the previous generation in the new one, as hard links: no copy, and no generation's
    files ever change (os.link fails across file systems; an index folder is one)."""
    for path in sorted(source.rglob("*")):
        destination = target / path.relative_to(source)
        if path.is_dir():
            destination.mkdir(parents=True, exist_ok=True)
        else:
            destination.parent.mkdir(parents=True, exist_ok=True)
            os.link(path, destination)


def _fsync_tree(folder: Path) -> None:
    """Every file under `folder` and every folder's entries on disk."""
    for path in sorted(folder.rglob("*"), key=lambda p: -len(p.parts)):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
        else:
            _fsync_dir(path)


def _write_generation(
    index_dir: Path,
    manifest: dict,
    segments: dict[str, list[Piece] | Path],
    sources: _Sources,
    removed: np.ndarray,
    known: dict,
) -> Path:
    """The generation's files written and on disk (content and folder entries) before `current` may point at
    it. A segment is the rows to write, or the previous generation's segment folder to link."""
    generation = index_dir / _new_generation_name(index_dir)
    generation.mkdir()
    for name, rows in segments.items():
        if isinstance(rows, Path):
            _link_segment(rows, generation / name)
        else:
            _write_segment(generation / name, rows, sources, manifest["embedder"]["dimension"])
    if len(removed):
        np.save(generation / REMOVED, removed.astype(np.int64))
    _fsync_tree(generation)
    sealed = seal(generation, manifest, known)
    with open(generation / "manifest.json", "w", encoding="utf-8") as handle:
        handle.write(json.dumps(sealed, ensure_ascii=False, indent=1))
        handle.flush()
        os.fsync(handle.fileno())
    _fsync_dir(generation)  # its files' entries
    _fsync_dir(index_dir)  # the generation's own entry
    _step("wrote manifest.json")
    return generation


def _swap_in(index_dir: Path, generation: Path) -> None:
    link = index_dir / CURRENT
    temporary = index_dir / f".{CURRENT}.{os.getpid()}"
    if temporary.is_symlink() or temporary.exists():
        temporary.unlink()
    temporary.symlink_to(generation.name)
    os.replace(temporary, link)  # atomic on POSIX: readers see the old or the new index, never neither
    _step("swapped")
    _fsync_dir(index_dir)  # the new link survives a power cut


def _number(name: str) -> int:
    """A generation's number (gen-<n>-...); -1 for a name from before generations were numbered."""
    match = re.fullmatch(r"gen-(\d+)-.*", name)
    return int(match.group(1)) if match else -1


def _new_generation_name(index_dir: Path) -> str:
    number = 1 + max((_number(entry.name) for entry in index_dir.glob("gen-*")), default=0)
    return f"gen-{number:06d}-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"


def _mark_loaded(index_dir: Path, generation: Path) -> None:
    """Mark a generation as loaded once, then remove what it makes stale, if no build holds the lock."""
    try:
        (generation / LOADED_OK).touch()
        handle = open(index_dir / ".lock", "a")  # noqa: SIM115 - closed below, after the lock is let go
    except OSError:
        return  # a read-only index: it stays as it is
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return  # a build is running (maybe this process's own, loading the index it builds on)
        try:
            _remove_stale_generations(index_dir)
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _remove_stale_generations(index_dir: Path) -> None:
    """With the build lock held: remove the generations the module docstring says are not kept, and the
    temporary links of builds that died before their swap."""
    link = index_dir / CURRENT
    current = os.readlink(link) if link.is_symlink() else None
    others = [entry for entry in index_dir.glob("gen-*") if entry.is_dir() and entry.name != current]
    if current is None:
        stale = others  # none was ever swapped in: all were left by builds that died
    else:
        top = _number(current)
        loaded = [_number(g.name) for g in [index_dir / current, *others] if (g / LOADED_OK).exists()]
        keep_from = max((number for number in loaded if number <= top), default=None)
        stale = [
            entry
            for entry in others
            if _number(entry.name) > top or (keep_from is not None and _number(entry.name) < keep_from)
        ]
    for entry in stale:
        shutil.rmtree(entry, ignore_errors=True)
    for temporary in index_dir.glob(f".{CURRENT}.*"):
        temporary.unlink(missing_ok=True)


def build_index(
    corpus_dir: Path | str,
    index_dir: Path | str,
    embedder: str | Embedder | None = None,
    params: ChunkingParams | None = None,
    show_progress: bool = True,
    on_progress: Callable[[int, int], None] | None = None,
    log: Callable[[str], None] = print,
    max_file_mb: float = MAX_FILE_MB,
    encoder: Encoder | None = None,
) -> BuildReport:
    """Bring the index in line with the corpus, embedding only added or changed articles.

    `embedder` is a name (the configured one when None) or an embedder already loaded; the index records its name.
    A file that cannot be an article (unreadable, hostile, over `max_file_mb`) is skipped and listed in the report.
    `encoder` (rag.cluster.RayEncoder) embeds the new chunks and sentences in place of the local embedder, with
    the same weights; the manifest's embedder record and the checks still use the local embedder.
    """
    started = time.perf_counter()
    corpus_dir, index_dir = Path(corpus_dir), Path(index_dir)
    params = params or ChunkingParams()
    loaded = embedder if isinstance(embedder, Embedder) else None
    name = embedder.name if isinstance(embedder, Embedder) else embedder_name(embedder)
    if encoder is not None and encoder.name != name:
        raise ValueError(f"the encoder embeds with {encoder.name!r}, the index is built with {name!r}")

    def load() -> Embedder:
        nonlocal loaded
        loaded = loaded or get_embedder(name)
        return loaded

    # The corpus is read under the lock: a build that started earlier must not write an index of a corpus
    # that a later build (an upload) has changed since.
    with _build_lock(index_dir):
        _remove_stale_generations(index_dir)
        previous, unusable = _previous(index_dir)
        full_rebuild_reason = unusable or (_incompatibility(previous, name, params, load) if previous else None)
        if full_rebuild_reason:
            previous = None  # every article is read and embedded again
        scanned_ns = time.time_ns()
        corpus = load_corpus(corpus_dir, max_file_mb=max_file_mb, known=_known_files(previous, corpus_dir))
        if not corpus.articles:
            raise ValueError(
                f"no readable articles in {corpus_dir}"
                + (f" ({len(corpus.skipped)} files skipped)" if corpus.skipped else " (the folder is empty)")
                + "; the existing index, if any, is left as it was"
            )
        report = BuildReport(skipped=corpus.skipped, duplicates=corpus.duplicates, not_read=corpus.not_read)
        report.full_rebuild_reason = full_rebuild_reason
        if full_rebuild_reason:
            log(f"full rebuild: {full_rebuild_reason}")
        old_articles = previous.manifest["articles"] if previous else {}
        current_ids = {a.article_id for a in corpus.articles}
        report.removed = sorted(set(old_articles) - current_ids)
        to_embed: list[Article] = []
        for article in corpus.articles:
            old = old_articles.get(article.article_id)
            if old is None:
                report.added.append(article.article_id)
                to_embed.append(article)
            elif old["hash"] != article.file_hash:
                report.updated.append(article.article_id)
                to_embed.append(article)
            else:
                report.unchanged.append(article.article_id)

        upgrade = previous is not None and previous.manifest["format_version"] != FORMAT_VERSION
        if upgrade:
            log(f"upgrading the index to format {FORMAT_VERSION}: chunks, BM25 and row columns written to disk")
        if previous is not None and not to_embed and not report.removed and not upgrade:
            report.chunks = len(previous.chunks)
            report.seconds = time.perf_counter() - started
            return report  # nothing changed (the embedder was loaded only to check its weights)

        model = load()
        new_chunks = _chunk_articles(to_embed, params)
        new_vectors, new_sentences = _embed(encoder or model, new_chunks, params, show_progress, on_progress)
        _step("embedded")
        if not np.isfinite(new_vectors).all() or not all(np.isfinite(s).all() for s in new_sentences):
            raise ValueError(
                f"the embedder {model.name!r} gave vectors that are not numbers; the index is left as it was"
            )
        report.embedded_chunks = len(new_chunks)
        sources = _Sources(previous.segments if previous else [], new_chunks, new_vectors, new_sentences, params)
        order = {a.article_id: n for n, a in enumerate(corpus.articles)}
        new_pieces = sorted(
            ((-1, i) for i in range(len(new_chunks))), key=lambda p: (order[new_chunks[p[1]].article_id], p[1])
        )
        plan = (
            _delta_plan(previous, set(report.removed) | set(report.updated), len(new_chunks))
            if previous and not upgrade
            else None
        )
        if previous is not None and plan is not None:  # main linked, the delta rewritten with the new ones, tombstones
            main_folder, kept_delta, removed = plan
            segments: dict[str, list[Piece] | Path] = {"main": main_folder}
            if kept_delta or new_pieces:
                segments["delta"] = kept_delta + new_pieces
            rows = {"main": previous.segments[0].rows, "delta": len(kept_delta) + len(new_pieces)}
            known = {k: v for k, v in previous.manifest["files"].items() if k.startswith("main/")}
            report.chunks = rows["main"] - len(removed) + rows["delta"]
        else:  # a merge: every kept row and the new ones in one main segment, in corpus order
            keep = set(report.unchanged)
            pieces: list[tuple[tuple[int, int], Piece]] = []
            if previous is not None:
                live = previous.live()
                for number, segment in enumerate(previous.segments):
                    offset = int(previous.row_offsets[number])
                    for row, article_id in enumerate(segment.article_ids()):
                        if article_id in keep and live[offset + row]:
                            pieces.append(((order[article_id], offset + row), (number, row)))
            total = previous.vectors.ntotal if previous else 0
            pieces += [((order[new_chunks[i].article_id], total + i), (-1, i)) for _, i in new_pieces]
            segments = {"main": [piece for _, piece in sorted(pieces)]}
            rows = {"main": len(pieces)}
            removed, known = np.zeros(0, np.int64), {}
            report.chunks = len(pieces)
        per_article = {a: old_articles[a]["chunks"] for a in report.unchanged}
        for chunk in new_chunks:
            per_article[chunk.article_id] = per_article.get(chunk.article_id, 0) + 1

        report.seconds = time.perf_counter() - started
        manifest = {
            "format_version": FORMAT_VERSION,
            "embedder": embedder_record(model),
            "chunking": params.as_dict(),
            "corpus": str(corpus_dir.resolve()),
            "built_at": time.strftime("%Y-%m-%d %H:%M:%S"),
            "build_seconds": round(report.seconds, 2),
            "articles": {
                a.article_id: _article_meta(a, per_article.get(a.article_id, 0), corpus.stamps.get(a.article_id))
                for a in corpus.articles
            },
            "scanned_ns": scanned_ns,
            "duplicates": corpus.duplicates,
            "skipped": {s.path: s.reason for s in corpus.skipped},
            "segments": {name: {"rows": rows[name]} for name in segments},
            "removed_rows": len(removed),
        }
        generation = _write_generation(index_dir, manifest, segments, sources, removed, known)
        _swap_in(index_dir, generation)
        _remove_stale_generations(index_dir)
        report.wrote = True
    return report


def _delta_plan(previous: Index, dropped: set[str], new_rows: int) -> tuple[Path, list[Piece], np.ndarray] | None:
    """How a build writes the change as a delta: (main's folder to link, the previous delta's rows to keep,
    main's removed rows); None when the delta and the tombstones would pass DELTA_MAX_SHARE of main's rows
    (then the build merges)."""
    main = previous.segments[0]
    dead = ~previous.live()
    for article in dropped:
        dead[previous.chunks.article_rows(article)] = True  # type: ignore[union-attr]  # format 9: a ChunkStore
    removed = np.flatnonzero(dead[: main.rows])
    kept_delta: list[Piece] = []
    if len(previous.segments) > 1:
        kept_delta = [(1, row) for row in range(previous.segments[1].rows) if not dead[main.rows + row]]
    if len(kept_delta) + new_rows + len(removed) > DELTA_MAX_SHARE * main.rows:
        return None
    return previous.path / main.name, kept_delta, removed


def _embed(
    model: Encoder,
    chunks: list[Chunk],
    params: ChunkingParams,
    show_progress: bool,
    on_progress: Callable[[int, int], None] | None,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Chunk vectors, and each chunk's sentence vectors, embedding every distinct text once.

    What is embedded: each distinct sentence (a sentence shared by overlapping chunks, or repeated word for
    word by a wire copy in another article, once) and each article's heading (title, outlet, date). A
    chunk's vector is the normalized mean of its sentences' vectors plus `params.heading_weight` times its
    heading's vector, normalized: MiniLM pools by the mean of its token vectors, so the mean of sentence
    vectors stands close to the chunk's own, and the heading puts back what the article is about. Embedding
    whole chunks besides their sentences read every token about three times (overlap, heading, roles line);
    this reads it once, and keeps hit@1/hit@5 on the BBC Q&A sets (docs/experiments.md).
    """
    from tqdm import tqdm

    sentences = [chunk.sentence_texts() for chunk in chunks]
    headings = [heading_for_embedding(chunk) for chunk in chunks] if params.contextual else []
    texts = list(dict.fromkeys([text for texts in sentences for text in texts] + headings))
    # Embedded shortest first: a batch of similar lengths wastes little work on padding.
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    vectors = np.zeros((len(texts), model.dimension), dtype=np.float32)
    step = getattr(model, "texts_per_call", 256)  # a RayEncoder starts its pool per call: it takes far more
    with tqdm(total=len(texts), unit="text", desc="embedding", disable=not show_progress) as bar:
        for offset in range(0, len(texts), step):
            rows = order[offset : offset + step]
            vectors[rows] = model.encode([texts[i] for i in rows])
            bar.update(len(rows))
            if on_progress:
                on_progress(min(offset + step, len(texts)), len(texts))
    row_of = {text: row for row, text in enumerate(texts)}
    per_chunk = [
        vectors[[row_of[text] for text in texts_of_chunk]].reshape(-1, model.dimension) for texts_of_chunk in sentences
    ]
    chunk_vectors = np.zeros((len(chunks), model.dimension), dtype=np.float32)
    for n, chunk_sentences in enumerate(per_chunk):
        if len(chunk_sentences):
            chunk_vectors[n] = _unit(chunk_sentences.mean(axis=0))
        if headings:
            chunk_vectors[n] += params.heading_weight * vectors[row_of[headings[n]]]
    norms = np.linalg.norm(chunk_vectors, axis=1, keepdims=True)
    chunk_vectors /= np.where(norms > 0, norms, 1.0).astype(np.float32)
    return chunk_vectors, [v.astype(np.float16) for v in per_chunk]


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector
