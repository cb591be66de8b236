"""What kind of fact a question asks for, and whether a sentence offers one.

"How many ..." wants a number, "who ..." and "which ..." a name, "when ..." a date. A sentence that
restates the question without such a fact is on topic but does not answer it; the sentence that
answers it usually holds a number or a name the question does not. Classic answer-type matching
from factoid question answering, used by retrieval to prefer answering sentences.
"""

from __future__ import annotations

import re
from functools import lru_cache

from rag.lexicon import DATE_QUESTION, DATE_WORDS, NAME_QUESTION, NUMBER_QUESTION, PERSON_QUESTION, YES_NO_QUESTION
from rag.text import name_groups, names_in, numbers_in

NUMBER, NAME, DATE = "number", "name", "date"

_WORD = re.compile(r"[a-z]+")


def expected_answer(question: str) -> str | None:
    """NUMBER, DATE or NAME; None for questions answered in words ("what did X say", "why")."""
    if NUMBER_QUESTION.search(question):
        return NUMBER
    if DATE_QUESTION.search(question):
        return DATE
    if NAME_QUESTION.search(question):
        return NAME
    return None


def asks_for_person(question: str) -> bool:
    """ "Who ...", "What is the name of ...": a person or a name as such."""
    return bool(PERSON_QUESTION.search(question))


def offers_answer(sentence: str, question: str, kind: str | None) -> bool:
    """Does the sentence hold a fact of the asked kind that the question does not already give?"""
    if kind is None:
        return False
    asked_numbers, asked_names, asked_words = _given_by(question)
    new_numbers = numbers_in(sentence) - asked_numbers
    if kind == NUMBER:
        return bool(new_numbers)
    if kind == DATE:
        return bool(new_numbers) or bool((set(_WORD.findall(sentence.lower())) - asked_words) & DATE_WORDS)
    # A name whose last word (a surname) the question gives is not new: the question's own person with a
    # first name added answers nothing. A name that only begins with a word of the question is new: a
    # brand's model (the brand first, the model last) answers "which model of <brand>".
    given = asked_names | asked_words
    return any(group[-1] not in given for group in name_groups(sentence))


@lru_cache(maxsize=64)
def _given_by(question: str) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """The numbers, names and words a question already gives: computed once, not for each of the
    ~90 sentences retrieval compares with it."""
    return frozenset(numbers_in(question)), frozenset(names_in(question)), frozenset(_WORD.findall(question.lower()))


def is_yes_no(question: str) -> bool:
    """A question answered by yes or no: it opens with an auxiliary verb ("Did the board approve ...?")."""
    return bool(YES_NO_QUESTION.match(question))
