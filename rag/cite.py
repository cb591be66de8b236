"""Stage 7: make every citation true, without trusting the model's markers.

Each answer sentence is checked against the passages it cites: a quoted span must appear verbatim,
and every number, amount and name in the sentence must appear in the passage. A sentence the cited
passage does not support is re-cited to a shown passage that does, or marked unsupported. A sentence
without a marker gets one when a passage clearly supports it. Each citation carries the supporting
sentence of the passage (`quote`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sentencex import segment

from rag.answer_type import is_yes_no
from rag.generate import Evidence
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

    @property
    def supported_rate(self) -> float:
        return sum(s.supported for s in self.sentences) / len(self.sentences) if self.sentences else 0.0


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


def support(
    sentence: str, evidence: Evidence, question: str = "", off: frozenset[str] = frozenset()
) -> tuple[bool, float, str]:
    """(supported, overlap score, reason) of one answer sentence against one passage.

    Words the answer repeats from the question need no support; the new words, numbers, names and
    quotes it adds must come from the passage.
    """
    claim = strip_markers(sentence)
    passage = evidence.text
    passage_norm = normalize_text(passage)
    chunk = evidence.chunk
    # What the model was shown besides the text: the header with title, outlet and date.
    header = " ".join(x for x in (chunk.title, chunk.source or "", chunk.published or "") if x)
    for quoted in _QUOTED.findall(claim) if "verbatim_quotes" not in off else []:
        if len(quoted.split()) >= 3 and normalize_text(quoted).strip(" .,") not in passage_norm:
            return False, 0.0, f'quote not in passage [{evidence.number}]: "{quoted}"'
    wrong_speaker = _misattributed(claim, chunk) if "quote_speaker" not in off else ""
    if wrong_speaker:
        return False, 0.0, f"{wrong_speaker} in passage [{evidence.number}]"
    context = passage + " " + header + " " + question  # what the model read, and what the user gave
    missing_numbers = numbers_in(claim) - numbers_in(context) if "numbers" not in off else set()
    if missing_numbers:
        return False, 0.0, f"number(s) {sorted(missing_numbers)} not in passage [{evidence.number}]"
    # "3 pages" is not supported by "three years": a number must count the same thing in the passage.
    asked = {w for _, w in counted_things(question)} | content_words(question)
    miscounted = (
        sorted(f"{n} {w}" for n, w in counted_things(claim) if not counts_the_same(n, w, context, asked=w in asked))
        if "counted_thing" not in off
        else []
    )
    if miscounted:
        return False, 0.0, f"{', '.join(miscounted)}: not what passage [{evidence.number}] counts"
    # Names the user gave need no support.
    missing_names = _names_missing(names_in(claim), context) if "names" not in off else set()
    if missing_names:
        return False, 0.0, f"name(s) {sorted(missing_names)} not in passage [{evidence.number}]"
    # The question's words need no support, unless they are all the answer says.
    words = content_words(claim) - content_words(question) or content_words(claim)
    if not words:
        return True, 0.5, ""
    overlap = len(words & content_words(passage + " " + header)) / len(words)
    if overlap < 0.5 and "word_overlap" not in off:
        return False, overlap, f"too few of its words in passage [{evidence.number}]"
    return True, overlap, ""


def _misattributed(claim: str, chunk) -> str:
    """Whose a quote in the answer is, when the answer gives it to other people: "" when it names the
    speaker the passage gives, a role of theirs ("Putin's adviser"), or nobody."""
    named = names_in(claim)
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
    "Russian" in "Russia" (the same first five letters)."""
    words = set(WORD.findall(normalize_text(text)))
    prefixes = {w[:5] for w in words if len(w) >= 5}
    return {n for n in names if n not in words and not (len(n) >= 5 and n[:5] in prefixes)}


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
    words = content_words(claim) | numbers_in(claim)
    best, best_score = evidence.sentences[0], -1.0
    for span, text in zip(evidence.sentences, evidence.sentence_texts(), strict=True):
        shared = words & (content_words(text) | numbers_in(text))
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


