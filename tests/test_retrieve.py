"""Retrieval with the real embedder, BM25 and FAISS index."""

import pytest

from rag.config import RetrievalWeights
from rag.index_store import build_index, load_index
from rag.retrieve import Filters, Retriever

pytestmark = pytest.mark.embedder  # retrieval as it is: the real embedder's dense scores


def index_of(folder, articles: dict[str, str], with_seed: bool = False):
    """Write the articles (file name -> text) into folder/corpus, index them into folder/index, load it."""
    corpus = folder / "corpus"
    corpus.mkdir()
    if with_seed:
        from conftest import SEEDS

        (corpus / "seed.txt").write_bytes((SEEDS / "000_34dd6e6ea37e3941.txt").read_bytes())
    for name, text in articles.items():
        (corpus / name).write_text(text)
    build_index(corpus, folder / "index", show_progress=False)
    return load_index(folder / "index")


@pytest.fixture(scope="module")
def mixed_index(tmp_path_factory):
    articles = {
        "rates.txt": "Bank holds rates\n發佈日期: 2024-05-02 09:00\nExample Times\n\n"
        "The central bank kept its main rate at 5.25% on Thursday. Governor Ana Silva said inflation was easing.",
        "football.txt": "Rovers win derby\n\n"
        "Rovers beat United 3-1 on Saturday. Manager Tom Reed said the team showed spirit.",
    }
    return index_of(tmp_path_factory.mktemp("mixed"), articles, with_seed=True)


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_each_mode_finds_the_answer_bearing_passage(mixed_index, mode):
    retriever = Retriever(mixed_index, mode=mode)
    [top] = retriever.search("What interest rate did the central bank keep?", k=1)
    assert top.chunk.article_id == "rates.txt" and "5.25%" in top.chunk.text


def test_who_said_what_finds_the_speaker_passage(mixed_index):
    retriever = Retriever(mixed_index)
    assert "ushakov" in retriever.speakers_in("what did Ushakov say about compromise")
    top = retriever.search("what did Ushakov say about compromise", k=1)[0]
    assert "compromise hasn't been found" in top.chunk.text and top.speakers == ["Yuri Ushakov"]


def test_fusion_rewards_agreement_of_both_rankings(mixed_index):
    passages = Retriever(mixed_index).search("Rovers United score Saturday", k=3)
    top = passages[0]
    assert top.chunk.article_id == "football.txt" and top.dense > 0 and top.keyword > 0
    # First in both rankings and holding the best sentence: the highest possible fused score.
    assert top.score == pytest.approx(1.0 + RetrievalWeights().sentence_weight)
    assert all(p.score < top.score for p in passages[1:])
    assert len(top.sentence_scores) == len(top.chunk.sentences)
    rrf = Retriever(mixed_index, mode="rrf").search("Rovers United score Saturday", k=1)[0]
    assert rrf.chunk.article_id == "football.txt" and rrf.score == pytest.approx(2 / (RetrievalWeights().rrf_k + 1))


def test_filters_restrict_outlet_and_dates(mixed_index):
    retriever = Retriever(mixed_index)
    only_tvb = retriever.search("interest rate", k=5, filters=Filters(sources=("TVB News",)))
    assert only_tvb and {p.chunk.source for p in only_tvb} == {"TVB News"}
    may_2024 = retriever.search("interest rate", k=5, filters=Filters(date_from="2024-05-01", date_to="2024-05-31"))
    assert {p.chunk.article_id for p in may_2024} == {"rates.txt"}
    assert retriever.search("interest rate", k=5, filters=Filters(date_from="2030-01-01")) == []


def test_empty_question_retrieves_nothing(mixed_index):
    assert Retriever(mixed_index).search("   ", k=3) == []


def test_speakers_found_in_lowercase_and_headline_questions(mixed_index):
    retriever = Retriever(mixed_index)
    assert retriever.speakers_in("what did ushakov say about compromise") == {"ushakov"}
    assert retriever.speakers_in("Ushakov on compromise?") == {"ushakov"}
    assert retriever.speakers_in("ushakov on compromise?") == {"ushakov"}
    # A topic after "on" is not a speaker, and a question about someone is not about their words.
    assert retriever.speakers_in("what did yuri ushakov say") == {"yuri", "ushakov"}
    assert retriever.speakers_in("What is the latest news on Ushakov?") == set()
    assert retriever.speakers_in("Where is Ushakov?") == set()


