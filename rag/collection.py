"""Questions about the collection itself, answered from the index instead of the model.

"How many articles mention X?" cannot be answered from the few passages a model reads, and a count
the model makes up can pass the citation check whenever the same number stands in a passage for
something else (a score, a date). The index holds every article, so the count and the list come from
it, each listed article cited with its first sentence that mentions the term.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from rag.answer_type import asks_for_person
from rag.chunk_store import BATCH, ChunkStore
from rag.chunking import Chunk
from rag.cite import CheckedAnswer, CheckedSentence, Citation, strip_markers
from rag.generate import Evidence
from rag.lexicon import MENTION_QUESTION, REFERRING_TERMS, SURNAME_PARTICLES
from rag.retrieve import Filters
from rag.text import name_groups

SHOWN = 5  # articles listed and cited; the count covers them all
MAX_TERM_WORDS = 4  # a longer "term" is a question about content, for the normal pipeline


def mentioned_term(question: str) -> str | None:
    """The name or phrase a how-many/which-articles-mention question asks about, else None."""
    match = MENTION_QUESTION.match(question)
    if not match:
        return None
    term = match["term"].strip().strip("\"'“”‘’").strip()
    return term if term and len(term.split()) <= MAX_TERM_WORDS else None


def refers_back(term: str) -> bool:
    """ "How many articles mention him?": the term is a pronoun, its meaning is in the conversation."""
    return term.lower() in REFERRING_TERMS


def referent(history: list[tuple[str, str]]) -> str | None:
    """What "him", "her" or "it" stands for in the last exchange, as written there; None if nothing.

    The name is taken from the conversation directly rather than by the model's rewrite of the
    follow-up, which may change what is counted: the person a who-question was answered with (by
    surname, the form news repeats), else the first name the question gave, else the first in the answer.
    """
    if not history:
        return None
    asked, answered = history[-1][0], strip_markers(history[-1][1])
    asked_groups, answered_groups = name_groups(asked), name_groups(answered)
    given = {word for group in asked_groups for word in group}
    if asks_for_person(asked):
        new = [group for group in answered_groups if group[-1] not in given]
        if new:
            return _surname(answered, new[0])
    for text, groups in ((asked, asked_groups), (answered, answered_groups)):
        if groups:
            return _as_written(text, groups[0])
    return None


def _surname(text: str, group: list[str]) -> str:
    """ "Yuri Ushakov" -> "Ushakov", "Ursula von der Leyen" -> "von der Leyen" (particles stay)."""
    written = _as_written(text, group)
    after = text[text.find(written) + len(written) :]
    tail = re.match(rf"((?:\s+{SURNAME_PARTICLES})+\s+[A-Z][\w'-]+)", after)
    if tail:
        return tail.group(1).strip()
    return written.split()[-1]


def _as_written(text: str, words: list[str]) -> str:
    match = re.search(r"\s+".join(re.escape(w) for w in words), text, re.IGNORECASE)
    return match.group(0) if match else " ".join(words)


@dataclass
class Mentions:
    term: str
    articles: int  # how many articles mention it (after the filters)
    evidence: list[Evidence]  # the first SHOWN articles, newest first: each one's first sentence naming it


def find_mentions(
    term: str,
    chunks: Sequence[Chunk] | ChunkStore,
    filters: Filters | None = None,
    shown: int = SHOWN,
    rows: Iterable[int] | None = None,
    allowed: np.ndarray | None = None,
) -> Mentions:
    """The articles mentioning `term` as a whole word in any case, in a sentence or else in the title.

    `rows` (ascending) narrows the chunks read to those that may mention it (Retriever.mention_rows: from
    BM25's postings, so an archive is not read whole for a question) and `allowed` (a mask over the rows,
    Retriever.allowed) to those the filters let through; the regex below decides on each, so the count is
    exact either way."""
    pattern = re.compile(rf"(?<!\w){re.escape(term)}(?!\w)", re.IGNORECASE)
    found: dict[str, tuple[Chunk, tuple[int, int]]] = {}
    title_only: dict[str, tuple[Chunk, tuple[int, int]]] = {}
    if rows is None:
        read: Iterable[Chunk] = chunks
    else:
        wanted = [r for r in rows if allowed is None or allowed[r]]
        read = _unfound(chunks, wanted, found) if isinstance(chunks, ChunkStore) else (chunks[r] for r in wanted)
    for chunk in read:
        if chunk.article_id in found or (filters is not None and filters.active() and not filters.allows(chunk)):
            continue
        spans = [s for s, text in zip(chunk.sentences, chunk.sentence_texts(), strict=True) if pattern.search(text)]
        if spans:
            found[chunk.article_id] = (chunk, spans[0])
        elif chunk.sentences and chunk.article_id not in title_only and pattern.search(chunk.title):
            title_only[chunk.article_id] = (chunk, chunk.sentences[0])  # named in the title only: its opening
    found.update({a: hit for a, hit in title_only.items() if a not in found})
    # Newest first; undated articles after dated ones, in corpus order.
    ordered = sorted(found.values(), key=lambda item: item[0].published or "", reverse=True)
    evidence = [
        Evidence(number, chunk, span[0], span[1], [span], score=1.0, relevance=1.0)
        for number, (chunk, span) in enumerate(ordered[:shown], start=1)
    ]
    return Mentions(term, len(found), evidence)


def _unfound(store: ChunkStore, rows: list[int], found: dict[str, tuple[Chunk, tuple[int, int]]]) -> Iterator[Chunk]:
    """The chunks of the rows, in order, but not those of an article already found: a common term's candidates
    are mostly further chunks of articles counted already, and their article is known without parsing them."""
    articles = store.article_ids(rows)
    for start in range(0, len(rows), BATCH):
        batch = [
            row
            for row, article in zip(rows[start : start + BATCH], articles[start : start + BATCH], strict=True)
            if article not in found
        ]
        for _, chunk in store.many(batch):
            yield chunk


def mentions_answer(mentions: Mentions) -> CheckedAnswer:
    """The count, then the listed articles, each cited; every figure comes from the index."""
    n = mentions.articles
    if n == 0:
        text = f'No article in the corpus mentions "{mentions.term}" (searched as written, in any case).'
        return CheckedAnswer(text, [CheckedSentence(text, [], True)], [])
    counted = f'{n} article{"s" if n != 1 else ""} in the corpus mention{"" if n != 1 else "s"} "{mentions.term}".'
    items = []
    for e in mentions.evidence:
        items.append(f"{e.chunk.heading()} [{e.number}]")
    if n > len(items):
        items.append(f"and {n - len(items)} more")
    newest = len(mentions.evidence) > 1 and all(e.chunk.published for e in mentions.evidence)
    listed = ("Newest first: " if newest else "") + ", ".join(items) + "."
    sentences = [
        CheckedSentence(counted, [], True),
        CheckedSentence(listed, [e.number for e in mentions.evidence], True),
    ]
    citations = [Citation(e.number, e, e.text, e.start, e.end) for e in mentions.evidence]
    return CheckedAnswer(f"{counted} {listed}", sentences, citations)
