"""Stage 1: read news articles from a corpus folder.

Every file under the folder (recursively, following symlinks) is an article; its id is its path
relative to the folder. One unreadable file is skipped and reported, never fatal: whatever goes wrong while
reading, decoding or parsing one file (a parser's RecursionError on 100,000 nested brackets included) skips
that file with the reason. A folder reached twice (a symlink loop, two links to one folder) is read once;
a file over the size limit, a FIFO or a device is never opened for reading whole.
"""

from __future__ import annotations

import codecs
import dataclasses
import hashlib
import json
import os
import re
import stat
import unicodedata
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import trafilatura
import yaml
from charset_normalizer import from_bytes
from dateutil import parser as dateutil_parser

from rag.config import MAX_FILE_MB  # a larger file is skipped unread: no news article is this long


@dataclass(frozen=True)
class Article:
    article_id: str
    title: str
    text: str  # the body; chunk offsets point into this string
    source: str | None = None  # the outlet, e.g. "TVB News"
    published: str | None = None  # ISO date, "YYYY-MM-DD" or "YYYY-MM-DD HH:MM"
    url: str | None = None
    file_hash: str = ""  # hash of the raw file bytes: decides whether to re-embed
    # An article a build already holds, not read again (its file's size and time unchanged): no text, and
    # the body hash that build recorded. Only a build on that index takes such articles (KnownFile).
    recorded_body_hash: str = ""

    @property
    def body_hash(self) -> str:
        """Hash of the normalized body: two files with the same body are one article."""
        if self.recorded_body_hash:
            return self.recorded_body_hash
        return hashlib.sha256(" ".join(self.text.split()).lower().encode()).hexdigest()


@dataclass
class Skipped:
    path: str
    reason: str


@dataclass(frozen=True)
class FileStamp:
    """What says a file has not changed since it was read: its size and modification time (ns), as make,
    rsync and git's stat cache use them."""

    size: int
    mtime_ns: int


@dataclass(frozen=True)
class KnownFile:
    """A one-article file an index already holds: its stamp when it was read, and the article (no text)."""

    stamp: FileStamp
    article: Article


@dataclass
class Corpus:
    articles: list[Article] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    # duplicate article id -> the id of the article with the same body that was kept
    duplicates: dict[str, str] = field(default_factory=dict)
    # article id -> its file's stamp, for each file that is one article (a build records them: KnownFile)
    stamps: dict[str, FileStamp] = field(default_factory=dict)
    not_read: int = 0  # known files passed over unread, their stamps unchanged


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


_BOMS = (  # UTF-32 first: its little-endian mark begins with UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def _zero_share(sample: bytes, step: int, offsets: tuple[int, ...]) -> float:
    picked = [b for i, b in enumerate(sample) if i % step in offsets]
    return picked.count(0) / len(picked) if picked else 0.0


def _wide_codec(data: bytes) -> tuple[str, int] | None:
    """UTF-32 or UTF-16 (codec, length of its byte-order mark) when a mark or the pattern of zero bytes
    says so: mostly-Latin text in UTF-16LE has a zero in nearly every odd byte and in almost no even one."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return codec, len(bom)
    sample = data[:4096]
    sample = sample[: len(sample) - len(sample) % 4]
    if len(sample) < 4 or 0 not in sample:
        return None
    share = [_zero_share(sample, 4, (i,)) for i in range(4)]
    if share[2] == share[3] == 1.0 and share[0] < 0.5:
        return "utf-32-le", 0
    if share[0] == share[1] == 1.0 and share[3] < 0.5:
        return "utf-32-be", 0
    odd, even = _zero_share(sample, 2, (1,)), _zero_share(sample, 2, (0,))
    if odd >= 0.5 and even <= 0.05:
        return "utf-16-le", 0
    if even >= 0.5 and odd <= 0.05:
        return "utf-16-be", 0
    return None


def _texty(text: str) -> bool:
    """Decoded text that reads as text: no NUL, few control, unassigned or private-use characters."""
    sample = text[:4096]
    control = sum(1 for c in sample if ord(c) < 32 and c not in "\t\n\f\r\x1b")
    odd = sum(1 for c in sample if c == "\ufffd" or unicodedata.category(c) in ("Cn", "Co", "Cs"))
    return "\x00" not in sample and control <= len(sample) * 0.05 and odd <= len(sample) * 0.01


def _decode_wide(data: bytes) -> str | None:
    """The text of a UTF-16 or UTF-32 file (with or without a byte-order mark), or None for any other.

    Without a mark, mostly-Latin text shows by its zero bytes; other scripts (Chinese in UTF-16 has few
    zero bytes) are left to charset-normalizer's guess, taken only when the text it gives reads as text."""
    found = _wide_codec(data)
    if found is not None:
        codec, skip = found
        text = data[skip:].decode(codec, errors="replace")
        return text if _texty(text) else None
    if b"\x00" not in data[:4096] or len(data) % 2:
        return None
    guess = from_bytes(data[:65536]).best()
    if guess is None or not guess.encoding.startswith(("utf_16", "utf_32")):
        return None
    try:
        text = data.decode(guess.encoding)
    except (UnicodeDecodeError, LookupError):
        return None
    return text if _texty(text) else None


def decode(data: bytes) -> str:
    """UTF-16/UTF-32 when marked or patterned so, else UTF-8; otherwise the best guess of
    charset-normalizer, then Latin-1 (never fails)."""
    if (wide := _decode_wide(data)) is not None:
        return wide
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


MAX_TITLE_CHARS = 300  # a title, outlet or link longer than this is cut: it goes into every chunk's prompt
MAX_FIELD_CHARS = {"title": MAX_TITLE_CHARS, "source": 120, "published": 40, "url": 2_000}


def _error_text(error: BaseException, limit: int = 160) -> str:
    message = " ".join(str(error).split())
    message = message if len(message) <= limit else message[: limit - 1] + "…"
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def _well_formed(value: str | None) -> str | None:
    """Lone surrogates (a JSON "\\ud800") cannot be written as UTF-8: each becomes U+FFFD, so offsets stand."""
    if value is None:
        return None
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in value)


