"""Does a passage cover what the question pins down?

A question pins its answer down with the people, organisations, places, years and things it names
("How much did Norvik earn from fridges in 2004?"). A passage that leaves one of them out answers a
nearby question: the same fact for another year, another company, another commodity. The citation check
alone passes such an answer, because its words do stand in the passage.

Which words pin a question down is read off the corpus, not off word lists: a term's weight is its
inverse document frequency over the index's chunks, as BM25 computes it ("Norvik", "2004" and
"fridges" are rare and carry the question; "said", "year" and "news" are common and carry little). A
chunk covers a question by the share of that weight it holds, looked up in BM25's own postings (the same
stemming and stop words as keyword retrieval; the chunk's title, outlet, date, speakers and roles count,
since they are part of what BM25 reads). A year the question gives must be held outright.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import bm25s
import numpy as np

from rag.lexicon import FUNCTION_WORDS
from rag.text import is_year

_WORD = re.compile(r"[A-Za-z0-9][\w'’-]*")


@dataclass(frozen=True)
class Cover:
    share: float  # of the question's term weight the chunk holds, 0..1
    missing: tuple[str, ...]  # the question's terms it lacks, heaviest first (stems, as BM25 reads them)

    def enough(self, min_share: float) -> bool:
        """Covered: most of the weight held, and every year the question gives (a year is never paraphrased,
        and the same figure for another year is the commonest nearby answer)."""
        return self.share >= min_share and not any(is_year(term) for term in self.missing)


class TermIndex:
    """The chunks each stemmed term occurs in, from BM25 indexes' postings (no second copy of them).

    An index of several segments (rag.index_store) gives one BM25 per segment with the row its rows start
    at; `dead` marks the rows removed since (tombstones), which hold no term. The weights count the rows of
    all segments together, so coverage reads one archive whatever its segments."""

    def __init__(
        self,
        bm25: bm25s.BM25 | None | list[tuple[bm25s.BM25 | None, int]],
        tokenize: Callable[[list[str]], list[list[str]]],
        dead: np.ndarray | None = None,
    ) -> None:
        parts = bm25 if isinstance(bm25, list) else [(bm25, 0)]
        self.parts: list[tuple[dict[str, int], np.ndarray, np.ndarray, int]] = []
        self.documents = 0
        for part, offset in parts:
            scores = getattr(part, "scores", None) or {}
            if not scores:
                continue
            vocabulary: dict[str, int] = getattr(part, "vocab_dict", None) or {}
            self.parts.append((vocabulary, scores["indptr"], scores["indices"], offset))
            self.documents += int(scores["num_docs"])
        self.dead = dead if dead is not None and dead.any() else None
        if self.dead is not None:
            self.documents -= int(self.dead.sum())
        self.tokenize = tokenize
        self.framing = {t for words in tokenize(sorted(FUNCTION_WORDS)) for t in words}
        self._found: dict[str, np.ndarray] = {}  # a question asks each of its terms several times

    def terms(self, text: str) -> list[str]:
        """The text's terms as BM25 reads them (stemmed, without stop words), each once; without the words
        that frame a question ("how", "did", "many"), which no answering passage needs to hold.

        A term no chunk holds stays only when the question gives it as a name or a number (capitalised
        or in digits, past its first word): a name the archive never mentions is something it cannot
        answer about, while an ordinary word it never uses is more likely the question's own wording
        ("discussions" for "talks"), and in a small archive such words would outweigh all the others.
        """
        given = [word for word in _WORD.findall(text)[1:] if word[0].isupper() or word[0].isdigit()]
        named = set(self.tokenize([" ".join(given)])[0])
        found = (t for t in self.tokenize([text])[0] if t and t not in self.framing)
        return list(dict.fromkeys(t for t in found if len(self._rows(t)) or t in named))

    def _rows(self, term: str) -> np.ndarray:
        """The rows holding the term, ascending."""
        found = self._found.get(term)
        if found is None:
            pieces = [np.zeros(0, dtype=np.int64)]
            for vocabulary, indptr, indices, offset in self.parts:
                column = vocabulary.get(term)
                if column is not None:
                    pieces.append(np.asarray(indices[indptr[column] : indptr[column + 1]], dtype=np.int64) + offset)
            found = np.concatenate(pieces)
            if self.dead is not None:
                found = found[~self.dead[found]]
            if len(self._found) > 1024:
                self._found.clear()
            self._found[term] = found
        return found

    def rows_holding(self, terms: list[str]) -> np.ndarray:
        """The rows holding every one of the terms, ascending."""
        rows = self._rows(terms[0]) if terms else np.zeros(0, dtype=np.int64)
        for term in terms[1:]:
            rows = np.intersect1d(rows, self._rows(term), assume_unique=True)
        return rows

    def weight(self, term: str) -> float:
        """BM25's inverse document frequency: a term in no chunk weighs most, one in every chunk least."""
        found = len(self._rows(term))
        return math.log(1 + (self.documents - found + 0.5) / (found + 0.5))

    def holds(self, term: str, row: int) -> bool:
        rows = self._rows(term)
        place = int(np.searchsorted(rows, row))
        return place < len(rows) and int(rows[place]) == row

    def cover(self, terms: list[str], row: int) -> Cover:
        if not terms:
            return Cover(1.0, ())
        weights = {t: self.weight(t) for t in terms}
        missing = tuple(sorted((t for t in terms if not self.holds(t, row)), key=lambda t: -weights[t]))
        held = sum(w for t, w in weights.items() if t not in missing)
        return Cover(held / sum(weights.values()), missing)
