import json
from pathlib import Path

import pytest

from rag.articles import CorpusError, load_corpus, normalize_date, parse_file, parse_plain

SEED = Path(__file__).resolve().parent.parent / "seeds" / "000_34dd6e6ea37e3941.txt"


def test_seed_format_gives_title_date_outlet_and_body():
    [article] = parse_file("000_34dd6e6ea37e3941.txt", SEED.read_bytes())
    assert article.title == "Putin rejects US deal on Ukraine as NATO minister meet"
    assert article.published == "2025-12-03 20:32"
    assert article.source == "TVB News"
    assert article.text.startswith("NATO foreign ministers are meeting in Brussels")
    assert "發佈日期" not in article.text


def test_plain_title_blank_body_format_has_no_date_or_outlet():
    data = b"Ad sales boost Time Warner profit\n\nQuarterly profits at US media giant TimeWarner jumped 76%.\n"
    [article] = parse_file("bbc/business/001.txt", data)
    assert article.title == "Ad sales boost Time Warner profit"
    assert article.source is None and article.published is None
    assert article.text == "Quarterly profits at US media giant TimeWarner jumped 76%."


def test_latin1_file_is_decoded_not_skipped():
    data = "Café owner wins\n\nThe café in Zürich said profits rose to £5m.".encode("latin-1")
    [article] = parse_file("sport/199.txt", data)
    assert "Zürich" in article.text and article.title == "Café owner wins"


def test_markdown_front_matter_and_json_records():
    md = b"---\ntitle: Rates held\ndate: 2024-05-02\nsource: Example Times\n---\nThe bank held rates at 5%.\n"
    [article] = parse_file("a.md", md)
    assert (article.title, article.published, article.source) == ("Rates held", "2024-05-02", "Example Times")
    assert article.text == "The bank held rates at 5%."
    record = {"title": "T", "body": "Body text here.", "published": "2024-01-31T10:00:00Z", "source": "S", "url": "u"}
    [article] = parse_file("b.json", json.dumps(record).encode())
    assert (article.title, article.text, article.published, article.source) == (
        "T",
        "Body text here.",
        "2024-01-31 10:00",
        "S",
    )
    lines = "\n".join(json.dumps({"title": f"T{i}", "text": f"Text {i}."}) for i in range(3)).encode()
    articles = parse_file("dump.jsonl", lines)
    assert [a.article_id for a in articles] == ["dump.jsonl#1", "dump.jsonl#2", "dump.jsonl#3"]


def test_a_broken_line_of_a_jsonl_dump_loses_that_record_only():
    good = [json.dumps({"title": f"T{i}", "text": f"Text {i}."}) for i in range(2)]
    results = parse_file("dump.jsonl", "\n".join([good[0], '{"title": "cut off', good[1]]).encode())
    assert [(type(r).__name__, getattr(r, "article_id", None) or r.path) for r in results] == [
        ("Article", "dump.jsonl#1"),
        ("Skipped", "dump.jsonl#2"),
        ("Article", "dump.jsonl#3"),
    ]
    assert results[1].reason.startswith("invalid JSON at line 2")


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.txt", b"", "empty"),
        ("blank.txt", b"   \n\n", "empty"),
        ("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR" + bytes(range(256)), "binary"),
        ("bad.json", b"{not json", "invalid JSON"),
        ("title_only.txt", b"Just a title\n", "no body"),
    ],
)
def test_unreadable_files_are_skipped_with_a_reason(name, data, reason):
    [skipped] = parse_file(name, data)
    assert reason in skipped.reason


def test_corpus_ids_recursion_symlinks_duplicates_and_skips(tmp_path):
    real = tmp_path / "elsewhere" / "business"
    real.mkdir(parents=True)
    (real / "010.txt").write_text("Title A\n\nBody of article A.")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "bbc").symlink_to(tmp_path / "elsewhere")
    (corpus / "one.txt").write_text("Title B\n\nBody of article B.")
    (corpus / "copy.txt").write_text("Other title\n\nBody of  article B.")  # same body, other name
    (corpus / "broken.txt").write_bytes(b"\x00\x01\x02")
    result = load_corpus(corpus)
    assert [a.article_id for a in result.articles] == ["bbc/business/010.txt", "copy.txt"]
    assert result.duplicates == {"one.txt": "copy.txt"}
    assert [(s.path, s.reason) for s in result.skipped] == [("broken.txt", "binary file, not text")]


def test_missing_corpus_is_a_clear_error(tmp_path):
    with pytest.raises(CorpusError, match="does not exist"):
        load_corpus(tmp_path / "nope")


