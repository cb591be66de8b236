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
    question = "How many rain breaks interrupted Varga's semi-final?"
    assert offers_answer("Varga cursed the weather after seven breaks for rain.", question, NUMBER)
    assert not offers_answer("Varga lost his rain-interrupted semi-final.", question, NUMBER)
    who = "Who beat Tomas Lindqvist in the first round?"
    assert offers_answer("Rafael Ortega beat Tomas Lindqvist in straight sets.", who, NAME)
    assert not offers_answer("Tomas Lindqvist lost in the first round.", who, NAME)
    when = "When do bidders have to reply to the port authority?"
    assert offers_answer("Bidders have until 12 June to reply.", when, DATE)
    assert offers_answer("Replies are due by Friday.", when, DATE)
    assert not offers_answer("Bidders must reply to the port authority.", when, DATE)
    assert not offers_answer("Seven breaks for rain.", "Why did Varga lose?", None)


def test_a_name_the_question_gives_is_not_the_answer_even_in_full_but_a_model_of_a_brand_is():
    """A name is new unless the question gives its last word: the question's own person with a first name
    added answers nothing, while a brand's model (the brand first, the model last) answers "which model"."""
    question = "Besides Marsh and Tenby, who else made up the delegation?"
    assert not offers_answer("Clara Tenby was also part of the delegation.", question, NAME)
    assert offers_answer("Marsh and Tenby were joined by an aide, Olga Petrova.", question, NAME)
    assert offers_answer("The jury named the Velora Sprint car of the year.", "Which Velora model won?", NAME)
    assert name_groups("Trump's son-in-law Jared Kushner met Vladimir Putin.") == [
        ["trump"],
        ["jared", "kushner"],
        ["vladimir", "putin"],
    ]
