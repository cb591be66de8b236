"""The peer baseline (rag.eval.peer): a default LlamaIndex pipeline whose records rag.eval.metrics and
rag.eval.compare read.

Skipped where the extra `peer` (LlamaIndex) is not installed: `make peer` installs it.
"""

from __future__ import annotations

import json
import os
import re
from types import SimpleNamespace

import pytest

pytest.importorskip("llama_index.core")
pytest.importorskip("llama_index.embeddings.huggingface")
pytest.importorskip("llama_index.llms.llama_cpp")

from rag.eval import evaluate, peer  # noqa: E402
from rag.eval.compare import compare_runs, format_comparison  # noqa: E402
from rag.eval.metrics import format_table, summarize  # noqa: E402

# Two hand-written articles (not from any Q&A set): one at the corpus root, one in a folder reached by a symlink.
BAKERY = """Riverside bakery wins regional bread prize
Published: 2025-03-14

The Little Oven bakery in Marlow won the regional bread prize on Friday. Its owner, Priya Natarajan, said the
winning loaf was a sourdough rye that bakes for fourteen hours. The bakery opened in 2019 and employs nine people.
"""
BRIDGE = """New footbridge opens over the River Kennet
Published: 2025-04-02

A new footbridge over the River Kennet opened in Newbury on Monday. The bridge is 85 metres long and cost
2.4 million pounds. Council leader Tom Ashby cut the ribbon and said it would take cyclists off the main road.
"""
QUESTIONS = [
    {"id": "t-1", "question": "Who owns the Little Oven bakery?", "answers": ["Priya Natarajan"],
     "doc": "bakery.txt", "unanswerable": False},
    {"id": "t-2", "question": "How long is the new footbridge in Newbury?", "answers": ["85"],
     "doc": "towns/bridge.txt", "unanswerable": False},
    {"id": "t-3", "question": "What is Priya Natarajan's phone number?", "answers": [],
     "doc": None, "unanswerable": True},
]  # fmt: skip


@pytest.fixture
def corpus(tmp_path):
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "bakery.txt").write_text(BAKERY, encoding="utf-8")
    (root / ".hidden.txt").write_text("not an article", encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "bridge.txt").write_text(BRIDGE, encoding="utf-8")
    os.symlink(elsewhere, root / "towns")
    return root


def base_record(item: dict) -> dict:
    """The record rag.eval.evaluate.evaluate_one writes before the model answers (its keys are the format)."""
    pipeline = SimpleNamespace(
        index=SimpleNamespace(manifest={}),
        retriever=SimpleNamespace(search=lambda question, k: []),
        settings=SimpleNamespace(top_k=3),
    )
    return evaluate.evaluate_one(pipeline, item, generate=False)


def test_records_have_the_format_of_rag_evaluate_and_the_metrics_read_them():
    sources = [("towns/bridge.txt", "It is 85 metres long."), ("bakery.txt", "Bread.")]
    right = peer.peer_record(QUESTIONS[1], "The bridge is 85 metres long.", sources, 1.5, 3.25)
    assert set(right) == set(base_record(QUESTIONS[1]))
    assert right["hit_rank"] == 1 and right["correct"] and not right["abstained"] and right["f1"] > 0
    assert right["citations"] == [] and right["cited_answer"] is False and right["sentences"] == []
    assert (right["first_token_s"], right["total_s"]) == (1.5, 3.25)
    late = peer.peer_record(QUESTIONS[1], "85 metres", sources[::-1], 1.0, 2.0)
    assert late["hit_rank"] == 2
    same = {"copy.txt": "towns/bridge.txt"}
    copy = peer.peer_record(QUESTIONS[1], "85 metres", [("copy.txt", "85 metres")], 1.0, 2.0, same)
    assert copy["hit_rank"] == 1  # a copy of the gold article filed under another name is the gold article
    refused = peer.peer_record(QUESTIONS[2], "The context does not provide her phone number.", sources, 1.0, 2.0)
    assert refused["abstained"] and not refused["correct"] and refused["f1"] == 0.0 and refused["hit_rank"] is None
    records = [right, refused]
    assert "| questions | 2 |" in format_table({"all": summarize(records)})
    assert "gained 0, lost 0" in format_comparison(compare_runs(records, records))


def test_correctness_is_judged_as_rag_evaluate_judges_it():
    # If rag.eval.evaluate starts judging answers with another function, rag.eval.peer must follow it.
    assert peer.judge_answer is evaluate.judge_answer
    assert peer.hit_rank is evaluate.hit_rank and peer.is_held_out is evaluate.is_held_out


def test_the_split_choices_are_those_of_rag_evaluate(capsys):
    choices = []
    for main in (evaluate.main, peer.main):
        with pytest.raises(SystemExit):
            main(["--help"])
        choices.append(re.findall(r"--split \{([^}]*)\}", capsys.readouterr().out))
    assert choices[0] == choices[1] and choices[0]


