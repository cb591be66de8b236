"""The index stage with real FAISS: incremental, atomic, clear errors. The embedder is a stand-in
(tests/fakes.HashingEmbedder) except where the command line loads the configured one."""

import json

import pytest
from fakes import HashingEmbedder

from rag import index_store
from rag.articles import parse_file
from rag.chunking import ChunkingParams, chunk_article
from rag.index_store import EmbedderMismatchError, IndexMissingError, load_index

EMBEDDER = HashingEmbedder()


def build_index(corpus, index, **options):
    return index_store.build_index(corpus, index, embedder=options.pop("embedder", EMBEDDER), **options)


def reseal(generation):
    """Record the generation's files as they are now, as if the build had written them so."""
    manifest_path = generation / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps(index_store.seal(generation, manifest)))


def flip_bit(path, at):
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


def test_chunks_follow_sentences_overlap_and_point_back_into_the_article(corpus_copy):
    [article] = parse_file("seed.txt", next(corpus_copy.iterdir()).read_bytes())
    chunks = chunk_article(article, ChunkingParams(sentences_per_chunk=4, overlap=1))
    assert len(chunks) > 3
    for chunk in chunks:
        assert article.text[chunk.start : chunk.end] == chunk.text
        assert chunk.title == article.title and chunk.source == "TVB News" and chunk.published == "2025-12-03 20:32"
        for start, end in chunk.sentences:
            assert chunk.start <= start < end <= chunk.end
    for first, second in zip(chunks, chunks[1:], strict=False):
        assert first.sentences[-1] == second.sentences[0]  # one sentence of overlap
    quoted = [q for c in chunks for q in c.quotes if q.speaker == "Yuri Ushakov"]
    assert any("compromise hasn't been found" in q.text for q in quoted)


def test_a_quote_over_a_chunk_boundary_makes_its_speaker_a_speaker_of_both_chunks(corpus_copy):
    [article] = parse_file("seed.txt", next(corpus_copy.iterdir()).read_bytes())
    chunks = chunk_article(article, ChunkingParams(sentences_per_chunk=3, overlap=0))
    rutte = [c for c in chunks if any(q.speaker == "Mark Rutte" for q in c.quotes)]
    assert len(rutte) >= 2  # his closing quote runs over several sentences to the end of the article
    for chunk in chunks:
        for quote in chunk.quotes:
            assert chunk.start <= quote.start < quote.end <= chunk.end
            assert article.text[quote.start : quote.end] == quote.text


def test_build_then_no_op_then_incremental_changes(corpus_copy, tmp_path):
    index = tmp_path / "index"
    first = build_index(corpus_copy, index, show_progress=False)
    assert first.added == ["000_34dd6e6ea37e3941.txt"] and first.wrote and first.chunks > 0
    manifest = load_index(index).manifest
    assert manifest["embedder"] == index_store.embedder_record(EMBEDDER)
    assert manifest["embedder"]["name"] == EMBEDDER.name and manifest["embedder"]["dimension"] == EMBEDDER.dimension
    assert manifest["chunking"] == ChunkingParams().as_dict()
    assert set(manifest["articles"]["000_34dd6e6ea37e3941.txt"]) >= {"hash", "title", "chunks"}

    again = build_index(corpus_copy, index, show_progress=False)
    assert not again.wrote and again.unchanged == ["000_34dd6e6ea37e3941.txt"] and again.embedded_chunks == 0

    (corpus_copy / "new.txt").write_text("Markets rally\n\nShares rose 5% in Tokyo on Monday. Traders cheered.")
    (corpus_copy / "dupe.txt").write_text("Copy\n\nShares rose 5% in Tokyo on Monday.  Traders cheered.")
    (corpus_copy / "empty.txt").write_text("")
    added = build_index(corpus_copy, index, show_progress=False)
    assert added.added == ["dupe.txt"] and added.duplicates == {"new.txt": "dupe.txt"}
    assert added.embedded_chunks == 1 and [s.path for s in added.skipped] == ["empty.txt"]
    assert "skipped empty.txt: empty file" in added.summary()

    (corpus_copy / "dupe.txt").write_text("Copy\n\nShares fell 2% in Tokyo on Tuesday.")
    (corpus_copy / "new.txt").unlink()
    changed = build_index(corpus_copy, index, show_progress=False)
    assert changed.updated == ["dupe.txt"] and changed.embedded_chunks == 1
    (corpus_copy / "dupe.txt").unlink()
    removed = build_index(corpus_copy, index, show_progress=False)
    assert removed.removed == ["dupe.txt"] and removed.embedded_chunks == 0
    loaded = load_index(index)
    assert {c.article_id for c in loaded.chunks} == {"000_34dd6e6ea37e3941.txt"}
    assert loaded.vectors.ntotal == len(loaded.chunks) == first.chunks


