from rag.chunking import split_sentences
from rag.speakers import extract_quotes


def quotes_of(text):
    return [(q.speaker, q.text) for q in extract_quotes(text, split_sentences(text))]


def test_seed_style_attribution_across_neighbouring_sentences():
    text = (
        "Putin's foreign policy advisor emerged to tell the press that nothing really had changed. "
        'Yuri Ushakov saying talks were "very useful, constructive and substantive." '
        'Plenty of time for what he called "joint efforts aimed at achieving long-term peace." '
        "But Ushakov said \"So far, compromise hasn't been found. Some of the wording doesn't suit us.\""
    )
    found = quotes_of(text)
    assert found[0] == ("Yuri Ushakov", "very useful, constructive and substantive.")
    assert found[1][0] == "Yuri Ushakov"  # "he called" points back at the last speaker
    assert found[2] == ("Yuri Ushakov", "So far, compromise hasn't been found. Some of the wording doesn't suit us.")


def test_speaker_after_the_quote_and_said_name_order():
    text = (
        '"No going behind Ukraine\'s back", Zelenskyy said again. '
        '"We expect growth to slow," said Mr Greenspan. '
        'NATO Secretary-General Mark Rutte responded: "The peace talks are ongoing."'
    )
    assert [s for s, _ in quotes_of(text)] == ["Zelenskyy", "Greenspan", "Mark Rutte"]


def test_quote_alone_in_its_sentence_takes_the_speaker_of_the_sentence_before():
    text = (
        "Ursula von der Leyen says Europe is moving away from Russian energy. "
        '"Coal imports are down from 51 percent at the beginning of the war to now zero."'
    )
    assert quotes_of(text)[0][0] == "Ursula von der Leyen"


def test_a_quote_running_on_into_the_next_paragraph_is_recorded_to_its_paragraph_end():
    text = (
        'US Attorney Paul McNulty said: "The gang operated in a faceless world. They took a lot of money.\n\n'
        '"It was truly global in scope," he said. Rutte responded: "Ukraine stays strong? The talks go on'
    )
    found = quotes_of(text)
    assert found[0] == ("Paul McNulty", "The gang operated in a faceless world. They took a lot of money.")
    assert found[1] == ("Paul McNulty", "It was truly global in scope,")
    assert found[2] == ("Rutte", "Ukraine stays strong? The talks go on")


def test_unattributed_quote_has_no_speaker():
    text = 'The film was described as "a triumph of style over substance" in several reviews.'
    assert quotes_of(text) == [(None, "a triumph of style over substance")]


def test_according_to_a_name_attributes_the_quote_and_according_to_a_thing_does_not():
    named = 'The bridge is "years behind schedule and over budget", according to Dana Whitfield.'
    assert quotes_of(named) == [("Dana Whitfield", "years behind schedule and over budget")]
    unnamed = 'The bridge is "years behind schedule and over budget", according to the annual report.'
    assert quotes_of(unnamed) == [(None, "years behind schedule and over budget")]
