"""Stage 4: the on-disk index (FAISS vectors + chunk store + manifest), built incrementally and atomically.

Layout of an index folder:
    current -> gen-<n>-<time>-<pid>/  a symlink, replaced atomically when a build finishes; n counts builds
    gen-.../manifest.json          format, embedder, chunking, one content hash per article; the size and
                                   sha256 of the three files below, and a checksum of its own content
    gen-.../chunks.jsonl           one Chunk per line, in FAISS row order
    gen-.../vectors.faiss          normalized embeddings in an inner-product index, exact or approximate by
                                   their number (rag.vector_index; the manifest records which, and its parameters)
    gen-.../sentences.npy          one float16 embedding per chunk sentence, in chunk order
    gen-.../loaded-ok              written by the generation's first successful load
    .lock                          held by a build from reading the corpus to the swap (flock: a killed
                                   build's lock goes with its process)
Sentence vectors are computed at build time because every question re-ranks its candidates by their
best sentence: embedding ~90 sentences per question cost 0.3-0.4 s of each answer.
A build writes a new generation beside the old one, fsyncs it, and only then swaps `current`, so a crash,
a kill or Ctrl-C during a build leaves the previous index intact and loadable.

Which generations are kept: `current`, and every older one back to the newest that has loaded once
(`loaded-ok`), so the generation a build replaced stays until the new one has been loaded successfully.
A load that fails (a file damaged or missing) removes nothing: it says what to run, and the generations
before it stay on disk. A generation newer than `current` was left by a build that died before its swap.
What is not kept is removed by the next load that succeeds and by every build, always under the build lock
(so never while a build writes; a load that finds a build running leaves the removing to it).
A load checks every file against the manifest's checksums and refuses a generation changed or damaged
after its build, naming the file. All bytes are hashed: for a 77 MB index (12k chunks, 58k sentences) that
adds 0.09 s to a 0.8 s load, so no cheaper variant (sizes, sampled blocks) is needed.
The manifest knows the embedder by name, dimension and its vector of a fixed probe sentence: a retriever
refuses an embedder whose vector of it differs (same name, other weights), and a build takes such an
embedder for another one (a full rebuild), so a build on an index loads the embedder even when no article
changed (the app and rag.ask then search with that same loaded embedder).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import faiss
import numpy as np

from rag import vector_index
from rag.articles import MAX_FILE_MB, Article, Skipped, load_corpus
from rag.chunking import Chunk, ChunkingParams, chunk_article, heading_for_embedding
from rag.config import build_pause_at
from rag.embedding import Embedder, Encoder, embedder_name, get_embedder

# 3: sentence vectors; 4: quotes running on into the next paragraph or chunk; 5: the outlet in the embedded text;
# 6: dates as news exports write them, saved web pages read as pages (every article re-read)
# 7: the roles of the people each chunk names, also in the embedded text
# 8: the size and sha256 of every file, and of the manifest itself, recorded and checked at load; the
#    embedder's vector of a probe sentence (a chunk's vector derived from its sentences' vectors since the
#    chunking parameters record heading_weight: an index without it is rebuilt, its chunking changed)
FORMAT_VERSION = 8
# Format 7 differs only by what the manifest records (no checksums, no probe vector): a build takes its vectors
# over and writes them as format 8, so an upgrade embeds nothing again.
UPGRADABLE_FORMAT = 7
CURRENT = "current"
# The files of a generation the manifest records the size and sha256 of (the manifest checks itself).
INDEX_FILES = ("vectors.faiss", "sentences.npy", "chunks.jsonl")
LOADED_OK = "loaded-ok"
# Points of a build where tests/test_kill.py can stop it (rag.config.build_pause_at) to kill it there.
BUILD_STEPS = (
    "embedded",
    "wrote vectors.faiss",
    "wrote sentences.npy",
    "wrote chunks.jsonl",
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
class Index:
    """A loaded index generation: what retrieval reads."""

    path: Path
    manifest: dict
    chunks: list[Chunk]
    vectors: faiss.Index
    sentence_vectors: np.ndarray  # rows of chunk i's sentences: sentence_offsets[i] .. sentence_offsets[i + 1]
    sentence_offsets: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        counts = [len(c.sentences) for c in self.chunks]
        self.sentence_offsets = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)]).astype(np.int64)

    def chunk_sentence_vectors(self, row: int) -> np.ndarray:
        return self.sentence_vectors[self.sentence_offsets[row] : self.sentence_offsets[row + 1]]

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


def file_record(path: Path) -> dict:
    """What the manifest records of an index file: its size and sha256."""
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    return {"bytes": size, "sha256": digest}


def manifest_checksum(manifest: dict) -> str:
    """The sha256 of the manifest's content, its own "checksum" left out (key order and layout do not count)."""
    content = {key: value for key, value in manifest.items() if key != "checksum"}
    return hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def seal(generation: Path, manifest: dict) -> dict:
    """The manifest with the size and sha256 of the generation's files (INDEX_FILES) and its own checksum."""
    sealed = {**manifest, "files": {name: file_record(generation / name) for name in INDEX_FILES}}
    sealed["checksum"] = manifest_checksum(sealed)
    return sealed


