"""Stage 1: read news articles from a corpus folder.

Every file under the folder (recursively, following symlinks) is an article; its id is its path
relative to the folder. One unreadable file is skipped and reported, never fatal.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import trafilatura
import yaml
from charset_normalizer import from_bytes
from dateutil import parser as dateutil_parser


@dataclass(frozen=True)
class Article:
    article_id: str
    title: str
    text: str  # the body; chunk offsets point into this string
    source: str | None = None  # the outlet, e.g. "TVB News"
    published: str | None = None  # ISO date, "YYYY-MM-DD" or "YYYY-MM-DD HH:MM"
    url: str | None = None
    file_hash: str = ""  # hash of the raw file bytes: decides whether to re-embed

    @property
    def body_hash(self) -> str:
        """Hash of the normalized body: two files with the same body are one article."""
        return hashlib.sha256(" ".join(self.text.split()).lower().encode()).hexdigest()


@dataclass
class Skipped:
    path: str
    reason: str


@dataclass
class Corpus:
    articles: list[Article] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    # duplicate article id -> the id of the article with the same body that was kept
    duplicates: dict[str, str] = field(default_factory=dict)


class CorpusError(Exception):
    """The corpus folder as a whole cannot be used (missing, not a folder)."""


# "發佈日期" / "发布日期" mean "published"; accept the common English labels too.
_DATE_LINE = re.compile(
    r"^\s*(?:發佈日期|发布日期|發布日期|published|publication date|date|posted)\s*[:：]\s*(?P<date>.+?)\s*$",
    re.IGNORECASE,
)
_SOURCE_LINE = re.compile(r"^\s*(?:source|outlet|publisher|來源|来源)\s*[:：]\s*(?P<src>.+?)\s*$", re.IGNORECASE)
_URL_LINE = re.compile(r"^\s*(?:url|link)\s*[:：]\s*(?P<url>https?://\S+)\s*$", re.IGNORECASE)
_ISO_DATE = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T](\d{1,2}):(\d{2}))?")
_CJK_DATE = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日")


def normalize_date(value: object) -> str | None:
    """Keep dates comparable as strings: "YYYY-MM-DD" or "YYYY-MM-DD HH:MM"; None if unparseable.

    News exports write dates many ways ("Wed, 03 Dec 2025 20:32:00 GMT" in RSS, "December 3, 2025",
    "2025年12月3日"); python-dateutil reads the ones that name the month. An all-numeric "03/12/2025"
    is left undated: day-first or month-first cannot be told, and a wrong date is worse than none.
    """
    if value is None:
        return None
    text = str(value).strip()
    if match := _ISO_DATE.search(text) or _CJK_DATE.search(text):
        year, month, day, hour, minute = (match.groups() + (None, None))[:5]
        if not (1 <= int(month) <= 12 and 1 <= int(day) <= 31):
            return None
        date = f"{int(year):04d}-{int(month):02d}-{int(day):02d}"
        return f"{date} {int(hour):02d}:{minute}" if hour else date
    if not re.search(r"[^\W\d_]{3}", text) or len(text) > 80:
        return None  # no month name, or a sentence rather than a date
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # unknown zone names ("HKT"): the local time is kept as written
            # Parsed twice with different defaults: a part that differs was missing from the text.
            first = dateutil_parser.parse(text, default=datetime(1, 1, 1, 0, 0), fuzzy=True)
            second = dateutil_parser.parse(text, default=datetime(2, 2, 2, 1, 1), fuzzy=True)
    except (ValueError, OverflowError):
        return None
    if (first.year, first.month, first.day) != (second.year, second.month, second.day):
        return None  # "3 December" or "December 2025": not a full date
    date = f"{first.year:04d}-{first.month:02d}-{first.day:02d}"
    timed = (first.hour, first.minute) == (second.hour, second.minute)
    return f"{date} {first.hour:02d}:{first.minute:02d}" if timed else date


def decode(data: bytes) -> str:
    """UTF-8 first; otherwise the best guess of charset-normalizer, then Latin-1 (never fails)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    guess = from_bytes(data).best()
    if guess is not None and guess.encoding:
        return str(guess)
    return data.decode("latin-1")


def _looks_binary(data: bytes) -> bool:
    sample = data[:4096]
    if b"\x00" in sample:
        return True
    control = sum(1 for b in sample if b < 32 and b not in (9, 10, 12, 13, 27))
    return control > len(sample) * 0.05


