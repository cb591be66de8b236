"""The paired comparison of two evaluation runs: the logic, on hand-made records."""

import json

import pytest
from helpers import make_record as record

from rag.eval.compare import compare_runs, format_comparison, is_right, main


def test_right_means_a_correct_answer_or_an_abstention_where_the_articles_are_silent():
    assert is_right(record("a", "Moscow", correct=True))
    assert not is_right(record("a", "Brussels"))
    assert is_right(record("u", "do not answer", unanswerable=True, abstained=True))
    assert not is_right(record("u", "51%", unanswerable=True))


def test_gains_losses_and_rewordings_are_paired_by_question_id():
    before = [record("1", "Brussels"), record("2", "Moscow", correct=True), record("3", "Kushner", correct=True),
              record("4", "x"), record("only-before", "y")]  # fmt: skip
    after = [record("3", "Jared Kushner", correct=True), record("2", "Brussels"), record("1", "Moscow", correct=True),
             record("4", "x"), record("only-after", "z")]  # fmt: skip
    pairs = compare_runs(before, after)
    assert [pairs.after[i]["id"] for i in pairs.gained] == ["1"]
    assert [pairs.after[i]["id"] for i in pairs.lost] == ["2"]
    assert [pairs.after[i]["id"] for i in pairs.reworded] == ["3"]
    assert pairs.unmatched == 2 and len(pairs.before) == 4
    assert pairs.p_value == 1.0  # one gained, one lost


def test_the_exact_mcnemar_p_value_tells_chance_from_a_real_change():
    before = [record(str(i), "wrong") for i in range(8)]
    six_gained = [record(str(i), "right", correct=True) if i < 6 else record(str(i), "wrong") for i in range(8)]
    assert compare_runs(before, six_gained).p_value == pytest.approx(2 * 0.5**6)  # 0.03125
    two_gained = [record(str(i), "right", correct=True) if i < 2 else record(str(i), "wrong") for i in range(8)]
    assert compare_runs(before, two_gained).p_value == pytest.approx(0.5)
    assert compare_runs(before, before).p_value == 1.0
    assert "unlikely to be chance" in format_comparison(compare_runs(before, six_gained))
    assert "may well be chance" in format_comparison(compare_runs(before, two_gained))


def test_held_out_changes_are_counted_but_listed_only_on_request():
    before = [record("d", "Brussels"), record("h", "Brussels", split="heldout")]
    after = [record("d", "Moscow", correct=True), record("h", "Moscow", correct=True, split="heldout", hit_rank=2)]
    text = format_comparison(compare_runs(before, after))
    assert "gained 2, lost 0" in text and "question d?" in text and "question h?" not in text
    assert "1 changed held-out questions not listed" in text
    assert "first for 0 more and 1 fewer" in text
    assert "question h?" in format_comparison(compare_runs(before, after), show_held_out=True)


def test_cli_compares_two_reports_and_rejects_what_is_not_one(tmp_path, capsys):
    old, new, bad = tmp_path / "old.json", tmp_path / "new.json", tmp_path / "bad.json"
    old.write_text(json.dumps({"n": 1, "per_question": [record("1", "Brussels")]}))
    new.write_text(json.dumps({"n": 1, "per_question": [record("1", "Moscow", correct=True)]}))
    bad.write_text("{not json")
    assert main([str(old), str(new)]) == 0
    assert "right before: 0/1" in capsys.readouterr().out
    assert main([str(old), str(bad)]) == 2
    assert "is not a JSON report of python -m rag.eval.evaluate --out" in capsys.readouterr().err
    assert main([str(old), str(tmp_path / "missing.json")]) == 2
