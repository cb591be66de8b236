"""Text normalization shared by retrieval and the citation check: numbers, money, stemmed words.

"five" and "5", "3%" and "3 percent", "£801m" and "£801 million" must compare equal, and "talks"
must match "talk", wherever a question, an answer and a passage are compared.
"""

from __future__ import annotations

import re

import Stemmer
from text_to_num import alpha2digit

WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
STOPWORDS = set(
    "a an the of to in on at for by with from and or but as is are was were be been being it its this that "
    "these those he she they his her their them we our you your i not no so than then there here what which "
    "who whom whose when where why how did does do has have had will would can could should may might "
    "about into over after before said says say according also just very more most some any all one much many".split()
)
# Function words (NLTK's English stop word list): they frame a sentence and pin nothing down, so a
# passage need not hold them to cover a question ("the talks between X and the other party").
FUNCTION_WORDS = STOPWORDS | set(
    "me my myself ours ourselves yours yourself yourselves him himself hers herself itself theirs themselves "
    "am having doing if because until while against between through during above below up down out off "
    "under again further once both each few other such nor only own same too now".split()
)
_SCALES = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12}
_SCALE_WORDS = "|".join(_SCALES)
_SCALE = re.compile(rf"\b({_SCALE_WORDS})s?\b", re.IGNORECASE)
_SCALED_NUMBER = re.compile(rf"(?P<number>\d+(?:[.,]\d+)*)(?:\s(?P<scale>{_SCALE_WORDS})s?\b)?")
_SCALE_SUFFIX = re.compile(r"(\d)\s?(bn|m|k)\b")
_SUFFIX_WORDS = {"bn": "billion", "m": "million", "k": "thousand"}
_STEM = Stemmer.Stemmer("english")


def normalize_text(text: str) -> str:
    """Lowercase, straight quotes and apostrophes, number words as digits, single spaces."""
    text = text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    text = re.sub(r"\s+", " ", text).strip()
    text = _SCALE_SUFFIX.sub(lambda m: f"{m.group(1)} {_SUFFIX_WORDS[m.group(2)]}", text)  # £801m = £801 million
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
            value = float(raw) * _SCALES.get(match.group("scale") or "", 1)
        except ValueError:
            continue
        values.add(f"{value:.15g}")  # every significant digit: 1,234,567 and 1,234,571 differ
    return values


def content_words(text: str) -> set[str]:
    """Stemmed content words, so "American" matches "America" and "talks" matches "talk"."""
    return {_STEM.stemWord(w) for w in WORD.findall(normalize_text(text)) if w not in STOPWORDS and len(w) > 1}


_NAME = re.compile(r"\b[A-Z][a-zA-Z'’\-]+\b")
# Capitalised words that are not names: sentence openers and words a model adds to any answer.
_COMMON_CAPS = STOPWORDS | {"according", "yes", "no", "however", "passage", "article", "articles", "quote"}
MONTHS = "january february march april may june july august september october november december".split()


def _name_word(word: str) -> str | None:
    """The lowercase name a capitalised word stands for, or None for common words and numbers."""
    word = word.replace("’", "'").removesuffix("'s")
    lower = word.lower()
    if lower in _COMMON_CAPS or lower in MONTHS or numbers_in(word):
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


_COUNTED = re.compile(r"(?<![\d.,])(\d+(?:[.,]\d+)*)\s+([a-z]+)")
_NOT_A_THING = STOPWORDS | set(MONTHS) | set(_SCALES) | {"percent", "out", "per", "or", "and"}


def counted_things(text: str) -> set[tuple[str, str]]:
    """(number, stem of the word it counts): "3 pages long" -> ("3", "page"); "five hours" -> ("5", "hour").

    A number with the noun right after it says what it counts; "£105m in savings", "24 March" and
    "3.25%" carry no such noun here (money, dates and percentages are compared as numbers)."""
    found = set()
    for number, word in _COUNTED.findall(normalize_text(text)):
        if word in _NOT_A_THING or re.fullmatch(r"(?:1[89]|20)\d\d", number):
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
            if asked and (not after or after[0] in _NOT_A_THING or after[0].isdigit()):
                return True
    return False
