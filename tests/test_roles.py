"""Roles linked to people at index time (rag.roles), on short hand-written articles."""

import pytest

from rag.chunking import split_sentences
from rag.roles import Role, extract_roles, role_line


def roles_of(text: str) -> list[tuple[str, str]]:
    """(person, role) pairs; every role's offsets must point at its words in the text."""
    found = extract_roles(text, split_sentences(text))
    for role in found:
        assert text[role.start : role.end] == role.role
    return [(r.person, r.role) for r in found]


# Shape 1: a title or role noun phrase right before the name.
@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("NATO Secretary-General Mark Rutte said the talks were going on.", ("Mark Rutte", "NATO Secretary-General")),
        (
            "Electrolux chief executive Hans Straberg warned of job cuts.",
            ("Hans Straberg", "Electrolux chief executive"),
        ),
        ("Chancellor Gordon Brown will deliver the budget next week.", ("Gordon Brown", "Chancellor")),
        ("The charity is backed by former US President Bill Clinton.", ("Bill Clinton", "former US President")),
        ("Arsenal manager Arsene Wenger was furious after the match.", ("Arsene Wenger", "Arsenal manager")),
        (
            "They met Putin's foreign policy advisor Yuri Ushakov on Tuesday.",
            ("Yuri Ushakov", "Putin's foreign policy advisor"),
        ),
    ],
)
def test_a_role_phrase_right_before_a_name_is_that_persons_role(sentence, expected):
    text = sentence + " The meeting lasted two hours."
    assert roles_of(text) == [expected]


# Shape 2: an apposition after the name, between commas; a leading "the" is not part of the role.
def test_an_apposition_after_a_name_is_that_persons_role():
    text = (
        "Hans Straberg, the chief executive of Electrolux, said costs were too high. "
        "The firm makes fridges and cookers. Chris Martin, the band's lead singer, thanked the fans."
    )
    assert roles_of(text) == [
        ("Hans Straberg", "chief executive of Electrolux"),
        ("Chris Martin", "the band's lead singer"),
    ]


# Shape 3: the role, a comma, then the name closed by punctuation.
def test_a_role_then_comma_then_name_gives_the_role_to_that_name():
    text = "Coldplay played three encores in Leeds. The band's lead singer, Chris Martin, thanked the crowd."
    assert roles_of(text) == [("Chris Martin", "The band's lead singer")]


def test_a_comma_after_an_opening_phrase_does_not_make_the_next_name_its_holder():
    # "After meeting the prime minister, Mr Howard said": the comma closes the opening phrase; the name
    # is not closed by punctuation, so it is no apposition.
    text = "Michael Howard spoke to reporters. After meeting the prime minister, Mr Howard said he was hopeful."
    assert roles_of(text) == []


# Shape 4: "X, who heads/runs/leads/chairs Y," - a post, not a deed.
def test_who_heads_the_organisation_is_a_role():
    text = (
        "Union members voted to strike on Monday. John Smith, who heads the union, said members were angry. "
        "Mary Jones, who is chief executive of Acme, said talks would go on."
    )
    assert roles_of(text) == [("John Smith", "heads the union"), ("Mary Jones", "chief executive of Acme")]


def test_who_led_a_protest_is_a_deed_not_a_role():
    text = "Crowds gathered in the square. Ann Lee, who led the protest, said she would return."
    assert roles_of(text) == []


# Shape 5: a role described in one sentence, the person named at the start of the next.
def test_a_role_then_the_person_named_at_the_start_of_the_next_sentence():
    text = (
        "The talks in Moscow ran late into the night. "
        "After the cameras left, Putin's foreign policy advisor emerged to tell the press that nothing had changed. "
        'Yuri Ushakov saying talks were "useful and constructive". But Ushakov said no compromise had been found.'
    )
    assert roles_of(text) == [("Yuri Ushakov", "Putin's foreign policy advisor")]


# Shape 5 inside one sentence: the role, then the person as the subject of a speech verb; a name after a
# preposition ("on Putin") is the object of the role's own clause, so it neither blocks nor takes the role.
def test_a_role_then_the_person_named_later_in_the_same_sentence():
    text = (
        "Vladimir Putin refused the latest offer. "
        "Pressure from the President of the European Commission on Putin to make a deal as Ursula von der Leyen "
        "says Europe is moving away from Russian gas."
    )
    assert roles_of(text) == [("Ursula von der Leyen", "President of the European Commission")]


# Later mentions by surname or "Mr" belong to the person named in full.
def test_later_mentions_by_surname_resolve_to_the_fullest_name():
    text = (
        "Hans Straberg has led the company since 2002. Profits fell by a fifth last year. "
        "Mr Straberg, who runs Electrolux, said cuts were needed. Union boss Straberg was not amused, one paper joked."
    )
    found = roles_of(text)
    assert ("Hans Straberg", "runs Electrolux") in found
    assert {person for person, _ in found} == {"Hans Straberg"}


def test_a_surname_shared_by_two_people_is_not_resolved():
    text = "Gordon Brown met Nick Brown in London. Labour spokesman Brown said the meeting went well."
    assert roles_of(text) == []


