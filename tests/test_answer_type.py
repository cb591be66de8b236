"""Answer-type matching: what a question asks for, and which sentence offers it."""

import pytest

from rag.answer_type import DATE, NAME, NUMBER, expected_answer, offers_answer
from rag.text import name_groups


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("How many people were hurt in the blast?", NUMBER),
        ("How much did the club pay for the striker?", NUMBER),
        ("What was the attendance at the final?", NUMBER),
        ("What pre-tax profit did the bank report?", NUMBER),
        ("When will the plant close?", DATE),
        ("What is the deadline for bids?", DATE),
        ("Who scored the winning goal?", NAME),
        ("Which firm bought the brand?", NAME),
        ("In which town is the factory?", NAME),
        ("What is the name of the new chairman?", NAME),
        ("What did Ushakov say about compromise?", None),
        ("Why did the talks fail?", None),
    ],
)
def test_expected_answer_follows_the_question_word(question, kind):
    assert expected_answer(question) == kind


def test_a_sentence_offers_an_answer_only_with_a_fact_the_question_does_not_give():
    question = "How many rain breaks interrupted Henman's quarter-final?"
    assert offers_answer("Henman cursed the weather after seven breaks for rain.", question, NUMBER)
    assert not offers_answer("Henman lost his rain-interrupted quarter-final.", question, NUMBER)
    who = "Who beat Mardy Fish in the opening rubber?"
    assert offers_answer("Carlos Moya beat Mardy Fish in straight sets.", who, NAME)
    assert not offers_answer("Mardy Fish lost the opening rubber.", who, NAME)
    when = "When do firms have to respond to Ofcom?"
    assert offers_answer("Companies have until 24 March to respond.", when, DATE)
    assert offers_answer("Replies are due by Friday.", when, DATE)
    assert not offers_answer("Firms must respond to Ofcom.", when, DATE)
    assert not offers_answer("Seven breaks for rain.", "Why did Henman lose?", None)


def test_a_name_the_question_gives_is_not_the_answer_even_in_full_but_a_model_of_a_brand_is():
    question = "Besides Witkoff and Kushner, who else made up the American party?"
    assert not offers_answer("Jared Kushner was also part of the American delegation.", question, NAME)
    assert offers_answer("Witkoff and Kushner were joined by an aide, Olga Petrova.", question, NAME)
    assert offers_answer("He named the Skoda Octavia the best so far.", "Which Skoda model won?", NAME)
    assert name_groups("Trump's son-in-law Jared Kushner met Vladimir Putin.") == [
        ["trump"],
        ["jared", "kushner"],
        ["vladimir", "putin"],
    ]