def _verify_files(generation: Path, manifest: dict) -> None:
    """Every index file as the build wrote it, or a ValueError naming the first that is not (a changed size
    is told apart by its own message). sha256 runs at ~1 GB/s here (hashlib.file_digest)."""
    if manifest.get("checksum") != manifest_checksum(manifest):
        raise ValueError("manifest.json does not match its checksum: it was changed or damaged after the build")
    for name in INDEX_FILES:
        recorded, path = manifest["files"][name], generation / name
        if not path.is_file():
            raise ValueError(f"{name} is missing")
        record = file_record(path)
        if record["bytes"] != recorded["bytes"]:
            raise ValueError(f"{name} has {record['bytes']} bytes, the build wrote {recorded['bytes']}")
        if record["sha256"] != recorded["sha256"]:
            raise ValueError(f"{name} does not match its checksum: it was changed or damaged after the build")


def load_index(index_dir: Path | str, upgrading: bool = False) -> Index:
    """The generation `current` points at, checked; its first successful load marks it `loaded-ok` and
    removes the generations before it (see the module docstring). `upgrading` (a build's read of the index
    it builds on) also accepts UPGRADABLE_FORMAT, whose files have no recorded checksums to verify."""
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
        if not upgrade:
            _verify_files(generation, manifest)
        with open(generation / "chunks.jsonl", encoding="utf-8") as handle:
            chunks = [Chunk.from_dict(json.loads(line)) for line in handle if line.strip()]
        vectors = vector_index.open(generation / "vectors.faiss", manifest.get("vector_index"))
        if vectors.ntotal != len(chunks):
            raise ValueError(f"{vectors.ntotal} vectors for {len(chunks)} chunks")
        sentence_vectors = np.load(generation / "sentences.npy", mmap_mode="r")
        if len(sentence_vectors) != sum(len(c.sentences) for c in chunks):
            raise ValueError(f"{len(sentence_vectors)} sentence vectors for the chunks' sentences")
        dimension = manifest["embedder"].get("dimension", vectors.d)
        if vectors.d != dimension or (len(sentence_vectors) and sentence_vectors.shape[1] != dimension):
            raise ValueError(f"vectors of another dimension than the embedder's {dimension}")
        if not np.isfinite(sentence_vectors).all():
            raise ValueError("sentence vectors hold values that are not numbers")
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as error:
        raise IndexMissingError(f"the index at {index_dir} is unreadable ({error})", index_dir) from error
    return Index(generation, manifest, chunks, vectors, sentence_vectors)


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


def _article_meta(article: Article, chunk_count: int) -> dict:
    return {
        "hash": article.file_hash,
        "title": article.title,
        "source": article.source,
        "published": article.published,
        "url": article.url,
        "chunks": chunk_count,
    }


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


