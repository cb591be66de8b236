"""Hand-made chunks and evidence for unit tests of the logic around them."""

from rag.chunking import Chunk, split_sentences
from rag.generate import Evidence


def make_evidence(number: int, text: str, title: str = "A title", article_id: str = "a.txt") -> Evidence:
    spans = split_sentences(text)
    chunk = Chunk(
        chunk_id=f"{article_id}::0",
        article_id=article_id,
        title=title,
        source="Outlet",
        published="2025-01-02",
        start=0,
        end=len(text),
        text=text,
        sentences=spans,
    )
    return Evidence(number=number, chunk=chunk, start=0, end=len(text), sentences=spans, score=1.0, relevance=0.5)
