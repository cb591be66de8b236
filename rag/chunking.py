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

# No chunk is longer than this, whatever the text: a longer "sentence" (a text without full stops, a table,
# a run-on list) is cut at the cap into pieces of whole words. The longest sentence of the 2,225 BBC articles
# has 235 words and 1,345 characters, so ordinary news is chunked exactly as without the cap; a 20,000-word
# text without a full stop no longer becomes one chunk that overflows the model's context window.
MAX_SENTENCE_WORDS = 300
# Nor longer than this many characters: text without spaces (Chinese, Japanese) or a 100 kB "word" is cut
# too, and a chunk of several sentences stops before it (the BBC's longest chunk has 1,345).
MAX_CHUNK_CHARS = 2_000
_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class ChunkingParams:
    sentences_per_chunk: int = 6
    overlap: int = 2
    max_words: int = 120  # a very long sentence run is cut earlier so one chunk stays readable
    contextual: bool = True  # title, outlet and date count in a chunk's vector and its BM25 text
    # A chunk's vector is the mean of its sentences' vectors plus this much of its heading's vector (see
    # rag.index_store._embed); chosen on the dev halves of the BBC Q&A sets (0.3 lost hit@1, 0.6 kept it).
    heading_weight: float = 0.6

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
        spans.extend(_capped(text, start, end))
        position = end
    return spans


def _capped(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """The sentence text[start:end] as it is, or cut into pieces of at most MAX_SENTENCE_WORDS words and
    MAX_CHUNK_CHARS characters (a single longer word is cut inside)."""
    if end - start <= MAX_CHUNK_CHARS and len(text[start:end].split()) <= MAX_SENTENCE_WORDS:
        return [(start, end)]
    pieces: list[tuple[int, int]] = []
    first = last = -1
    words = 0
    for match in _WORD.finditer(text, start, end):
        word_start, word_end = match.span()
        while word_end - word_start > MAX_CHUNK_CHARS:  # one "word" too long on its own: cut inside it
            if first >= 0:
                pieces.append((first, last))
                first, words = -1, 0
            pieces.append((word_start, word_start + MAX_CHUNK_CHARS))
            word_start += MAX_CHUNK_CHARS
        if first >= 0 and (words == MAX_SENTENCE_WORDS or word_end - first > MAX_CHUNK_CHARS):
            pieces.append((first, last))
            first, words = -1, 0
        if first < 0:
            first = word_start
        last = word_end
        words += 1
    if first >= 0:
        pieces.append((first, last))
    return pieces


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
            too_long = e - sentences[first][0] > MAX_CHUNK_CHARS
            if last > first and (words + sentence_words > params.max_words or too_long):
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


def heading_for_embedding(chunk: Chunk) -> str:
    """The article's title with its outlet and date, embedded once per article: "Title (Outlet, date)"."""
    byline = chunk.byline()
    return f"{chunk.title} ({byline})" if byline else chunk.title


def text_for_keywords(chunk: Chunk, params: ChunkingParams) -> str:
    """What BM25 reads of a chunk: optionally the title, outlet and date, plus who is quoted.

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
