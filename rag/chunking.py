"""Stage 2: cut articles into overlapping windows of whole sentences.

Each chunk keeps its article's metadata and the character offsets of its sentences in the article body,
so a citation can point back at the exact supporting sentence.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from sentencex import segment

from rag.articles import Article
from rag.roles import Role, extract_roles, role_line
from rag.speakers import Quote, extract_quotes


@dataclass(frozen=True)
class ChunkingParams:
    sentences_per_chunk: int = 6
    overlap: int = 2
    max_words: int = 120  # a very long sentence run is cut earlier so one chunk stays readable
    contextual: bool = True  # embed "title (outlet, date): text" instead of the bare text

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Chunk:
    chunk_id: str
    article_id: str
    title: str
    source: str | None
    published: str | None
    start: int  # offsets into Article.text
    end: int
    text: str
    sentences: list[tuple[int, int]]  # absolute offsets of each sentence in Article.text
    quotes: list[Quote] = field(default_factory=list)
    roles: list[Role] = field(default_factory=list)  # roles of the people this chunk names (rag.roles)

    def sentence_texts(self) -> list[str]:
        return [self.text[s - self.start : e - self.start] for s, e in self.sentences]

    def byline(self) -> str:
        """The article's outlet and date, whichever are known: "BBC News, 2005-03-01" ("" for neither)."""
        return ", ".join(x for x in (self.source, (self.published or "")[:10]) if x)

    def heading(self) -> str:
        """The quoted title with its byline, as passages and listed articles are headed: '"Title" (Outlet, date)'."""
        byline = self.byline()
        return f'"{self.title}"' + (f" ({byline})" if byline else "")

    def to_dict(self) -> dict:
        data = asdict(self)
        data["sentences"] = [list(s) for s in self.sentences]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Chunk:
        data = dict(data)
        data["sentences"] = [tuple(s) for s in data["sentences"]]
        data["quotes"] = [Quote(**q) for q in data.get("quotes", [])]
        data["roles"] = [Role(**r) for r in data.get("roles", [])]
        return cls(**data)


def split_sentences(text: str, language: str = "en") -> list[tuple[int, int]]:
    """Sentence offsets from sentencex, mapped back onto the original string."""
    spans: list[tuple[int, int]] = []
    position = 0
    for sentence in segment(language, text):
        piece = sentence.strip()
        if not piece:
            continue
        start = text.find(piece, position)
        if start < 0:  # the segmenter changed the text; fall back to the raw cursor
            start = position
        end = min(len(text), start + len(piece))
        spans.append((start, end))
        position = end
    return spans


def chunk_article(article: Article, params: ChunkingParams) -> list[Chunk]:
    sentences = split_sentences(article.text)
    if not sentences:
        return []
    quotes = extract_quotes(article.text, sentences)
    roles = extract_roles(article.text, sentences)
    chunks: list[Chunk] = []
    first = 0
    while first < len(sentences):
        last = first
        words = 0
        while last < len(sentences) and last - first < params.sentences_per_chunk:
            s, e = sentences[last]
            sentence_words = len(article.text[s:e].split())
            if last > first and words + sentence_words > params.max_words:
                break
            words += sentence_words
            last += 1
        window = sentences[first:last]
        start, end = window[0][0], window[-1][1]
        chunks.append(
            Chunk(
                chunk_id=f"{article.article_id}::{len(chunks)}",
                article_id=article.article_id,
                title=article.title,
                source=article.source,
                published=article.published,
                start=start,
                end=end,
                text=article.text[start:end],
                sentences=list(window),
                quotes=_quotes_within(quotes, article.text, start, end),
                roles=_roles_named(roles, article.text[start:end]),
            )
        )
        if last >= len(sentences):
            break
        first = last - params.overlap if last - first > params.overlap else last
    return chunks


def _quotes_within(quotes: list[Quote], text: str, start: int, end: int) -> list[Quote]:
    """The chunk's share of each quote: a long quote running over two chunks still makes its speaker
    a speaker of both (who-said-what retrieval looks for them there)."""
    shares = []
    for quote in quotes:
        first, last = max(quote.start, start), min(quote.end, end)
        if len(text[first:last].split()) >= 2:
            shares.append(Quote(speaker=quote.speaker, text=text[first:last], start=first, end=last))
    return shares


def _roles_named(roles: list[Role], text: str) -> list[Role]:
    """The roles of the people a chunk names, by full name or surname, wherever in the article the role
    was stated: "the Kremlin adviser" must find the chunk quoting Ushakov, not only the one naming his post."""
    words = set(re.findall(r"[\w-]+", text))
    return [r for r in roles if r.person.split()[-1] in words]


def text_for_embedding(chunk: Chunk, params: ChunkingParams) -> str:
    """What the embedder and BM25 see: optionally the title, outlet and date, plus who is quoted.

    The outlet lives in the article's metadata, not its text; without it here a question naming the
    outlet ("what did Reuters report about ...") could not prefer that outlet's articles."""
    speakers = sorted({q.speaker for q in chunk.quotes if q.speaker})
    parts = []
    if params.contextual:
        byline = chunk.byline()
        parts.append(f"{chunk.title} ({byline}):" if byline else f"{chunk.title}:")
    parts.append(chunk.text)
    if speakers:
        parts.append("Quoted: " + ", ".join(speakers) + ".")
    if chunk.roles:
        parts.append(role_line(chunk.roles))
    return " ".join(parts)
