"""Questions about the collection itself: counted from the index, never guessed by the model."""

import pytest

from rag.chunking import Chunk, split_sentences
from rag.collection import find_mentions, mentioned_term, mentions_answer, referent, refers_back
from rag.index_store import build_index
from rag.pipeline import Done, Pipeline, Retrieved
from rag.retrieve import Filters


@pytest.mark.parametrize(
    ("question", "term"),
    [
        ("How many articles mention Okafor?", "Okafor"),
        ("which stories mention 'Yuri Ushakov'", "Yuri Ushakov"),
        ("What articles in the corpus mention the Davis Cup?", "the Davis Cup"),
        ("List the reports that name Ofcom.", "Ofcom"),
        ("How many goals did Okafor score?", None),  # a question about content
        ("Which articles are about the talks?", None),  # a topic, for retrieval
        ("How many articles mention what Okafor said about his future at Harton?", None),  # too long a term
    ],
)
def test_mention_questions_and_their_term(question, term):
    assert mentioned_term(question) == term


def chunk(article_id: str, text: str, title: str = "A story", published: str | None = None, start: int = 0) -> Chunk:
    spans = [(s + start, e + start) for s, e in split_sentences(text)]
    end = start + len(text)
    return Chunk(f"{article_id}::{start}", article_id, title, "Outlet", published, start, end, text, spans)


CHUNKS = [
    chunk("a.txt", "Okafor scored twice. Harton won 3-1.", published="2005-01-02"),
    chunk("a.txt", "Later Okafor said he was happy.", published="2005-01-02", start=100),  # same article again
    chunk("b.txt", "The economist at okafor spoke.", published="2005-03-01"),
    chunk("c.txt", "Okafors of the world unite.", published="2005-04-01"),  # another word
    chunk("d.txt", "The captain stays.", title="Okafor to stay", published=None),  # the title only
]


def test_mentions_count_articles_not_chunks_whole_words_any_case_newest_first():
    mentions = find_mentions("Okafor", CHUNKS)
    assert mentions.articles == 3
    assert mentions_answer(mentions).text.startswith('3 articles in the corpus mention "Okafor". "A story"')
    dated = mentions_answer(find_mentions("Okafor", CHUNKS, Filters(date_from="2005-01-01")))
    assert dated.text.startswith('2 articles in the corpus mention "Okafor". Newest first: "A story" (Outlet, 2005-03')
    assert [e.chunk.article_id for e in mentions.evidence] == ["b.txt", "a.txt", "d.txt"]
    assert [e.text for e in mentions.evidence] == [
        "The economist at okafor spoke.",
        "Okafor scored twice.",
        "The captain stays.",  # named in the title: the opening sentence stands for it
    ]


def test_mentions_respect_filters_and_the_listed_cap():
    assert find_mentions("Okafor", CHUNKS, Filters(date_from="2005-02-01")).articles == 1
    capped = find_mentions("Okafor", CHUNKS, shown=1)
    answer = mentions_answer(capped)
    assert answer.text == '3 articles in the corpus mention "Okafor". "A story" (Outlet, 2005-03-01) [1], and 2 more.'
    assert [c.marker for c in answer.citations] == [1] and all(s.supported for s in answer.sentences)


def test_no_mention_says_so_and_how_it_searched():
    answer = mentions_answer(find_mentions("Zorgblatt", CHUNKS))
    assert answer.text.startswith('No article in the corpus mentions "Zorgblatt"') and not answer.citations


@pytest.mark.embedder
def test_the_pipeline_counts_from_the_real_index_without_the_model(tmp_path):
    from conftest import SEEDS

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "seed.txt").write_bytes((SEEDS / "000_34dd6e6ea37e3941.txt").read_bytes())
    (corpus / "rates.txt").write_text("Bank holds rates\n\nThe central bank kept its rate. Putin was not mentioned.")
    (corpus / "football.txt").write_text("Rovers win derby\n\nRovers beat United 3-1 on Saturday.")
    build_index(corpus, tmp_path / "index", show_progress=False)
    pipeline = Pipeline(tmp_path / "index")
    events = list(pipeline.stream("How many articles mention Putin?"))
    assert isinstance(events[0], Retrieved) and isinstance(events[-1], Done)
    answer = events[-1].answer
    assert answer.text.startswith('2 articles in the corpus mention "Putin".') and not answer.abstained
    assert {c.evidence.chunk.article_id for c in answer.citations} == {"seed.txt", "rates.txt"}
    assert all("Putin" in c.quote for c in answer.citations)
    assert pipeline._model is None  # counted, not generated: the model was never loaded

    # A follow-up in the chat: "him" is the person of the last exchange, not the word "him".
    history = [("What did Putin say about Europe?", "Putin says Europe is trying to block the peace plan. [1]")]
    follow_up = pipeline.answer("How many articles mention him?", history=history)
    assert follow_up.text.startswith('2 articles in the corpus mention "Putin".')
    assert pipeline._model is None  # no rewrite by the model either


@pytest.mark.parametrize(
    ("history", "meant"),
    [
        ([("What did Ushakov say about compromise?", "Yuri Ushakov said it was not found. [1]")], "Ushakov"),
        ([("Who heads the European Commission?", "Ursula von der Leyen is its president. [1]")], "von der Leyen"),
        ([("Who is Trump's envoy?", "Steve Witkoff is Trump's special envoy. [1]")], "Witkoff"),
        ([("What happened at the Davis Cup final?", "Spain won it. [1]")], "Davis Cup"),
        ([("what happened next?", "talks went on. [1]")], None),
        ([], None),
    ],
)
def test_a_pronoun_in_a_mention_question_is_the_name_from_the_last_exchange(history, meant):
    assert refers_back("him") and refers_back("It") and not refers_back("Okafor")
    assert referent(history) == meant
