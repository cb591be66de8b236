"""Every rule of the pipeline beyond plain retrieval and reading, by name, so each can be switched off
alone (`--rule-off NAME`, `ReadingSettings.rules_off`) and judged by what it gains and loses (`rag.eval.ablate`).

A rule is a lift (retrieval ranks passages that look like answers higher), a reading step (what the
model is shown and when it may refuse) or a check (when an answer sentence counts as supported). The
ablation table in docs/rules.md records what each one is worth on the large set's dev half.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    name: str
    stage: str  # "retrieve" | "read" | "check"
    does: str


RULES: dict[str, Rule] = {
    rule.name: rule
    for rule in [
        # Retrieval: the re-ranking of the fused candidates by their best sentence.
        Rule("sentence_words", "retrieve", "a sentence holding more of the question's words ranks higher"),
        Rule("answer_kind_lift", "retrieve", "a sentence holding the kind of fact asked for ranks higher"),
        Rule("speaker_lift", "retrieve", "a passage quoting the person a who-said-what question names ranks higher"),
        Rule("outlet_lift", "retrieve", "a passage from an outlet the question names as its source ranks first"),
        Rule("recency_lift", "retrieve", "a question asking for the latest ranks newer articles higher"),
        Rule("coverage", "read", "only a passage holding most of what the question pins down may answer it"),
        # Reading: what the model is shown, and when it may refuse.
        Rule("best_alone", "read", "the best passage is read alone first, the others only if it gives no answer"),
        Rule("refusal_gate", "read", "the refusal is decided from its probability at the first token"),
        Rule(
            "verdict_gate", "read", "a yes/no verdict is 'Yes' only when its share of the yes-or-no probability is high"
        ),
        Rule("second_look", "read", "the second read takes in the passages after the best ones too"),
        # Checks: when an answer sentence counts as supported by the passage it cites.
        Rule("verbatim_quotes", "check", "a quoted span must stand in the passage word for word"),
        Rule("quote_speaker", "check", "a quote the passage gives to one person is not supported as another's"),
        Rule("numbers", "check", "every number of the answer must stand in the passage"),
        Rule(
            "counted_thing", "check", "a number must count the same thing in the passage ('3 pages' is not '3 years')"
        ),
        Rule("names", "check", "every name of the answer must stand in the passage"),
        Rule("word_overlap", "check", "at least half the answer's own words must stand in the passage"),
        Rule("recite", "check", "a sentence its passage does not support is re-cited to a shown passage that does"),
    ]
}


def check_names(names: frozenset[str] | set[str]) -> frozenset[str]:
    """The names as given, or a ValueError naming the unknown ones and the known."""
    unknown = sorted(set(names) - set(RULES))
    if unknown:
        raise ValueError(f"unknown rule(s) {unknown}; the rules are {sorted(RULES)}")
    return frozenset(names)
