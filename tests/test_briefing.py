"""Briefings (rag.briefing) over hand-made dated articles from several outlets, with real FAISS and BM25 and
the hashing stand-in embedder: the mode chosen from the question or the toggle, one fact from two outlets
grouped, date order, a disagreement shown with both sources, nothing invented."""

import re

import pytest
from fakes import HashingEmbedder, ScriptedModel, write_corpus

from rag.briefing import brief, display_date, is_briefing, topic_of
from rag.index_store import build_index, load_index
from rag.pipeline import Pipeline
from rag.retrieve import Retriever

ARTICLES = {
    "strike-1.txt": "Dockers strike at Port Varn\nPublished: 2025-03-03\nSource: Coastal Wire\n\n"
    "About 3,200 dockers at Port Varn walked out on Monday over pay. "
    "Union leader Mara Olsen said the Port Varn dockers wanted a 9% rise.",
    "strike-2.txt": "Port Varn strike enters second week\nPublished: 2025-03-10\nSource: Metro Daily\n\n"
    "About 4,800 dockers at Port Varn walked out on Monday over pay. "
    "Talks at Port Varn between the union and the port owners failed on Sunday night.",
    "strike-3.txt": "Port Varn strike over\nPublished: 2025-03-20\nSource: Valley Post\n\n"
    "The Port Varn strike ended on Thursday after the dockers accepted a 7% pay rise from the owners.",
    "strike-4.txt": "Deal ends Port Varn walkout\nPublished: 2025-03-21\nSource: Coastal Wire\n\n"
    "The Port Varn strike ended on Thursday after dockers accepted a 7% pay rise from the owners.",
    "bakers.txt": "Eastbrook bakers walk out\nPublished: 2025-03-04\nSource: Valley Post\n\n"
    "Union leader Tom Reed said the Eastbrook bakers wanted a 9% rise.",
    "bakery.txt": "New bakery opens in Eastbrook\nPublished: 2025-03-05\nSource: Metro Daily\n\n"
    "A family bakery opened on the high street of Eastbrook on Saturday, selling rye bread and cakes.",
}


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    folder = tmp_path_factory.mktemp("briefing")
    corpus = write_corpus(folder, ARTICLES)
    build_index(corpus, folder / "index", embedder=HashingEmbedder(), show_progress=False)
    return folder / "index"


@pytest.fixture(scope="module")
def retriever(index):
    return Retriever(load_index(index), HashingEmbedder())


def cited_articles(briefing, bullet):
    return {e.chunk.article_id for e in briefing.evidence if e.number in bullet.markers}


@pytest.mark.parametrize(
    "question, briefing",
    [
        ("What happened to the Port Varn strike?", True),
        ("Summarize what the articles say about the Port Varn strike", True),
        ("What's the latest on the Port Varn strike?", True),
        ("Give me a timeline of the Port Varn strike", True),
        ("How did the Port Varn strike develop?", True),
        ("Background on the dockers' pay dispute", True),
        ("How many dockers walked out at Port Varn?", False),
        ("Who leads the dockers' union?", False),
        ("Did the dockers accept a pay rise?", False),
        ("What is the latest figure for dockers' pay at Port Varn?", False),
        ("Who gave a summary statement for the union?", False),
        ("What is the background of the union leader?", False),
        ("What's the latest?", True),
        ("Give me a summary of the Port Varn strike", True),
    ],
)
def test_the_mode_is_chosen_from_the_question(question, briefing):
    assert is_briefing(question) is briefing


def test_the_topic_is_the_question_without_its_framing_words():
    assert topic_of("What happened to the Port Varn strike?") == "Port Varn strike"
    assert topic_of("Give me a timeline of the Port Varn strike") == "Port Varn strike"
    assert display_date("2025-03-03") == "3 Mar 2025" and display_date(None) == ""


