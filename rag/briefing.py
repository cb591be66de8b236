"""Briefings: "what happened to X?" answered across articles, one fact a bullet, in date order, every bullet cited.

A question asking for the story rather than one fact ("what happened to", "summarize", "overview",
"background on", "latest on", "timeline of", "how did X develop"), or any question with the chat's briefing
toggle on, is answered here instead of by the one-passage reading steps (rag.pipeline):

1. topic: the question without its briefing words ("What happened to Yukos?" -> "Yukos");
2. gather: a wide search for the topic (dozens of passages, the outlet and date filters applied), and from
   them the sentences about it: a sentence must hold the topic's rarest term or most of its terms' weight,
   so a passage that merely shares a word gives nothing;
3. group: sentences stating the same fact (near-duplicates across articles and outlets, wire copies re-run)
   become one fact with all its sources; a group whose sources give different numbers is a disagreement;
4. choose and order: the best-supported facts (relevance, plus more sources), none restating another's words,
   at most MAX_BULLETS, in date order (newest last; newest first for "latest" questions, which also say how
   recent the newest source is). A fact's date is when its sources were published, or the earlier date a
   sentence states for it ("in June 2004", "on 11 September 2001"): see stated_date;
5. write: each bullet is its source sentence quoted, dated and cited [n] to every article stating it, or for
   a disagreement each source's sentence with its outlet. Each source's sentence is checked by rag.cite
   against the passage it is cited to, like any answer sentence: a source that fails is not cited, and a
   bullet none of whose sources passes is dropped (a quote stands by construction; the check guards it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from rag.chunking import Chunk
from rag.cite import support
from rag.generate import Evidence
from rag.keywords import bm25_terms
from rag.lexicon import MONTHS, WEEKDAYS
from rag.retrieve import Filters, Retriever
from rag.text import content_words, numbers_in

MAX_BULLETS = 6
MIN_BULLETS = 3
PASSAGES = 20  # passages searched: a story spreads over many articles; more bring in passing mentions
SENTENCES_PER_ARTICLE = 3  # an article gives at most this many facts, so one long article cannot fill a briefing
SAME_FACT = 0.9  # cosine of two sentences' vectors from which they may state the same fact (see _same_fact)
SAME_TERMS = 0.5  # share of their terms (Jaccard) they must also have in common
COPIED_TERMS = 0.7  # share of terms that makes them one fact whatever their vectors
TOPIC_SHARE = 0.6  # share of the topic's term weight a sentence must hold when it lacks the rarest term
LEDE_BONUS = 0.1  # an article's first sentence states its news: it outranks a later one as close to the topic
# A sentence bringing news (figures, and names the topic does not give) tells more than one restating the
# topic: each counts this much, up to INFO_CAP of them.
INFO_BONUS = 0.04
INFO_CAP = 5
REDUNDANCY = 0.4  # how much a fact's likeness to one chosen already counts against it (maximal marginal relevance)
REPEATED_WORDS = 0.5  # share of content words (beyond the topic's) shared with a chosen bullet that makes a repeat

# What makes a question a request for a briefing, and the words that frame it rather than name the topic.
BRIEFING_QUESTION = re.compile(
    r"\b(?:what(?:'s|’s| has| had)?\s+(?:has\s+)?happen(?:ed|ing)\b"
    r"|summari[sz]e|(?:a\s+)?summary\s+of|sum up|recap|overview|briefing|rundown"
    r"|^\s*background\b|background\s+(?:on|to)|timeline|chronology|the story (?:of|so far)"
    r"|(?:the\s+)?latest\s+(?:on|about|with|news)"
    r"|what(?:'s|’s| is)\s+the\s+latest(?=\s*(?:\?|$))"
    r"|how\s+(?:did|has|have)\b.+\b"
    r"(?:develop(?:ed)?|unfold(?:ed)?|evolve[d]?|progress(?:ed)?|play(?:ed)? out|come about|fare[d]?)"
    r"|what\s+do(?:es)?\s+(?:the\s+)?(?:articles?|archive|coverage|reports?)\s+say\s+about)\b",
    re.IGNORECASE,
)
FRAMING = re.compile(
    r"\b(?:what(?:'s|’s)?|has|had|happen(?:ed|ing)?|to|with|at|in|of|on|about|over|the|a|an|me|give|please|can|"
    r"could|you|summari[sz]e|summary|sum|up|recap|overview|briefing|rundown|background|timeline|chronology|"
    r"story|so|far|latest|news|how|did|does|do|develop(?:ed)?|unfold(?:ed)?|evolved?|progress(?:ed)?|play(?:ed)?|out|"
    r"come|fared?|during|articles?|archive|"
    r"coverage|reports?|say|says|is|are|was|were|tell|everything|brief|and|its|their)\b",
    re.IGNORECASE,
)
NAME = re.compile(r"\b[A-Z][\w'’-]*")
YEAR = re.compile(r"(?:19|20)\d\d")
LATEST = re.compile(r"\b(?:latest|newest|most recent|so far|now|currently)\b", re.IGNORECASE)


# Dates a sentence states for what it reports: a day introduced by "on" ("on 14 January 2025", "on May 2"; a
# day without its year is in the article's year) or a month and year by "in" ("in March 2025"). A date in a
# range or a deadline ("sold between March and October 2024", "until 21 March", "in the year to March") says
# when something else held, a year alone ("founded in 1993") is background, and a sentence with a relative
# day ("on Monday", "yesterday") reports news of its own publication's days, whatever older date it mentions.
_MONTHS = {name: n for n, month in enumerate(MONTHS, start=1) for name in (month, month[:3])} | {"sept": 9}
_MONTH = "(" + "|".join(sorted((m.capitalize() for m in _MONTHS), key=len, reverse=True)) + r")\b\.?"
_YEAR = r"(?:,?\s+((?:19|20)\d\d)\b)?"
DAY_MONTH = re.compile(r"\bon\s+(?:the\s+)?(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?" + _MONTH + _YEAR)
MONTH_DAY = re.compile(r"\bon\s+" + _MONTH + r"\s+(\d{1,2})(?:st|nd|rd|th)?\b(?![.,]?\d)" + _YEAR)
MONTH_YEAR = re.compile(r"\bin\s+(?:early\s+|late\s+|mid-)?" + _MONTH + r",?\s+((?:19|20)\d\d)\b")
RELATIVE_DAY = re.compile(
    r"\b(?:yesterday|today|tonight|(?:on|last|this|next)\s+(?:"
    + "|".join(sorted(WEEKDAYS))
    + r"|week(?:end)?|night|month))\b",
    re.IGNORECASE,
)


def stated_date(text: str, published: str | None) -> str | None:
    """The date a sentence states for what it reports, when it states one before its article's publication:
    "2004-06-11" (day), "2004-06" (month only). Of several, the latest; a day without its year is taken in the
    publication's year. None when it states none, only later ones (a plan, a deadline), or a relative day."""
    if not published or RELATIVE_DAY.search(text):
        return None
    try:
        day_published = date.fromisoformat(published[:10])
    except ValueError:
        return None
    found: list[str] = []
    for day, month, year in [m.groups() for m in DAY_MONTH.finditer(text)] + [
        (d, m, y) for m, d, y in (x.groups() for x in MONTH_DAY.finditer(text))
    ]:
        try:
            when = date(int(year or day_published.year), _MONTHS[month.lower().rstrip(".")], int(day))
        except ValueError:
            continue  # "31 February", "0 June"
        found.append(when.isoformat())
    for month, year in (m.groups() for m in MONTH_YEAR.finditer(text)):
        stated_month = f"{year}-{_MONTHS[month.lower().rstrip('.')]:02d}"
        if not any(x.startswith(stated_month) for x in found):  # "on 3 March 2025" already says it
            found.append(stated_month)
    earlier = [x for x in found if x < published[: len(x)]]
    return max(earlier) if earlier else None


