"""The chat's rendering and event logic, without a browser (tests/browser drives the real page)."""

import html

from helpers import make_evidence

import app
from rag.cite import check_answer
from rag.pipeline import Answer


def _answer(raw, evidence, question="q", searched=None):
    checked = check_answer(raw, evidence)
    return Answer(
        question=question,
        searched=searched or question,
        text=checked.text,
        abstained=False,
        evidence=evidence,
        citations=checked.citations,
        sentences=checked.sentences,
        raw=raw,
    )


def test_article_html_is_shown_as_text_never_as_markup():
    evil = make_evidence(1, 'Police said <script>alert(1)</script> and <img src=x onerror="alert(2)"> were found.')
    answer = _answer("Police said a script tag was found [1].", [evil])
    cards = app.render_sources(answer)
    assert "<script>" not in cards and "<img" not in cards
    assert html.escape("<script>alert(1)</script>") in cards
    bubble = app.render_answer(
        Answer(question="q", searched="q", text="<script>alert(1)</script>", abstained=True, evidence=[evil])
    )
    assert "<script>" not in bubble


def test_markers_link_to_cards_and_cited_cards_come_first_with_highlight():
    one = make_evidence(1, "Talks lasted five hours. Nothing was agreed.")
    two = make_evidence(2, "Coal imports fell to zero. Oil imports fell to 2 percent.", article_id="b.txt")
    answer = _answer("Oil imports fell to 2 percent [2].", [one, two])
    bubble = app.render_answer(answer)
    assert "[[2]](#src-2)" in bubble
    cards = app.render_sources(answer)
    assert cards.index("id='src-2'") < cards.index("id='src-1'")
    assert "<mark>Oil imports fell to 2 percent.</mark>" in cards
    assert "Also retrieved, not cited" in cards


def test_unsupported_sentence_is_flagged_and_rewritten_question_shown():
    one = make_evidence(1, "Talks lasted five hours.")
    answer = _answer(
        "Talks lasted five hours [1]. Kushner was delighted [1].", [one], "How long?", "How long did talks last?"
    )
    bubble = app.render_answer(answer)
    assert "not supported" in bubble and "Searched for: How long did talks last?" in bubble


def test_last_question_and_history_pairs_from_chat_messages():
    history = [
        {"role": "user", "content": "What did Ushakov say?"},
        {"role": "assistant", "content": "He said &quot;no&quot; [[1]](#src-1)."},
        {"role": "user", "content": "And Zelenskyy?"},
        {"role": "assistant", "content": "🔎 Searching the articles…"},
    ]
    question, past = app._last_question(history)
    assert question == "And Zelenskyy?"
    assert past == [("What did Ushakov say?", 'He said "no" [1].')]


def test_uploaded_names_never_overwrite_other_content(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"one")
    assert app._free_path(tmp_path, "a.txt", b"one").name == "a.txt"
    assert app._free_path(tmp_path, "a.txt", b"two").name == "a-2.txt"
    assert app._safe_name("../../etc/passwd") == "passwd"


def test_gradio6_list_shaped_messages_are_read():
    history = [
        {"role": "user", "content": [{"type": "text", "text": "What did Ushakov say?"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "🔎 Searching the articles…"}]},
    ]
    assert app._last_question(history) == ("What did Ushakov say?", [])
    assert app._message_text(history[-1]).startswith(app.PLACEHOLDERS)


QUESTION = "Where did they walk?"
FIRST = make_evidence(1, "Talks lasted five hours.", article_id="a.txt")
FURTHER = make_evidence(1, "Witkoff and Kushner walked through Red Square.", article_id="b.txt")
ANSWER_TEXT = "They walked through Red Square [1]."