def test_sentence_vectors_match_fresh_embeddings_after_incremental_builds(corpus_copy, tmp_path):
    """Retrieval re-ranks by these stored vectors, so they must stay aligned with the chunks' sentences."""
    import numpy as np

    index = tmp_path / "index"
    build_index(corpus_copy, index, show_progress=False)
    (corpus_copy / "0.txt").write_text("Markets rally\n\nShares rose 5% in Tokyo on Monday. Traders cheered.")
    build_index(corpus_copy, index, show_progress=False)  # kept rows are re-ordered around the new article
    loaded = load_index(index)
    assert {c.article_id for c in loaded.chunks} == {"0.txt", "000_34dd6e6ea37e3941.txt"}
    for row in range(len(loaded.chunks)):
        stored = np.asarray(loaded.chunk_sentence_vectors(row), dtype=np.float32)
        fresh = EMBEDDER.encode(loaded.chunks[row].sentence_texts())
        assert stored.shape == fresh.shape
        assert np.allclose(stored, fresh, atol=2e-3)


def test_a_chunk_vector_is_its_sentences_mean_plus_its_weighted_heading(corpus_copy, tmp_path):
    import numpy as np

    from rag.chunking import heading_for_embedding

    index = tmp_path / "index"
    build_index(corpus_copy, index, show_progress=False)
    loaded = load_index(index)
    weight = loaded.params.heading_weight
    assert weight > 0
    for row, chunk in enumerate(loaded.chunks):
        mean = EMBEDDER.encode(chunk.sentence_texts()).mean(axis=0)
        expected = mean / np.linalg.norm(mean) + weight * EMBEDDER.encode([heading_for_embedding(chunk)])[0]
        expected /= np.linalg.norm(expected)
        assert np.allclose(loaded.vectors.reconstruct(row), expected, atol=1e-5)


def test_each_distinct_text_is_embedded_once_in_a_build(tmp_path):
    """Overlapping chunks share sentences and a wire copy repeats another article's sentences: none of them is
    embedded twice, and nothing is embedded besides the distinct sentences and one heading per article."""
    from fakes import write_corpus

    from rag.chunking import heading_for_embedding

    body = " ".join(f"Sentence number {n} tells of the harbour strike in Rotterdam." for n in range(12))
    corpus = write_corpus(
        tmp_path, {"a.txt": f"Strike spreads\n\n{body}", "b.txt": f"Port strike widens\n\n{body} Unions met on Friday."}
    )
    embedder = HashingEmbedder()
    build_index(corpus, tmp_path / "index", embedder=embedder, show_progress=False)
    loaded = load_index(tmp_path / "index")
    sentences = {text for chunk in loaded.chunks for text in chunk.sentence_texts()}
    headings = {heading_for_embedding(chunk) for chunk in loaded.chunks}
    assert len(sentences) == 13 and len(headings) == 2
    probe = 1  # the manifest's record of the embedder encodes its probe sentence
    assert embedder.texts == len(sentences) + len(headings) + probe


def test_plain_chunks_take_no_heading(corpus_copy, tmp_path):
    import numpy as np

    build_index(corpus_copy, tmp_path / "index", params=ChunkingParams(contextual=False), show_progress=False)
    loaded = load_index(tmp_path / "index")
    mean = EMBEDDER.encode(loaded.chunks[0].sentence_texts()).mean(axis=0)
    assert np.allclose(loaded.vectors.reconstruct(0), mean / np.linalg.norm(mean), atol=1e-5)


def test_changed_chunking_forces_a_full_rebuild(corpus_copy, tmp_path):
    index = tmp_path / "index"
    build_index(corpus_copy, index, show_progress=False)
    messages = []
    report = build_index(
        corpus_copy, index, params=ChunkingParams(sentences_per_chunk=3), show_progress=False, log=messages.append
    )
    assert report.full_rebuild_reason and "chunking changed" in messages[0]
    assert report.added == ["000_34dd6e6ea37e3941.txt"]