def is_briefing(question: str) -> bool:
    """Does the question ask for the story (several facts across articles) rather than one fact?"""
    return bool(BRIEFING_QUESTION.search(question))


def topic_of(question: str) -> str:
    """The question without its framing words: what to search for and what every bullet must be about."""
    topic = " ".join(FRAMING.sub(" ", re.sub(r"[?!.]", " ", question)).split())
    return topic or question


def wants_latest(question: str) -> bool:
    return bool(LATEST.search(question))


@dataclass(eq=False)
class Statement:
    """One sentence of one article about the topic."""

    chunk: Chunk
    span: tuple[int, int]  # offsets of the sentence in the article body
    text: str
    score: float  # its match to the topic
    terms: frozenset[str]  # its terms as BM25 reads them
    vector: np.ndarray | None = None

    @property
    def article_id(self) -> str:
        return self.chunk.article_id

    @property
    def published(self) -> str | None:
        return self.chunk.published

    @property
    def date(self) -> str | None:
        """The date the sentence states for what it reports, else its article's publication date."""
        return stated_date(self.text, self.published) or self.published


@dataclass
class Fact:
    """Statements of one fact, each from another article, best first."""

    statements: list[Statement]

    @property
    def score(self) -> float:
        return self.statements[0].score + 0.05 * (len(self.statements) - 1)

    @property
    def published(self) -> str | None:
        """When it was first reported: the earliest publication date among its sources."""
        dates = [s.published for s in self.statements if s.published]
        return min(dates) if dates else None

    @property
    def date(self) -> str | None:
        """When it happened as its sources say: the earliest of their stated or publication dates."""
        dates = [s.date for s in self.statements if s.date]
        return min(dates) if dates else None

    def conflict(self) -> tuple[Statement, Statement] | None:
        """Two of its sources that give different figures: each has a number the other lacks (one giving a
        number the other leaves out, or a year, is no disagreement)."""
        figures = [{n for n in numbers_in(s.text) if not YEAR.fullmatch(n)} for s in self.statements]
        for i, a in enumerate(figures):
            for j in range(i + 1, len(figures)):
                if a - figures[j] and figures[j] - a:
                    return self.statements[i], self.statements[j]
        return None