def test_normalize_date():
    assert normalize_date("2025-12-03 20:32") == "2025-12-03 20:32"
    assert normalize_date("2025/1/3") == "2025-01-03"
    assert normalize_date("yesterday") is None


@pytest.mark.parametrize(
    ("written", "date"),
    [
        ("Wed, 03 Dec 2025 20:32:00 GMT", "2025-12-03 20:32"),  # RSS pubDate
        ("2025-12-03T20:32:00Z", "2025-12-03 20:32"),
        ("December 3, 2025", "2025-12-03"),
        ("3 December 2025 8:32pm", "2025-12-03 20:32"),
        ("Updated 3 December 2025, 20:32 HKT", "2025-12-03 20:32"),
        ("2025年12月3日", "2025-12-03"),
        ("03/12/2025", None),  # 3 December or March 12: unknowable, so undated rather than wrong
        ("December 2025", None),  # no day
        ("3 Dec", None),  # no year
        ("Tuesday", None),
        ("Channel 4 News", None),
        ("2025-13-45", None),
    ],
)
def test_dates_as_news_exports_write_them(written, date):
    assert normalize_date(written) == date


@pytest.mark.parametrize(
    ("header", "outlet", "date"),
    [
        ("Published: 3 December 2025\nReuters", "Reuters", "2025-12-03"),
        ("Wed, 03 Dec 2025 20:32:00 GMT\nChannel 4 News", "Channel 4 News", "2025-12-03 20:32"),  # a bare date line
        ("03/12/2025\nChannel 4 News", "Channel 4 News", None),  # an ambiguous date is no outlet either
    ],
)
def test_header_lines_give_outlet_and_date_never_a_date_as_outlet(header, outlet, date):
    title, body, source, published, _ = parse_plain("a.txt", f"Talks end\n{header}\n\nThe talks ended on Friday.")
    assert (title, body, source, published) == ("Talks end", "The talks ended on Friday.", outlet, date)


NEWS_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8">
<title>Putin rejects US deal | TVB News</title>
<meta property="og:site_name" content="TVB News">
<meta property="og:title" content="Putin rejects US deal on Ukraine as NATO ministers meet">
<meta property="article:published_time" content="2025-12-03T20:32:00+08:00">
</head><body>
<nav><a href="/">Home</a> | <a href="/world">World</a> | <a href="/sport">Sport</a></nav>
<article><h1>Putin rejects US deal on Ukraine as NATO ministers meet</h1>
<p>NATO foreign ministers are meeting in Brussels after Russia's President Vladimir Putin refused to make a
deal with a US delegation visiting Moscow.</p>
<p>But Ushakov said "So far, compromise hasn't been found. The US proposals seem more or less acceptable."</p>
</article>
<footer>Copyright TVB 2025. All rights reserved. <script>document.title = "hacked"</script></footer>
</body></html>"""


def test_a_saved_news_page_gives_its_article_text_title_outlet_and_date():
    [article] = parse_file("tvb/putin.html", NEWS_PAGE.encode())
    assert article.title == "Putin rejects US deal on Ukraine as NATO ministers meet"
    assert (article.source, article.published) == ("TVB News", "2025-12-03")
    assert article.text.startswith("NATO foreign ministers are meeting in Brussels")  # the headline not repeated
    assert "But Ushakov said \"So far, compromise hasn't been found." in article.text
    for chrome in ("Home", "Sport", "Copyright", "hacked", "<"):
        assert chrome not in article.text, chrome


def test_a_page_without_an_article_is_skipped_with_a_reason(tmp_path):
    (tmp_path / "menu.html").write_text("<html><body><nav><a href='/'>Home</a></nav></body></html>")
    (tmp_path / "story.htm").write_text(NEWS_PAGE)
    corpus = load_corpus(tmp_path)
    assert [a.article_id for a in corpus.articles] == ["story.htm"]
    skipped = [(s.path, s.reason) for s in corpus.skipped]
    assert skipped == [("menu.html", "no article text found in the HTML page")]


def test_a_pdf_or_word_file_is_skipped_with_what_to_do_instead():
    [skipped] = parse_file("report.pdf", b"%PDF-1.7\n\x00\x01\x02 binary stream")
    assert skipped.reason == "PDF is not read: save the article as text or a web page (.html)"
    [skipped] = parse_file("memo.rtf", rb"{\rtf1\ansi Talks ended on Friday.}")  # text, but markup
    assert skipped.reason.startswith("RTF is not read")