def _clip(value: str | None, limit: int) -> str | None:
    if value is None or len(value) <= limit:
        return value
    cut = value[:limit].rsplit(" ", 1)[0] if " " in value[:limit] else value[:limit]
    return cut.rstrip() + "…"


def _safe(article: Article) -> Article:
    """An article every later stage can store: well-formed text, metadata of bounded length."""
    fields: dict[str, Any] = {
        name: _clip(_well_formed(getattr(article, name)), limit) for name, limit in MAX_FIELD_CHARS.items()
    }
    fields["text"] = _well_formed(article.text)
    return dataclasses.replace(article, **fields)


def parse_file(article_id: str, data: bytes) -> list[Article | Skipped]:
    """One file gives one article, several (a .jsonl or JSON list dump) or a reason to skip it; never an
    exception: whatever a parser raises on a hostile file skips that file with the reason."""
    try:
        results = _parse_file(article_id, data)
    except RecursionError:
        return [Skipped(article_id, "nested too deeply to parse (RecursionError)")]
    except Exception as error:  # noqa: BLE001 - one bad file must not stop the corpus
        return [Skipped(article_id, f"cannot be parsed ({_error_text(error)})")]
    return [_safe(item) if isinstance(item, Article) else item for item in results]


def _parse_file(article_id: str, data: bytes) -> list[Article | Skipped]:
    file_hash = hashlib.sha256(data).hexdigest()
    if not data.strip():
        return [Skipped(article_id, "empty file")]
    suffix = Path(article_id).suffix.lower()
    if suffix in _OFFICE_FORMATS:  # binary, or text full of markup (RTF): never an article as it stands
        kind = suffix[1:].upper()
        return [Skipped(article_id, f"{kind} is not read: save the article as text or a web page (.html)")]
    text = _decode_wide(data)  # UTF-16 and UTF-32 are full of zero bytes, yet text
    if text is None:
        if _looks_binary(data):
            return [Skipped(article_id, "binary file, not text")]
        text = decode(data)
    if not text.strip():
        return [Skipped(article_id, "no text: only blank or undecodable characters")]
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
                if not isinstance(loaded, (list, dict)):
                    kind = (
                        "null"
                        if loaded is None
                        else "true or false"
                        if isinstance(loaded, bool)
                        else ("string" if isinstance(loaded, str) else "number")
                    )
                    return [Skipped(article_id, f"the JSON is a {kind}, not an object (an article) or a list")]
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


def _shown(name: str) -> str:
    """A path as the report can show it: bytes that are not UTF-8 as \\xNN escapes."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def _valid_name(name: str) -> bool:
    try:
        name.encode("utf-8")  # os gives undecodable bytes as lone surrogates, which no JSON file can store
        return True
    except UnicodeEncodeError:
        return False


def iter_files(corpus_dir: Path, skipped: list[Skipped] | None = None) -> list[tuple[str, Path]]:
    """All files under the folder, symlinks followed, sorted by article id.

    Each folder is read once, by its real path: a symlink loop (`ln -s . a`) or a second link to a folder
    already read is passed over (and noted in `skipped`, with folders that cannot be listed and names that
    are not valid UTF-8). Within a folder, real sub-folders are claimed before links to them."""
    skipped = skipped if skipped is not None else []
    found: list[tuple[str, Path]] = []
    seen = {os.path.realpath(corpus_dir)}
    stack: list[tuple[Path, str]] = [(corpus_dir, "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError as error:
            skipped.append(Skipped(_shown(prefix or "."), f"folder cannot be read: {error.strerror or error}"))
            continue
        folders: list[tuple[os.DirEntry, str]] = []
        for entry in entries:
            relative = prefix + entry.name
            try:
                is_folder = entry.is_dir()  # follows symlinks
            except OSError:
                is_folder = False
            if is_folder and entry.name.startswith("."):
                continue  # hidden folders (.git, .cache) are not corpus
            if not _valid_name(entry.name):
                what = "folder" if is_folder else "file"
                skipped.append(Skipped(_shown(relative), f"{what} name is not valid UTF-8: rename it to read it"))
                continue
            if is_folder:
                folders.append((entry, relative))
            else:
                found.append((relative, Path(entry.path)))
        deeper = []
        for entry, relative in sorted(folders, key=lambda f: f[0].is_symlink()):
            real = os.path.realpath(entry.path)
            if real in seen:
                skipped.append(Skipped(relative + "/", "link to a folder already read (a loop, or a second link)"))
                continue
            seen.add(real)
            deeper.append((Path(entry.path), relative + "/"))
        stack.extend(sorted(deeper, key=lambda d: d[1], reverse=True))
    return sorted(found)


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a folder" if stat.S_ISDIR(mode) else "not a regular file"


class _Unreadable(Exception):
    """Why one file is not read."""


def read_limited(path: Path, max_bytes: int) -> bytes:
    """A regular file's bytes; raises _Unreadable for a FIFO, device or socket (never opened to read, so
    never blocks), a file over `max_bytes` (not read whole) or any error of the file system."""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise _Unreadable(f"{_kind(info.st_mode)}, not a file")
        if info.st_size > max_bytes:
            raise _Unreadable(f"larger than the {max_bytes / 1e6:g} MB limit ({info.st_size / 1e6:.1f} MB)")
        # O_NONBLOCK: should the file be swapped for a FIFO after the check, opening it still returns.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
        with open(descriptor, "rb", closefd=True) as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise _Unreadable(f"{_kind(info.st_mode)}, not a file")
            data = handle.read(max_bytes + 1)
    except FileNotFoundError as error:
        gone = "a broken symlink" if path.is_symlink() else "the file disappeared before it was read"
        raise _Unreadable(f"cannot read: {gone}") from error
    except PermissionError as error:
        raise _Unreadable("cannot read: permission denied") from error
    except OSError as error:
        raise _Unreadable(f"cannot read: {error.strerror or _error_text(error)}") from error
    if len(data) > max_bytes:
        raise _Unreadable(f"larger than the {max_bytes / 1e6:g} MB limit (it grew while read)")
    return data


def _stamp(path: Path) -> FileStamp | None:
    """The file's stamp, taken before it is read: a change while it is read leaves an older stamp, so the
    next build reads it again."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return FileStamp(info.st_size, info.st_mtime_ns) if stat.S_ISREG(info.st_mode) else None


def load_corpus(
    corpus_dir: Path | str, max_file_mb: float = MAX_FILE_MB, known: dict[str, KnownFile] | None = None
) -> Corpus:
    """Every article of the folder; each file that cannot be one is in `skipped` with the reason.

    `known` (a build on an index) names files read before: one whose stamp is unchanged is not read again
    and gives its recorded article, without text. At 100,000 articles reading every file took ~58 s of a
    10-article update; comparing stamps takes a few seconds."""
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.exists():
        raise CorpusError(f"corpus folder {corpus_dir} does not exist")
    if not corpus_dir.is_dir():
        raise CorpusError(f"corpus path {corpus_dir} is not a folder")
    corpus = Corpus()
    kept_by_body: dict[str, str] = {}
    max_bytes = int(max_file_mb * 1e6)
    known = known or {}
    for article_id, path in iter_files(corpus_dir, corpus.skipped):
        if Path(article_id).name.startswith("."):
            corpus.skipped.append(Skipped(article_id, "hidden file"))
            continue
        stamp = _stamp(path)
        record = known.get(article_id)
        if record is not None and stamp is not None and stamp == record.stamp and stamp.size <= max_bytes:
            items: list[Article | Skipped] = [record.article]
            corpus.not_read += 1
        else:
            try:
                items = parse_file(article_id, read_limited(path, max_bytes))
            except _Unreadable as reason:
                corpus.skipped.append(Skipped(article_id, str(reason)))
                continue
            except Exception as error:  # noqa: BLE001 - one bad file must not stop the corpus
                corpus.skipped.append(Skipped(article_id, f"cannot read ({_error_text(error)})"))
                continue
        one_article = len(items) == 1 and isinstance(items[0], Article) and items[0].article_id == article_id
        if stamp is not None and one_article:
            corpus.stamps[article_id] = stamp
        for item in items:
            if isinstance(item, Skipped):
                corpus.skipped.append(item)
            elif item.body_hash in kept_by_body:
                corpus.duplicates[item.article_id] = kept_by_body[item.body_hash]
            else:
                kept_by_body[item.body_hash] = item.article_id
                corpus.articles.append(item)
    corpus.skipped.sort(key=lambda s: s.path)
    return corpus
