"""Yes/no questions are answered as such: the verdict first, then the passage's words that settle it."""

import numpy as np
import pytest
from helpers import make_evidence

from rag.answer_type import is_yes_no
from rag.cite import check_answer
from rag.generate import RefusalGate, user_message

PASSAGE = (
    "The board met on Monday to discuss the bid. It rejected the offer, saying it undervalued the firm. "
    "Shares fell 3% after the announcement."
)


@pytest.mark.parametrize(
    "question, expected",
    [
        ("Did the board accept the offer?", True),
        ("Has Russia ratified the treaty?", True),
        ("Is the plant still open?", True),
        ("According to the minister, was the deal signed?", True),
        ("Who rejected the offer?", False),
        ("What did the board say?", False),
        ("Does anyone know how many shares fell?", True),
    ],
)
def test_a_yes_no_question_opens_with_an_auxiliary_verb(question, expected):
    assert is_yes_no(question) is expected


def test_the_prompt_asks_a_yes_no_question_for_its_verdict_first():
    evidence = [make_evidence(1, PASSAGE)]
    assert "Begin your reply with Yes or No" in user_message("Did the board accept the offer?", evidence)
    assert "Begin your reply with Yes or No" not in user_message("Who rejected the offer?", evidence)


def _key_evidence():
    evidence = make_evidence(1, PASSAGE)
    evidence.key = 1  # the sentence retrieval found closest to the question
    return evidence


@pytest.mark.parametrize(
    "reply",
    [
        "No. The board rejected the offer, saying it undervalued the firm. [1]",
        "No, the board did not accept the offer [1].",
        'No. "It rejected the offer, saying it undervalued the firm." [1]',
        "The board rejected the offer [1]. Answer: No.",
    ],
)
def test_the_verdict_leads_and_the_passage_sentence_it_rests_on_is_quoted(reply):
    """Whatever the reply restates after its verdict, the answer quotes the passage: verifiable as it stands."""
    checked = check_answer(reply, [_key_evidence()], "Did the board accept the offer?")
    assert checked.text == "No. “It rejected the offer, saying it undervalued the firm.” [1]"
    assert checked.sentences and all(s.supported for s in checked.sentences)
    assert checked.citations and checked.citations[0].quote.startswith("It rejected the offer")


def _logits(probabilities: dict[int, float], size: int = 8) -> np.ndarray:
    values = np.full(size, 1e-9)
    for token, p in probabilities.items():
        values[token] = p
    return np.log(values)


@pytest.mark.parametrize("yes_threshold, chosen", [(0.5, 1), (0.8, 2)])
def test_the_verdict_is_yes_only_when_its_share_of_yes_or_no_reaches_the_threshold(yes_threshold, chosen):
    # token 0: the refusal; 1 and 3: ways to start "Yes"; 2: "No"
    gate = RefusalGate([0], 0.5, ([1, 3], [2]), yes_threshold)
    out = gate(np.array([]), _logits({0: 0.1, 1: 0.5, 3: 0.1, 2: 0.3}))
    assert int(np.argmax(out)) == chosen and np.isinf(out[[t for t in range(8) if t != chosen]]).all()
    assert gate.yes_probability == pytest.approx(0.6 / 0.9) and not gate.refused


def test_a_likely_refusal_still_wins_over_any_verdict():
    gate = RefusalGate([0], 0.5, ([1], [2]))
    out = gate(np.array([]), _logits({0: 0.7, 1: 0.2, 2: 0.1}))
    assert int(np.argmax(out)) == 0 and gate.refused and gate.yes_probability is None


def test_the_real_model_answers_no_to_a_question_the_article_denies(seed_pipeline):
    answer = seed_pipeline.answer("Did Yuri Ushakov say that a compromise had been found?")
    assert not answer.abstained, answer.raw
    assert answer.text.startswith("No. ") and answer.yes_p is not None
    assert answer.yes_p < seed_pipeline.settings.yes_threshold  # the verdict came from the gate, not a default
    assert answer.citations and all(s.supported for s in answer.sentences)


def test_a_reply_without_a_verdict_is_checked_as_any_answer():
    checked = check_answer("The mayor visited the zoo [1].", [_key_evidence()], "Did the mayor visit the zoo?")
    assert not checked.text.startswith(("Yes", "No")) and not any(s.supported for s in checked.sentences)