@dataclass
class Bullet:
    text: str  # as shown: date, the fact, its markers
    fact: Fact
    markers: list[int]


@dataclass
class Briefing:
    topic: str
    bullets: list[Bullet] = field(default_factory=list)
    # the passages cited, numbered as first cited: one an article, more when its sentences lie chunks apart
    evidence: list[Evidence] = field(default_factory=list)
    latest: bool = False
    as_of: str | None = None  # the newest source's date, for "latest" questions

    @property
    def heading(self) -> str | None:
        """For a "latest" question, how recent the newest source is."""
        return f"As of {display_date(self.as_of)}:" if self.latest and self.as_of else None

    @property
    def text(self) -> str:
        return "\n".join(([self.heading] if self.heading else []) + [f"- {b.text}" for b in self.bullets])


def display_date(value: str | None) -> str:
    """'2025-12-03' -> '3 Dec 2025', '2025-12' -> 'Dec 2025' (another partial or unreadable date as it is)."""
    if not value:
        return ""
    if re.fullmatch(r"\d{4}-\d\d", value) and 1 <= int(value[5:]) <= 12:
        return f"{MONTHS[int(value[5:]) - 1][:3].capitalize()} {value[:4]}"
    try:
        day = date.fromisoformat(value[:10])
    except ValueError:
        return value
    return f"{day.day} {day.strftime('%b %Y')}"


def _terms(text: str) -> frozenset[str]:
    return frozenset(bm25_terms([text])[0])


