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


def make_record(
    qid, answer, correct=False, unanswerable=False, abstained=False, split="dev", hit_rank=1, refusal_p=None, gold=True
):
    """One question's record as rag.eval.evaluate writes it (the fields the comparison and calibration read)."""
    return {
        "id": qid, "split": split, "question": f"question {qid}?", "unanswerable": unanswerable,
        "hit_rank": None if unanswerable else hit_rank, "answer": answer, "abstained": abstained,
        "correct": correct, "f1": 1.0 if correct else 0.0, "cited_answer": correct, "refusal_p": refusal_p,
        "citations": [] if abstained else [{"marker": 1, "article_id": "a.txt", "gold": gold}], "raw": answer,
        "sentences": [], "first_token_s": 1.0, "total_s": 2.0,
    }  # fmt: skip
