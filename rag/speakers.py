"""Who said what: find quoted spans in an article and the person they are attributed to.

News writes attribution in a few regular shapes ("X said", "said X", "according to X", "X: '...'",
a pronoun pointing back at the last speaker, or the speaker named in the sentence before). The
speaker is stored with the quote at index time so retrieval and answers can use it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.lexicon import SPEAKER_NAME_PARTICLES, SPEAKER_PRONOUNS, SPEAKER_TAG_NOT_NAMES, SPEECH_VERBS


@dataclass(frozen=True)
class Quote:
    speaker: str | None
    text: str  # the words inside the quotation marks, verbatim
    start: int  # offsets of `text` in the article body
    end: int


_PARTICLES = rf"(?:{SPEAKER_NAME_PARTICLES}\s+)*"
_CAP_WORD = r"[A-Z][\w'’.\-]*[\w]"
NAME = rf"{_CAP_WORD}(?:\s+{_PARTICLES}{_CAP_WORD})*"

# Quotation marks open after a space or bracket and close before a space or punctuation; the
# length bound stops an unbalanced mark from swallowing the rest of the article. A quote that goes
# on into the next paragraph has no closing mark (news style: only the last paragraph closes it), so
# an opening mark with no other mark before the paragraph ends quotes up to the paragraph's end.
_OPENING = r"(?:(?<=^)|(?<=[\s(\[:—–-]))"
_QUOTE_PATTERNS = [
    re.compile(_OPENING + r"\"(?=\S)(?P<q>[^\"]{2,700}?)(?<=\S)\"(?=[\s.,;:!?)\]—–-]|$)"),
    re.compile(r"“(?P<q>[^“”]{2,700}?)”"),
    re.compile(_OPENING + r"[\"“](?=\S)(?P<q>[^\"“”\n]{2,700}?)\s*(?=\n|\Z)"),
]
_AFTER_NAME_VERB = re.compile(rf"^[\s,.;:!?—–-]*(?P<name>{NAME})\s+(?:{SPEECH_VERBS})\b")
_AFTER_VERB_NAME = re.compile(rf"^[\s,.;:!?—–-]*(?:{SPEECH_VERBS})\s+(?P<name>{NAME})")
_BEFORE_NAME_VERB = re.compile(rf"(?P<name>{NAME})(?:,[^,\"]{{1,80}},)?\s+(?:{SPEECH_VERBS})\b")
_BEFORE_COLON = re.compile(rf"(?P<name>{NAME})\s*(?:(?:{SPEECH_VERBS})\s*)?:\s*$")
_ACCORDING_TO = re.compile(rf"according to (?P<name>{NAME})")
_PRONOUN_VERB = re.compile(rf"\b{SPEAKER_PRONOUNS}\s+(?:{SPEECH_VERBS})\b|(?:{SPEECH_VERBS})\s+{SPEAKER_PRONOUNS}\b")


def clean_name(raw: str) -> str | None:
    """Drop sentence-initial words, honorifics and titles: "But Ushakov" -> "Ushakov"."""
    words = raw.replace("’", "'").split()
    while words and (words[0].rstrip(".") in SPEAKER_TAG_NOT_NAMES or words[0].endswith("'s")):
        words.pop(0)
    while words and words[-1].rstrip(".") in SPEAKER_TAG_NOT_NAMES:
        words.pop()
    if not words:
        return None
    return " ".join(words).rstrip(".")


class _NameBook:
    """Full names seen so far in one article, so "Ushakov" resolves to "Yuri Ushakov"."""

    def __init__(self, text: str) -> None:
        self.full_names: dict[str, str] = {}
        for match in re.finditer(NAME, text):
            name = clean_name(match.group(0))
            if name and len(name.split()) >= 2:
                self.full_names.setdefault(name.split()[-1], name)

    def resolve(self, name: str | None) -> str | None:
        if not name:
            return None
        if len(name.split()) == 1:
            return self.full_names.get(name, name)
        return name


def _find_speaker(before: str, after: str) -> tuple[str | None, bool]:
    """(name, pronoun_used) from the text around one quote inside its sentence."""
    if m := _AFTER_NAME_VERB.match(after):
        if name := clean_name(m["name"]):
            return name, False
    if m := _AFTER_VERB_NAME.match(after):
        if name := clean_name(m["name"]):
            return name, False
    if m := _BEFORE_COLON.search(before):
        if name := clean_name(m["name"]):
            return name, False
    candidates = list(_BEFORE_NAME_VERB.finditer(before))
    for m in reversed(candidates):
        if name := clean_name(m["name"]):
            return name, False
    if m := _ACCORDING_TO.search(before + " " + after):
        if name := clean_name(m["name"]):
            return name, False
    if _PRONOUN_VERB.search(before) or _PRONOUN_VERB.match(after.strip(" ,.")):
        return None, True
    return None, False


def extract_quotes(text: str, sentences: list[tuple[int, int]]) -> list[Quote]:
    names = _NameBook(text)
    spans: list[tuple[int, int]] = []
    for pattern in _QUOTE_PATTERNS:
        for match in pattern.finditer(text):
            if len(match["q"].split()) >= 2:
                spans.append(match.span("q"))
    spans.sort()

    def sentence_of(offset: int) -> int:
        for number, (s, e) in enumerate(sentences):
            if s <= offset < e or offset < s:
                return number
        return len(sentences) - 1

    quotes: list[Quote] = []
    last_speaker: str | None = None
    for start, end in spans:
        first = sentence_of(start - 1)
        last = sentence_of(max(start, end))
        sentence_start = sentences[first][0] if sentences else 0
        sentence_end = sentences[last][1] if sentences else len(text)
        before = text[sentence_start : max(sentence_start, start - 1)]
        after = text[min(end + 1, sentence_end) : sentence_end]
        speaker, pronoun = _find_speaker(before, after)
        if speaker is None and pronoun:
            speaker = last_speaker
        if speaker is None and first > 0:
            # "X says Europe is ..." followed by a sentence that is only the quote.
            prev_start, prev_end = sentences[first - 1]
            previous = text[prev_start:prev_end]
            if before.strip() == "":
                speaker, pronoun = _find_speaker(previous, "")
                if speaker is None and (pronoun or quotes and quotes[-1].end >= prev_start):
                    speaker = last_speaker
        speaker = names.resolve(speaker)
        if speaker:
            last_speaker = speaker
        quotes.append(Quote(speaker=speaker, text=text[start:end], start=start, end=end))
    return quotes