@pytest.fixture(scope="module")
def two_outlets_index(tmp_path_factory):
    """The same story from two outlets, differing only in the figure each reports; other outlets' stories."""
    articles = {
        "wire.txt": "Ministers agree fishing deal\n發佈日期: 2024-03-01 10:00\nReuters\n\n"
        "EU ministers agreed a new fishing deal after talks in Brussels. "
        "The deal cuts cod quotas by 10 percent, officials said.",
        "herald.txt": "Fishing deal agreed by ministers\n發佈日期: 2024-03-01 11:00\nCoast Herald\n\n"
        "EU ministers reached a fishing agreement in Brussels on Friday. "
        "Cod quotas fall by 12 percent under the deal, fishermen's leaders said.",
        "storm.txt": "Storm closes port\n發佈日期: 2024-03-02 08:00\nTVB News\n\n"
        "A storm closed the harbour for two days.",
        "herald.md": "---\ntitle: Harbour reopens\ndate: 2024-03-04\nsource: The Herald\n---\n"
        "The harbour reopened on Monday.",
        "times.txt": "Theatre reopens\n發佈日期: 2024-03-03 08:00\nThe Times\n\n"
        "The old theatre reopened after repairs.",
    }
    return index_of(tmp_path_factory.mktemp("outlets"), articles)


@pytest.mark.parametrize(("outlet", "article"), [("Reuters", "wire.txt"), ("the Coast Herald", "herald.txt")])
def test_a_question_naming_the_outlet_finds_that_outlets_article(two_outlets_index, outlet, article):
    # The outlet is metadata, not article text: it reaches retrieval only through the embedded text.
    [top] = Retriever(two_outlets_index).search(f"What did {outlet} report about the cod quota cut?", k=1)
    assert top.chunk.article_id == article


@pytest.mark.parametrize(
    ("question", "named"),
    [
        ("What did the Coast Herald say about cod?", {"Coast Herald"}),
        ("what did tvb say about the storm", {"TVB News"}),  # an acronym of the name; any case when all lowercase
        ("When was the TVB report published?", {"TVB News"}),
        ("What did The Times say about the theatre?", {"The Times"}),
        ("How many times did ministers meet?", set()),  # capitalised words only, unless all lowercase
        ("Any news on the fishing deal?", set()),  # "News" alone is no outlet's name
        ("What did Reuters and the Coast Herald report?", {"Reuters", "Coast Herald"}),
        ("What did The Herald report about the harbour?", {"The Herald"}),
        ("What did the Coast Herald report?", {"Coast Herald"}),  # not also "The Herald"
        ("How much did Reuters save in 2004?", set()),  # the company as the subject, not as the source
    ],
)
def test_outlets_named_in_a_question(two_outlets_index, question, named):
    assert Retriever(two_outlets_index).outlets_in(question) == named


@pytest.mark.parametrize("newer", ["five", "seven"])
def test_asking_for_the_latest_prefers_the_newer_of_two_versions_of_a_story(tmp_path, newer):
    days = {"five": "01", "seven": "05"} if newer == "seven" else {"five": "05", "seven": "01"}
    versions = {
        f"{hours}.txt": f"Talks end in Moscow\nPublished: 2025-12-{day} 10:00\nWire\n\n"
        f"The talks in Moscow lasted {hours} hours, officials said. No deal was reached."
        for hours, day in days.items()
    }
    # Other stories, as in any real corpus: scores are scaled within a question's candidates, and with
    # only the two versions a hair's difference in wording would span the whole scale.
    others = {
        "rates.txt": "Bank holds rates\n\nThe central bank kept its main rate at 5.25% on Thursday.",
        "derby.txt": "Rovers win derby\n\nRovers beat United 3-1 on Saturday in a long match.",
    }
    retriever = Retriever(index_of(tmp_path, versions | others, with_seed=True))
    [top] = retriever.search("What is the latest on how long the Moscow talks lasted?", k=1)
    assert top.chunk.article_id == f"{newer}.txt"