def _write_generation(
    index_dir: Path, manifest: dict, chunks: list[Chunk], vectors: np.ndarray, sentence_vectors: np.ndarray
) -> Path:
    """The generation's files written and on disk (content and folder entries) before `current` may point at it."""
    generation = index_dir / _new_generation_name(index_dir)
    generation.mkdir()
    # Exact or approximate by the number of vectors (rag.vector_index); the manifest records which, and how.
    record = vector_index.plan(len(vectors))
    faiss_index = vector_index.build(vectors.reshape(-1, manifest["embedder"]["dimension"]), record)
    manifest = {**manifest, "vector_index": record}
    faiss.write_index(faiss_index, str(generation / "vectors.faiss"))
    _step("wrote vectors.faiss")
    np.save(generation / "sentences.npy", sentence_vectors.astype(np.float16))
    _step("wrote sentences.npy")
    with open(generation / "chunks.jsonl", "w", encoding="utf-8") as handle:
        for chunk in chunks:
            handle.write(json.dumps(chunk.to_dict(), ensure_ascii=False) + "\n")
    _step("wrote chunks.jsonl")
    for name in INDEX_FILES:
        with open(generation / name, "rb") as handle:
            os.fsync(handle.fileno())
    sealed = seal(generation, manifest)
    with open(generation / "manifest.json", "w", encoding="utf-8") as handle:
        handle.write(json.dumps(sealed, ensure_ascii=False, indent=1))
        handle.flush()
        os.fsync(handle.fileno())
    _fsync_dir(generation)  # its four files' entries
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
        corpus = load_corpus(corpus_dir, max_file_mb=max_file_mb)
        report = BuildReport(skipped=corpus.skipped, duplicates=corpus.duplicates)
        if not corpus.articles:
            raise ValueError(
                f"no readable articles in {corpus_dir}"
                + (f" ({len(corpus.skipped)} files skipped)" if corpus.skipped else " (the folder is empty)")
                + "; the existing index, if any, is left as it was"
            )
        _remove_stale_generations(index_dir)
        previous, unusable = _previous(index_dir)
        report.full_rebuild_reason = unusable or (_incompatibility(previous, name, params, load) if previous else None)
        if report.full_rebuild_reason:
            log(f"full rebuild: {report.full_rebuild_reason}")
            previous = None
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
            log(f"upgrading the index to format {FORMAT_VERSION}: checksums and the embedder's probe vector recorded")
        if previous is not None and not to_embed and not report.removed and not upgrade:
            report.chunks = len(previous.chunks)
            report.seconds = time.perf_counter() - started
            return report  # nothing changed (the embedder was loaded only to check its weights)

        model = load()
        kept_chunks: list[Chunk] = []
        kept_vectors = np.zeros((0, model.dimension), dtype=np.float32)
        kept_sentences: list[np.ndarray] = []
        if previous is not None:
            old_vectors = previous.vectors.reconstruct_n(0, previous.vectors.ntotal)
            keep_ids = set(report.unchanged)
            rows = [i for i, c in enumerate(previous.chunks) if c.article_id in keep_ids]
            kept_chunks = [previous.chunks[i] for i in rows]
            kept_vectors = np.asarray(old_vectors[rows], dtype=np.float32).reshape(-1, model.dimension)
            kept_sentences = [np.asarray(previous.chunk_sentence_vectors(i)) for i in rows]

        new_chunks = [chunk for article in to_embed for chunk in chunk_article(article, params)]
        new_vectors, new_sentences = _embed(encoder or model, new_chunks, params, show_progress, on_progress)
        _step("embedded")
        report.embedded_chunks = len(new_chunks)

        # Keep the corpus order so the chunk store is stable across builds.
        order = {a.article_id: n for n, a in enumerate(corpus.articles)}
        chunks = kept_chunks + new_chunks
        vectors = np.vstack([kept_vectors, new_vectors]) if len(chunks) else kept_vectors
        permutation = sorted(range(len(chunks)), key=lambda i: (order[chunks[i].article_id], i))
        per_chunk_sentences = kept_sentences + new_sentences
        chunks = [chunks[i] for i in permutation]
        vectors = vectors[permutation] if len(chunks) else vectors
        sentence_vectors = np.concatenate(
            [np.zeros((0, model.dimension), dtype=np.float16)] + [per_chunk_sentences[i] for i in permutation]
        )
        per_article: dict[str, int] = {}
        for chunk in chunks:
            per_article[chunk.article_id] = per_article.get(chunk.article_id, 0) + 1

        report.chunks = len(chunks)
        report.seconds = time.perf_counter() - started
        manifest = {
            "format_version": FORMAT_VERSION,
            "embedder": embedder_record(model),
            "chunking": params.as_dict(),
            "corpus": str(corpus_dir.resolve()),
            "built_at": time.strftime("%Y-%m-%d %H:%M:%S"),
            "build_seconds": round(report.seconds, 2),
            "articles": {a.article_id: _article_meta(a, per_article.get(a.article_id, 0)) for a in corpus.articles},
            "duplicates": corpus.duplicates,
            "skipped": {s.path: s.reason for s in corpus.skipped},
        }
        generation = _write_generation(index_dir, manifest, chunks, vectors, sentence_vectors)
        _swap_in(index_dir, generation)
        _remove_stale_generations(index_dir)
        report.wrote = True
    return report


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
    chunk_vectors = chunk_vectors / np.where(norms > 0, norms, 1.0)
    return chunk_vectors, [v.astype(np.float16) for v in per_chunk]


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector
