"""The chunks of an index on disk, read by row id: memory that does not grow with the archive.

A segment of an index generation (rag.index_store) keeps its chunks in one SQLite file (standard library),
one row per chunk in FAISS row order: the columns queries need (chunk id, article id, title, outlet, date,
text) and the rest of the chunk as JSON. Beside it, what retrieval asks of every row is computed at build and
stored so a question never walks the rows in Python: the people each row quotes (a table, surname -> rows),
the outlets (a table, and one code per row in `sources.npy`), the first ten characters of each row's date
(`published.npy`, what a date filter compares) and where each row's sentence vectors start (`sentence_offsets.npy`).

`ChunkStore` is the index's view over its segments (main, then delta) with the rows a later build removed
(tombstones) left out: `len`, `store[row]` (a small LRU cache of parsed chunks) and iteration in row order,
so code written for a list of chunks keeps working, plus the lookups retrieval needs (row of a chunk id,
rows quoting a surname, rows of an article). The files are opened read-only and immutable: a generation is
never changed after its build.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from rag.chunking import Chunk
from rag.roles import Role
from rag.speakers import Quote

STORE = "chunks.sqlite"
SOURCES = "sources.npy"  # int32 per row: the code of its outlet in the `outlets` table, -1 for none
PUBLISHED = "published.npy"  # <U10 per row: the first ten characters of its date ("" when undated)
SENTENCE_OFFSETS = "sentence_offsets.npy"  # int64, rows + 1: row i's sentence vectors are [o[i], o[i + 1])
CACHE_ROWS = 4096  # parsed chunks kept: a question reads ~100 rows, the chat's few users share them
BATCH = 500  # rows per SELECT when many are read (SQLite's default limit of bound parameters is 32,766)

_SCHEMA = """
CREATE TABLE chunks (
    row INTEGER PRIMARY KEY,
    chunk_id TEXT NOT NULL,
    article_id TEXT NOT NULL,
    title TEXT NOT NULL,
    source TEXT,
    published TEXT,
    text TEXT NOT NULL,
    rest TEXT NOT NULL
);
CREATE TABLE quoted (surname TEXT NOT NULL, row INTEGER NOT NULL);
CREATE TABLE outlets (code INTEGER PRIMARY KEY, name TEXT NOT NULL);
"""
_INDEXES = """
CREATE UNIQUE INDEX chunks_by_id ON chunks (chunk_id);
CREATE INDEX chunks_by_article ON chunks (article_id);
CREATE INDEX quoted_by_surname ON quoted (surname, row);
"""
_COLUMNS = "row, chunk_id, article_id, title, source, published, text, rest"


def quoted_surnames(chunk: Chunk) -> set[str]:
    """The lowercased names of the people a chunk quotes, as a who-said-what question names them: each
    capitalised part of a speaker's name longer than two letters ("Yuri Ushakov" -> yuri, ushakov)."""
    return {
        part.lower()
        for quote in chunk.quotes
        if quote.speaker
        for part in quote.speaker.split()
        if len(part) > 2 and part[0].isupper()
    }


