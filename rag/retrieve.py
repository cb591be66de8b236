"""Stage 5: find the passages that answer a question.

Dense (FAISS cosine) and keyword (BM25) rankings are fused with reciprocal rank fusion: news
questions hinge on names and numbers, where keyword matching is strong and embeddings are weak.
A question naming a person who is quoted in the corpus also pulls up the passages quoting them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import bm25s
import numpy as np
import Stemmer

from rag.chunking import Chunk, text_for_embedding
from rag.embedding import Embedder, get_embedder
from rag.index_store import Index

RRF_K = 60
CANDIDATES = 50
MODES = ("hybrid", "dense", "bm25")


@dataclass(frozen=True)
class Filters:
    """Restrict retrieval by outlet and publication date (inclusive ISO dates)."""

    sources: tuple[str, ...] = ()
    date_from: str | None = None
    date_to: str | None = None

    def active(self) -> bool:
        return bool(self.sources or self.date_from or self.date_to)

    def allows(self, chunk: Chunk) -> bool:
        if self.sources and (chunk.source or "") not in self.sources:
            return False
        date = (chunk.published or "")[:10]
        if self.date_from and (not date or date < self.date_from):
            return False
        if self.date_to and (not date or date > self.date_to):
            return False
        return True


@dataclass
class Passage:
    chunk: Chunk
    score: float  # fused score used for ranking
    dense: float = 0.0  # cosine similarity of the question and the chunk
    keyword: float = 0.0  # BM25 score
    speakers: list[str] = field(default_factory=list)  # people in the question quoted in this chunk


_STEMMER = Stemmer.Stemmer("english")


def _tokenize(texts: list[str]):
    return bm25s.tokenize(texts, stopwords="en", stemmer=_STEMMER, show_progress=False)


class Retriever:
    def __init__(self, index: Index, embedder: Embedder | None = None, mode: str = "hybrid") -> None:
        if mode not in MODES:
            raise ValueError(f"retrieval mode must be one of {MODES}, not {mode!r}")
        self.index = index
        self.mode = mode
        self.embedder = embedder or get_embedder(index.embedder)
        self.chunks = index.chunks
        self.bm25 = bm25s.BM25()
        if self.chunks:
            self.bm25.index(_tokenize([text_for_embedding(c, index.params) for c in self.chunks]), show_progress=False)
        # surname (lowercase) -> chunk rows quoting that person
        self.quoted: dict[str, set[int]] = {}
        for row, chunk in enumerate(self.chunks):
            for quote in chunk.quotes:
                if quote.speaker:
                    for part in quote.speaker.split():
                        if len(part) > 2 and part[0].isupper():
                            self.quoted.setdefault(part.lower(), set()).add(row)

    def speakers_in(self, question: str) -> set[str]:
        words = {w.lower() for w in re.findall(r"[A-Za-z][\w'-]+", question)}
        return {w for w in words if w in self.quoted}

    def _dense(self, question: str, n: int) -> tuple[list[int], dict[int, float]]:
        vector = self.embedder.encode([question])
        scores, rows = self.index.vectors.search(vector, min(n, len(self.chunks)))
        pairs = [(int(r), float(s)) for r, s in zip(rows[0], scores[0], strict=True) if r >= 0]
        return [r for r, _ in pairs], dict(pairs)

    def _keyword(self, question: str, n: int) -> tuple[list[int], dict[int, float]]:
        tokens = _tokenize([question])
        if not tokens.vocab or not any(len(ids) for ids in tokens.ids):
            return [], {}
        # bm25s needs query tokens known to the corpus vocabulary; unknown ones score zero anyway.
        rows, scores = self.bm25.retrieve(tokens, k=min(n, len(self.chunks)), show_progress=False)
        pairs = [(int(r), float(s)) for r, s in zip(rows[0], scores[0], strict=True) if s > 0]
        return [r for r, _ in pairs], dict(pairs)

    def search(self, question: str, k: int = 4, filters: Filters | None = None) -> list[Passage]:
        if not self.chunks or not question.strip():
            return []
        n = len(self.chunks) if filters and filters.active() else CANDIDATES
        dense_rows, dense_scores = self._dense(question, n)
        keyword_rows, keyword_scores = self._keyword(question, n) if self.mode != "dense" else ([], {})
        if self.mode == "bm25":
            dense_rows = []
        fused: dict[int, float] = {}
        for ranking in (dense_rows, keyword_rows):
            for rank, row in enumerate(ranking):
                fused[row] = fused.get(row, 0.0) + 1.0 / (RRF_K + rank + 1)
        speakers = self.speakers_in(question) if self.mode == "hybrid" else set()
        for name in speakers:
            for row in self.quoted[name]:
                if row in fused:  # only lift passages the question already matched
                    fused[row] += 1.0 / (RRF_K + 1)
        ranked = sorted(fused, key=lambda r: -fused[r])
        if filters and filters.active():
            ranked = [r for r in ranked if filters.allows(self.chunks[r])]
        passages = []
        for row in ranked[:k]:
            chunk = self.chunks[row]
            if row not in dense_scores:
                dense_scores[row] = float(
                    np.dot(self.index.vectors.reconstruct(row), self.embedder.encode([question])[0])
                )
            quoted = sorted(
                {
                    q.speaker
                    for q in chunk.quotes
                    if q.speaker and any(name in q.speaker.lower().split() for name in speakers)
                }
            )
            passages.append(Passage(chunk, fused[row], dense_scores[row], keyword_scores.get(row, 0.0), quoted))
        return passages