def _chat_over(events: list) -> list[tuple[str, object]]:
    """(answer bubble, sources panel) at each step of the chat fed these pipeline events, then Done."""
    import threading

    from rag.pipeline import Done

    answer = _answer(ANSWER_TEXT, [FURTHER], question=QUESTION)

    class ScriptedPipeline:
        def stream(self, question, filters=None, history=None):
            yield from events
            yield Done(answer)

    chat = app.NewsChat.__new__(app.NewsChat)
    chat.pipeline, chat.waiting_lock, chat.waiting = ScriptedPipeline(), threading.Lock(), 1
    history = [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": "🔎 Searching"}]
    return [(h[-1]["content"], sources) for h, sources in chat.answer(list(history), [], "", "")]


def test_the_chat_says_when_it_reads_further_passages():
    """The pipeline's second look (a second Retrieved) is shown, then the answer from those passages."""
    from rag.pipeline import Retrieved

    shown = _chat_over([Retrieved(QUESTION, [FIRST]), Retrieved(QUESTION, [FURTHER])])
    statuses = [status for status, _ in shown]
    assert statuses[1] == "✍️ Writing the answer…" and statuses[2] == app.LOOKING_FURTHER
    assert "Red Square" in shown[2][1] and "Red Square" in statuses[-1]


def test_a_withdrawn_draft_leaves_the_chat_before_the_next_one_streams():
    """A Redraft clears what was streamed (an answer the check rejected); only the new draft shows."""
    from rag.pipeline import Redraft, Retrieved, Token

    events = [Retrieved(QUESTION, [FURTHER]), Token("They walked to Oslo."), Redraft(), Token(ANSWER_TEXT)]
    statuses = [status for status, _ in _chat_over(events)]
    assert "Oslo" in statuses[2] and statuses[3] == app.READING_MORE
    assert all("Oslo" not in s for s in statuses[3:]) and "Red Square" in statuses[4]


def test_a_refusal_written_out_does_not_stay_in_front_of_the_second_look():
    from rag.pipeline import Retrieved, Token

    events = [Retrieved(QUESTION, [FIRST]), Token("The passages do not say."), Retrieved(QUESTION, [FURTHER])]
    statuses = [status for status, _ in _chat_over(events + [Token(ANSWER_TEXT)])]
    assert "do not say" in statuses[2] and statuses[3] == app.LOOKING_FURTHER
    assert all("do not say" not in s for s in statuses[3:])


def _chat_failing_with(error: Exception, date_from: str = "") -> str:
    import threading

    class FailingPipeline:
        def stream(self, question, filters=None, history=None):
            raise error
            yield  # a generator, as Pipeline.stream

    chat = app.NewsChat.__new__(app.NewsChat)
    chat.pipeline, chat.waiting_lock, chat.waiting = FailingPipeline(), threading.Lock(), 1
    history = [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": "🔎 Searching"}]
    return [h[-1]["content"] for h, _ in chat.answer(list(history), [], date_from, "")][-1]


def test_the_user_is_told_what_is_wrong_with_the_question_but_never_an_internal_error(caplog):
    from rag.pipeline import QuestionError

    assert _chat_failing_with(QuestionError("Please type a question.")) == "Please type a question."
    assert "Dates must look like 2025-12-03" in _chat_failing_with(RuntimeError("unused"), date_from="3 Dec")
    shown = _chat_failing_with(ValueError("internal detail: 12 vectors for 13 chunks"))
    assert "internal detail" not in shown and "server log" in shown
    assert "internal detail" in caplog.text  # logged for the maintainer


HOSTILE_TITLE = "[Verify your account](https://phish.example) ![](https://t.example/p.png) <img src=x> Putin visit"


def test_markdown_and_html_from_an_article_never_become_live_in_the_bubble():
    from markdown_it import MarkdownIt

    answer = Answer(
        "How many articles mention Putin?", "How many articles mention Putin?",
        f"1 article mentions Putin: {HOSTILE_TITLE} (Outlet, 2025-01-02) [1].", abstained=False,
    )  # fmt: skip
    shown = MarkdownIt("commonmark").render(app.render_answer(answer))
    assert "phish.example" in shown and "t.example" in shown  # the title is shown, as text
    assert shown.count("<a href") == 1 and 'href="#src-1"' in shown  # the only link is the marker's own
    assert "<img" not in shown
    assert "https://phish.example" not in app.render_answer(answer)  # no bare URL left for an autolinker


def test_text_shown_in_the_chat_reads_back_as_written():
    for text in [HOSTILE_TITLE, "Dates: 2025-12-03 *not* `code` # 5 www.example.com a\\b", 'He said "no" & left.']:
        assert app.from_text(app.as_text(text)) == text