def test_one_fact_from_two_outlets_is_one_bullet_citing_both(retriever):
    briefing = brief(retriever, "What happened to the Port Varn strike?")
    ended = [b for b in briefing.bullets if "ended on Thursday" in b.text]
    assert len(ended) == 1, briefing.text
    assert cited_articles(briefing, ended[0]) == {"strike-3.txt", "strike-4.txt"}
    assert ended[0].text.startswith("20 Mar 2025 - ")  # dated by its first report


def test_bullets_are_dated_in_order_newest_last_and_latest_first_with_as_of(retriever):
    briefing = brief(retriever, "Give me a timeline of the Port Varn strike")
    dates = [b.fact.date for b in briefing.bullets]
    assert len(briefing.bullets) >= 3 and dates == sorted(dates), briefing.text
    latest = brief(retriever, "What's the latest on the Port Varn strike?")
    dates = [b.fact.date for b in latest.bullets]
    assert dates == sorted(dates, reverse=True) and latest.as_of == "2025-03-21"
    assert latest.text.startswith("As of 21 Mar 2025:")


def test_two_outlets_giving_different_figures_are_shown_with_both_citations(retriever):
    briefing = brief(retriever, "What happened to the Port Varn strike?")
    differ = [b for b in briefing.bullets if b.text.split(" - ")[-1].startswith("Sources differ")]
    assert len(differ) == 1, briefing.text
    text = differ[0].text
    assert "Coastal Wire [" in text and "Metro Daily [" in text and "3,200" in text and "4,800" in text
    assert cited_articles(briefing, differ[0]) == {"strike-1.txt", "strike-2.txt"}


def test_every_bullet_quotes_a_sentence_of_an_article_about_the_topic(retriever):
    briefing = brief(retriever, "Summarize the Port Varn strike")
    assert briefing.bullets
    for bullet in briefing.bullets:
        assert "bakery.txt" not in cited_articles(briefing, bullet)
        for statement in bullet.fact.statements:  # each source's own sentence, where its offsets say
            start, end = statement.span
            assert ARTICLES[statement.article_id].split("\n\n", 1)[1][start:end] == statement.text
        assert bullet.fact.statements[0].text in bullet.text  # the bullet quotes the best of them


def test_the_pipeline_briefs_from_the_question_or_the_toggle_without_the_model(index):
    model = ScriptedModel()  # no replies: a briefing never asks the model
    pipeline = Pipeline(index, local_model=model, embedder=HashingEmbedder())
    for answer in (
        pipeline.answer("What happened to the Port Varn strike?"),
        pipeline.answer("the Port Varn strike", briefing=True),
    ):
        assert not answer.abstained and answer.text.count("\n- ") >= 2
        assert answer.sentences and all(s.supported for s in answer.sentences)
        assert {c.evidence.chunk.article_id for c in answer.citations} >= {"strike-3.txt", "strike-4.txt"}
        assert all(c.quote in c.evidence.chunk.text for c in answer.citations)
    assert model.prompts == []
    nothing = pipeline.answer("What happened to the Zanzibar ferry?")
    assert nothing.abstained and "Zanzibar ferry" in nothing.text


def test_two_sentences_alike_in_meaning_are_one_fact_only_when_they_share_their_words():
    import numpy as np

    from rag.briefing import Statement, group
    from rag.chunking import Chunk
    from rag.keywords import bm25_terms

    same = np.ones(4, dtype=np.float32) / 2  # as alike as vectors can be: only the words decide

    def statement(article, text):
        chunk = Chunk(f"{article}::0", article, "T", "Outlet", "2025-01-01", 0, len(text), text, [(0, len(text))])
        return Statement(chunk, (0, len(text)), text, 1.0, frozenset(bm25_terms([text])[0]), same)

    announced = statement("a.txt", "The agency will launch the Skerrow satellite on 12 September, it said on Tuesday.")
    done = statement("b.txt", "The agency's Skerrow satellite was launched on Tuesday, four days late.")
    assert len(group([announced, done])) == 2
    one = statement("c.txt", "About 3,200 dockers at Port Varn walked out on Monday over pay.")
    other = statement("d.txt", "About 4,800 dockers at Port Varn walked out on Monday over pay.")
    [fact] = group([one, other])
    assert fact.conflict() == (one, other)