@pytest.mark.parametrize(
    "reply",
    [
        "The context does not provide information about Tom Ashby's dog.",
        "The name of the dog is not mentioned in the context.",
        "The provided text doesn’t mention a dog.",
        "I'm sorry, but there is no information provided in the given context about her phone number.",
        "I'm sorry, but I cannot answer this question as it is not present in the given context information.",
        "There is no information about that.",
        "The answer cannot be determined from the context.",
        "I don't know.",
        "NOT IN ARTICLES",
        "",
    ],
)
def test_replies_saying_the_context_does_not_answer_are_abstentions(reply):
    assert peer.says_not_found(reply)


@pytest.mark.parametrize(
    "reply", ["Priya Natarajan owns the bakery.", "85 metres", "It cost 2.4 million pounds.", "No, it did not open."]
)
def test_answers_are_not_abstentions(reply):
    assert not peer.says_not_found(reply)


def test_chatml_prompts():
    from llama_index.core.llms import ChatMessage

    assert peer.completion_to_prompt("Q?") == (
        f"<|im_start|>system\n{peer.QWEN_DEFAULT_SYSTEM}<|im_end|>\n<|im_start|>user\nQ?<|im_end|>\n<|im_start|>assistant\n"
    )
    messages = [ChatMessage(role="system", content="Be brief."), ChatMessage(role="user", content="Hi")]
    assert peer.messages_to_prompt(messages) == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    )


def test_article_files_follow_symlinked_folders_and_map_back_to_article_ids(corpus):
    files = peer.article_files(corpus)
    assert [peer.article_id(f, corpus) for f in files] == ["bakery.txt", "towns/bridge.txt"]
    assert peer.article_id(str(corpus / "towns" / "bridge.txt"), corpus) == "towns/bridge.txt"
    before = peer.corpus_manifest(corpus, files, "embedder")
    (corpus / "bakery.txt").write_text(BAKERY + "\nCorrection: the bakery employs ten people.\n", encoding="utf-8")
    assert peer.corpus_manifest(corpus, files, "embedder") != before  # a changed article: the index is rebuilt
    (corpus / "copy.txt").write_text(BRIDGE, encoding="utf-8")
    same = peer.same_articles(peer.article_files(corpus), corpus)
    assert same == {"bakery.txt": "bakery.txt", "copy.txt": "copy.txt", "towns/bridge.txt": "copy.txt"}


@pytest.mark.model
@pytest.mark.embedder
def test_the_real_models_answer_a_tiny_corpus_and_abstain_where_it_is_silent(corpus, tmp_path, capsys):
    from rag.llm import resolve_model_path

    qa = tmp_path / "qa.jsonl"
    qa.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS), encoding="utf-8")
    out, persist = tmp_path / "peer.json", tmp_path / "peer-index"
    args = ["--qa", str(qa), "--corpus", str(corpus), "--persist", str(persist), "--out", str(out)]
    assert peer.main(args) == 0
    assert "| answer accuracy |" in capsys.readouterr().out
    report = json.loads(out.read_text(encoding="utf-8"))
    records = {r["id"]: r for r in report["per_question"]}
    assert all(set(r) == set(base_record(QUESTIONS[0])) for r in records.values())
    assert records["t-1"]["hit_rank"] == 1 and records["t-2"]["hit_rank"] == 1  # the symlinked article is indexed
    assert records["t-1"]["correct"] and records["t-2"]["correct"]
    assert records["t-3"]["abstained"], records["t-3"]["answer"]
    assert all(0 < r["first_token_s"] <= r["total_s"] for r in records.values())
    assert report["peer"]["index"]["built"] and report["peer"]["similarity_top_k"] == 2
    assert report["peer"]["model"] == str(resolve_model_path(None))
    # A second run reuses the persisted index (no new embedding), and --limit is honoured.
    assert peer.main([*args, "--limit", "1"]) == 0
    again = json.loads(out.read_text(encoding="utf-8"))
    assert again["peer"]["index"]["built"] is False and len(again["per_question"]) == 1
    assert again["per_question"][0]["answer"] == records["t-1"]["answer"]


@pytest.mark.model
def test_the_chatml_prompts_are_what_the_default_ggufs_own_chat_template_writes():
    from llama_cpp import Llama
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter
    from llama_index.core.llms import ChatMessage

    from rag.llm import resolve_model_path

    vocab = Llama(model_path=str(resolve_model_path(None)), vocab_only=True, verbose=False)
    template = Jinja2ChatFormatter(vocab.metadata["tokenizer.chat_template"], eos_token="", bos_token="")
    for messages in (
        [{"role": "user", "content": "Q?"}],
        [{"role": "system", "content": "S."}, {"role": "user", "content": "Q?"}],
    ):
        expected = template(messages=messages).prompt
        assert peer.messages_to_prompt([ChatMessage(**m) for m in messages]) == expected
    assert peer.completion_to_prompt("Q?") == template(messages=[{"role": "user", "content": "Q?"}]).prompt
