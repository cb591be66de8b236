"""Stage 5: find the passages that answer a question.

Keyword (BM25) and dense (FAISS cosine) scores are fused: news questions hinge on names and numbers,
where keyword matching is strong, and on paraphrase, where embeddings are. The best candidates are
then re-ranked by their single best-matching sentence, because one sentence usually holds a news
fact and a chunk's average meaning blurs it. A "what did X say" question also lifts the passages
where X is the quoted speaker, a question naming an outlet ("what did Reuters report ...") lifts
that outlet's articles, and one asking for the latest lifts the newer ones. Measured against dense
alone and plain reciprocal rank fusion: see the README.

Nothing here walks every chunk: BM25 comes built from the index (memory-mapped), and what a question asks of
all rows is answered from the index's columns and tables (rag.chunk_store): a filter is a mask over the
rows' outlet codes and dates, and both searches take only the rows it allows (and never a removed one); the
quoted people are a table; only the candidates' chunks are read. A filter used to make every allowed row a
candidate (at 100,000 articles ~500,000 rows scored in Python per question); it now takes the best
`candidates` of each search among the allowed rows, as an unfiltered question does among all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from rag.answer_type import expected_answer, offers_answer
from rag.chunk_store import ChunkStore
from rag.chunking import Chunk
from rag.config import RetrievalWeights
from rag.coverage import Cover, TermIndex
from rag.embedding import Embedder, get_embedder
from rag.index_store import Index
from rag.keywords import bm25_terms, tokenize
from rag.lexicon import HEADLINE_QUESTION, LATEST_QUESTION, SOURCE_QUESTION, SPEECH_QUESTION
from rag.rules import RULES
from rag.text import content_words

MODES = ("hybrid", "rrf", "dense", "bm25")


@dataclass(frozen=True)
class Filters:
    """Restrict retrieval by outlet and publication date (inclusive ISO dates), and to some articles (a
    follow-up to a briefing reads the briefing's articles first)."""

    sources: tuple[str, ...] = ()
    date_from: str | None = None
    date_to: str | None = None
    articles: tuple[str, ...] = ()

    def active(self) -> bool:
        return bool(self.sources or self.date_from or self.date_to or self.articles)

    def allows(self, chunk: Chunk) -> bool:
        if self.sources and (chunk.source or "") not in self.sources:
            return False
        if self.articles and chunk.article_id not in self.articles:
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
    sentence_scores: list[float] = field(default_factory=list)  # each chunk sentence's match (see _sentence_scores)


__all__ = ["MODES", "Filters", "Passage", "Retriever", "bm25_terms"]


class Retriever:
    def __init__(
        self,
        index: Index,
        embedder: Embedder | None = None,
        mode: str = "hybrid",
        rules_off: frozenset[str] = frozenset(),
        weights: RetrievalWeights | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"retrieval mode must be one of {MODES}, not {mode!r}")
        self.index = index
        self.mode = mode
        self.weights = weights or RetrievalWeights()
        # The lifts (rag.rules) belong to the hybrid re-ranking; the other modes are plain baselines.
        lifts = {r for r in RULES if RULES[r].stage == "retrieve"} - set(rules_off)
        self.lifts = lifts if mode == "hybrid" else set()
        self.embedder = embedder or get_embedder(index.embedder)
        index.check_embedder(self.embedder)  # the weights that embedded the chunks embed the questions
        if not isinstance(index.chunks, ChunkStore):
            raise TypeError("a retriever reads an index loaded by rag.index_store.load_index")
        self.chunks: ChunkStore = index.chunks
        segments = [(s.bm25, int(offset)) for s, offset in zip(index.segments, index.row_offsets, strict=False)]
        self.terms = TermIndex(segments, bm25_terms, index.dead)
        # Each outlet with the forms a question may name it by, longest name first (see outlets_in).
        codes = np.unique(index.source_codes[index.live()])
        self.outlets: list[tuple[str, list[str]]] = []
        for outlet in sorted((index.outlets[c] for c in codes if c >= 0), key=lambda o: (-len(o), o)):
            name = re.sub(r"^the\s+", "", outlet, flags=re.IGNORECASE)
            acronyms = [w for w in name.split() if len(w) >= 2 and w.isupper() and w.isalpha()]
            self.outlets.append((outlet, [name, *acronyms]))

    def outlets_in(self, question: str) -> set[str]:
        """Outlets a question names as its source: the whole name ("Coast Herald", a leading "The"
        optional) or an acronym in it ("TVB" for "TVB News"), as capitalised words unless the question
        is all lowercase."""
        if not SOURCE_QUESTION.search(question):
            return set()
        flags = re.IGNORECASE if question.islower() else 0
        named: set[str] = set()
        taken: list[tuple[int, int]] = []  # "Coast Herald" matched: its "Herald" names no other outlet
        for outlet, forms in self.outlets:
            for form in forms:
                for match in re.finditer(rf"(?<![\w-]){re.escape(form)}(?![\w-])", question, flags):
                    if not any(start <= match.start() and match.end() <= end for start, end in taken):
                        named.add(outlet)
                        taken.append(match.span())
        return named

    def speakers_in(self, question: str) -> set[str]:
        """Surnames of quoted people named in a who-said-what question (empty for other questions)."""
        headline = HEADLINE_QUESTION.match(question)
        if headline:
            question = headline.group("who")  # "Ushakov on compromise?": only the person before "on"
        elif not SPEECH_QUESTION.search(question):
            return set()
        # A question typed all in lowercase says nothing by its case: any word may be a name.
        pattern = r"[\w'’-]+" if question.islower() else r"[A-Z][\w'’-]+"
        words = {w.lower().replace("’", "'").removesuffix("'s") for w in re.findall(pattern, question)}
        return {w for w in words if self.chunks.rows_quoting(w)}

    def cover(self, question: str, chunk: Chunk) -> Cover:
        """How much of what the question pins down the chunk holds (rag.coverage)."""
        row = self.chunks.row_of(chunk.chunk_id)
        if row is None:
            raise KeyError(f"{chunk.chunk_id} is not a chunk of this index")
        return self.terms.cover(self.terms.terms(question), row)

    def mention_rows(self, term: str) -> list[int] | None:
        """Rows that may mention `term` as rag.collection.find_mentions matches it (a superset, in row order):
        a match of the term as a whole word, in any case, holds every BM25 term of it, so the rows holding
        all of them (BM25's postings) include every match. A term without BM25 terms (stop words, single
        letters: "US", "A") is looked up with SQLite LIKE; None (every row) when that cannot be exact either
        (non-ASCII letters, which LIKE compares by case), or when BM25 does not read the titles."""
        terms = [t for t in bm25_terms([term])[0] if t]
        if terms and self.index.params.contextual:
            return [int(r) for r in self.terms.rows_holding(terms)]
        if term.isascii():
            return self.chunks.rows_like(term)
        return None

    def allowed(self, filters: Filters | None) -> np.ndarray | None:
        """The rows a filter lets through, as a mask over all rows (None: no filter)."""
        if filters is None or not filters.active():
            return None
        mask = np.ones(len(self.index.source_codes), dtype=bool)
        if filters.sources:
            codes = [code for code, outlet in enumerate(self.index.outlets) if outlet in filters.sources]
            mask &= np.isin(self.index.source_codes, codes)
        dates = self.index.published  # the first ten characters of each row's date, "" when undated
        if filters.date_from:
            mask &= (dates != "") & (dates >= filters.date_from)
        if filters.date_to:
            mask &= (dates != "") & (dates <= filters.date_to)
        if filters.articles:
            among = np.zeros_like(mask)
            among[[row for article in filters.articles for row in self.chunks.article_rows(article)]] = True
            mask &= among
        return mask

    def _dense(self, query: np.ndarray, n: int, allowed: np.ndarray | None) -> tuple[list[int], dict[int, float]]:
        scores, rows = self.index.vectors.search(query.reshape(1, -1), min(n, len(self.chunks)), allowed)
        pairs = [(int(r), float(s)) for r, s in zip(rows[0], scores[0], strict=True) if r >= 0]
        return [r for r, _ in pairs], dict(pairs)

    def _keyword(self, question: str, n: int, allowed: np.ndarray | None) -> tuple[list[int], dict[int, float]]:
        tokens = tokenize([question])
        if not tokens.vocab or not any(len(ids) for ids in tokens.ids):
            return [], {}
        if self.index.dead is not None:
            allowed = ~self.index.dead if allowed is None else allowed & ~self.index.dead
        pairs: list[tuple[int, float]] = []
        for segment, offset in zip(self.index.segments, self.index.row_offsets, strict=False):
            if segment.bm25 is None:
                continue
            mask = None if allowed is None else allowed[offset : offset + segment.rows]
            if mask is not None and not mask.any():
                continue
            # bm25s needs query tokens known to the corpus vocabulary; unknown ones score zero anyway. A row
            # outside the mask scores zero.
            rows, scores = segment.bm25.retrieve(
                tokens,
                k=min(n, segment.rows),
                show_progress=False,
                weight_mask=None if mask is None else mask.astype(np.float32),
            )
            pairs += [(int(r) + int(offset), float(s)) for r, s in zip(rows[0], scores[0], strict=True) if s > 0]
        if len(self.index.segments) > 1:  # each segment's best, merged by score (the delta's IDF is its own)
            pairs = sorted(pairs, key=lambda pair: -pair[1])[:n]
        return [r for r, _ in pairs], dict(pairs)

    def search(self, question: str, k: int = 4, filters: Filters | None = None) -> list[Passage]:
        if not self.chunks or not question.strip():
            return []
        n = self.weights.candidates
        allowed = self.allowed(filters)
        query = self.embedder.encode([question])[0]
        dense_rows, dense_scores = self._dense(query, n, allowed) if self.mode != "bm25" else ([], {})
        keyword_rows, keyword_scores = self._keyword(question, n, allowed) if self.mode != "dense" else ([], {})
        candidates = list(dict.fromkeys(dense_rows + keyword_rows))
        if not candidates:
            return []
        for row in candidates:  # keyword-only candidates still get their true cosine
            if row not in dense_scores:
                dense_scores[row] = float(np.dot(self.index.vectors.reconstruct(row), query))
        if self.mode == "dense":
            scores = {r: dense_scores[r] for r in candidates}
        elif self.mode == "bm25":
            scores = {r: keyword_scores.get(r, 0.0) for r in candidates}
        elif self.mode == "rrf":
            scores = dict.fromkeys(candidates, 0.0)
            for ranking in (dense_rows, keyword_rows):
                for rank, row in enumerate(r for r in ranking if r in scores):
                    scores[row] += 1.0 / (self.weights.rrf_k + rank + 1)
        else:
            dense_n = _min_max({r: dense_scores[r] for r in candidates})
            keyword_n = _min_max({r: keyword_scores.get(r, 0.0) for r in candidates})
            keyword = self.weights.keyword_weight
            scores = {r: (1 - keyword) * dense_n[r] + keyword * keyword_n[r] for r in candidates}
        outlets = self.outlets_in(question) if "outlet_lift" in self.lifts else set()
        codes = {code for code, outlet in enumerate(self.index.outlets) if outlet in outlets}
        for row in candidates:  # before the re-rank depth is cut, so the outlet's chunks are re-ranked
            if int(self.index.source_codes[row]) in codes:
                scores[row] += self.weights.outlet_bonus
        ranked = sorted(candidates, key=lambda r: -scores[r])
        speakers = self.speakers_in(question) if "speaker_lift" in self.lifts else set()
        sentence_scores: dict[int, list[float]] = {}
        if self.mode == "hybrid":
            top = ranked[: self.weights.rerank_depth]
            sentence_scores = self._sentence_scores(top, query, question)
            best = _min_max({r: max(sentence_scores[r]) for r in top})
            final = {r: scores[r] + self.weights.sentence_weight * best[r] for r in top}
            for row in top:
                if any(q.speaker and speakers & set(q.speaker.lower().split()) for q in self.chunks[row].quotes):
                    final[row] += self.weights.speaker_bonus
            if "recency_lift" in self.lifts and LATEST_QUESTION.search(question):
                for row, newness in _newness(self.chunks, top).items():
                    final[row] += self.weights.recency_bonus * newness
            ranked = sorted(top, key=lambda r: -final[r]) + ranked[self.weights.rerank_depth :]
            scores = {**scores, **final}
        passages = []
        for row in ranked[:k]:
            chunk = self.chunks[row]
            quoted = sorted(
                {q.speaker for q in chunk.quotes if q.speaker and speakers & set(q.speaker.lower().split())}
            )
            passages.append(
                Passage(
                    chunk,
                    scores[row],
                    dense_scores[row],
                    keyword_scores.get(row, 0.0),
                    quoted,
                    sentence_scores.get(row, []),
                )
            )
        return passages

    def _sentence_scores(self, rows: list[int], query: np.ndarray, question: str) -> dict[int, list[float]]:
        """Each sentence's match to the question: cosine similarity plus the share of the question's
        content words it contains, so the sentence naming the asked-about people and numbers wins
        over one that is merely on topic, plus a bonus when it holds a fact of the kind asked for
        (a number for "how many"), so the answering sentence wins over one restating the question."""
        texts = [(row, text) for row in rows for text in self.chunks[row].sentence_texts()]
        vectors = [self.index.chunk_sentence_vectors(row) for row in rows]  # embedded at build time
        similarity = np.concatenate(vectors).astype(np.float32) @ query if texts else []
        asked = content_words(question)
        kind = expected_answer(question)
        scores: dict[int, list[float]] = {row: [] for row in rows}
        for (row, text), value in zip(texts, similarity, strict=True):
            shared = len(asked & content_words(text)) / len(asked) if asked else 0.0
            coverage = shared if "sentence_words" in self.lifts else 0.0
            lifted = "answer_kind_lift" in self.lifts and offers_answer(text, question, kind)
            answers = self.weights.answer_type_bonus if lifted else 0.0
            scores[row].append(float(value) + self.weights.sentence_keyword_weight * coverage + answers)
        return scores


def _newness(chunks: ChunkStore, rows: list[int]) -> dict[int, float]:
    """Dated rows by publication date, 1 for the newest, 0 for the oldest (undated rows: none)."""
    dated = {r: published for r in rows if (published := chunks[r].published)}
    dates = sorted(set(dated.values()))
    if len(dates) < 2:
        return {}
    position = {date: i / (len(dates) - 1) for i, date in enumerate(dates)}
    return {r: position[date] for r, date in dated.items()}


def _min_max(values: dict[int, float]) -> dict[int, float]:
    """Scale scores to 0..1 within one question's candidates, so BM25 and cosine can be added."""
    low, high = min(values.values()), max(values.values())
    span = high - low
    return {key: (value - low) / span if span > 0 else 1.0 for key, value in values.items()}
