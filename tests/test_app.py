"""The chat's rendering and event logic, without a browser (tests/browser drives the real page)."""

import html
import threading
import time
from pathlib import Path

import pytest
from fakes import HashingEmbedder, ScriptedModel, write_corpus
from helpers import make_evidence

import app
from rag.build_index import build_parser as build_parser_of_index
from rag.cite import check_answer
from rag.cli import upload_limits_from
from rag.config import UploadLimits
from rag.index_store import build_index
from rag.pipeline import Answer, Pipeline


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
    from rag.pipeline import Done

    answer = _answer(ANSWER_TEXT, [FURTHER], question=QUESTION)

    class ScriptedPipeline:
        def stream(self, question, filters=None, history=None, briefing=False, within=()):
            yield from events
            yield Done(answer)

    chat = app.NewsChat(ScriptedPipeline(), Path("unused"), "unused")
    chat.waiting = 1
    history = [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": "🔎 Searching"}]
    return [(h[-1]["content"], sources) for h, sources, _ in chat.answer(list(history), [], "", "")]


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
    class FailingPipeline:
        def stream(self, question, filters=None, history=None, briefing=False, within=()):
            raise error
            yield  # a generator, as Pipeline.stream

    chat = app.NewsChat(FailingPipeline(), Path("unused"), "unused")
    chat.waiting = 1
    history = [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": "🔎 Searching"}]
    return [h[-1]["content"] for h, _, _ in chat.answer(list(history), [], date_from, "")][-1]


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


# ---------------------------------------------------------------- uploads: limits, indexing in the background

ARTICLES = {
    "harbour.txt": "Harbour reopens after storm\nPublished: 2025-11-02 08:00\nCoast Daily\n\n"
    "The harbour at Port Elm reopened on Sunday after a three-day closure caused by the storm. "
    "Harbour master Lena Ortiz said the fishing boats were returning.",
    "ferry.txt": "Ferry fares to rise\nPublished: 2025-10-01 07:00\nCoast Daily\n\n"
    "Island Ferries will raise fares by 5 percent from June. Chief executive Maria Lund said fuel costs had doubled.",
}
WEXBRIDGE = (
    b"Wexbridge council approves record budget\nPublished: 2025-11-28\nWexbridge Courier\n\n"
    b"The town council of Wexbridge approved a budget of 42 million pounds on Tuesday, council leader "
    b"Margaret Thornbury said."
)
ALDERNEY = (
    b"Alderney lighthouse gets a new keeper\nPublished: 2025-11-29\nIsland Post\n\n"
    b"The Alderney lighthouse has a keeper again after twelve years, the island's harbour office said."
)
NOT_MENTIONED = 'No article in the corpus mentions "{}"'
MENTIONED_ONCE = '1 article in the corpus mentions "{}"'


class GatedEmbedder(HashingEmbedder):
    """The hashing embedder, but it embeds only once `gate` is set: a build as slow as the test wants."""

    def __init__(self) -> None:
        super().__init__()
        self.started, self.gate = threading.Event(), threading.Event()

    def encode(self, texts, progress=False):
        self.started.set()
        assert self.gate.wait(30), "the test never let the build go on"
        return super().encode(texts, progress)


class BrokenEmbedder(HashingEmbedder):
    def encode(self, texts, progress=False):
        raise RuntimeError("no space left on the device")


@pytest.fixture
def news_chat(tmp_path):
    """A chat over a two-article index (hashing embedder, scripted model); uploads are built with `builder`."""

    def make(builder=None, limits=None) -> app.NewsChat:
        corpus = write_corpus(tmp_path, ARTICLES)
        build_index(corpus, tmp_path / "index", embedder=HashingEmbedder(), show_progress=False)
        pipeline = Pipeline(tmp_path / "index", local_model=ScriptedModel(), embedder=HashingEmbedder())
        return app.NewsChat(pipeline, corpus, builder or HashingEmbedder(), limits)

    return make


def _ask(chat: app.NewsChat, question: str) -> str:
    """The chat's final answer to the question, as the page would show it (a count: no model read)."""
    _, history, _ = chat.add_question(question, [])
    *_, (history, _, _) = chat.answer(history, [], "", "")
    return app.from_text(history[-1]["content"])


def _upload(chat: app.NewsChat, folder: Path, files: dict[str, bytes], tickets=None):
    """(upload log, this session's tickets, the polling timer) after uploading the files."""
    folder.mkdir(exist_ok=True)
    paths = []
    for name, data in files.items():
        (folder / name).write_bytes(data)
        paths.append(str(folder / name))
    started = time.monotonic()
    shown, _status, _outlets, timer, tickets = chat.upload(paths, tickets or [])
    assert time.monotonic() - started < 5, "the upload waited for the indexing"
    return shown, tickets, timer


def test_the_upload_limits_default_to_20_files_of_20_mb_for_the_chat_and_the_index():
    assert UploadLimits() == UploadLimits(max_files=20, max_file_mb=20.0)
    assert upload_limits_from(app.build_parser().parse_args([])) == UploadLimits()
    assert upload_limits_from(app.build_parser().parse_args(["--max-upload-files", "3"])).max_files == 3
    assert build_parser_of_index().parse_args([]).max_file_mb == 20.0
    with pytest.raises(ValueError, match="must be positive"):
        UploadLimits(max_files=0)


def test_an_upload_over_the_limits_is_refused_with_the_reason_and_nothing_of_it_is_saved(news_chat, tmp_path):
    chat = news_chat(limits=UploadLimits(max_files=2, max_file_mb=0.001))  # 1,000 bytes
    small = {f"small{n}.txt": WEXBRIDGE[:200] for n in range(3)}
    shown, tickets, timer = _upload(chat, tmp_path / "in", small)
    assert shown == (
        "✗ 3 files in one upload: at most 2 files per upload. Nothing was saved; add them in smaller groups."
    )
    assert tickets == [] and not timer.active and not (chat.corpus / "uploads").exists()

    shown, tickets, _ = _upload(chat, tmp_path / "in2", {"big.txt": WEXBRIDGE * 10, "small.txt": WEXBRIDGE[:200]})
    assert f"✗ big.txt: {len(WEXBRIDGE) * 10 / 1e6:.3g} MB, over the 0.001 MB limit per file; not saved" in shown
    assert "✓ small.txt: saved as uploads/small.txt" in shown
    assert sorted(p.name for p in (chat.corpus / "uploads").iterdir()) == ["small.txt"]
    assert chat.indexer.wait(10)


def test_while_an_upload_is_indexed_questions_are_answered_from_the_previous_index(news_chat, tmp_path):
    builder = GatedEmbedder()
    chat = news_chat(builder)
    shown, tickets, timer = _upload(chat, tmp_path / "in", {"wexbridge.txt": WEXBRIDGE})
    assert "✓ wexbridge.txt: saved as uploads/wexbridge.txt" in shown
    assert "Indexing 1 file(s) in the background" in shown and timer.active
    assert builder.started.wait(10)  # the build is under way, held in its embedding

    assert "Indexing 1 uploaded file(s) in the background: reading and embedding" in app.from_text(chat.status())
    assert NOT_MENTIONED.format("Wexbridge") in _ask(chat, "How many articles mention Wexbridge?")
    assert MENTIONED_ONCE.format("Port Elm") in _ask(chat, "How many articles mention Port Elm?")
    still, _, _, timer, waiting = chat.poll(shown, tickets)
    assert still == shown and timer.active and waiting == tickets

    builder.gate.set()
    assert chat.indexer.wait(10)
    assert chat.pipeline.index.article_count == 3  # taken by the builder: no answer was in progress
    done, status, outlets, timer, waiting = chat.poll(shown, tickets)
    assert done.endswith("Indexed: 1 added, 0 updated, 1 chunks embedded.") and not timer.active and waiting == []
    assert "3 articles" in status and "Indexing" not in status and "Wexbridge Courier" in outlets["choices"]
    assert MENTIONED_ONCE.format("Wexbridge") in _ask(chat, "How many articles mention Wexbridge?")


def test_the_new_index_is_taken_between_two_answers_never_during_one(news_chat, tmp_path):
    chat = news_chat()
    _, history, _ = chat.add_question("How many articles mention Wexbridge?", [])
    answering = chat.answer(history, [], "", "")
    next(answering), next(answering)  # the answer has its passages and is being shown: it holds the index
    _upload(chat, tmp_path / "in", {"wexbridge.txt": WEXBRIDGE})
    deadline = time.monotonic() + 10
    while "switching to the new index when the answer in progress ends" not in chat.status():
        assert time.monotonic() < deadline, chat.status()
        time.sleep(0.01)
    assert (chat.pipeline.index_dir / "current").resolve() != chat.pipeline.index.path  # built, not yet taken
    assert chat.pipeline.index.article_count == 2
    *_, (history, _, _) = answering  # the answer in progress ends on the index it began with
    assert NOT_MENTIONED.format("Wexbridge") in app.from_text(history[-1]["content"])
    assert chat.indexer.wait(10) and chat.pipeline.index.article_count == 3
    assert MENTIONED_ONCE.format("Wexbridge") in _ask(chat, "How many articles mention Wexbridge?")


def test_an_upload_during_a_build_is_queued_for_the_next_one_not_lost(news_chat, tmp_path):
    builder = GatedEmbedder()
    chat = news_chat(builder)
    first, tickets, _ = _upload(chat, tmp_path / "in", {"wexbridge.txt": WEXBRIDGE})
    assert builder.started.wait(10)
    second, tickets, _ = _upload(chat, tmp_path / "in2", {"alderney.txt": ALDERNEY}, tickets)
    assert "Indexing 1 file(s) in the background after the build in progress" in second
    assert len(tickets) == 2 and "1 more file(s) queued for the next build" in app.from_text(chat.status())

    builder.gate.set()
    assert chat.indexer.wait(10)
    shown, *_, waiting = chat.poll(second, tickets)
    assert waiting == [] and shown.count("Indexed:") == 2, shown
    for name in ("Wexbridge", "Alderney"):
        assert MENTIONED_ONCE.format(name) in _ask(chat, f"How many articles mention {name}?")


def test_a_failed_build_keeps_the_previous_index_and_says_why(news_chat, tmp_path, caplog):
    chat = news_chat(BrokenEmbedder())
    before = chat.pipeline.index.path
    shown, tickets, _ = _upload(chat, tmp_path / "in", {"wexbridge.txt": WEXBRIDGE})
    assert chat.indexer.wait(10)
    shown, status, *_, waiting = chat.poll(shown, tickets)
    failure = "Indexing failed, the previous index is still in use: no space left on the device"
    assert shown.endswith(f"⚠️ {failure}") and waiting == []
    assert app.from_text(status).endswith(f"⚠️ {failure}")
    assert "no space left on the device" in caplog.text  # with its traceback, for the maintainer
    assert chat.pipeline.index.path == before and (chat.pipeline.index_dir / "current").resolve() == before
    assert NOT_MENTIONED.format("Wexbridge") in _ask(chat, "How many articles mention Wexbridge?")
    assert MENTIONED_ONCE.format("Port Elm") in _ask(chat, "How many articles mention Port Elm?")


def test_the_builder_outlives_a_build_that_breaks_in_an_unforeseen_way(tmp_path):
    from rag.background import BackgroundIndexer

    class Folder:
        index_dir = tmp_path

        def reload(self) -> None:
            raise AssertionError("nothing was built")

    indexer = BackgroundIndexer(Folder(), tmp_path, HashingEmbedder(), build=lambda *args, **kwargs: None)
    first = indexer.submit(["uploads/a.txt"])
    assert indexer.wait(10) and indexer.outcome(first).startswith("⚠️ Indexing failed")
    second = indexer.submit(["uploads/b.txt"])  # a new build starts: the next upload is not stuck behind it
    assert indexer.wait(10) and indexer.outcome(second).startswith("⚠️ Indexing failed")


def test_the_chat_keeps_a_briefings_articles_for_its_follow_ups():
    from rag.briefing import Briefing
    from rag.pipeline import Done

    passage = make_evidence(1, "Talks lasted five hours.", article_id="a.txt")
    briefed = _answer("Talks lasted five hours. [1]", [passage])
    briefed.briefing = Briefing("talks", evidence=briefed.evidence)
    plain = _answer("Talks lasted five hours. [1]", briefed.evidence)
    seen = []

    class RecordingPipeline:
        def stream(self, question, filters=None, history=None, briefing=False, within=()):
            seen.append(within)
            yield Done(briefed if not seen[1:] else plain)

    chat = app.NewsChat(RecordingPipeline(), Path("unused"), "unused")
    within: list[str] = []
    for question in ("What happened in the talks?", "And how long did they last?", "And then?"):
        chat.waiting = 1
        history = [{"role": "user", "content": question}, {"role": "assistant", "content": "🔎 Searching"}]
        *_, (_, _, within) = chat.answer(history, [], "", "", False, within)
    assert seen == [(), ("a.txt",), ("a.txt",)]  # a plain answer to a follow-up keeps the briefing's articles