def gather(retriever: Retriever, topic: str, filters: Filters | None = None) -> list[Statement]:
    """The sentences about the topic in the passages a wide search finds, best first, at most
    SENTENCES_PER_ARTICLE an article. A sentence is about the topic when it holds the topic's rarest term or
    most of its terms' weight; it is scored by its likeness to the topic, the share of the topic's terms it
    holds, whether it leads its article, and the figures and new names it brings."""
    passages = retriever.search(topic, k=PASSAGES, filters=filters)
    terms = retriever.terms.terms(topic)
    if not passages or not terms:
        return []
    weights = {t: retriever.terms.weight(t) for t in terms}
    # The topic's pin: its rarest name when it names one ("Sideways", not "fare"), else its rarest term.
    names = [t for t in _terms(" ".join(NAME.findall(topic))) if t in weights]
    rarest, total = max(names or weights, key=lambda t: weights[t]), sum(weights.values())

    def about(held: frozenset[str]) -> float | None:
        share = sum(w for t, w in weights.items() if t in held) / total
        return share if rarest in held or share >= TOPIC_SHARE else None

    query = retriever.embedder.encode([topic])[0]
    found: list[Statement] = []
    seen: set[tuple[str, tuple[int, int]]] = set()
    for passage in passages:
        chunk = passage.chunk
        for span, text in zip(chunk.sentences, chunk.sentence_texts(), strict=True):
            if (chunk.article_id, span) in seen:
                continue  # overlapping chunks hold the same sentence
            seen.add((chunk.article_id, span))
            span, text = _without_stray_quote(span, text)
            held = _terms(text)
            share = about(held)
            if share is not None:
                found.append(Statement(chunk, span, text, 0.5 * share, held))
    if not found:
        return []
    vectors = retriever.embedder.encode([s.text for s in found])
    for statement, vector in zip(found, vectors, strict=True):
        statement.vector = vector
        lede = statement.chunk.start == 0 and statement.span == statement.chunk.sentences[0]
        news = len(numbers_in(statement.text)) + len(set(NAME.findall(statement.text)) - set(NAME.findall(topic)))
        statement.score = float(vector @ query) + statement.score + (LEDE_BONUS if lede else 0.0)
        statement.score += INFO_BONUS * min(news, INFO_CAP)
    found.sort(key=lambda s: -s.score)
    per_article: dict[str, int] = {}
    kept = []
    for statement in found:
        if per_article.get(statement.article_id, 0) < SENTENCES_PER_ARTICLE:
            per_article[statement.article_id] = per_article.get(statement.article_id, 0) + 1
            kept.append(statement)
    return kept


STRAY_QUOTE = re.compile(r"^[\"”’']\s+")


def _without_stray_quote(span: tuple[int, int], text: str) -> tuple[tuple[int, int], str]:
    """A sentence opening with a quote mark and a space begins with the previous sentence's closing quote (the
    splitter cut after the full stop inside it): the mark is left off, so the bullet does not open '"" He said'."""
    stray = STRAY_QUOTE.match(text)
    if not stray:
        return span, text
    return (span[0] + stray.end(), span[1]), text[stray.end() :]


def group(statements: list[Statement]) -> list[Fact]:
    """Statements of the same fact together (each joins the first fact it is close enough to), best first; a
    fact holds one statement per article."""
    facts: list[Fact] = []
    for statement in statements:
        for fact in facts:
            if statement.article_id in {s.article_id for s in fact.statements}:
                continue
            if _same_fact(statement, fact.statements[0]):  # its first statement: a chain of near ones drifts
                fact.statements.append(statement)
                break
        else:
            facts.append(Fact([statement]))
    return sorted(facts, key=lambda f: -f.score)


def _same_fact(a: Statement, b: Statement) -> bool:
    """Two sentences state one fact when they mean nearly the same and share half their terms (a wire copy,
    the same report with another figure), or share most of their terms. Meaning alone is not enough:
    "will launch on 12 September" and "was launched on Tuesday" are 0.92 alike for MiniLM."""
    shared = len(a.terms & b.terms) / len(a.terms | b.terms) if a.terms and b.terms else 0.0
    alike = float(a.vector @ b.vector) if a.vector is not None and b.vector is not None else 0.0
    return (alike >= SAME_FACT and shared >= SAME_TERMS) or shared >= COPIED_TERMS


