"""The order in which the model reads: the best passage alone, then, only if that gives no supported
answer, the best passages together (the next ones too, with "second_look"): never more than two reads.

The unit tests script the model's replies (real index, real embedder, real citation check) to pin the
logic around the model; the last test runs the real model.
"""

import re

import pytest

from rag.config import ReadingSettings
from rag.pipeline import Pipeline, Redraft, Token

QUESTION = "What did Putin say about Europe and the peace plan?"


class ScriptedModel:
    """Replies in turn to each prompt; records the passages each prompt showed."""

    context_tokens = 4096

    def __init__(self, replies):
        self.replies = list(replies)
        self.shown: list[list[int]] = []  # passage numbers in each prompt

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def first_token(self, text: str) -> int:
        return hash(text) % 1000

    def stream_chat(self, messages, max_tokens=160, logits_processor=None, **_):
        prompt = messages[-1]["content"]
        self.shown.append([int(n) for n in re.findall(r"^\[(\d+)\] \"", prompt, flags=re.MULTILINE)])
        passage_one = re.search(r"^\[1\] .*\n(.+)$", prompt, flags=re.MULTILINE).group(1)
        on_topic = next(s for s in re.split(r"(?<=\.) ", passage_one) if "Europe" in s)  # the question's topic
        reply = self.replies.pop(0).replace("{passage 1}", on_topic)
        yield from (reply[i : i + 8] for i in range(0, len(reply), 8))


def run(seed_index, replies, rules_off=frozenset(), **settings):
    """The seed article alone is one story in six chunks: coverage (tested in test_coverage) is off, so
    several passages are there to read."""
    model = ScriptedModel(replies)
    settings = ReadingSettings(rules_off=frozenset(rules_off) | {"coverage"}, **settings)
    pipeline = Pipeline(seed_index, local_model=model, settings=settings)
    events = list(pipeline.stream(QUESTION))
    return model, events, events[-1].answer


def test_a_supported_answer_from_the_best_passage_alone_ends_the_reading(seed_index):
    model, events, answer = run(seed_index, ["{passage 1} [1]"])
    assert model.shown == [[1]]  # one prompt, holding the best passage only
    assert answer.best_alone and not answer.abstained and not answer.looked_further
    assert all(c.evidence.number == 1 for c in answer.citations) and answer.citations
    assert len(answer.evidence) == 3  # the user still sees the three closest passages
    assert not any(isinstance(e, Redraft) for e in events)


def test_an_unsupported_answer_from_the_best_passage_is_withdrawn_and_the_best_ones_are_read(seed_index):
    model, events, answer = run(seed_index, ["Zorblatt Quenby signed the plan in Oslo [1].", "{passage 1} [1]"])
    assert model.shown[0] == [1] and len(model.shown) == 2 and model.shown[1][:2] == [1, 2]
    kinds = [type(e).__name__ for e in events]
    assert kinds.index("Redraft") > kinds.index("Token")  # withdrawn after it was streamed
    assert kinds.index("Redraft") < len(kinds) - 1 - kinds[::-1].index("Token")  # the new draft follows
    assert not answer.best_alone and not answer.abstained and "Zorblatt" not in answer.text


def test_a_refusal_of_the_best_passage_leads_to_the_best_ones(seed_index):
    # The scripted model writes its refusal out (the real one is stopped at its first token, unstreamed),
    # so what it streamed is withdrawn like any other draft that is no answer.
    model, events, answer = run(seed_index, ["The passages do not say.", "{passage 1} [2]"])
    assert model.shown[0] == [1] and len(model.shown) == 2 and len(model.shown[1]) > 1
    assert sum(isinstance(e, Redraft) for e in events) == 1
    assert not answer.abstained and not answer.best_alone and "do not say" not in answer.text


def test_after_two_refusals_the_answer_is_an_honest_abstention(seed_index):
    """A refusal costs one read more than an answer from the best passage, never more."""
    model, events, answer = run(seed_index, ["NOT IN ARTICLES"] * 3)
    assert len(model.shown) == 2 and model.shown[0] == [1] and len(model.shown[1]) > 1
    assert answer.abstained and answer.citations == []


def test_the_second_read_takes_in_the_next_passages_only_with_second_look(seed_index):
    wide, _, answer = run(seed_index, ["NOT IN ARTICLES"] * 2)
    narrow, _, _ = run(seed_index, ["NOT IN ARTICLES"] * 2, rules_off={"second_look"})
    assert len(narrow.shown[1]) <= 3 and len(wide.shown[1]) >= len(narrow.shown[1])
    assert answer.looked_further == (len(wide.shown[1]) > 3)


def test_without_best_alone_the_model_reads_the_best_ones_at_once(seed_index):
    model, _, answer = run(seed_index, ["{passage 1} [1]"], rules_off={"best_alone"})
    assert len(model.shown) == 1 and len(model.shown[0]) > 1
    assert not answer.best_alone and not answer.abstained


@pytest.mark.parametrize("flag, expected", [([], True), (["--rule-off", "best_alone"], False), (["--no-check"], False)])
def test_the_cli_flags_set_it(flag, expected):
    import argparse

    from rag.cli import add_pipeline_arguments, reading_from

    parser = argparse.ArgumentParser()
    add_pipeline_arguments(parser)
    assert reading_from(parser.parse_args(flag)).on("best_alone") is expected


def test_the_real_model_answers_from_the_best_passage_alone(seed_index, default_model):
    """A question whose answer stands in the best passage: one short prompt, cited from passage [1]."""
    alone = Pipeline(seed_index, local_model=default_model)
    events = list(alone.stream("What did Ushakov say about compromise?"))
    answer = events[-1].answer
    assert answer.best_alone and not answer.abstained
    assert "compromise hasn't been found" in answer.text
    assert answer.citations and {c.evidence.number for c in answer.citations} == {1}
    assert all(s.supported for s in answer.sentences)
    assert any(isinstance(e, Token) for e in events) and not any(isinstance(e, Redraft) for e in events)


def test_gold_passage_shows_the_reader_only_the_sentence_holding_the_answer(seed_pipeline):
    """`rag.eval.evaluate --gold-passage`: the model reads the gold sentence and two neighbours, nothing else."""
    from rag.eval.evaluate import evaluate_one, gold_passage

    doc = "000_34dd6e6ea37e3941.txt"
    shown = gold_passage(seed_pipeline, doc, ["Red Square"])
    sentences = shown.sentence_texts()
    holding = [i for i, text in enumerate(sentences) if "Red Square" in text]
    assert holding and 3 <= len(sentences) <= 5 and holding[0] in (1, 2)  # two neighbours each side, as far
    # as its chunk goes (6-sentence chunks overlapping by 2 cannot centre every sentence)
    item = {"id": "t-1", "question": "Through which square did Witkoff and Kushner walk away?",
            "answers": ["Red Square"], "doc": doc, "unanswerable": False}  # fmt: skip
    record = evaluate_one(seed_pipeline, item, gold=True)
    assert record["hit_rank"] == 1 and record["correct"], record
    missing = evaluate_one(seed_pipeline, {**item, "answers": ["Trafalgar Square"]}, gold=True)
    assert missing["hit_rank"] is None and missing["abstained"] and not missing["correct"]