def _bare_date(line: str) -> str | None:
    """A header line that is only a date ("3 December 2025", "2025-12-03 20:32")."""
    return normalize_date(line) if len(line) <= 40 and any(c.isdigit() for c in line) else None


def parse_plain(article_id: str, text: str) -> tuple[str, str, str | None, str | None, str | None]:
    """Title on line 1, then optional header lines (date, outlet, url) up to the first blank line."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines:
        return "", "", None, None, None
    title = lines[0].strip().lstrip("#").strip()
    published = source = url = None
    index = 1
    # Header lines sit directly under the title; the body starts after the first blank line.
    while index < len(lines) and lines[index].strip() and index <= 6:
        line = lines[index].strip()
        if (m := _DATE_LINE.match(line)) and (labelled := normalize_date(m["date"])):
            published = labelled
        elif published is None and (bare := _bare_date(line)):
            published = bare
        elif re.fullmatch(r"[\d\s/.:-]+", line):
            pass  # an all-numeric date with the day and month in unknown order ("03/12/2025"): left undated
        elif m := _SOURCE_LINE.match(line):
            source = m["src"]
        elif m := _URL_LINE.match(line):
            url = m["url"]
        elif len(line) <= 60 and not line.endswith((".", "!", "?", '"', "”")) and source is None:
            source = line  # a short line without sentence punctuation naming the outlet
        else:
            break  # a real sentence: no header block, the body starts here
        index += 1
    body = "\n".join(lines[index:]).strip()
    return title, body, source, published, url


def _from_record(article_id: str, record: dict, file_hash: str) -> Article | Skipped:
    def first(*keys: str) -> str | None:
        for key in keys:
            value = record.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
            if isinstance(value, dict) and isinstance(value.get("name"), str):  # {"source": {"name": ..}}
                return value["name"].strip()
        return None

    body = first("text", "body", "content", "article")
    if not body:
        return Skipped(article_id, "no text/body field")
    title = first("title", "headline") or body.split("\n", 1)[0][:120]
    return Article(
        article_id=article_id,
        title=title,
        text=body,
        source=first("source", "outlet", "publisher", "site"),
        published=normalize_date(first("published", "date", "published_at", "publishedAt", "pubDate")),
        url=first("url", "link"),
        file_hash=file_hash,
    )


def _parse_markdown(article_id: str, text: str, file_hash: str) -> Article | Skipped:
    """Optional YAML front matter (title, date, source, url); otherwise a "# Title" line."""
    meta: dict = {}
    if text.startswith("---"):
        parts = text[3:].split("\n---", 1)
        if len(parts) == 2:
            try:
                loaded = yaml.safe_load(parts[0])
            except yaml.YAMLError:
                loaded = None
            if isinstance(loaded, dict):
                meta = {k: str(v) for k, v in loaded.items() if v is not None and not isinstance(v, (list, dict))}
                text = parts[1].lstrip("-").lstrip("\n")
    lines = text.strip().split("\n")
    if lines and lines[0].startswith("#"):
        meta.setdefault("title", lines[0].lstrip("#").strip())
        text = "\n".join(lines[1:])
    if "title" not in meta:
        title, body, source, published, url = parse_plain(article_id, text)
        meta = {"source": source, "published": published, "url": url, **meta, "title": title}
        text = body
    return _from_record(article_id, {**meta, "text": text.strip()}, file_hash)


_OFFICE_FORMATS = {".pdf", ".doc", ".docx", ".odt", ".rtf", ".pages"}
MIN_PAGE_WORDS = 20  # fewer, and an HTML page is a menu or index page (trafilatura then returns its links)


def _parse_html(article_id: str, text: str, file_hash: str) -> Article | Skipped:
    """A saved web page: the article's own text, title, outlet and date, without the menus, links,
    scripts and footers around it (trafilatura, made for news pages)."""
    try:
        document = trafilatura.bare_extraction(text, with_metadata=True, include_comments=False, include_tables=False)
    except Exception as error:  # noqa: BLE001 - lxml and trafilatura raise many kinds on broken markup
        return Skipped(article_id, f"unreadable HTML ({type(error).__name__}: {error})")
    meta = {} if document is None else document if isinstance(document, dict) else document.as_dict()
    title = (meta.get("title") or "").strip()
    paragraphs = [p.strip() for p in (meta.get("text") or "").split("\n") if p.strip()]
    if paragraphs and title and paragraphs[0] == title:
        paragraphs = paragraphs[1:]  # the headline, repeated as the page's first line
    if sum(len(p.split()) for p in paragraphs) < MIN_PAGE_WORDS:
        return Skipped(article_id, "no article text found in the HTML page")  # a menu, index or error page
    record = {"title": title, "text": "\n\n".join(paragraphs)}
    record |= {"source": meta.get("sitename"), "published": meta.get("date"), "url": meta.get("url")}
    return _from_record(article_id, record, file_hash)


_PARSERS = {
    ".md": _parse_markdown,
    ".markdown": _parse_markdown,
    ".html": _parse_html,
    ".htm": _parse_html,
    ".xhtml": _parse_html,
}


def parse_file(article_id: str, data: bytes) -> list[Article | Skipped]:
    """One file gives one article, several (a .jsonl or JSON list dump) or a reason to skip it."""
    file_hash = hashlib.sha256(data).hexdigest()
    if not data.strip():
        return [Skipped(article_id, "empty file")]
    suffix = Path(article_id).suffix.lower()
    if suffix in _OFFICE_FORMATS:  # binary, or text full of markup (RTF): never an article as it stands
        kind = suffix[1:].upper()
        return [Skipped(article_id, f"{kind} is not read: save the article as text or a web page (.html)")]
    if _looks_binary(data):
        return [Skipped(article_id, "binary file, not text")]
    text = decode(data)
    if suffix in (".json", ".jsonl"):
        records: list[object] = []
        try:
            if suffix == ".jsonl":
                # One record a line: a broken line loses that record, not the file.
                for line_number, line in enumerate(text.splitlines(), start=1):
                    if line.strip():
                        try:
                            records.append(json.loads(line))
                        except json.JSONDecodeError as error:
                            records.append(Skipped("", f"invalid JSON at line {line_number}: {error.msg}"))
            else:
                loaded = json.loads(text)
                records = loaded if isinstance(loaded, list) else [loaded]
        except json.JSONDecodeError as error:
            return [Skipped(article_id, f"invalid JSON: {error.msg} at line {error.lineno}")]
        if len(records) == 1 and isinstance(records[0], dict):
            return [_from_record(article_id, records[0], file_hash)]
        results: list[Article | Skipped] = []
        for number, record in enumerate(records, start=1):
            sub_id = f"{article_id}#{number}"
            if isinstance(record, Skipped):
                results.append(Skipped(sub_id, record.reason))
                continue
            if not isinstance(record, dict):
                results.append(Skipped(sub_id, "JSON record is not an object"))
                continue
            record_hash = hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()
            results.append(_from_record(sub_id, record, record_hash))
        return results or [Skipped(article_id, "no records")]
    if parse := _PARSERS.get(suffix):
        article = parse(article_id, text, file_hash)
        if isinstance(article, Skipped):
            return [article]
    else:
        title, body, source, published, url = parse_plain(article_id, text)
        article = Article(article_id, title, body, source, published, url, file_hash)
    if not article.text.strip():
        return [Skipped(article_id, "no body text after the title")]
    return [article]


def iter_files(corpus_dir: Path) -> list[tuple[str, Path]]:
    """All files under the folder, symlinks followed, sorted by article id."""
    found = []
    for root, dirs, files in os.walk(corpus_dir, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            path = Path(root) / name
            found.append((path.relative_to(corpus_dir).as_posix(), path))
    return sorted(found)


def load_corpus(corpus_dir: Path | str) -> Corpus:
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.exists():
        raise CorpusError(f"corpus folder {corpus_dir} does not exist")
    if not corpus_dir.is_dir():
        raise CorpusError(f"corpus path {corpus_dir} is not a folder")
    corpus = Corpus()
    kept_by_body: dict[str, str] = {}
    for article_id, path in iter_files(corpus_dir):
        if Path(article_id).name.startswith("."):
            corpus.skipped.append(Skipped(article_id, "hidden file"))
            continue
        try:
            data = path.read_bytes()
        except OSError as error:
            corpus.skipped.append(Skipped(article_id, f"cannot read: {error.strerror or error}"))
            continue
        for item in parse_file(article_id, data):
            if isinstance(item, Skipped):
                corpus.skipped.append(item)
            elif item.body_hash in kept_by_body:
                corpus.duplicates[item.article_id] = kept_by_body[item.body_hash]
            else:
                kept_by_body[item.body_hash] = item.article_id
                corpus.articles.append(item)
    return corpus