def choose(facts: list[Fact], latest: bool, topic: str = "") -> list[Fact]:
    """The best facts, each chosen for its score less its likeness to those chosen before it (so the
    briefing covers the story, not one fact in six wordings), then put in the order of their dates (Fact.date)
    (newest first for "latest"); undated facts after the dated ones, best first. A fact whose sentence shares
    half its content words beyond the topic's with a chosen one is left out: it restates that bullet. The
    topic's own words do not count, as every bullet names the story: "will launch Skerrow-1 on 12 September"
    and "Skerrow-1 was launched on Tuesday" are two facts."""
    chosen: list[Fact] = []
    words: list[set[str]] = []
    story = content_words(topic)
    left = list(facts)
    while left and len(chosen) < MAX_BULLETS:

        def worth(fact: Fact) -> float:
            vector = fact.statements[0].vector
            likeness = [float(vector @ c.statements[0].vector) for c in chosen if vector is not None]
            return fact.score - REDUNDANCY * max(likeness, default=0.0)

        best = max(left, key=worth)
        left.remove(best)
        own = content_words(best.statements[0].text) - story
        if any(own and len(own & other) / len(own | other) >= REPEATED_WORDS for other in words):
            continue
        chosen.append(best)
        words.append(own)
    dated = sorted((f for f in chosen if f.date), key=lambda f: (f.date or "", f.published or ""), reverse=latest)
    return dated + [f for f in chosen if not f.date]


def _outlet(chunk: Chunk) -> str:
    return chunk.source or f'"{chunk.title}"'


def stands(statement: Statement) -> bool:
    """Does the citation check (rag.cite.support, as for any answer sentence) find the statement in the passage
    it is cited to, its own sentence? A quote does by construction; this catches a sentence whose offsets do
    not give its text (a damaged or changed chunk)."""
    start, end = statement.span
    passage = Evidence(0, statement.chunk, start, end, [statement.span], statement.score, 0.0)
    return statement.chunk.start <= start < end <= statement.chunk.end and support(statement.text, passage)[0]


def write(facts: list[Fact], latest: bool, topic: str) -> Briefing:
    """Bullets quoting their sources, and the passages they cite (one per article, numbered in order). A fact
    keeps only the sources that pass the citation check (`stands`)."""
    briefing = Briefing(topic, latest=latest)
    numbers: dict[str, list[Evidence]] = {}  # article id -> its passages, numbered as first cited

    def number(statement: Statement) -> int:
        """The marker of the article's passage holding the statement: one an article, unless the article's
        statements lie in chunks too far apart for one passage (a passage is a run of one chunk)."""
        chunk = statement.chunk
        passages = numbers.setdefault(statement.article_id, [])
        for evidence in passages:
            if evidence.chunk.start <= statement.span[0] and statement.span[1] <= evidence.chunk.end:
                if statement.span not in evidence.sentences:
                    evidence.sentences = sorted([*evidence.sentences, statement.span])
                    evidence.start = min(evidence.start, statement.span[0])
                    evidence.end = max(evidence.end, statement.span[1])
                return evidence.number
        count = sum(len(p) for p in numbers.values())
        start, end = statement.span
        evidence = Evidence(count + 1, chunk, start, end, [statement.span], statement.score, 0.0)
        passages.append(evidence)
        return evidence.number

    for fact in facts:
        fact.statements = [s for s in fact.statements if stands(s)]
        if not fact.statements:
            continue  # no source of it passes the check: the bullet is dropped, never shown unchecked
        markers = [number(s) for s in fact.statements]
        when = display_date(fact.date)
        prefix = f"{when} - " if when else ""
        conflict = fact.conflict()
        if conflict:
            parts = [f'{_outlet(s.chunk)} [{markers[fact.statements.index(s)]}]: "{s.text}"' for s in conflict]
            others = "".join(
                f"[{m}]" for s, m in zip(fact.statements, markers, strict=True) if all(s is not c for c in conflict)
            )
            text = f"{prefix}Sources differ: " + "; ".join(parts) + (f" (also {others})" if others else "")
        else:
            text = f'{prefix}"{fact.statements[0].text}" ' + "".join(f"[{m}]" for m in markers)
        briefing.bullets.append(Bullet(text, fact, markers))
    briefing.evidence = sorted((e for p in numbers.values() for e in p), key=lambda e: e.number)
    dates = [s.published for f in facts for s in f.statements if s.published]
    briefing.as_of = max(dates) if dates else None
    return briefing


def brief(retriever: Retriever, question: str, filters: Filters | None = None) -> Briefing:
    """The briefing for a question (no bullets when nothing in the archive is about its topic)."""
    topic = topic_of(question)
    latest = wants_latest(question)
    facts = group(gather(retriever, topic, filters))
    return write(choose(facts, latest, topic), latest, topic)