def write_segment_store(folder: Path, chunks: Iterable[Chunk]) -> int:
    """The chunk store and its row columns (SOURCES, PUBLISHED) written into `folder`; the rows written."""
    path = folder / STORE
    connection = sqlite3.connect(path)
    outlets: dict[str, int] = {}
    sources: list[int] = []
    published: list[str] = []
    try:
        connection.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;" + _SCHEMA)
        quoted: list[tuple[str, int]] = []

        def rows() -> Iterator[tuple]:
            for row, chunk in enumerate(chunks):
                rest = {
                    "start": chunk.start,
                    "end": chunk.end,
                    "sentences": [list(s) for s in chunk.sentences],
                    "quotes": [vars(q) for q in chunk.quotes],
                    "roles": [vars(r) for r in chunk.roles],
                }
                sources.append(outlets.setdefault(chunk.source, len(outlets)) if chunk.source else -1)
                published.append((chunk.published or "")[:10])
                yield (
                    row,
                    chunk.chunk_id,
                    chunk.article_id,
                    chunk.title,
                    chunk.source,
                    chunk.published,
                    chunk.text,
                    json.dumps(rest, ensure_ascii=False),
                )
                quoted.extend((surname, row) for surname in quoted_surnames(chunk))

        connection.executemany(f"INSERT INTO chunks ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows())
        connection.executemany("INSERT INTO quoted VALUES (?, ?)", quoted)
        connection.executemany("INSERT INTO outlets VALUES (?, ?)", [(code, name) for name, code in outlets.items()])
        connection.executescript(_INDEXES)
        connection.commit()
    finally:
        connection.close()
    np.save(folder / SOURCES, np.asarray(sources, dtype=np.int32))
    np.save(folder / PUBLISHED, np.asarray(published, dtype="<U10"))
    return len(sources)


def _chunk(record: tuple) -> Chunk:
    _, chunk_id, article_id, title, source, published, text, rest = record
    extra = json.loads(rest)
    return Chunk(
        chunk_id=chunk_id,
        article_id=article_id,
        title=title,
        source=source,
        published=published,
        start=extra["start"],
        end=extra["end"],
        text=text,
        sentences=[tuple(s) for s in extra["sentences"]],
        quotes=[Quote(**q) for q in extra["quotes"]],
        roles=[Role(**r) for r in extra["roles"]],
    )


class SegmentStore:
    """One segment's chunk store, opened read-only."""

    def __init__(self, folder: Path) -> None:
        path = (folder / STORE).resolve()
        if not path.is_file():
            raise FileNotFoundError(f"{folder.name}/{STORE} is missing")
        # immutable=1: no locks and no journal look-ups; a generation's files never change after its build.
        self._db = sqlite3.connect(f"{path.as_uri()}?mode=ro&immutable=1", uri=True, check_same_thread=False)
        self._lock = threading.Lock()  # the app searches from several threads
        self.rows = int(self.query("SELECT COUNT(*) FROM chunks")[0][0])
        self.outlets = [name for _, name in self.query("SELECT code, name FROM outlets ORDER BY code")]

    def query(self, sql: str, parameters: tuple | list = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, parameters).fetchall()

    def chunk(self, row: int) -> Chunk:
        found = self.query(f"SELECT {_COLUMNS} FROM chunks WHERE row = ?", (row,))
        if not found:
            raise IndexError(f"no chunk at row {row}")
        return _chunk(found[0])

    def chunks(self, rows: list[int]) -> dict[int, Chunk]:
        found: dict[int, Chunk] = {}
        for start in range(0, len(rows), BATCH):
            batch = rows[start : start + BATCH]
            marks = ",".join("?" * len(batch))
            for record in self.query(f"SELECT {_COLUMNS} FROM chunks WHERE row IN ({marks})", batch):
                found[record[0]] = _chunk(record)
        return found

    def scan(self) -> Iterator[tuple[int, Chunk]]:
        """Every row in order, read a batch at a time (for tools that need them all, not for questions)."""
        for start in range(0, self.rows, BATCH):
            sql = f"SELECT {_COLUMNS} FROM chunks WHERE row >= ? AND row < ? ORDER BY row"
            for record in self.query(sql, (start, start + BATCH)):
                yield record[0], _chunk(record)

    def close(self) -> None:
        self._db.close()


class ChunkStore:
    """The chunks of an index's segments as one sequence of rows (main's, then the delta's), without the
    rows a later build removed (`dead`, a mask over all rows; None when there are none)."""

    def __init__(self, segments: list[SegmentStore], dead: np.ndarray | None = None) -> None:
        self.segments = segments
        self.offsets = np.cumsum([0] + [s.rows for s in segments]).astype(np.int64)
        self.total = int(self.offsets[-1])  # rows, removed ones included (the vectors' row space)
        self.dead = dead if dead is not None and dead.any() else None
        self._live = self.total - (int(self.dead.sum()) if self.dead is not None else 0)
        self._cache: OrderedDict[int, Chunk] = OrderedDict()
        self._cache_lock = threading.Lock()

    def __len__(self) -> int:
        return self._live

    def __bool__(self) -> bool:
        return self._live > 0

    def is_live(self, row: int) -> bool:
        return 0 <= row < self.total and (self.dead is None or not self.dead[row])

    def _segment(self, row: int) -> tuple[SegmentStore, int]:
        number = int(np.searchsorted(self.offsets, row, side="right")) - 1
        return self.segments[number], row - int(self.offsets[number])

    def __getitem__(self, row: int) -> Chunk:
        row = int(row)
        if not self.is_live(row):
            raise IndexError(f"no chunk at row {row}")
        with self._cache_lock:
            if row in self._cache:
                self._cache.move_to_end(row)
                return self._cache[row]
        segment, local = self._segment(row)
        chunk = segment.chunk(local)
        with self._cache_lock:
            self._cache[row] = chunk
            if len(self._cache) > CACHE_ROWS:
                self._cache.popitem(last=False)
        return chunk

    def __iter__(self) -> Iterator[Chunk]:
        for _, chunk in self.items():
            yield chunk

    def items(self) -> Iterator[tuple[int, Chunk]]:
        """(row, chunk) of every live row in row order, read in batches (a tool's scan, never a question's)."""
        for segment, offset in zip(self.segments, self.offsets, strict=False):
            for local, chunk in segment.scan():
                if self.is_live(int(offset) + local):
                    yield int(offset) + local, chunk

    def many(self, rows: Iterable[int]) -> Iterator[tuple[int, Chunk]]:
        """(row, chunk) of the given live rows, in the order given, read in batches."""
        wanted = [int(r) for r in rows if self.is_live(int(r))]
        for start in range(0, len(wanted), BATCH):
            batch = wanted[start : start + BATCH]
            by_segment: dict[int, list[int]] = {}
            for row in batch:
                number = int(np.searchsorted(self.offsets, row, side="right")) - 1
                by_segment.setdefault(number, []).append(row - int(self.offsets[number]))
            found: dict[int, Chunk] = {}
            for number, local in by_segment.items():
                offset = int(self.offsets[number])
                found.update({offset + r: c for r, c in self.segments[number].chunks(local).items()})
            for row in batch:
                yield row, found[row]

    def article_ids(self, rows: list[int]) -> list[str]:
        """The article of each of the given live rows, without parsing their chunks."""
        found: dict[int, str] = {}
        for start in range(0, len(rows), BATCH):
            by_segment: dict[int, list[int]] = {}
            for row in rows[start : start + BATCH]:
                number = int(np.searchsorted(self.offsets, row, side="right")) - 1
                by_segment.setdefault(number, []).append(row - int(self.offsets[number]))
            for number, local in by_segment.items():
                marks = ",".join("?" * len(local))
                sql = f"SELECT row, article_id FROM chunks WHERE row IN ({marks})"
                offset = int(self.offsets[number])
                found.update({offset + r: a for r, a in self.segments[number].query(sql, local)})
        return [found[row] for row in rows]

    def _live_rows(self, sql: str, parameters: tuple) -> list[int]:
        rows = [
            int(offset) + int(local)
            for segment, offset in zip(self.segments, self.offsets, strict=False)
            for (local,) in segment.query(sql, parameters)
        ]
        return sorted(r for r in rows if self.is_live(r))

    def row_of(self, chunk_id: str) -> int | None:
        rows = self._live_rows("SELECT row FROM chunks WHERE chunk_id = ?", (chunk_id,))
        return rows[0] if rows else None

    def rows_quoting(self, surname: str) -> list[int]:
        """Rows quoting a person by this (lowercased) part of their name (quoted_surnames)."""
        return self._live_rows("SELECT row FROM quoted WHERE surname = ?", (surname,))

    def article_rows(self, article_id: str) -> list[int]:
        return self._live_rows("SELECT row FROM chunks WHERE article_id = ?", (article_id,))

    def of_article(self, article_id: str) -> list[Chunk]:
        """The article's chunks in row order."""
        return [chunk for _, chunk in self.many(self.article_rows(article_id))]

    def rows_like(self, text: str) -> list[int]:
        """Rows whose title or text contains `text` (SQLite LIKE: ASCII letters in any case, other letters as
        written), found by SQLite without parsing a chunk."""
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        sql = "SELECT row FROM chunks WHERE title LIKE ? ESCAPE '\\' OR text LIKE ? ESCAPE '\\'"
        return self._live_rows(sql, (pattern, pattern))

    def close(self) -> None:
        for segment in self.segments:
            segment.close()
