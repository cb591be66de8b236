import pytest

from rag.eval.briefings import states
from rag.eval.metrics import (
    contains_answer,
    format_table,
    hit_rank,
    normalize_answer,
    percentile,
    retrieval_scores,
    summarize,
    token_f1,
)


def test_squad_normalization():
    assert normalize_answer("The  Kremlin's  adviser, Yuri!") == "kremlin s adviser yuri"
    assert normalize_answer("An apple a day") == "apple day"


def test_contains_answer_matches_whole_tokens_only():
    assert contains_answer("The talks lasted five hours [1].", ["five hours"])
    assert not contains_answer("It rose 150%", ["50%"])
    assert not contains_answer("anything", [""])


def test_contains_answer_equates_number_words_digits_and_money_abbreviations():
    assert contains_answer("There were 7 breaks for rain [2].", ["seven"])
    assert contains_answer("Profits rose to £801m.", ["£801 million"])
    assert contains_answer("Sales grew 5 per cent.", ["5%"])
    assert not contains_answer("There were 17 breaks.", ["seven"])


def test_token_f1_takes_the_best_answer():
    assert token_f1("five hours", ["5 hours", "five hours"]) == 1.0
    assert token_f1("the talks lasted five hours", ["five hours"]) == pytest.approx(2 * (2 / 4) * 1 / (2 / 4 + 1))
    assert token_f1("nothing", ["five hours"]) == 0.0


def test_hit_rank_needs_gold_doc_and_answer_in_passage():
    passages = [("a.txt", "no answer here"), ("b.txt", "five hours"), ("a.txt", "it lasted five hours")]
    assert hit_rank(passages, "a.txt", ["five hours"]) == 3
    assert hit_rank(passages, "c.txt", ["five hours"]) is None


def test_retrieval_scores_and_percentile():
    scores = retrieval_scores([1, 2, None, 6])
    assert scores == {"hit@1": 0.25, "hit@5": 0.5, "mrr": pytest.approx((1 + 0.5 + 1 / 6) / 4)}
    assert percentile([3.0, 1.0, 2.0, 4.0], 50) == 2.0
    assert percentile([3.0, 1.0, 2.0, 4.0], 95) == 4.0


def _record(**kw):
    base = dict(
        unanswerable=False,
        hit_rank=1,
        correct=True,
        f1=1.0,
        abstained=False,
        citations=[],
        cited_answer=True,
        sentences=[],
        first_token_s=1.0,
        total_s=2.0,
    )
    base.update(kw)
    return base


def test_summarize_on_hand_made_records():
    records = [
        _record(citations=[{"gold": True}, {"gold": False}], sentences=[{"supported": True}]),
        _record(correct=False, f1=0.5, abstained=True, cited_answer=False, hit_rank=None),
        _record(unanswerable=True, abstained=True, correct=False, f1=0.0, hit_rank=None),
        _record(unanswerable=True, abstained=False, correct=False, sentences=[{"supported": False}]),
    ]
    m = summarize(records)
    assert m["n"] == 4
    assert m["retrieval"]["hit@1"] == 0.5
    assert m["answer"]["accuracy"] == 0.5 and m["answer"]["f1"] == 0.75
    low, high = m["answer"]["accuracy_95"]
    assert 0.05 < low < 0.5 < high < 0.95  # two answerable questions say little
    assert m["citations"] == {"precision": 0.5, "answer_support": 1.0, "supported_rate": 0.5}
    assert m["abstention"] == {"accuracy": 0.5, "false_rate": 0.5, "unanswerable": 2}
    assert "| abstention accuracy | 0.50 |" in format_table({"all": m})
    answerable_only = summarize(records[:2])  # e.g. rag.eval.evaluate --gold-passage: no abstention to score
    assert "| abstention accuracy | n/a |" in format_table({"all": answerable_only})


def test_a_yes_no_question_is_judged_by_the_first_word_of_the_reply():
    from rag.eval.metrics import judge_answer

    assert judge_answer('No. The minister said "no deal was signed" [1].', ["no"])
    assert judge_answer("Yes, the board approved it [1].", ["Yes"])
    assert not judge_answer("The board did not say no to it [1].", ["no"])  # "no" inside is no verdict
    assert not judge_answer("Yes. [1]", ["no"])
    assert judge_answer("It lasted five hours [1].", ["5 hours"])  # other questions: containment as before


def test_a_yes_no_hit_is_the_passage_holding_the_gold_evidence():
    from rag.eval.metrics import holds_answer

    evidence = "The board rejected the offer on Monday, saying it undervalued the firm."
    passages = [("a.txt", "The offer came from a rival."), ("a.txt", "Then: " + evidence)]
    assert hit_rank(passages, "a.txt", ["no"], evidence) == 2
    assert not holds_answer("no evidence given", ["no"], None)


def test_the_large_set_is_split_in_halves_and_the_older_sets_in_thirds():
    from rag.eval.metrics import is_held_out

    large = [f"tq-x-{n:03d}" for n in range(400)]
    older = [f"bbc-{n:03d}" for n in range(400)]
    assert 0.4 < sum(map(is_held_out, large)) / 400 < 0.6
    assert 0.25 < sum(map(is_held_out, older)) / 400 < 0.42
    assert is_held_out("tq-x-001") == is_held_out("tq-x-001")  # fixed by the id alone


def test_right_outcomes_are_counted_by_kind_of_question():
    from rag.eval.metrics import format_kinds

    records = [
        _record(kind="role", correct=True),
        _record(kind="role", correct=False, abstained=True),
        _record(kind="un_topic", unanswerable=True, abstained=True, correct=False),
    ]
    table = format_kinds(records)
    assert "| role | 2 | 1 | 0.50 | 1 |" in table and "| un_topic | 1 | 1 | 1.00 | 1 |" in table
    assert format_kinds([_record()]) == ""


@pytest.mark.parametrize(
    ("bullet", "answers", "held"),
    [
        ('"accused of overseeing an $11bn fraud." [1]', ["11bn"], True),  # a currency sign, the unit normalized
        ('"a six-try victory in Rome." [4]', ["Rome"], True),  # the closing full stop
        ('"has resigned following the recall" [2]', ["resign"], True),  # a longer string may begin a word
        ('"a rise of 2150 jobs" [1]', ["150"], False),  # a number inside another is not it
        ('"the Romeo and Juliet revival" [1]', ["Rome"], False),  # nor a short string inside a word
    ],
)
def test_a_bullet_states_a_key_fact_when_it_holds_one_of_its_strings(bullet, answers, held):
    assert states(bullet, answers) is held