# Negative cases.
def test_a_role_with_no_person_nearby_gives_nothing():
    text = "The Arsenal manager was unhappy with the referee. The match ended in a goalless draw."
    assert roles_of(text) == []


def test_another_person_named_in_between_blocks_the_link():
    text = (
        "Putin's foreign policy advisor emerged to tell the press that nothing had changed, "
        "and Sergei Lavrov nodded. Yuri Ushakov said the talks had been useful."
    )
    assert roles_of(text) == []


def test_a_role_that_may_point_back_at_someone_named_before_is_not_linked_forward():
    # The manager is most likely Wenger, named in the sentence before; Henry is not the manager.
    text = "Arsene Wenger was furious. The Arsenal manager criticised the referee. Thierry Henry said it was a penalty."
    assert roles_of(text) == []


def test_a_role_inside_what_someone_said_is_not_theirs():
    # ", Mr Fox said." tags the whole sentence as Mr Fox's words; the Tory leader is someone else.
    text = "Liam Fox opened the campaign in Leeds. The Tory leader wanted to meet voters, Mr Fox said."
    assert roles_of(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "Defending champion Manchester United were beaten at home. The crowd was small.",  # "United": a club
        "Former champion Real Madrid lost again. Fans of the Real Madrid side were angry.",  # written with "the"
        "Defending champion Arsenal won again on Sunday. The crowd sang.",  # one word, never a person's name
        "The band's producer, Abbey Road, was closed for repairs.",  # "Road": a place
    ],
)
def test_an_organisation_or_place_after_a_title_is_not_a_person(text):
    assert roles_of(text) == []


def test_a_role_noun_that_also_comes_before_organisations_needs_a_personal_name():
    # "Best Buy" is written in full each time and never "he" or "she": no evidence of a person.
    text = "Electronics leader Best Buy said sales rose. Best Buy also cut prices."
    assert roles_of(text) == []
    text = "Liberal Democrat leader Charles Kennedy spoke in Leeds. Mr Kennedy said taxes would rise."
    assert roles_of(text) == [("Charles Kennedy", "Liberal Democrat leader")]


def test_a_capitalised_role_noun_inside_a_sentence_is_part_of_a_name():
    # Only titles ("Foreign Secretary") take a capital mid-sentence; "Star" here starts a game's name.
    text = "Fans queued all night for Star Fox Adventures. The shop sold out by noon."
    assert roles_of(text) == []
    text = "The shop sold out by noon. Singer Britney Spears signed copies."
    assert roles_of(text) == [("Britney Spears", "Singer")]


def test_a_role_noun_after_to_or_a_modal_is_a_verb():
    text = "The channel said she will host Graham Norton on Friday. Norton has a new book out."
    assert roles_of(text) == []


def test_mr_and_pronouns_are_never_roles():
    assert roles_of("Mr Smith said the union would strike. He said Mr Jones agreed.") == []
    assert roles_of("He, the chairman, said little. She, the editor, said less.") == []
    text = "John Smith spoke first. The union's general secretary, Mr Smith, said members were angry."
    assert roles_of(text) == [("John Smith", "The union's general secretary")]


# The line stored with a chunk.
def test_role_line_names_each_person_once_with_distinct_roles():
    roles = [
        Role("Yuri Ushakov", "Putin's foreign policy advisor", 0, 30),
        Role("Mark Rutte", "NATO Secretary-General", 40, 62),
        Role("Mark Rutte", "Secretary-General", 70, 87),  # contained in a longer role of his: left out
        Role("Yuri Ushakov", "Kremlin aide", 90, 102),
    ]
    assert role_line(roles) == (
        "Yuri Ushakov: Putin's foreign policy advisor; Kremlin aide. Mark Rutte: NATO Secretary-General."
    )
    assert role_line([]) == ""


# --- Questions that name a person by role (retrieval) --------------------------------------------------

ROLE_ARTICLES = {
    "harbour.txt": "Dredging plan approved\n\n"
    "Harbour Board chairman Alan Frost opened the meeting on Tuesday. The board approved a plan to deepen the "
    "main channel. Mr Frost said the dredging would start in spring and take two years.",
    "ferry.txt": "Ferry fares to rise\n\n"
    "Island Ferries chief executive Maria Lund announced higher fares from June. Ms Lund said fuel costs had "
    "doubled since last year.",
    "school.txt": "School to expand\n\nThe county council will add 200 places at Hill Road school. Council "
    "leader Peter Vance said the growing town needed them.",
}


@pytest.mark.embedder
def test_a_question_by_role_retrieves_the_persons_words(tmp_path):
    from test_retrieve import index_of

    from rag.pipeline import Pipeline, Retrieved

    index_of(tmp_path, ROLE_ARTICLES)

    class Silent:
        context_tokens = 4096

        def count_tokens(self, text):
            return len(text.split())

        def first_token(self, text):
            return 0

        def stream_chat(self, messages, **_):
            yield "NOT IN ARTICLES"

    pipeline = Pipeline(tmp_path / "index", local_model=Silent())
    retrieved = next(e for e in pipeline.stream("What did the Harbour Board chair say about the dredging?")
                     if isinstance(e, Retrieved))  # fmt: skip
    assert "dredging would start in spring" in retrieved.evidence[0].text