def test_a_fact_restating_half_the_words_of_a_chosen_bullet_is_left_out():
    import numpy as np

    from rag.briefing import Fact, Statement, choose
    from rag.chunking import Chunk
    from rag.keywords import bm25_terms

    def fact(article, text, score, axis):
        vector = np.zeros(4, dtype=np.float32)
        vector[axis] = 1.0  # unlike every other: only the words can tell a restatement
        chunk = Chunk(f"{article}::0", article, "T", "Outlet", None, 0, len(text), text, [(0, len(text))])
        return Fact([Statement(chunk, (0, len(text)), text, score, frozenset(bm25_terms([text])[0]), vector)])

    lede = fact("a.txt", "Port Varn dockers on strike over pay walked out on Monday.", 1.0, 0)
    again = fact("b.txt", "Port Varn dockers on strike over pay met the owners on Monday.", 0.9, 1)
    news = fact("c.txt", "Union leader Mara Olsen asked for a 9% rise.", 0.5, 2)
    assert choose([lede, again, news], latest=False) == [lede, news]
    # The story's own words are in every bullet: sharing them is no repetition.
    walked = fact("d.txt", "Port Varn dockers at the Eastquay docks on Harbour Street walked out on Monday.", 1.0, 0)
    ended = fact("e.txt", "Port Varn dockers at the Eastquay docks on Harbour Street accepted 7% on Thursday.", 0.9, 1)
    assert choose([walked, ended], latest=False) == [walked]
    story = "the Port Varn dockers at Eastquay docks on Harbour Street"
    assert choose([walked, ended], latest=False, topic=story) == [walked, ended]


def test_the_chat_renders_a_briefing_as_a_list_with_linked_markers(index):
    import app

    pipeline = Pipeline(index, local_model=ScriptedModel(), embedder=HashingEmbedder())
    answer = pipeline.answer("What's the latest on the Port Varn strike?")
    shown = app.render_answer(answer).splitlines()
    assert app.from_text(shown[0]) == "As of 21 Mar 2025:"
    items = [line for line in shown if line.startswith("- ")]
    assert len(items) == len(answer.briefing.bullets) >= 2
    assert all(re.search(r"\[\[\d+\]\]\(#src-\d+\)", item) for item in items)


def test_a_cited_passage_holds_every_sentence_it_is_cited_for_even_far_apart_in_its_article(tmp_path):
    filler = " ".join(f"The harbour master logged ship number {n} on the quay." for n in range(1, 15))
    long = (
        "Port Varn strike diary\nPublished: 2025-03-12\nSource: Metro Daily\n\n"
        "The Port Varn strike closed the container terminal on Monday. "
        + filler
        + " The Port Varn strike cost the port owners 2 million euros by Friday."
    )
    corpus = write_corpus(tmp_path, {"diary.txt": long})
    build_index(corpus, tmp_path / "index", embedder=HashingEmbedder(), show_progress=False)
    retriever = Retriever(load_index(tmp_path / "index"), HashingEmbedder())
    briefing = brief(retriever, "What happened to the Port Varn strike?")
    texts = [s.text for b in briefing.bullets for s in b.fact.statements]
    assert any("closed the container terminal" in t for t in texts) and any("2 million" in t for t in texts)
    numbers = {e.number: e for e in briefing.evidence}
    for bullet in briefing.bullets:
        for statement, marker in zip(bullet.fact.statements, bullet.markers, strict=True):
            assert statement.text in numbers[marker].text  # the card shows the sentence it is cited for
    assert len(briefing.evidence) == 2  # one article, two passages: its sentences lie chunks apart


def test_each_source_card_of_a_briefing_names_the_bullets_it_supports(index):
    import app

    pipeline = Pipeline(index, local_model=ScriptedModel(), embedder=HashingEmbedder())
    answer = pipeline.answer("Give me a timeline of the Port Varn strike")
    cards = app.render_sources(answer)
    for position, bullet in enumerate(answer.briefing.bullets, start=1):
        for marker in bullet.markers:
            card = cards.split(f"id='src-{marker}'")[1].split("<div class='src-text'>")[0]
            assert re.search(rf"bullets? [\d, ]*\b{position}\b", card), card