def test_another_embedder_forces_a_full_rebuild(corpus_copy, tmp_path):
    index = tmp_path / "index"
    build_index(corpus_copy, index, show_progress=False)
    other = HashingEmbedder(dimension=64, name="another-embedder")
    messages = []
    report = build_index(corpus_copy, index, embedder=other, show_progress=False, log=messages.append)
    assert report.full_rebuild_reason and "embedder changed" in messages[0] and report.added
    assert load_index(index).manifest["embedder"] == index_store.embedder_record(other)


def test_crash_during_a_build_leaves_the_previous_index_loadable(corpus_copy, tmp_path, monkeypatch):
    index = tmp_path / "index"
    build_index(corpus_copy, index, show_progress=False)
    before = load_index(index)
    (corpus_copy / "new.txt").write_text("Markets rally\n\nShares rose 5% in Tokyo on Monday.")

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(index_store, "_swap_in", crash)
    with pytest.raises(KeyboardInterrupt):
        build_index(corpus_copy, index, show_progress=False)
    assert len(list(index.glob("gen-*"))) == 2  # the one written before the crash, never swapped in
    after = load_index(index)
    assert after.path == before.path and len(after.chunks) == len(before.chunks)
    monkeypatch.undo()
    report = build_index(corpus_copy, index, show_progress=False)  # the next build cleans up and succeeds
    generations = set(index.glob("gen-*"))
    assert report.added == ["new.txt"] and generations == {before.path, load_index(index).path}
    assert list(index.glob("gen-*")) == [load_index(index).path]  # the previous one goes once the new one loaded


def test_missing_and_corrupted_index_say_what_to_run(corpus_copy, tmp_path):
    with pytest.raises(IndexMissingError, match="python -m rag.build_index"):
        load_index(tmp_path / "nothing")
    index = tmp_path / "index"
    build_index(corpus_copy, index, show_progress=False)
    (index / "current" / "main" / "vectors.faiss").write_bytes(b"garbage")
    with pytest.raises(IndexMissingError, match="unreadable.*python -m rag.build_index"):
        load_index(index)
    report = build_index(corpus_copy, index, show_progress=False)  # a corrupted index is rebuilt
    assert report.added and load_index(index).vectors.ntotal == report.chunks


