"""Coverage: a passage may answer only a question whose specific terms it holds (rag.coverage).

Hand-made articles, each stating a fact for one person, year, place or thing; a question about the same
fact for another one is not covered by that article, and the pipeline refuses it without reading.
"""

import pytest
from test_retrieve import index_of

from rag.config import ReadingSettings
from rag.pipeline import COVER_MIN, Pipeline
from rag.retrieve import Retriever

pytestmark = pytest.mark.embedder  # the articles are indexed with the real embedder (test_retrieve.index_of)

ARTICLES = {
    "pay.txt": "Bank boss paid more\n\n"
    "Meridian Bank chief executive Laura Pike was paid a salary of £2.1m last year, the annual report shows. "
    "The bank employs 8,000 people.",
    "hire.txt": "Rival hires finance chief\n\nOwen Marsh will join Calder Bank as finance director in May, the "
    "bank said. He spent ten years at an accounting firm.",
    "profits.txt": "Carver Motors profits rise\n\n"
    "Carver Motors said its profits rose to $310m in 2004, helped by strong sales of its small cars. "
    "The company expects growth to slow in 2005 as steel prices climb.",
    "plant.txt": "Factory to close in Bristol\n\n"
    "Dunmore Foods will close its biscuit factory in Bristol with the loss of 240 jobs. "
    "The plant has made biscuits since 1962. Unions called the decision a betrayal of loyal staff.",
    "energy.txt": "Europe cuts Russian coal\n\n"
    "Coal imports from Russia fell from 45 percent of the total to zero within two years, the commission "
    "said. Officials praised the speed of the switch to other suppliers.",
    "weather.txt": "Storms hit the coast\n\nHeavy storms closed roads along the coast on Monday. Ferries were "
    "cancelled and thousands of homes lost power for several hours.",
    "football.txt": "Rovers win derby\n\nRovers beat United 3-1 on Saturday. Manager Tom Reed said the team "
    "showed spirit and deserved the points.",
    # What a real archive holds besides: the words of the nearby questions, said of other things.
    "brief.txt": "News in brief\n\nA gas leak closed two streets in Leeds on Friday. The club will go to "
    "the cup final.",
}


@pytest.fixture(scope="module")
def retriever(tmp_path_factory):
    return Retriever(index_of(tmp_path_factory.mktemp("coverage"), ARTICLES))


@pytest.mark.parametrize(
    "kind, covered, nearby, article",
    [
        ("person", "What salary was Laura Pike paid?", "What salary is Owen Marsh paid?", "pay.txt"),
        ("organisation", "What were the profits of Carver Motors in 2004?",
         "What were the profits of Halden Trucks in 2004?", "profits.txt"),
        ("year", "What were Carver Motors' profits in 2004?", "What were Carver Motors' profits in 2001?",
         "profits.txt"),
        ("place and thing", "How many jobs go at the Dunmore biscuit factory in Bristol?",
         "How many jobs go at the Dunmore gas works in Leeds?", "plant.txt"),
    ],
)  # fmt: skip
def test_a_question_is_covered_by_the_article_of_its_fact_not_by_that_of_a_nearby_one(
    retriever, kind, covered, nearby, article
):
    chunk = next(c for c in retriever.chunks if c.article_id == article)
    assert retriever.cover(covered, chunk).enough(COVER_MIN), kind
    assert not retriever.cover(nearby, chunk).enough(COVER_MIN), kind
    assert retriever.cover(nearby, chunk).missing, kind  # the lacking term is named, heaviest first


def test_one_common_word_swapped_still_covers_the_rest_is_left_to_the_check(retriever):
    """Coverage weighs the question's terms: a question that keeps the heavy ones and swaps one ordinary
    word ("gas" for "coal") is still covered; the model and the check decide it."""
    chunk = next(c for c in retriever.chunks if c.article_id == "energy.txt")
    cover = retriever.cover("By how much did gas imports from Russia fall?", chunk)
    assert cover.missing == ("gas",) and cover.enough(COVER_MIN)


def test_common_words_weigh_little_and_names_much(retriever):
    from rag.retrieve import bm25_terms

    terms = retriever.terms
    [[name]] = bm25_terms(["Dunmore"])
    [[common]] = bm25_terms(["said"])
    assert terms.weight(name) > terms.weight(common)
    assert terms.weight("zzzunknown") >= terms.weight(name)  # a term in no chunk weighs most


def test_function_words_of_a_question_need_not_stand_in_the_passage(retriever):
    """Words that only frame the question ("between", "other", "during") pin nothing down."""
    chunk = next(c for c in retriever.chunks if c.article_id == "football.txt")
    framed = "What did Tom Reed say about the team during the derby between Rovers and the other club?"
    cover = retriever.cover(framed, chunk)
    assert cover.missing == ("club",) and cover.enough(COVER_MIN)


def test_a_word_no_article_uses_counts_only_as_a_name_or_number(retriever):
    """An ordinary word the archive never uses is the question's own wording; a name it never mentions
    is something it cannot answer about."""
    chunk = next(c for c in retriever.chunks if c.article_id == "plant.txt")
    worded = retriever.cover("How many workers does Dunmore lose with the biscuit factory shutdown in Bristol?", chunk)
    assert worded.enough(COVER_MIN) and "shutdown" not in worded.missing
    named = retriever.cover("How many jobs go at the Dunmore factory in Swindon, Wiltshire?", chunk)
    assert not named.enough(COVER_MIN) and "swindon" in named.missing


class RecordingModel:
    """Counts the prompts the pipeline sends; replies with the best passage's first sentence."""

    context_tokens = 4096

    def __init__(self) -> None:
        self.prompts = 0

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def first_token(self, text: str) -> int:
        return hash(text) % 1000

    def stream_chat(self, messages, max_tokens=160, logits_processor=None, **_):
        self.prompts += 1
        yield "NOT IN ARTICLES"


def test_a_question_no_passage_covers_is_refused_without_reading(tmp_path):
    index = index_of(tmp_path, ARTICLES)
    model = RecordingModel()
    pipeline = Pipeline(tmp_path / "index", local_model=model)
    answer = pipeline.answer("How much did gas imports from Norway rise in 2003?")
    assert answer.abstained and model.prompts == 0
    assert "mentions" in answer.text and index.chunks
    off = Pipeline(tmp_path / "index", local_model=model, settings=ReadingSettings(rules_off={"coverage"}))
    assert off.answer("How much did gas imports from Norway rise in 2003?").abstained and model.prompts > 0
