"""Stage 7: make every citation true, without trusting the model's markers.

Each answer sentence is checked against the passages it cites: a quoted span must appear verbatim,
and every number, amount and name in the sentence must appear in the passage. A sentence the cited
passage does not support is re-cited to a shown passage that does, or marked unsupported. A sentence
without a marker gets one when a passage clearly supports it. Each citation carries the supporting
sentence of the passage (`quote`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from sentencex import segment

from rag.answer_type import is_yes_no
from rag.generate import Evidence, for_model
from rag.lexicon import VERDICT_CLOSING, VERDICT_OPENING
from rag.text import (
    WORD,
    content_words,
    counted_things,
    counts_the_same,
    names_in,
    normalize_text,
    numbers_in,
)

_MARKERS = re.compile(r"\s*\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_QUOTED = re.compile(r"[\"“]([^\"“”]{3,}?)[\"”]")


@dataclass
class Citation:
    marker: int
    evidence: Evidence
    quote: str  # the passage sentence that supports the answer sentence
    quote_start: int  # offsets of `quote` in the article body
    quote_end: int


@dataclass
class CheckedSentence:
    text: str  # the sentence with its (corrected) markers
    markers: list[int]
    supported: bool
    reason: str = ""  # why it is unsupported


@dataclass
class CheckedAnswer:
    text: str
    sentences: list[CheckedSentence] = field(default_factory=list)
    citations: list[Citation] = field(default_factory=list)


def split_answer(text: str) -> list[str]:
    """Answer sentences, each keeping the markers written right after it."""
    pieces = [s.strip() for s in segment("en", text) if s.strip()]
    merged: list[str] = []
    for piece in pieces:
        leading = re.match(r"^((?:\s*\[\d+(?:\s*[,;]\s*\d+)*\])+)\s*(.*)$", piece, re.DOTALL)
        if leading and merged:
            merged[-1] += " " + leading.group(1).strip()
            piece = leading.group(2).strip()
            if not piece:
                continue
        merged.append(piece)
    return merged


def markers_of(sentence: str) -> list[int]:
    numbers: list[int] = []
    for group in _MARKERS.findall(sentence):
        for number in re.split(r"[,;]", group):
            if int(number) not in numbers:
                numbers.append(int(number))
    return numbers


def strip_markers(sentence: str) -> str:
    return _MARKERS.sub("", sentence).strip()


class _Claim:
    """One answer sentence against one passage, with what the checks compare it to, each computed once."""

    def __init__(self, claim: str, evidence: Evidence, question: str) -> None:
        self.claim = claim
        self.evidence = evidence
        self.question = question
        chunk = evidence.chunk
        # The passage as the model was shown it (rag.generate.for_model): an answer rests on what the model
        # read, never on text it was not shown.
        self.passage = evidence.text_for_model()
        # What the model was shown besides the text: the header with title, outlet and date.
        self.header = for_model(" ".join(x for x in (chunk.title, chunk.source or "", chunk.published or "") if x))
        # What the model read, and what the user gave: numbers and names in either need no other support.
        self.context = self.passage + " " + self.header + " " + question

    @cached_property
    def overlap(self) -> float:
        """The share of the sentence's own words (those the question does not give; all of them when it
        gives every one) that stand in the passage or its header; 0.5 for a sentence with no content words."""
        words = content_words(self.claim) - content_words(self.question) or content_words(self.claim)
        if not words:
            return 0.5
        return len(words & content_words(self.passage + " " + self.header)) / len(words)


def _quote_not_verbatim(c: _Claim) -> str:
    passage_norm = normalize_text(c.passage)
    for quoted in _QUOTED.findall(c.claim):
        if len(quoted.split()) >= 3 and normalize_text(quoted).strip(" .,") not in passage_norm:
            return f'quote not in passage [{c.evidence.number}]: "{quoted}"'
    return ""


def _quote_of_another(c: _Claim) -> str:
    wrong_speaker = _misattributed(c.claim, c.evidence.chunk)
    return f"{wrong_speaker} in passage [{c.evidence.number}]" if wrong_speaker else ""


def _numbers_missing(c: _Claim) -> str:
    missing = numbers_in(c.claim) - numbers_in(c.context)
    return f"number(s) {sorted(missing)} not in passage [{c.evidence.number}]" if missing else ""


def _miscounted(c: _Claim) -> str:
    # When the question names the thing counted, the passage may call it otherwise (see counts_the_same).
    asked = {w for _, w in counted_things(c.question)} | content_words(c.question)
    wrong = sorted(
        f"{n} {w}" for n, w in counted_things(c.claim) if not counts_the_same(n, w, c.context, asked=w in asked)
    )
    return f"{', '.join(wrong)}: not what passage [{c.evidence.number}] counts" if wrong else ""


def _names_not_in_passage(c: _Claim) -> str:
    missing = _names_missing(names_in(c.claim), c.context)
    return f"name(s) {sorted(missing)} not in passage [{c.evidence.number}]" if missing else ""


def _too_few_words(c: _Claim) -> str:
    return f"too few of its words in passage [{c.evidence.number}]" if c.overlap < 0.5 else ""


# The checks of rag.rules (stage "check") that judge one sentence against one passage, in the order they
# are applied: the first that finds a fault decides, and its message is the reason.
CHECKS: list[tuple[str, Callable[[_Claim], str]]] = [
    ("verbatim_quotes", _quote_not_verbatim),  # a quoted span of three words or more stands in the passage
    ("quote_speaker", _quote_of_another),  # a quote the passage gives to one person is not another's
    ("numbers", _numbers_missing),  # every number stands in the passage, its header or the question
    ("counted_thing", _miscounted),  # and counts the same thing there ("3 pages" is not "3 years")
    ("names", _names_not_in_passage),  # every name stands there too
    ("word_overlap", _too_few_words),  # at least half the sentence's own words stand in the passage
]


def support(
    sentence: str, evidence: Evidence, question: str = "", off: frozenset[str] = frozenset()
) -> tuple[bool, float, str]:
    """(supported, overlap score, reason) of one answer sentence against one passage.

    Words the answer repeats from the question need no support; the new words, numbers, names and
    quotes it adds must come from the passage. `off` names checks (rag.rules) not applied. A sentence a
    check rejects scores 0, except by the word overlap, where it scores its overlap.
    """
    claim = _Claim(strip_markers(sentence), evidence, question)
    for name, check in CHECKS:
        if name not in off and (fault := check(claim)):
            return False, claim.overlap if name == "word_overlap" else 0.0, fault
    return True, claim.overlap, ""


def _misattributed(claim: str, chunk) -> str:
    """Whose a quote in the answer is, when the answer gives it to other people: "" when it names the
    speaker the passage gives, a role of theirs ("Putin's adviser"), or nobody."""
    named = names_in(_QUOTED.sub(" ", claim))  # names inside a quote are its words, not who said it
    if not named:
        return ""
    for quoted in _QUOTED.findall(claim):
        wanted = normalize_text(quoted).strip(" .,")
        if len(wanted.split()) < 3:
            continue
        for quote in chunk.quotes:
            if not quote.speaker or wanted not in normalize_text(quote.text):
                continue
            theirs = " ".join([quote.speaker] + [r.role for r in chunk.roles if r.person == quote.speaker])
            if not named & {w.lower() for w in WORD.findall(normalize_text(theirs))}:
                return f"the quote is {quote.speaker}'s"
    return ""


def _names_missing(names: set[str], text: str) -> set[str]:
    """The names the text does not hold, allowing other forms of a word: "American" is in "America's",
    "Russian" in "Russia" (the same first five letters), "Sony" in "Sony's"; a hyphenated name ("Anti-Doping",
    "VX-40") is held when each of its parts is."""
    words = {w.removesuffix("'s") for w in WORD.findall(normalize_text(text))}
    prefixes = {w[:5] for w in words if len(w) >= 5}

    def held(word: str) -> bool:
        return word in words or (len(word) >= 5 and word[:5] in prefixes)

    return {n for n in names if not (held(n) or all(held(part) for part in re.split(r"[-']+", n) if part))}


def best_sentence(claim: str, evidence: Evidence) -> tuple[int, int]:
    """The passage sentence sharing most content (and numbers) with the answer sentence.

    A verbatim quote in the answer points at the sentence where the quote begins.
    """
    pairs = list(zip(evidence.sentences, evidence.sentence_texts(), strict=True))
    for quoted in _QUOTED.findall(claim):
        words = normalize_text(quoted).strip(" .,").split()
        if len(words) < 3:
            continue
        head, tail = " ".join(words[:4]), " ".join(words[-4:])
        first = next((i for i, (_, text) in enumerate(pairs) if head in normalize_text(text)), None)
        if first is None:
            continue
        last = next((i for i in range(first, len(pairs)) if tail in normalize_text(pairs[i][1])), first)
        return pairs[first][0][0], pairs[last][0][1]  # a quote over two sentences highlights both
    claim_words = content_words(claim) | numbers_in(claim)
    best, best_score = evidence.sentences[0], -1.0
    for span, text in zip(evidence.sentences, evidence.sentence_texts(), strict=True):
        shared = claim_words & (content_words(text) | numbers_in(text))
        score = len(shared) + 0.001 * len(text.split())  # ties: the fuller sentence
        if score > best_score:
            best, best_score = span, score
    return best


def check_answer(
    answer: str, evidence: list[Evidence], question: str = "", off: frozenset[str] = frozenset()
) -> CheckedAnswer:
    """Each answer sentence checked against the passages it cites; `off` names rules (rag.rules) not applied.

    A yes/no question's verdict ("No.", or "Answer: No" at the end) is put in front of the answer unchecked;
    the rest must stand in the passages like any answer, restating the question included (`support`
    without the question).
    """
    by_number = {e.number: e for e in evidence}
    yes_no = None
    restating = question  # what an answer sentence may repeat without support
    if question and is_yes_no(question):
        yes_no = VERDICT_OPENING.match(answer) or VERDICT_CLOSING.search(answer)
        if yes_no:
            answer = answer[: yes_no.start()] + " " + answer[yes_no.end() :]
            restating = ""
    checked = CheckedAnswer(text="")
    citations: dict[tuple[int, tuple[int, int]], Citation] = {}
    out_sentences: list[str] = []
    cited_overall: list[int] = []  # every passage the reply cites
    for raw in split_answer(answer):
        claim = strip_markers(raw)
        if not claim or not re.search(r"\w", claim):
            continue  # a bare "[1]" is not an answer sentence
        cited = [n for n in markers_of(raw) if n in by_number]
        cited_overall += [n for n in cited if n not in cited_overall]
        verdicts = {n: support(claim, by_number[n], restating, off) for n in by_number}
        supporting = [n for n in cited if verdicts[n][0]]
        reason = ""
        if not supporting:
            alternatives = sorted((n for n in by_number if verdicts[n][0]), key=lambda n: -verdicts[n][1])
            alternatives = alternatives if "recite" not in off else []
            if alternatives:
                supporting = alternatives[:1]
            else:
                reasons = [verdicts[n][2] for n in cited] or ["no shown passage supports it"]
                reason = "; ".join(reasons)
        markers = supporting or cited
        text = claim + "".join(f" [{n}]" for n in markers) if markers else claim
        sentence = CheckedSentence(text=text, markers=markers, supported=bool(supporting), reason=reason)
        checked.sentences.append(sentence)
        out_sentences.append(text)
        for number in supporting:
            span = best_sentence(claim, by_number[number])
            key = (number, span)
            if key not in citations:
                e = by_number[number]
                citations[key] = Citation(
                    marker=number,
                    evidence=e,
                    quote=e.chunk.text[span[0] - e.chunk.start : span[1] - e.chunk.start],
                    quote_start=span[0],
                    quote_end=span[1],
                )
    checked.text = " ".join(out_sentences)
    if yes_no and checked.sentences:
        # The reply after the verdict is mostly the question restated or negated, which no passage states as
        # such: the sentence of the cited passage that matches the question best is quoted instead, so what
        # the verdict rests on can be read and checked.
        quoted = _deciding_sentence([by_number[n] for n in cited_overall] or evidence)
        if quoted is not None:
            number, span, text = quoted
            # Typographic quotes around it: the sentence may hold straight ones of its own.
            checked.sentences = [CheckedSentence(f"“{text}” [{number}]", [number], True)]
            checked.text = checked.sentences[0].text
            e = by_number[number]
            citations = {(number, span): Citation(number, e, text, span[0], span[1])}
        checked.text = f"{yes_no.group(1).capitalize()}. {checked.text[:1].upper()}{checked.text[1:]}"
    checked.citations = sorted(citations.values(), key=lambda c: (c.marker, c.quote_start))
    return checked


def _deciding_sentence(evidence: list[Evidence]) -> tuple[int, tuple[int, int], str] | None:
    """(passage number, span, text) of the sentence of the first passage that matched the question best
    at retrieval (its stored vector and words): what a yes/no verdict on that passage rests on."""
    if not evidence or not evidence[0].sentences:
        return None
    first = evidence[0]
    key = min(first.key, len(first.sentences) - 1)
    return first.number, first.sentences[key], first.sentence_texts()[key]
