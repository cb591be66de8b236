"""A fuzz corpus: one file of each kind a real archive holds that once stopped or derailed a build, beside
good articles. Reading and indexing it must skip each bad file with its reason, read every odd but
readable one, and go on. Add a case here each time a new bad file is found.

The index is built with the stand-in embedder (tests/fakes.HashingEmbedder) except in the one test that
runs the command line as a new user would (marked `embedder`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from fakes import HashingEmbedder

from rag import articles, chunking, index_store
from rag.articles import Article, load_corpus, parse_file
from rag.chunking import MAX_CHUNK_CHARS, MAX_SENTENCE_WORDS, ChunkingParams, chunk_article
from rag.index_store import load_index
from rag.retrieve import Retriever

ROOT = Path(__file__).resolve().parent.parent
EMBEDDER = HashingEmbedder()

GEO = (
    "Zorvath ceasefire agreed in Geneva\nReuters\n2025-03-04\n\n"
    "Foreign ministers agreed a Zorvath ceasefire in Geneva on Tuesday after two days of talks. "
    "The plan freezes the front line and opens three aid corridors, officials said. "
    "Monitors from the Kelvane mission will check it from Friday."
)
HARVEST = (
    "---\ntitle: Quillmore harvest breaks a record\nsource: Farm Weekly\ndate: 2025-09-12\n---\n"
    "Farmers in Quillmore brought in a record wheat harvest this year. "
    "Yields rose by a fifth on last year, the growers' union said."
)
ROVERS = {
    "title": "Brimford Rovers sign a goalkeeper",
    "source": "Sports Desk",
    "published": "2025-01-20",
    "text": "Brimford Rovers signed the goalkeeper Lio Marsh on Monday for an undisclosed fee. "
    "He joins from a second-division club.",
}
ODD_BODY = "{word} talks end\n\nThe {word} delegation met on Friday. They signed a trade pact, officials said.\n"

GOOD = {"good/geneva.txt": "Zorvath", "good/harvest.md": "Quillmore", "good/rovers.json": "Brimford"}
# Odd but readable: each must be read, and its body must hold the word given.
ODD = {
    "odd/utf16le_bom.txt": "Ardent",
    "odd/utf16be_bom.txt": "Bellmark",
    "odd/utf16le.txt": "Corvin",
    "odd/utf16be.txt": "Dunmere",
    "odd/utf32.txt": "Eskfield",
    "odd/utf32be.txt": "Farrowby",
    "odd/chinese_utf16le.txt": "日内瓦",
    "odd/latin1.txt": "Gällivare",
    "odd/utf8_bom.txt": "Hollin",
    "odd/mixed_endings.txt": "Ingleby",
    "odd/long_title.txt": "Jarrow",
    "odd/lone_surrogate.json": "Kestrel",
    "odd/no_full_stops.txt": "Lomond",
    "odd/long_line.jsonl#1": "Morwen",
}
# Bad: each must be skipped, with a reason holding the words given.
BAD = {
    "bad/empty.txt": "empty file",
    "bad/ff_only.txt": "no text",
    "bad/nul_bytes.txt": "binary file",
    "bad/one_5mb_line.txt": "no body text",
    "bad/number.json": "the JSON is a number, not an object",
    "bad/huge_number.json": "cannot be parsed (ValueError",
    "odd/long_line.jsonl#2": "invalid JSON at line 2",
    "bad/nested.json": "nested too deeply",
    "bad/hostile_front_matter.md": "nested too deeply",
    "bad/over_20mb.txt": "larger than the 20 MB limit",
    "bad/gone.txt": "disappeared before it was read",
    "bad/no_permission.txt": "permission denied",
    "bad/pipe.txt": "FIFO",
    "bad/broken_link.txt": "broken symlink",
    "bad/caf\\xe9.txt": "name is not valid UTF-8",
    "loop_a/": "folder already read",
    "loop_b/": "folder already read",
}


def _write_fuzz_corpus(corpus: Path) -> None:
    good, odd, bad = corpus / "good", corpus / "odd", corpus / "bad"
    for folder in (good, odd, bad):
        folder.mkdir(parents=True)
    (good / "geneva.txt").write_text(GEO)
    (good / "harvest.md").write_text(HARVEST)
    (good / "rovers.json").write_text(json.dumps(ROVERS))

    def body(word: str) -> str:
        return ODD_BODY.format(word=word)

    (odd / "utf16le_bom.txt").write_bytes(body("Ardent").encode("utf-16"))  # little-endian, with its BOM
    (odd / "utf16be_bom.txt").write_bytes(b"\xfe\xff" + body("Bellmark").encode("utf-16-be"))
    (odd / "utf16le.txt").write_bytes(body("Corvin").encode("utf-16-le"))
    (odd / "utf16be.txt").write_bytes(body("Dunmere").encode("utf-16-be"))
    (odd / "utf32.txt").write_bytes(body("Eskfield").encode("utf-32"))
    (odd / "utf32be.txt").write_bytes(body("Farrowby").encode("utf-32-be"))
    chinese = "日内瓦会谈结束\n\n各国外长周五在日内瓦会面。他们同意了一项停火计划，官员说。\n"
    (odd / "chinese_utf16le.txt").write_bytes(chinese.encode("utf-16-le"))
    (odd / "latin1.txt").write_bytes(body("Gällivare").encode("latin-1"))
    (odd / "utf8_bom.txt").write_bytes(b"\xef\xbb\xbf" + body("Hollin").encode())
    (odd / "mixed_endings.txt").write_bytes(b"Ingleby talks end\r\n\r\nThe Ingleby delegation met.\rThey signed.\n")
    (odd / "long_title.txt").write_text("Jarrow " * 3000 + "\n\nThe Jarrow delegation met on Friday.")
    (odd / "lone_surrogate.json").write_text('{"title": "Kestrel \\ud800 talks", "text": "Kestrel \\udfff met."}')
    words = ["Lomond", "river", "level", "rising"] * 5000  # 20,000 words without a full stop
    (odd / "no_full_stops.txt").write_text("Lomond report\n\n" + " ".join(words))
    record = json.dumps({"title": "Morwen talks end", "text": "The Morwen delegation met on Friday."})
    (odd / "long_line.jsonl").write_text(record + "\n" + '{"title": "cut off", "text": "' + "x" * 1_000_000 + "\n")

    (bad / "empty.txt").write_bytes(b"")
    (bad / "ff_only.txt").write_bytes(b"\xff" * 4096)
    (bad / "nul_bytes.txt").write_bytes(b"Talks end\n\nThe delegation\x00\x00\x00 met on Friday.")
    (bad / "one_5mb_line.txt").write_text("word " * 1_000_000)
    (bad / "number.json").write_text("12345")
    (bad / "huge_number.json").write_text("9" * 5000)  # past Python's int-from-string limit: a ValueError
    (bad / "nested.json").write_text("[" * 100_000 + "]" * 100_000)
    (bad / "hostile_front_matter.md").write_text("---\ntitle: " + "[" * 100_000 + "\n---\nThe body.\n")
    with open(bad / "over_20mb.txt", "wb") as handle:  # sparse: 21 MB long, nothing written
        handle.truncate(21_000_000)
    (bad / "gone.txt").write_text(body("Gone"))  # deleted between listing and reading (see the fixture)
    (bad / "no_permission.txt").write_text(body("Locked"))
    (bad / "no_permission.txt").chmod(0)
    os.mkfifo(bad / "pipe.txt")  # reading it would block for ever
    (bad / "broken_link.txt").symlink_to("nowhere.txt")
    with open(os.path.join(os.fsencode(bad), b"caf\xe9.txt"), "wb") as handle:  # a Latin-1 name: not UTF-8
        handle.write(body("Cafe").encode())
    (corpus / "loop_a").symlink_to(".")
    (corpus / "loop_b").symlink_to(".")


@pytest.fixture
def fuzz_corpus(tmp_path, monkeypatch) -> Path:
    """The fuzz corpus in tmp_path, with the two cases the file system cannot hold still made to happen:
    gone.txt is deleted after the folder is listed, and no_permission.txt cannot be opened even by root."""
    corpus = tmp_path / "fuzz"
    _write_fuzz_corpus(corpus)
    listed = articles.iter_files

    def list_then_delete(*args, **kwargs):
        found = listed(*args, **kwargs)
        (corpus / "bad" / "gone.txt").unlink(missing_ok=True)
        return found

    monkeypatch.setattr(articles, "iter_files", list_then_delete)
    if os.geteuid() == 0:  # root reads a file of mode 000: refuse it as the kernel would refuse anyone else
        real_open = os.open

        def guarded_open(path, flags, *args, **kwargs):
            if Path(os.fsdecode(path)).name == "no_permission.txt":
                raise PermissionError(13, "Permission denied", os.fsdecode(path))
            return real_open(path, flags, *args, **kwargs)

        monkeypatch.setattr(os, "open", guarded_open)
    return corpus


def _in_time(call, seconds: float = 120):
    """call(), failing the test if it has not returned in time (reading a FIFO blocks for ever)."""
    result: dict = {}

    def run():
        try:
            result["value"] = call()
        except BaseException as error:  # noqa: BLE001 - handed to the test below
            result["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"still running after {seconds} s: blocked (a FIFO read?) or walking a symlink loop")
    if "error" in result:
        raise result["error"]
    return result["value"]


def _check_reasons(skipped: dict[str, str]) -> None:
    for path, words in BAD.items():
        assert path in skipped, f"{path} not listed as skipped"
        assert words in skipped[path], f"{path}: {skipped[path]!r} does not say {words!r}"
    assert set(skipped) == set(BAD), f"skipped but not bad: {set(skipped) - set(BAD)}"


def test_load_corpus_reads_the_good_and_odd_files_and_skips_each_bad_one_with_its_reason(fuzz_corpus):
    corpus = _in_time(lambda: load_corpus(fuzz_corpus))
    read = {a.article_id: a for a in corpus.articles}
    assert set(read) == set(GOOD) | set(ODD)  # the loops added nothing: no loop_a/... ids
    for article_id, word in {**GOOD, **ODD}.items():
        assert word in read[article_id].text, f"{article_id}: {read[article_id].text[:80]!r}"
    assert read["good/harvest.md"].title == "Quillmore harvest breaks a record"
    assert read["good/rovers.json"].source == "Sports Desk"
    assert read["odd/utf16be.txt"].title == "Dunmere talks end"
    assert read["odd/mixed_endings.txt"].text == "The Ingleby delegation met.\nThey signed."
    assert len(read["odd/long_title.txt"].title) <= articles.MAX_TITLE_CHARS + 1
    assert "\ufffd" in read["odd/lone_surrogate.json"].title  # replaced, so it can be written as UTF-8
    _check_reasons({s.path: s.reason for s in corpus.skipped})


def test_the_size_limit_is_a_parameter(fuzz_corpus):
    corpus = _in_time(lambda: load_corpus(fuzz_corpus, max_file_mb=0.5))
    skipped = {s.path: s.reason for s in corpus.skipped}
    assert "larger than the 0.5 MB limit" in skipped["bad/one_5mb_line.txt"]
    assert "larger than the 0.5 MB limit" in skipped["odd/long_line.jsonl"]


def test_parse_file_never_raises_on_hostile_bytes():
    hostile = {
        "a.json": b"[" * 100_000,
        "b.json": b'{"a":' * 50_000,
        "c.md": b"---\ntitle: " + b"{" * 100_000 + b"\n---\nBody.",
        "d.jsonl": b"[" * 100_000 + b"\n" + b"9" * 5000,
        "e.html": b"<div>" * 100_000,
        "f.json": b'{"title": 1e999999, "text": "x"}',
    }
    for name, data in hostile.items():
        results = parse_file(name, data)
        assert results and all(isinstance(r, Article) or r.reason for r in results), name


def test_symlink_loops_are_walked_once(tmp_path):
    corpus = tmp_path / "c"
    (corpus / "sub").mkdir(parents=True)
    (corpus / "sub" / "one.txt").write_text("One\n\nThe first article.")
    for name, target in (("a", "."), ("b", "."), ("sub/up", ".."), ("sub/self", ".")):
        (corpus / name).symlink_to(target)
    result = _in_time(lambda: load_corpus(corpus), 30)
    assert [a.article_id for a in result.articles] == ["sub/one.txt"] and not result.duplicates
    assert [s.path for s in result.skipped] == ["a/", "b/", "sub/self/", "sub/up/"]


def test_a_symlinked_folder_is_still_followed(tmp_path):
    elsewhere = tmp_path / "elsewhere" / "business"
    elsewhere.mkdir(parents=True)
    (elsewhere / "001.txt").write_text("Title\n\nBody of the article.")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "bbc").symlink_to(tmp_path / "elsewhere")
    assert [a.article_id for a in load_corpus(corpus).articles] == ["bbc/business/001.txt"]


def test_no_chunk_exceeds_the_word_cap():
    text = " ".join(["river", "level", "rising", "again"] * 5000)  # 20,000 words, no full stop
    article = Article("long.txt", "Long", text)
    chunks = chunk_article(article, ChunkingParams())
    assert len(chunks) >= 20000 // MAX_SENTENCE_WORDS
    assert all(len(c.text.split()) <= MAX_SENTENCE_WORDS and len(c.text) <= MAX_CHUNK_CHARS for c in chunks)
    assert " ".join(c.text for c in chunks).split() == text.split()  # nothing lost, nothing repeated (overlap 0)
    for chunk in chunks:
        assert article.text[chunk.start : chunk.end] == chunk.text

    unspaced = "日" * 50_000  # no spaces and no full stop: cut at the character cap
    chunks = chunk_article(Article("zh.txt", "T", unspaced), ChunkingParams())
    assert max(len(c.text) for c in chunks) <= MAX_CHUNK_CHARS and "".join(c.text for c in chunks) == unspaced


def test_the_cap_leaves_ordinary_news_as_it_was(corpus_copy, monkeypatch):
    [article] = parse_file("seed.txt", next(corpus_copy.iterdir()).read_bytes())
    capped = [c.to_dict() for c in chunk_article(article, ChunkingParams())]
    monkeypatch.setattr(chunking, "MAX_SENTENCE_WORDS", 10**9)
    monkeypatch.setattr(chunking, "MAX_CHUNK_CHARS", 10**9)
    assert [c.to_dict() for c in chunk_article(article, ChunkingParams())] == capped


def test_build_over_the_fuzz_corpus_indexes_the_good_and_lists_the_bad(fuzz_corpus, tmp_path):
    index = tmp_path / "index"
    report = _in_time(
        lambda: index_store.build_index(fuzz_corpus, index, embedder=EMBEDDER, show_progress=False, log=lambda _: None)
    )
    assert report.wrote and sorted(report.added) == sorted(set(GOOD) | set(ODD))
    _check_reasons({s.path: s.reason for s in report.skipped})
    summary = report.summary()
    for path in BAD:
        assert f"skipped {path}: " in summary
    loaded = load_index(index)
    assert set(loaded.manifest["skipped"]) == set(BAD)
    assert all(len(c.text.split()) <= MAX_SENTENCE_WORDS and len(c.text) <= MAX_CHUNK_CHARS for c in loaded.chunks)
    retriever = Retriever(loaded, embedder=EMBEDDER)
    for question, article_id in (
        ("Where was the Zorvath ceasefire agreed?", "good/geneva.txt"),
        ("How big was the Quillmore wheat harvest?", "good/harvest.md"),
        ("Which goalkeeper did Brimford Rovers sign?", "good/rovers.json"),
    ):
        [top] = retriever.search(question, k=1)
        assert top.chunk.article_id == article_id, question


def test_the_command_line_exits_0_over_the_fuzz_corpus(fuzz_corpus, tmp_path, monkeypatch, capsys):
    from rag.build_index import main

    monkeypatch.setattr(index_store, "get_embedder", lambda name: EMBEDDER)  # the stand-in, not the model
    code = _in_time(lambda: main(["--corpus", str(fuzz_corpus), "--index", str(tmp_path / "i"), "--quiet"]))
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"{len(GOOD) + len(ODD)} added" in out and f"{len(BAD)} skipped" in out
    assert "skipped bad/caf\\xe9.txt: file name is not valid UTF-8" in out


@pytest.mark.embedder  # the command loads the configured embedder
def test_a_new_user_builds_over_the_fuzz_corpus_with_the_real_embedder(tmp_path):
    corpus = tmp_path / "fuzz"
    _write_fuzz_corpus(corpus)  # as it lies on disk: gone.txt is there, and root may read no_permission.txt
    run = subprocess.run(
        [sys.executable, "-m", "rag.build_index", "--corpus", str(corpus), "--index", str(tmp_path / "i"), "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    expected = {path: words for path, words in BAD.items() if path not in ("bad/gone.txt", "bad/no_permission.txt")}
    for path, words in expected.items():
        assert f"skipped {path}: " in run.stdout and words in run.stdout, path
    manifest = json.loads((tmp_path / "i" / "current" / "manifest.json").read_text())
    assert set(GOOD) | set(ODD) <= set(manifest["articles"])