def test_a_follow_up_to_a_briefing_reads_its_articles_first_and_the_archive_when_they_do_not_cover_it(index):
    from fakes import Reply

    first = Pipeline(index, local_model=ScriptedModel(), embedder=HashingEmbedder()).answer(
        "What happened to the Port Varn strike?"
    )
    within = first.briefing_articles
    assert within and not {"bakers.txt", "bakery.txt"} & set(within)
    history = [("What happened to the Port Varn strike?", first.text)]
    standalone = "What did the union leader say the workers wanted?"  # the follow-up as the model rewrites it
    model = ScriptedModel(
        standalone,
        Reply("The union leader said they wanted a 9% rise. [1]"),
        standalone,
        Reply("The union leader said they wanted a 9% rise. [1]"),
        "Which bakery opened in Eastbrook?",
        Reply("A family bakery opened on the high street of Eastbrook. [1]"),
    )
    pipeline = Pipeline(index, local_model=model, embedder=HashingEmbedder())
    anywhere = pipeline.answer("And what did the union want?", history=history)
    assert "bakers.txt" in {e.chunk.article_id for e in anywhere.evidence}  # another strike's union covers it too
    narrowed = pipeline.answer("And what did the union want?", history=history, within=within)
    assert narrowed.evidence and {e.chunk.article_id for e in narrowed.evidence} <= set(within)
    wider = pipeline.answer("And the bakery?", history=history, within=within)  # nothing in them covers it
    assert "bakery.txt" in {e.chunk.article_id for e in wider.evidence}


@pytest.mark.parametrize(
    "sentence, stated",
    [
        ("The bridge was closed on 14 January 2024 after cracks were found.", "2024-01-14"),
        ("Engineers said in March 2024 that repairs would cost 4 million euros.", "2024-03"),
        ("Tolls were cut on February 3, 2024, the council said.", "2024-02-03"),
        ("The bridge closed on 2 May and stayed shut.", "2024-05-02"),  # a day without its year: the article's
        ("The council, which bought the bridge in March 1998, said on Monday that tolls would end.", None),
        ("Yesterday the mayor recalled the floods of 12 June 2019.", None),  # a relative day: the article's news
        ("The bridge will be inspected again on 3 October 2024.", None),  # after publication: a plan
        ("The bridge, built in 1932, carries 9,000 cars a day.", None),  # a year alone
        ("About 3,200 cars crossed it on 31 February.", None),
        ("Cars sold between March 2023 and October 2023 are recalled.", None),  # a range: when they were sold
        ("Lawyers have until 21 March to appeal.", None),
    ],
)
def test_a_sentence_states_a_date_when_it_names_one_before_its_publication(sentence, stated):
    from rag.briefing import stated_date

    assert stated_date(sentence, "2024-06-20") == stated


BRIDGE = {
    "bridge-1.txt": "Lanmere bridge reopens\nPublished: 2025-05-02\nSource: Coastal Wire\n\n"
    "The Lanmere bridge reopened to traffic on Thursday after four months of repairs.",
    "bridge-2.txt": "Looking back at the Lanmere bridge\nPublished: 2025-06-10\nSource: Metro Daily\n\n"
    "The Lanmere bridge was first closed on 14 January 2025 after cracks were found in a pier.",
    "bridge-3.txt": "Repair bill for Lanmere bridge\nPublished: 2025-04-01\nSource: Valley Post\n\n"
    "Engineers said in March 2025 that the Lanmere bridge repairs would cost 4 million euros.",
    "bridge-4.txt": "Tolls to end on Lanmere bridge\nPublished: 2025-07-01\nSource: Coastal Wire\n\n"
    "The council, which bought the Lanmere bridge in March 1998, said on Monday that its tolls would end.",
    "bridge-5.txt": "Lanmere bridge inspections\nPublished: 2025-02-01\nSource: Metro Daily\n\n"
    "The Lanmere bridge will be inspected again by divers on 3 October 2025.",
}