def test_empty_or_missing_corpus_is_refused_and_keeps_the_index(corpus_copy, tmp_path):
    index = tmp_path / "index"
    build_index(corpus_copy, index, show_progress=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no readable articles"):
        build_index(empty, index, show_progress=False)
    from rag.articles import CorpusError

    with pytest.raises(CorpusError):
        build_index(tmp_path / "missing", index, show_progress=False)
    assert load_index(index).article_count == 1


@pytest.mark.embedder  # the command loads the configured embedder
def test_build_index_cli_reports_what_it_did(corpus_copy, tmp_path, capsys):
    from rag.build_index import main

    (corpus_copy / "broken.json").write_text("{oops")
    assert main(["--corpus", str(corpus_copy), "--index", str(tmp_path / "i"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "1 added" in out and "1 skipped" in out and "skipped broken.json: invalid JSON" in out
    assert main(["--corpus", str(tmp_path / "nope"), "--index", str(tmp_path / "i")]) == 2
    assert "does not exist" in capsys.readouterr().err
    manifest = json.loads((tmp_path / "i" / "current" / "manifest.json").read_text())
    assert manifest["skipped"] == {
        "broken.json": "invalid JSON: Expecting property name enclosed in double quotes at line 1"
    }


def test_an_index_of_an_older_format_is_rebuilt_not_misread(corpus_copy, tmp_path):
    index = tmp_path / "index"
    build_index(corpus_copy, index, show_progress=False)
    manifest = index / "current" / "manifest.json"
    version = index_store.UPGRADABLE_FORMAT - 1
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "format_version": version}))
    message = f"an older version of this tool \\(format {version}, now .*rag.build_index"
    with pytest.raises(IndexMissingError, match=message):
        load_index(index)
    messages = []
    report = build_index(corpus_copy, index, show_progress=False, log=messages.append)
    assert report.added == ["000_34dd6e6ea37e3941.txt"] and load_index(index).vectors.ntotal == report.chunks
    assert "full rebuild" in messages[0] and "older version" in messages[0]


def as_format_8(generation):
    """The generation rewritten as format 8 wrote it: chunks.jsonl, vectors.faiss and sentences.npy at its top,
    each file's size and sha256 and the manifest's checksum recorded."""
    import shutil

    import faiss
    import numpy as np

    index = load_index(generation.parent)
    with open(generation / "chunks.jsonl", "w", encoding="utf-8") as handle:
        for chunk in index.chunks:
            handle.write(json.dumps(chunk.to_dict(), ensure_ascii=False) + "\n")
    flat = faiss.IndexFlatIP(index.vectors.d)
    flat.add(index.vectors.reconstruct_n(0, index.vectors.ntotal))
    faiss.write_index(flat, str(generation / "vectors.faiss"))
    np.save(generation / "sentences.npy", np.asarray(index.sentence_vectors))
    shutil.rmtree(generation / "main")
    manifest = json.loads((generation / "manifest.json").read_text())
    manifest = {k: v for k, v in manifest.items() if k not in ("segments", "removed_rows")}
    manifest["format_version"] = 8
    manifest["files"] = {n: index_store.file_record(generation / n) for n in index_store.FORMAT8_FILES}
    manifest["checksum"] = index_store.manifest_checksum(manifest)
    (generation / "manifest.json").write_text(json.dumps(manifest))
    return index


def test_an_index_of_format_8_is_upgraded_without_embedding_again(corpus_copy, tmp_path):
    import numpy as np

    from rag.retrieve import Retriever

    index = tmp_path / "index"
    build_index(corpus_copy, index, show_progress=False)
    before = Retriever(load_index(index), embedder=EMBEDDER).search("Ushakov compromise", k=3)
    old = as_format_8((index / "current").resolve())
    vectors = old.vectors.reconstruct_n(0, old.vectors.ntotal)
    with pytest.raises(IndexMissingError, match="format 8, now 9.*rag.build_index"):
        load_index(index)  # searching it needs the upgrade a build makes
    messages = []
    report = build_index(corpus_copy, index, show_progress=False, log=messages.append)
    assert report.wrote and report.embedded_chunks == 0 and not report.full_rebuild_reason
    assert "upgrading the index to format 9" in messages[0]
    upgraded = load_index(index)
    assert upgraded.manifest["format_version"] == index_store.FORMAT_VERSION
    assert (upgraded.vectors.reconstruct_n(0, len(vectors)) == vectors).all()
    assert np.array_equal(np.asarray(upgraded.sentence_vectors), np.asarray(old.sentence_vectors))
    after = Retriever(upgraded, embedder=EMBEDDER).search("Ushakov compromise", k=3)
    assert [(p.chunk, p.score) for p in after] == [(p.chunk, p.score) for p in before]
    assert not build_index(corpus_copy, index, show_progress=False).wrote  # then a no-op again


def test_embedded_text_carries_title_outlet_and_date_in_front():
    from rag.chunking import Chunk, text_for_keywords

    def chunk(source, published):
        return Chunk("a::0", "a.txt", "Deal agreed", source, published, 0, 11, "Talks ended.", [(0, 11)])

    params = ChunkingParams()
    full = "Deal agreed (Reuters, 2024-03-01): Talks ended."
    assert text_for_keywords(chunk("Reuters", "2024-03-01 10:00"), params) == full
    assert text_for_keywords(chunk(None, "2024-03-01"), params) == "Deal agreed (2024-03-01): Talks ended."
    assert text_for_keywords(chunk(None, None), params) == "Deal agreed: Talks ended."
    assert text_for_keywords(chunk("Reuters", None), ChunkingParams(contextual=False)) == "Talks ended."


def test_the_corpus_is_read_while_the_build_holds_the_lock(corpus_copy, tmp_path, monkeypatch):
    import fcntl

    index = tmp_path / "index"
    read = index_store.load_corpus
    held = []

    def reading(*args, **kwargs):
        with open(index / ".lock") as handle:  # another build trying the lock now must wait
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                held.append(False)
                fcntl.flock(handle, fcntl.LOCK_UN)
            except BlockingIOError:
                held.append(True)
        return read(*args, **kwargs)

    monkeypatch.setattr(index_store, "load_corpus", reading)
    build_index(corpus_copy, index, show_progress=False)
    assert held == [True]


def test_sentence_vectors_that_are_not_numbers_make_the_index_unreadable(corpus_copy, tmp_path):
    import numpy as np

    index = tmp_path / "index"
    build_index(corpus_copy, index, show_progress=False)
    path = load_index(index).path / "main" / "sentences.npy"
    vectors = np.load(path)
    vectors[0, 0] = np.nan
    np.save(path, vectors)
    reseal(path.parent.parent)  # as a build that embedded a NaN would have written it: the checksums agree
    with pytest.raises(IndexMissingError, match="not numbers"):
        load_index(index)


def test_vectors_of_another_dimension_than_recorded_make_the_index_unreadable(corpus_copy, tmp_path):
    index = tmp_path / "index"
    build_index(corpus_copy, index, show_progress=False)
    manifest_path = load_index(index).path / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["embedder"]["dimension"] += 1
    manifest["checksum"] = index_store.manifest_checksum(manifest)  # written so, not damaged afterwards
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(IndexMissingError, match="dimension"):
        load_index(index)


@pytest.mark.parametrize(
    "name, where",
    [
        ("main/chunks.sqlite", lambda data: data.index(b"Ushakov")),  # still a valid store: one letter of a name
        ("main/vectors.faiss", lambda data: len(data) - 9),  # the last bit of a float's mantissa: still a vector
        ("main/sentences.npy", lambda data: len(data) - 2),  # likewise in a float16
        ("main/bm25/data.csc.index.npy", lambda data: len(data) - 2),  # a term's BM25 weight in a chunk
        ("main/published.npy", lambda data: data.rindex(b"2")),  # a date a filter compares
        ("manifest.json", lambda data: data.index(b'"title": "') + 12),  # an article's title
    ],
    ids=["chunks.sqlite", "vectors.faiss", "sentences.npy", "bm25", "published.npy", "manifest.json"],
)
def test_a_flipped_bit_in_any_index_file_makes_the_index_unreadable_naming_the_file(corpus_copy, tmp_path, name, where):
    index = tmp_path / "index"
    build_index(corpus_copy, index, show_progress=False)
    path = load_index(index).path / name
    flip_bit(path, where(path.read_bytes()))
    with pytest.raises(IndexMissingError, match=rf"{name} does not match its checksum.*python -m rag.build_index"):
        load_index(index)
    messages = []
    report = build_index(corpus_copy, index, show_progress=False, log=messages.append)  # what the message says
    assert report.full_rebuild_reason and name in messages[0] and load_index(index).vectors.ntotal == report.chunks


def test_a_truncated_or_missing_index_file_is_named(corpus_copy, tmp_path):
    index = tmp_path / "index"
    build_index(corpus_copy, index, show_progress=False)
    generation = load_index(index).path
    size = (generation / "main" / "sentences.npy").stat().st_size
    with open(generation / "main" / "sentences.npy", "r+b") as handle:
        handle.truncate(size - 768)
    with pytest.raises(IndexMissingError, match=rf"sentences.npy has {size - 768} bytes, the build wrote {size}"):
        load_index(index)
    (generation / "main" / "vectors.faiss").unlink()
    with pytest.raises(IndexMissingError, match="vectors.faiss is missing.*python -m rag.build_index"):
        load_index(index)


class Perturbed(HashingEmbedder):
    """The stand-in with its vectors moved by `noise` (relative): float noise when tiny, other weights when not."""

    def __init__(self, noise: float) -> None:
        super().__init__()
        self.noise = noise

    def encode(self, texts, progress=False):
        import numpy as np

        vectors = super().encode(texts)
        noise = np.random.default_rng(7).standard_normal(vectors.shape) / vectors.shape[1] ** 0.5
        vectors = vectors + self.noise * noise
        return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize(
    "embedder, same",
    [(Perturbed(1e-4), True), (Perturbed(0.1), False), (HashingEmbedder(seed=1), False)],
    ids=["float-noise", "perturbed-weights", "other-seed"],
)
def test_the_index_is_searched_only_with_the_weights_it_was_built_with(corpus_copy, tmp_path, embedder, same):
    from fakes import ScriptedModel

    from rag.pipeline import Pipeline
    from rag.retrieve import Retriever

    index = tmp_path / "index"
    build_index(corpus_copy, index, show_progress=False)
    assert embedder.name == EMBEDDER.name and embedder.dimension == EMBEDDER.dimension  # the same by name
    if same:
        assert Retriever(load_index(index), embedder=embedder).search("Ushakov compromise", k=1)
        return
    message = "other weights than the one the index was built with.*python -m rag.build_index"
    with pytest.raises(EmbedderMismatchError, match=message):
        Retriever(load_index(index), embedder=embedder)
    with pytest.raises(IndexMissingError, match=message):  # what the app, rag.ask and the evaluation catch
        Pipeline(index, local_model=ScriptedModel(), embedder=embedder)


def test_an_embedder_of_the_same_name_with_other_weights_forces_a_full_rebuild(corpus_copy, tmp_path):
    from rag.retrieve import Retriever

    index = tmp_path / "index"
    build_index(corpus_copy, index, show_progress=False)
    other = HashingEmbedder(seed=1)
    messages = []
    report = build_index(corpus_copy, index, embedder=other, show_progress=False, log=messages.append)  # no change
    assert report.wrote and report.added == ["000_34dd6e6ea37e3941.txt"] and report.embedded_chunks == report.chunks
    assert "full rebuild" in messages[0] and "other weights" in messages[0]
    assert Retriever(load_index(index), embedder=other).search("Ushakov compromise", k=1)
    with pytest.raises(EmbedderMismatchError):
        Retriever(load_index(index), embedder=EMBEDDER)
    assert not build_index(corpus_copy, index, embedder=other, show_progress=False).wrote  # now up to date


def test_a_build_fsyncs_the_files_the_generation_folder_and_after_the_swap_the_index_folder(
    corpus_copy, tmp_path, monkeypatch
):
    import os

    index = tmp_path / "index"
    synced = []  # (what was synced, where `current` pointed then)
    fsync = os.fsync

    def recording(descriptor):
        link = index / "current"
        synced.append((os.readlink(f"/proc/self/fd/{descriptor}"), os.readlink(link) if link.is_symlink() else None))
        fsync(descriptor)

    monkeypatch.setattr(index_store.os, "fsync", recording)
    build_index(corpus_copy, index, show_progress=False)
    generation = load_index(index).path
    paths = [path for path, _ in synced]
    for name in ("main/vectors.faiss", "main/sentences.npy", "main/chunks.sqlite", "main/bm25", "manifest.json"):
        assert str(generation / name) in paths
    assert paths.index(str(generation)) > paths.index(str(generation / "manifest.json"))
    assert synced[-1] == (str(index.resolve()), generation.name)  # the index folder, once `current` is the new one


def _two_generations(corpus, index):
    """Build, load (the first generation is marked loaded), add an article and build again: (first, second)."""
    build_index(corpus, index, show_progress=False)
    first = load_index(index).path
    (corpus / "new.txt").write_text("Markets rally\n\nShares rose 5% in Tokyo on Monday.")
    build_index(corpus, index, show_progress=False)
    return first, (index / "current").resolve()


def _generations(index):
    return sorted(path.name for path in index.glob("gen-*"))


def test_the_previous_generation_stays_until_the_new_one_has_loaded_once(corpus_copy, tmp_path):
    index = tmp_path / "index"
    first, second = _two_generations(corpus_copy, index)
    assert second != first and _generations(index) == sorted([first.name, second.name])
    assert not (second / "loaded-ok").exists()
    assert load_index(index).path == second and (second / "loaded-ok").exists()
    assert _generations(index) == [second.name]


def test_a_load_while_a_build_runs_removes_nothing(corpus_copy, tmp_path):
    import fcntl

    index = tmp_path / "index"
    _two_generations(corpus_copy, index)
    (index / "gen-999999-unfinished").mkdir()  # as a running build's generation looks before its swap
    with open(index / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a build holds the lock
        load_index(index)
        assert len(_generations(index)) == 3
    load_index(index)  # no build now: a generation newer than current was left by a build that died
    assert _generations(index) == [load_index(index).path.name]


def test_a_broken_current_keeps_the_generations_before_it_until_a_rebuild_has_loaded(corpus_copy, tmp_path):
    index = tmp_path / "index"
    good, broken = _two_generations(corpus_copy, index)
    store = broken / "main" / "chunks.sqlite"
    flip_bit(store, store.read_bytes().index(b"Ushakov"))
    for _ in range(2):
        with pytest.raises(IndexMissingError, match="chunks.sqlite does not match its checksum"):
            load_index(index)
        assert _generations(index) == sorted([good.name, broken.name])  # the last good one is still there
    build_index(corpus_copy, index, show_progress=False)  # what the message says to run
    rebuilt = (index / "current").resolve()
    assert _generations(index) == sorted([good.name, broken.name, rebuilt.name])
    assert load_index(index).article_count == 2 and _generations(index) == [rebuilt.name]


def test_a_load_whose_generation_is_replaced_and_removed_meanwhile_loads_the_new_one(
    corpus_copy, tmp_path, monkeypatch
):
    import shutil

    index = tmp_path / "index"
    first, second = _two_generations(corpus_copy, index)
    (index / "current").unlink()
    (index / "current").symlink_to(first.name)  # a load starts on the first generation ...
    load = index_store._load_generation
    calls = []

    def meanwhile(index_dir, generation, *options):
        calls.append(generation.name)
        if len(calls) == 1:  # ... which a build replaces and a load elsewhere removes while it is read
            (index / "current").unlink()
            (index / "current").symlink_to(second.name)
            shutil.rmtree(first)
        return load(index_dir, generation, *options)

    monkeypatch.setattr(index_store, "_load_generation", meanwhile)
    assert load_index(index).path == second and calls == [first.name, second.name]


def _age(folder, seconds=3600):
    """Set every file's modification time back: files written by a test are newer than the racy window."""
    import os
    import time

    for path in folder.rglob("*"):
        if path.is_file():
            os.utime(path, ns=(time.time_ns(), time.time_ns() - seconds * 10**9))


def test_files_whose_size_and_time_are_unchanged_are_not_read_again(corpus_copy, tmp_path, monkeypatch):
    index = tmp_path / "index"
    (corpus_copy / "b.txt").write_text("Markets rally\n\nShares rose 5% in Tokyo on Monday. Traders cheered.")
    _age(corpus_copy)
    first = build_index(corpus_copy, index, show_progress=False)
    assert first.not_read == 0 and len(first.added) == 2
    from rag import articles

    read = []
    parse = articles.parse_file
    monkeypatch.setattr(articles, "parse_file", lambda name, data: read.append(name) or parse(name, data))
    (corpus_copy / "c.txt").write_text("Rates held\n\nThe bank kept rates at 2% on Tuesday.")
    added = build_index(corpus_copy, index, show_progress=False)
    assert read == ["c.txt"] and added.not_read == 2 and added.added == ["c.txt"]
    assert "files not read again (size and modification time unchanged): 2" in added.summary()
    before = load_index(index).manifest["articles"]

    read.clear()
    (corpus_copy / "b.txt").write_text("Markets slump\n\nShares fell 5% in Tokyo on Monday. Traders fretted.")
    changed = build_index(corpus_copy, index, show_progress=False)  # same size, a new modification time
    assert "b.txt" in read and changed.updated == ["b.txt"]
    after = load_index(index).manifest["articles"]
    assert after["000_34dd6e6ea37e3941.txt"] == before["000_34dd6e6ea37e3941.txt"]  # what was not read is kept
    assert after["b.txt"]["title"] == "Markets slump"


def test_a_file_changed_just_before_the_last_build_is_read_again(corpus_copy, tmp_path):
    """A change in the same tick of the file system's clock as the last read leaves the stamp as it was."""
    index = tmp_path / "index"
    (corpus_copy / "b.txt").write_text("Markets rally\n\nShares rose 5% in Tokyo on Monday. Traders cheered.")
    _age(corpus_copy)
    (corpus_copy / "b.txt").touch()  # written in the last build's tick
    build_index(corpus_copy, index, show_progress=False)
    assert build_index(corpus_copy, index, show_progress=False).not_read == 1  # the seed file, not b.txt


def test_an_unread_article_still_yields_to_an_earlier_file_of_the_same_text(corpus_copy, tmp_path):
    index = tmp_path / "index"
    (corpus_copy / "b.txt").write_text("Markets rally\n\nShares rose 5% in Tokyo on Monday. Traders cheered.")
    _age(corpus_copy)
    build_index(corpus_copy, index, show_progress=False)
    (corpus_copy / "a.txt").write_text("Copy\n\nShares rose 5% in Tokyo on Monday.  Traders cheered.")
    report = build_index(corpus_copy, index, show_progress=False)
    assert report.not_read == 2 and report.duplicates == {"b.txt": "a.txt"} and report.removed == ["b.txt"]


def test_a_full_rebuild_reads_every_file(corpus_copy, tmp_path):
    index = tmp_path / "index"
    _age(corpus_copy)
    build_index(corpus_copy, index, show_progress=False)
    report = build_index(corpus_copy, index, show_progress=False, params=ChunkingParams(max_words=90))
    assert report.full_rebuild_reason and report.not_read == 0
    assert all(chunk.text for chunk in load_index(index).chunks)
