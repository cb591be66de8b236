"""The keyword (BM25) side of the index: how text becomes terms, and one segment's BM25 built and saved.

BM25 is built when the index is built, over what the embedder reads of each chunk (text_for_keywords), and
saved in bm25s' own format; a load memory-maps it (bm25s `load(mmap=True)`), so a start no longer re-tokenizes
and re-indexes every chunk.
"""

from __future__ import annotations

from pathlib import Path

import bm25s
import Stemmer

_STEMMER = Stemmer.Stemmer("english")


def tokenize(texts: list[str]) -> bm25s.tokenization.Tokenized:
    """Texts as BM25 reads them: lowercased words of two letters or more, English stop words out, stemmed."""
    return bm25s.tokenize(texts, stopwords="en", stemmer=_STEMMER, show_progress=False)


def bm25_terms(texts: list[str]) -> list[list[str]]:
    """The terms BM25 reads, as strings."""
    return bm25s.tokenize(texts, stopwords="en", stemmer=_STEMMER, show_progress=False, return_ids=False)


def build_bm25(texts: list[str], folder: Path) -> None:
    """A BM25 index of `texts` (one document per row) saved into `folder` (nothing for no texts)."""
    if not texts:
        return
    bm25 = bm25s.BM25()
    bm25.index(tokenize(texts), show_progress=False)
    bm25.save(str(folder), show_progress=False)


def load_bm25(folder: Path) -> bm25s.BM25 | None:
    """The BM25 index saved in `folder`, memory-mapped (None when the segment had no texts)."""
    if not folder.is_dir():
        return None
    return bm25s.BM25.load(str(folder), mmap=True, show_progress=False)
