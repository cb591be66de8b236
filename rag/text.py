"""Text normalization shared by retrieval and the citation check: numbers, money, stemmed words.

"five" and "5", "3%" and "3 percent", "£801m" and "£801 million" must compare equal, and "talks"
must match "talk", wherever a question, an answer and a passage are compared.
"""

from __future__ import annotations

import re

import Stemmer
from text_to_num import alpha2digit

from rag.lexicon import (
    COMMON_CAPITALISED,
    MONTHS,
    NOT_COUNTED,
    NUMBER_SCALES,
    SCALE_ABBREVIATIONS,
    STOPWORDS,
    YEAR,
)

WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_SCALE_WORDS = "|".join(NUMBER_SCALES)
_SCALE = re.compile(rf"\b({_SCALE_WORDS})s?\b", re.IGNORECASE)
_SCALED_NUMBER = re.compile(rf"(?P<number>\d+(?:[.,]\d+)*)(?:\s(?P<scale>{_SCALE_WORDS})s?\b)?")
_SCALE_SUFFIX = re.compile(rf"(\d)\s?({'|'.join(SCALE_ABBREVIATIONS)})\b")
_STEM = Stemmer.Stemmer("english")


def normalize_text(text: str) -> str:
    """Lowercase, straight quotes and apostrophes, number words as digits, single spaces."""
    text = text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    text = re.sub(r"\s+", " ", text).strip()
    text = _SCALE_SUFFIX.sub(lambda m: f"{m.group(1)} {SCALE_ABBREVIATIONS[m.group(2)]}", text)  # £801m = £801 million
    # Scale words stay words ("2.5 million" must not become "2.5 1000000"); "five" becomes "5".
    text = _SCALE.sub(lambda m: f"qq{m.group(0).lower()}qq", text)
    try:
        text = alpha2digit(text, "en")
    except Exception:  # noqa: BLE001 - a parsing failure must not break checking
        pass
    text = re.sub(r"qq(\w+?)qq", r"\1", text)
    text = re.sub(r"(\d)\s*(?:per ?cent|percent|%)", r"\1 percent", text, flags=re.IGNORECASE)
    return text.lower()


def numbers_in(text: str) -> set[str]:
    """Numeric values as canonical strings: "1,200" -> "1200", "5.0" -> "5"; "five" counts as 5, and
    "£50m" as 50000000, so a sum of money is not supported by "50 caps"."""
    values = set()
    for match in _SCALED_NUMBER.finditer(normalize_text(text)):
        raw = match.group("number")
        raw = raw.replace(",", "") if re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d+)?", raw) else raw.replace(",", ".")
        try:
            value = float(raw) * NUMBER_SCALES.get(match.group("scale") or "", 1)
        except ValueError:
            continue
        values.add(f"{value:.15g}")  # every significant digit: 1,234,567 and 1,234,571 differ
    return values


def content_words(text: str) -> set[str]:
    """Stemmed content words, so "American" matches "America" and "talks" matches "talk"."""
    return {_STEM.stemWord(w) for w in WORD.findall(normalize_text(text)) if w not in STOPWORDS and len(w) > 1}


_NAME = re.compile(r"\b[A-Z][a-zA-Z'’\-]+\b")


def _name_word(word: str) -> str | None:
    """The lowercase name a capitalised word stands for, or None for common words and numbers."""
    word = word.replace("’", "'").removesuffix("'s")
    lower = word.lower()
    if lower in COMMON_CAPITALISED or lower in MONTHS or numbers_in(word):
        return None  # "Seven players" starts with a number, not a name
    return lower


def name_groups(sentence: str) -> list[list[str]]:
    """The names of `names_in`, in runs of capitalised words as they stand: ["jared", "kushner"]."""
    groups: list[list[str]] = []
    previous_end = None
    for match in _NAME.finditer(sentence):
        word = _name_word(match.group(0))
        if word is None:
            previous_end = None
            continue
        if previous_end is not None and sentence[previous_end : match.start()] == " ":
            groups[-1].append(word)
        else:
            groups.append([word])
        previous_end = match.end()
    return groups


def names_in(sentence: str) -> set[str]:
    """Capitalised words that are likely names: not common words (sentence openers, words a model adds
    to any answer), months or number words."""
    return {word for match in _NAME.finditer(sentence) if (word := _name_word(match.group(0)))}


_COUNTED = re.compile(r"(?<![\w.,])(\d+(?:[.,]\d+)*)\s+([a-z]+)")  # "MP3 format" counts nothing


def is_year(word: str) -> bool:
    """A year (1800-2099): a number that dates, not one that counts ("in 2004 sales rose")."""
    return YEAR.fullmatch(word) is not None


def counted_things(text: str) -> set[tuple[str, str]]:
    """(number, stem of the word it counts): "3 pages long" -> ("3", "page"); "five hours" -> ("5", "hour").

    A number with the noun right after it says what it counts; "£105m in savings", "24 March" and
    "3.25%" carry no such noun here (money, dates and percentages are compared as numbers)."""
    found = set()
    for number, word in _COUNTED.findall(normalize_text(text)):
        if word in NOT_COUNTED or is_year(number):
            continue
        found.add((number.replace(",", ""), _STEM.stemWord(word)))
    return found


def counts_the_same(number: str, stem: str, text: str, asked: bool = False, reach: int = 3) -> bool:
    """Does the text hold `number` counting the same thing: a word of that stem among the `reach`
    words after it? When the question itself names the thing (`asked`), the text may call it
    otherwise ("10 of its 27 plants" for "how many of its 27 factories"), as long as the number is
    not directly followed by another noun ("three years" does not count pages)."""
    words = WORD.findall(normalize_text(text).replace(",", ""))
    for i, word in enumerate(words):
        if word == number or (word.isdigit() and i + 1 < len(words) and f"{word}.{words[i + 1]}" == number):
            after = words[i + 1 : i + 2 + reach]
            if any(_STEM.stemWord(w) == stem for w in after):
                return True
            if asked and (not after or after[0] in NOT_COUNTED or after[0].isdigit()):
                return True
    return False