def test_a_date_a_sentence_states_orders_and_dates_its_bullet(tmp_path):
    corpus = write_corpus(tmp_path, BRIDGE)
    build_index(corpus, tmp_path / "index", embedder=HashingEmbedder(), show_progress=False)
    retriever = Retriever(load_index(tmp_path / "index"), HashingEmbedder())
    briefing = brief(retriever, "Give me a timeline of the Lanmere bridge")
    order = [b.fact.statements[0].article_id for b in briefing.bullets]
    assert order == ["bridge-2.txt", "bridge-5.txt", "bridge-3.txt", "bridge-1.txt", "bridge-4.txt"], briefing.text
    shown = [b.text.split(" - ")[0] for b in briefing.bullets]
    assert shown == ["14 Jan 2025", "1 Feb 2025", "Mar 2025", "2 May 2025", "1 Jul 2025"], briefing.text
    latest = brief(retriever, "What's the latest on the Lanmere bridge?")
    assert [b.fact.statements[0].article_id for b in latest.bullets] == order[::-1]
    assert latest.as_of == "2025-07-01"  # how recent the newest source is, not the newest date it states


def test_a_bullet_whose_sentence_fails_the_citation_check_is_dropped_and_a_failing_source_not_cited(retriever):
    from rag.briefing import choose, gather, group, topic_of, write

    topic = topic_of("What happened to the Port Varn strike?")
    facts = choose(group(gather(retriever, topic)), latest=False)
    pair = next(f for f in facts if len(f.statements) == 2)  # one fact from two outlets
    alone = next(f for f in facts if len(f.statements) == 1)
    pair.statements[1].text = "The Port Varn strike ended after the owners paid 9 million euros."  # not there
    alone.statements[0].text = "The Port Varn dockers were all dismissed on Friday."
    briefing = write(facts, latest=False, topic=topic)
    assert len(briefing.bullets) == len(facts) - 1, briefing.text
    assert "dismissed" not in briefing.text and "9 million" not in briefing.text
    [kept] = [b for b in briefing.bullets if b.fact is pair]
    numbers = [e.number for e in briefing.evidence]
    assert len(kept.markers) == 1 and numbers == list(range(1, len(numbers) + 1))


def test_a_bullet_is_on_topic_as_judged_and_by_its_listed_articles_where_unjudged(retriever):
    from rag.eval.briefings import score_topic

    briefing = brief(retriever, "What happened to the Port Varn strike?")
    first, second = briefing.bullets[0], briefing.bullets[1]
    listed = sorted(cited_articles(briefing, first))
    item = {"id": "t", "articles": listed, "key_facts": [{"answers": ["7%"]}]}
    judged = {("t", first.fact.statements[0].text): False, ("t", second.fact.statements[0].text): True}
    record = score_topic(item, briefing, {}, judged)
    others_listed = sum(bool(cited_articles(briefing, b) & set(listed)) for b in briefing.bullets[2:])
    assert record["on_topic_listed"] == 1 + int(bool(cited_articles(briefing, second) & set(listed))) + others_listed
    assert record["on_topic"] == 1 + others_listed  # the first judged off, the second on, the rest by their articles
    assert record["unjudged"] == len(briefing.bullets) - 2
    assert record["facts_stated"] == 1


def test_a_sentence_opening_with_the_previous_ones_closing_quote_is_quoted_without_it():
    from rag.briefing import _without_stray_quote
    from rag.chunking import split_sentences

    text = 'Mara Olsen said: "Talks failed. "It is very hard." She added: "The dockers want a 9% rise. "Or more."'
    spans = split_sentences(text)
    added = next(span for span in spans if "She added" in text[span[0] : span[1]])
    span, sentence = _without_stray_quote(added, text[added[0] : added[1]])
    assert sentence.startswith("She added") and text[span[0] : span[1]] == sentence
    assert _without_stray_quote((0, 12), '"Or more."  ') == ((0, 12), '"Or more."  ')  # an opening quote stays
