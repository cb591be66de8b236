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
    """The chunks each stemmed term occurs in, from a BM25 index's postings (no second copy of them)."""

    def __init__(self, bm25: bm25s.BM25, tokenize: Callable[[list[str]], list[list[str]]]) -> None:
        self.vocabulary: dict[str, int] = getattr(bm25, "vocab_dict", None) or {}
        scores = getattr(bm25, "scores", None) or {"indptr": np.zeros(1, np.int64), "indices": [], "num_docs": 0}
        self.indptr = scores["indptr"]
        self.indices = scores["indices"]
        self.documents = int(scores["num_docs"])
        self.tokenize = tokenize
        self.framing = {t for words in tokenize(sorted(FUNCTION_WORDS)) for t in words}

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
        column = self.vocabulary.get(term)
        if column is None:
            return np.zeros(0, dtype=np.int64)
        return self.indices[self.indptr[column] : self.indptr[column + 1]]

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
