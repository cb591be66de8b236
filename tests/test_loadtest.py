"""The load test's logic (rag.eval.loadtest) against the chat served in this process with the stand-in
models: fewer users, the same checks. The full run, on the real model, is `make loadtest`."""

from __future__ import annotations

import pytest
from fakes import ExtractiveModel, HashingEmbedder

import app
from rag.eval import loadtest
from rag.index_store import build_index
from rag.pipeline import Pipeline


@pytest.fixture
def served_chat(tmp_path, monkeypatch):
    """The chat over the load test's corpus, served on a free loopback port: its URL."""
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    corpus = loadtest.write_corpus(tmp_path)
    build_index(corpus, tmp_path / "index", embedder=HashingEmbedder(), show_progress=False)
    pipeline = Pipeline(tmp_path / "index", local_model=ExtractiveModel(), embedder=HashingEmbedder())
    chat = app.NewsChat(pipeline, corpus, HashingEmbedder())
    demo = chat.build_ui().queue(default_concurrency_limit=1)
    port = loadtest.free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


def test_users_at_once_each_get_their_own_answers_and_an_upload_becomes_answerable(served_chat, tmp_path):
    run = loadtest.run_load(served_chat, users=3, questions=3, uploads=2, folder=tmp_path / "incoming")
    assert run["problems"] == [] and run["passed"], loadtest.format_report(run)
    assert list(run["per_user"]) == ["user1", "user2", "user3", "uploader"]
    assert run["overall"]["answers"] == 3 * 3 + 2 and run["overall"]["ok"] == 11
    assert run["upload"]["log"].endswith("Indexed: 2 added, 0 updated, 2 chunks embedded.")
    follow_up = next(t for t in run["turns"] if t["user"] == "user1" and t["number"] == 2)
    assert follow_up["question"] == "How long was it closed?" and "eight months" in follow_up["answer"]
    assert follow_up["cited"] == ["halden_museum.txt"]
    table = loadtest.format_report(run)
    assert "wait p95" in table and "uploader" in table and "passed" in table


def test_a_wrong_answer_a_mixed_history_and_another_users_article_are_each_caught():
    turn = loadtest.Turn("user2", 2, "How long was it closed?", answer="It opened on Saturday [1].")
    turn.cited = ["island_ferries.txt"]
    history = [
        {"role": "user", "content": "Who won the Corven city marathon?"},
        {"role": "assistant", "content": "Yusuf won [[1]](#src-1)."},
        {"role": "user", "content": [{"type": "text", "text": "How long was it closed?"}]},
        {"role": "assistant", "content": "It opened on Saturday [[1]](#src-1)."},
    ]
    asked = ["Why was the maritime museum in Halden closed?", "How long was it closed?"]
    loadtest.check(turn, ("eight months",), {"halden_museum.txt"}, asked, history)
    assert [p.split(":")[0] for p in turn.problems] == [
        "the history is not this user's",
        "cites another user's article",
        "does not say eight months",
    ]


def test_thousands_commas_and_case_do_not_decide_a_match():
    turn = loadtest.Turn("user4", 3, "How many runners?", answer="About 14,000 Runners took part [1].")
    loadtest.check(
        turn, ("14000",), set(), ["How many runners?"], [{"role": "user", "content": "How many runners?"}, {}]
    )
    assert turn.ok


def test_a_refusal_is_told_apart_from_a_wrong_answer():
    from rag.pipeline import ABSTAIN_TEXT

    turn = loadtest.Turn("user6", 2, "How old is he?", answer=f"{ABSTAIN_TEXT}\n\nSearched for: How old is Brenner?")
    loadtest.check(turn, ("16",), set(), ["How old is he?"], [{"role": "user", "content": "How old is he?"}, {}])
    assert turn.problems == [f"refused: {ABSTAIN_TEXT} Searched for: How old is Brenner?"]
