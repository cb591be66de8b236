"""Replaying refusal thresholds from one run with refusals banned: the logic, on hand-made records."""

import json

import pytest
from helpers import make_record

from rag.eval.calibrate import main, replay


def _never_refused_run():
    """What `rag.eval.evaluate --refusal-threshold 1.01` records: every answer forced, with its refusal probability."""
    return [
        make_record("right-sure", "Moscow", correct=True, refusal_p=0.1),
        make_record("right-unsure", "Moscow", correct=True, refusal_p=0.6),
        make_record("wrong-unsure", "Brussels", refusal_p=0.7, gold=False),
        make_record("silent-rejected", "", unanswerable=True, abstained=True, refusal_p=0.2),  # the check said no
        make_record("silent-answered", "51%", unanswerable=True, refusal_p=0.8, gold=False),
        make_record("held", "x", refusal_p=0.9, split="heldout"),
    ]


def test_a_threshold_abstains_at_or_above_it_and_keeps_the_forced_answer_below():
    records = [r for r in _never_refused_run() if r["split"] == "dev"]
    low = replay(records, 0.5)
    assert low.accuracy == pytest.approx(1 / 3) and low.wrong == 0 and low.false_abstention == pytest.approx(2 / 3)
    assert low.abstention == 1.0 and low.citation_precision == 1.0
    high = replay(records, 0.75)
    assert high.accuracy == pytest.approx(2 / 3) and high.wrong == 1 and high.false_abstention == 0.0
    assert high.abstention == 1.0 and high.citation_precision == pytest.approx(2 / 3)
    never = replay(records, 1.01)
    assert never.abstention == 0.5  # the unanswerable question the check did not catch is answered


def test_cli_replays_dev_only_and_refuses_a_run_where_the_model_could_refuse(tmp_path, capsys):
    report = tmp_path / "never.json"
    report.write_text(json.dumps({"per_question": _never_refused_run()}))
    assert main([str(report)]) == 0
    out = capsys.readouterr().out
    assert "1 held-out questions left out." in out and "| 0.50 | 0.33 | 0 | 0.67 | 1.00 | 1.00 |" in out
    gated = _never_refused_run()
    gated[1].update(raw="NOT IN ARTICLES", abstained=True)  # refused at 0.6 under the default threshold 0.5
    report.write_text(json.dumps({"per_question": gated}))
    assert main([str(report)]) == 2
    assert "--refusal-threshold 1.01" in capsys.readouterr().err


def test_the_yes_threshold_is_replayed_from_one_run():
    from rag.eval.calibrate import replay_yes

    records = [
        make_record("a", "Yes. ...", correct=True) | {"yes_p": 0.9},  # gold yes
        make_record("b", "Yes. ...", correct=False) | {"yes_p": 0.6},  # gold no: said yes at 0.5
        make_record("c", "No. ...", correct=True) | {"yes_p": 0.3},  # gold no
        make_record("d", "", abstained=True) | {"yes_p": 0.7},  # refused: no verdict to replay
    ]
    assert replay_yes(records, 0.5) == (2, 3)
    assert replay_yes(records, 0.75) == (3, 3)
    assert replay_yes(records, 0.95) == (2, 3)
