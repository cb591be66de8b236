"""Who holds which role: link role phrases ("NATO Secretary-General", "chief executive of Norvik") to
the people they describe, at index time.

News names people by role as often as by name, and a question may use either ("what did the Kremlin
adviser say?"). The role phrases found here are stored with the person's fullest name in the article so
retrieval can match the role words and answers can name the person.

Shapes covered, each a regular expression over one sentence's text (only near its role nouns, for speed):
  1. a role noun phrase right before a name:   "NATO Secretary-General Mark Rutte", "Chancellor Gordon Brown"
  2. an apposition after a name:               "Hans Lindgren, the chief executive of Norvik,"
  3. a role phrase, a comma, then the name:     "the band's lead singer, Chris Martin,"
  4. "X, who heads/runs/leads/chairs Y,":       "Mr Smith, who heads the union,"
  5. a role, then the person named later in the same sentence or at the start of the next one, as the
     subject of a speech verb, with no other person named in between:
     "Putin's foreign policy advisor emerged ... Yuri Ushakov saying ..."

Precision comes first: a wrong role attached to a person misleads an answer, a missing one only costs
recall. So a role must end in a noun from ROLE_NOUNS, a name must look like a person's (not an
organisation or a place), and the looser shapes (3-5) demand punctuation or a speech verb that pins the
link down.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from rag.lexicon import (
    CAPITALISED_TITLES,
    CONNECTIVES,
    DETERMINERS,
    HONORIFIC_BEFORE_NAME,
    HONORIFICS,
    KIN_NOUNS,
    LEAD_VERBS,
    MONTHS,
    NAME_OPENERS,
    NOT_PERSON_WORDS,
    ORG_NOUNS,
    ORG_PRONE_NOUNS,
    PERSON_NAME_PARTICLES,
    PERSON_PRONOUN,
    PREPOSITIONS,
    ROLE_COMPLEMENT,
    ROLE_MODIFIERS,
    ROLE_NOUNS,
    ROLE_PREFIX,
    SPEECH_VERBS,
    STOPWORDS,
    VERB_BEFORE,
)


@dataclass(frozen=True)
class Role:
    person: str  # the person's fullest name in the article, e.g. "Yuri Ushakov"
    role: str  # the role or description as written, without the name, e.g. "NATO Secretary-General"
    start: int  # offsets of the role phrase in the article text
    end: int


# The word lists that decide what counts as a role live in rag.lexicon.

# --- Regular expression building blocks. ----------------------------------------------------------

_U = "A-ZÀ-ÖØ-Þ"  # upper-case letters, Latin-1 included ("Émile")
_L = "a-zß-öø-ÿ"
# A name word: "Lindgren", "McNulty", "O'Neill", "Sven-Goran", or an initial "W". Never an acronym
# ("NATO" is an organisation) and never with its possessive "'s". rag.speakers.NAME takes both (a speaker
# tag needs no such care); telling a person from "NATO" or "Putin's" is the point here.
_NAME_WORD = rf"[{_U}][{_L}]*(?:(?:['’]|-)?[{_U}][{_L}]+|-[{_L}]+)*(?!\w)"
_PARTICLES = rf"(?:{PERSON_NAME_PARTICLES}[ ]+)*"
_INITIAL = rf"[{_U}]\.(?=[ ]+[{_U}])"  # "George W. Bush"
NAME_RUN = rf"{_NAME_WORD}(?:[ ]+{_PARTICLES}(?:{_INITIAL}|{_NAME_WORD})){{0,4}}"
_NAME_RUN_RE = re.compile(rf"(?<![\w'’-]){NAME_RUN}")
# An organisation or place as an owner: "NATO", "Norvik", "Bank of England", "US".
_CAP_TOKEN = rf"[{_U}][\w&\-]*(?<!['’])"
# "and" is no connector here: "Mr Blair and Liberal Democrat leader Charles Kennedy" lists two people.
_ORG = rf"{_CAP_TOKEN}(?:[ ]+(?:(?:of|of[ ]+the|for|&)[ ]+)?{_CAP_TOKEN}){{0,3}}"
_POSSESSIVE = rf"(?:(?:the|The)[ ]+(?:[{_L}]+[ ]+){{0,2}}[{_L}]+|{_ORG})['’]s"
_OWNER = rf"(?:{_POSSESSIVE}|{_ORG})"
_DET = "(?:" + "|".join(f"{w}|{w.capitalize()}" for w in DETERMINERS) + ")"


def _alternation(words: frozenset[str]) -> str:
    """One pattern for a word list, as a trie ("chair(?:man|woman|person)?"), so matching costs the
    length of a word rather than the size of the list; an optional ending is greedy, so the longest
    entry wins ("secretary-general" over "secretary"). Hyphens also match a space."""
    trie: dict = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def pattern(node: dict) -> str:
        branches = [
            (r"[\- ]" if char == "-" else re.escape(char)) + pattern(child) for char, child in node.items() if char
        ]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if "" in node:
            return f"(?:{body})?"
        return body

    return pattern(trie)


_MOD = rf"(?i:{ROLE_PREFIX})?(?i:{_alternation(ROLE_MODIFIERS)})(?![\w'’])"
_HEAD = rf"(?:(?i:{ROLE_PREFIX})?(?i:{_alternation(ROLE_NOUNS)})|(?:{_alternation(KIN_NOUNS)}))(?![\w'’]|-\w)"
# The role noun phrase: [det] [modifiers] [owner] [modifiers] head - "the former Arsenal player",
# "Putin's foreign policy advisor", "former US President", "Norvik chief executive".
_ROLE_NP = rf"(?:{_DET}[ ]+)?(?:{_MOD}[ ]+){{0,2}}(?:{_OWNER}[ ]+)?(?:{_MOD}[ ]+){{0,3}}{_HEAD}"
# What may follow the role noun: "of the European Commission", "of Norvik", "at Goldman Sachs".
_POST_ORG = rf"[ ]+{ROLE_COMPLEMENT}[ ]+(?:the[ ]+)?{_ORG}"
# Inside commas a lower-case complement is safe too: "the head of the union,".
_POST_ANY = rf"(?:{_POST_ORG}|[ ]+of[ ]+(?:the|its|his|her|their)[ ]+(?:[{_L}]+[ ]+){{0,2}}[{_L}]+)"
# A comma, a bracket or the sentence end closes an apposition; not the full stop of an initial ("Arthur D.
# Little").
_CLOSE = r"(?<![^\w][A-Z])(?=[ ]*(?:[,;:)]|\.(?:\s|$)|$))"
_START = r"(?<![\w'’-])"

# 1. "NATO Secretary-General Mark Rutte": the head noun directly before the name.
_ROLE_BEFORE_NAME = re.compile(rf"{_START}(?P<role>{_ROLE_NP})[ ]+(?P<name>{NAME_RUN})")
# 2. "Hans Lindgren, the chief executive of Norvik," (an age may come first: "John Smith, 45, a lawyer,").
_NAME_COMMA_ROLE = re.compile(
    rf"{_START}(?P<name>{NAME_RUN}),[ ]+(?:\d{{1,3}},[ ]+)?(?P<role>{_ROLE_NP}(?:{_POST_ANY})?){_CLOSE}"
)
# 3. "the band's lead singer, Chris Martin," - the name must be closed by punctuation, otherwise the comma
# may end an opening phrase ("After meeting the prime minister, Mr Howard said ...").
_ROLE_COMMA_NAME = re.compile(rf"{_START}(?P<role>{_ROLE_NP}(?:{_POST_ANY})?),[ ]+(?P<name>{NAME_RUN}){_CLOSE}")
# 4. "Mr Smith, who heads the union," and "Mr Smith, who is chief executive of Norvik,".
_NAME_WHO = re.compile(
    rf"{_START}(?P<name>{NAME_RUN}),[ ]+who[ ]+(?:(?:has|had|now|currently|also|still)[ ]+)*"
    rf"(?:(?:is|was|has[ ]+been|had[ ]+been)[ ]+(?:(?:now|also|still)[ ]+)?(?P<role_np>{_ROLE_NP}(?:{_POST_ANY})?)"
    rf"|(?P<role_vp>(?:{LEAD_VERBS})[ ]+(?:(?:the|its|his|her|their|a)[ ]+)?"
    rf"(?:[\w'’&\-]+[ ]+){{0,4}}?[\w'’&\-]+)){_CLOSE}"
)
# 5. A role phrase standing alone, linked to the next subject named (see _link_forward).
_FREE_ROLE = re.compile(rf"{_START}(?P<role>{_ROLE_NP}(?:{_POST_ORG})?)")
_SPEECH_AFTER = re.compile(rf"[ ]+(?:(?:also|then|later|again)[ ]+)?(?:{SPEECH_VERBS})\b")
_CONNECTIVE = re.compile(rf"(?:{CONNECTIVES}[ ,]+)?")
_HONORIFIC_NAME = re.compile(rf"\b{HONORIFIC_BEFORE_NAME}\.?[ ]+(?P<name>{NAME_RUN})")
_DETERMINER = re.compile(rf"^(?:{'|'.join(DETERMINERS)})\s+", re.IGNORECASE)
_SENTENCE_OPENERS = NAME_OPENERS - set(DETERMINERS)


# --- Names. -------------------------------------------------------------------------------------------


def _is_role_word(word: str) -> bool:
    lower = re.sub(rf"^{ROLE_PREFIX}", "", word.lower())
    return lower in ROLE_NOUNS or lower in ROLE_MODIFIERS or lower in HONORIFICS


def _name_words(raw: str) -> list[str]:
    """The words of a name run after any opener, honorific or title: "But Mr Lindgren" -> ["Lindgren"],
    "German Chancellor Gerhard Schroeder" -> ["Gerhard", "Schroeder"]. A title word that ends the run is
    kept ("Stephen King", "Mervyn King"): there it is a surname."""
    words = raw.split()
    for i in range(len(words) - 2, -1, -1):
        if _is_role_word(words[i]):
            words = words[i + 1 :]
            break
    while words and words[0].lower() in NAME_OPENERS:
        words.pop(0)
    # A capitalised verb or adverb opening a sentence is no first name ("Making Tom Hale leader ..."),
    # nor is a compound adjective ("Tunisian-born Karim Haddad"): names capitalise after a hyphen.
    while len(words) >= 2 and (
        (len(words) >= 3 and words[0].lower().endswith(("ing", "ly"))) or re.search(r"-[a-z]", words[0])
    ):
        words.pop(0)
    return words


def _same_person(a: str, b: str) -> bool:
    """ "George Bush" and "George W Bush" are one person: the shorter name's words all occur, in order,
    in the longer one."""
    short, long = sorted((a.split(), b.split()), key=len)
    rest = iter(long)
    return all(word in rest for word in short)


class _People:
    """The people of one article: which capitalised runs are persons, and each surname's fullest name.

    A run of two or more name words is a person unless a word marks an organisation or place ("Manchester
    United", "European Commission") or the article writes it with "the" ("the Premier League"). A single
    word is a person only when the article names that person in full ("Lindgren" -> "Hans Lindgren") or
    with an honorific ("Mr Lindgren"); "Arsenal" or "Moscow" alone never are.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.with_the = {m.group(1) for m in re.finditer(rf"\b[Tt]he[ ]+({NAME_RUN})", text)}
        self.honoured = {_name_words(m["name"])[-1] for m in _HONORIFIC_NAME.finditer(text) if _name_words(m["name"])}
        fullest: dict[str, str | None] = {}
        for match in _NAME_RUN_RE.finditer(text):
            words = _name_words(match.group(0))
            if len(words) >= 2 and self._looks_personal(words):
                name = " ".join(words)
                known = fullest.get(words[-1], name)
                if known is None or not _same_person(known, name):
                    fullest[words[-1]] = None  # two people share the surname: leave it unresolved
                else:
                    fullest[words[-1]] = max(known, name, key=len)  # "George W Bush" over "George Bush"
        self.fullest = fullest
        self._first: dict[str, int] | None = None

    def first_mention(self, person: str) -> int:
        """Offset of the first name run in the article that stands for `person` (len(text) if none)."""
        if self._first is None:
            self._first = {}
            for match in _NAME_RUN_RE.finditer(self.text):
                if found := self.person(match.group(0)):
                    self._first.setdefault(found, match.start())
        return self._first.get(person, len(self.text))

    def _looks_personal(self, words: list[str]) -> bool:
        # "Audience With Tom Hale" is a title of a programme: a capitalised "With" is no name.
        if any(w.lower() in NOT_PERSON_WORDS or w.lower() in MONTHS or w.lower() in STOPWORDS for w in words):
            return False
        return " ".join(words) not in self.with_the

    def surely_a_person(self, person: str) -> bool:
        """Evidence beyond capitals that a name is a person's: the surname alone or after an honorific
        elsewhere ("Mr Kennedy"), or he/she/his/her soon after the first mention. Organisations are
        written in full each time and are "it"."""
        words = person.split()
        if len(words) == 1 or words[-1] in self.honoured:
            return True
        alone = len(re.findall(rf"\b{re.escape(words[-1])}\b", self.text))
        if alone > len(re.findall(rf"\b{re.escape(person)}\b", self.text)):
            return True
        first = self.first_mention(person)
        return PERSON_PRONOUN.search(self.text, first, first + 250) is not None

    def person(self, raw: str) -> str | None:
        """The fullest name of the person a name run stands for, or None if it is no person."""
        words = _name_words(raw)
        if not words or len(words[0]) < 2 or len(words[-1]) < 2:
            return None
        if len(words) >= 2:
            if not self._looks_personal(words):
                return None
            name = " ".join(words)
            full = self.fullest.get(words[-1])
            return full if full and _same_person(full, name) else name
        word = words[0]
        if word.lower() in NOT_PERSON_WORDS or _is_role_word(word):
            return None
        full = self.fullest.get(word)
        if full:
            return full
        return word if word in self.honoured and word not in self.fullest else None


# --- Extraction. --------------------------------------------------------------------------------------


def _role_span(text: str, start: int, end: int) -> tuple[int, int] | None:
    """The role phrase without a leading article or sentence opener ("the chief executive of Norvik"
    -> "chief executive of Norvik"); a possessive owner keeps its article ("the band's lead singer")."""
    phrase = text[start:end]
    while True:
        first = phrase.split(" ", 1)[0]
        if " " not in phrase:
            break
        if first.lower() in _SENTENCE_OPENERS and first[:1].isupper():
            cut = len(first) + 1  # "Yesterday Foreign Secretary" -> "Foreign Secretary"
        elif (m := _DETERMINER.match(phrase)) and not re.match(r"(?:[a-z\-]+ ){0,2}[a-z\-]+['’]s\b", phrase[m.end() :]):
            cut = m.end()
        else:
            break
        phrase, start = phrase[cut:], start + cut
    if not re.search(_HEAD, phrase):
        return None
    return start, end


def _plausible_head(text: str, sentence_start: int, start: int, end: int, person: str, people: _People) -> bool:
    """Checks on the role noun itself (the last one before a complement such as "of Norvik"):
    - "to partner Okafor", "will host", "powerfully head": a bare noun after "to", a modal or an
      adverb is a verb, and so is a bare "head";
    - a capital mid-sentence is only a title's ("Foreign Secretary"), otherwise part of a name;
    - a noun that also comes before organisations ("champion", "owner") needs a surely personal name."""
    phrase = text[start:end]
    phrase = re.split(rf" {ROLE_COMPLEMENT} ", phrase, maxsplit=1)[0]
    heads = list(re.finditer(_HEAD, phrase))
    if not heads:
        return False
    head = heads[-1]
    word = head.group(0)
    if head.start() == 0 and (VERB_BEFORE.search(text, max(0, start - 20), start) or word == "head"):
        return False  # "to powerfully head a corner": a bare "head" is mostly the verb
    bare = re.sub(rf"^{ROLE_PREFIX}", "", word.lower()).replace(" ", "-")
    if word[:1].isupper() and bare not in CAPITALISED_TITLES:
        line_start = text.rfind("\n", 0, start + head.start()) + 1
        before = text[max(sentence_start, line_start) : start + head.start()]
        if any(w[:1].islower() for w in before.split()):
            return False  # only a sentence or a headline opens with it ("Singer Nora Vale ...")
    if bare in ORG_PRONE_NOUNS and not people.surely_a_person(person):
        return False
    return True


def _has_owner(phrase: str) -> bool:
    """A role with an owner says whose role it is ("Putin's advisor", "NATO chief", "President of the
    European Commission"); a bare "the president" could be anyone's and is never linked across text."""
    if re.search(r"['’]s\b", phrase) or re.search(rf"\b{ROLE_COMPLEMENT}\b", phrase):
        return True
    return any(w[:1].isupper() and not _is_role_word(w) and w.lower() not in NAME_OPENERS for w in phrase.split())


def extract_roles(text: str, sentences: list[tuple[int, int]]) -> list[Role]:
    """Role phrases and the people they belong to, in text order.

    `sentences` are the chunker's sentence offsets (rag.chunking.split_sentences): every pattern stays
    inside one sentence, except the forward link of shape 5, which may reach the start of the next one.
    """
    if not sentences:
        sentences = [(0, len(text))]
    people = _People(text)
    sentence_starts = [s for s, _ in sentences]
    found: dict[tuple[int, int], Role] = {}
    taken: list[tuple[int, int]] = []  # role spans already given to a person, so shape 5 skips them
    comma_roles: set[tuple[int, int]] = set()  # role spans of shape 3, which win over shape 2
    free_roles: list[tuple[int, list[tuple[int, int]]]] = []  # (sentence number, its windows) for shape 5

    def add(person: str | None, start: int, end: int, replace: bool = False) -> None:
        span = _role_span(text, start, end)
        if person is None or span is None:
            return
        sentence_start = sentence_starts[max(0, bisect.bisect_right(sentence_starts, start) - 1)]
        if not _plausible_head(text, sentence_start, start, end, person, people):
            return
        if span in found and not replace:
            return
        found[span] = Role(person=person, role=text[span[0] : span[1]], start=span[0], end=span[1])
        taken.append((start, end))

    for number, (s, e) in enumerate(sentences):
        windows = _head_windows(text, s, e)
        for ws, we in windows:
            for m in _ROLE_COMMA_NAME.finditer(text, ws, we):
                person = people.person(m["name"])
                if person:
                    comma_roles.add(m.span("role"))
                    add(person, *m.span("role"), replace=True)
            for m in _ROLE_BEFORE_NAME.finditer(text, ws, we):
                add(people.person(m["name"]), *m.span("role"))
            for m in _NAME_COMMA_ROLE.finditer(text, ws, we):
                if not any(a <= m.start("role") < b for a, b in comma_roles):
                    # "After meeting Tony Blair, the union's leader, Bob Jones, said": the role introduces
                    # Bob Jones (shape 3), so it is not also Blair's.
                    add(people.person(m["name"]), *m.span("role"))
        for m in _NAME_WHO.finditer(text, s, e):
            if m["role_np"]:
                add(people.person(m["name"]), *m.span("role_np"))
            elif _describes_a_post(m["role_vp"]) and (person := people.person(m["name"])):
                start, end = m.span("role_vp")
                found[(start, end)] = Role(person=person, role=text[start:end], start=start, end=end)
                taken.append((start, end))
        free_roles.append((number, windows))

    for number, windows in free_roles:
        for ws, we in windows:
            for m in _FREE_ROLE.finditer(text, ws, we):
                start, end = m.span("role")
                if any(a < end and start < b for a, b in taken):
                    continue
                if not _may_introduce(text, sentences[number][0], start, end, people):
                    continue
                person = _link_forward(text, sentences, number, start, end, people)
                if person:
                    add(person, start, end)
    return sorted(found.values(), key=lambda r: r.start)


# A regular expression tried at every character is slow (~20 ms an article); every role phrase holds a
# role noun, so the patterns only run in a stretch of the sentence around each one. The reach covers the
# longest match: a name and an owner before the noun, a complement and a name after it.
_TOKEN = re.compile(r"[\w'’\-]+")
_SPACE = re.compile(r"\s")
_TRIGGERS = frozenset(w.split("-")[0] for w in ROLE_NOUNS | KIN_NOUNS) | ROLE_NOUNS | KIN_NOUNS
_REACH_BEFORE, _REACH_AFTER = 160, 120


def _head_windows(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Disjoint stretches of text[start:end] around its role nouns, cut at whitespace."""
    windows: list[tuple[int, int]] = []
    for m in _TOKEN.finditer(text, start, end):
        word = m.group(0).lower()
        if word not in _TRIGGERS and word.partition("-")[2] not in _TRIGGERS:  # "ex-president"
            continue
        ws = max(start, m.start() - _REACH_BEFORE)
        if ws > start and (space := _SPACE.search(text, ws, m.start())):
            ws = space.end()  # a whole word, so a name is never cut ("Lindgren" for "Hans Lindgren")
        space = _SPACE.search(text, min(end, m.end() + _REACH_AFTER), end)
        we = space.start() if space else end
        if windows and ws <= windows[-1][1]:
            windows[-1] = (windows[-1][0], we)
        else:
            windows.append((ws, we))
    return windows


def _may_introduce(text: str, sentence_start: int, start: int, end: int, people: _People) -> bool:
    """Can this free-standing role phrase introduce a person named after it (shape 5)? Only a role that
    says whose it is, in the narrator's own words, whose holder is still unnamed:
    - an owner ("Putin's advisor", "NATO chief", "President of the European Commission"): a bare
      "the president" could be anyone's;
    - not indefinite: "a Kremlin spokesman said" keeps its speaker anonymous;
    - not "his/its ...", and no he/she before it in the sentence: those point back at someone named;
    - no family tie: "Anna's mother ... Mr Hale says" is usually somebody else;
    - not inside quotation marks: a speaker's words are not the narrator's introduction;
    - no name inside or right after it ("Anna Price MP", "the Elite Player Squad"): the phrase is then
      part of a name or already attached to one, and the looser link would only guess.
    """
    phrase = text[start:end]
    if not _has_owner(phrase) or re.match(r"(?:a|an|his|her|its|their)\s", phrase, re.IGNORECASE):
        return False
    if PERSON_PRONOUN.search(text, sentence_start, start) or re.search(_alternation(KIN_NOUNS), phrase):
        return False
    paragraph = text[text.rfind("\n", 0, start) + 1 : start]
    if paragraph.count('"') % 2 or paragraph.count("“") > paragraph.count("”"):
        return False
    if re.match(rf"[ ]+[{_U}]", text[end : end + 2]):
        return False
    possessed = {m.start() for m in re.finditer(rf"{NAME_RUN}(?=['’]s\b)", phrase)}
    return not any(a - start not in possessed for a, _, _ in _names_in(text, start, end, people))


def _describes_a_post(phrase: str) -> bool:
    """ "heads the union", "runs Norvik": the object is an organisation - a noun from ORG_NOUNS, or a
    bare capitalised name with no article - so the clause names a post rather than a deed ("led the
    protest", "ran the London Marathon")."""
    words = phrase.split()[1:]
    if not words:
        return False
    if words[-1].lower().removesuffix("'s").removesuffix("’s") in ORG_NOUNS:
        return True
    return all(w[:1].isupper() and w.lower() not in NAME_OPENERS for w in words)


def _names_in(text: str, start: int, end: int, people: _People) -> list[tuple[int, int, str]]:
    """(start, end, person) for every person named between two offsets."""
    out = []
    for m in _NAME_RUN_RE.finditer(text, start, end):
        person = people.person(m.group(0))
        if person:
            out.append((m.start(), m.end(), person))
    return out


def _link_forward(
    text: str, sentences: list[tuple[int, int]], number: int, start: int, end: int, people: _People
) -> str | None:
    """Shape 5: the person a free-standing role introduces, named later as the subject of a speech verb
    and not before the role anywhere in the article (a role first, then the name: cataphora).

    The candidate is the first person named after the role, either later in the same sentence ("the
    President of the European Commission on Putin ... as Ursula von der Leyen says") or at the start of
    the next sentence ("Putin's foreign policy advisor emerged ... . Yuri Ushakov saying"). Any other
    person named first blocks the link, except a name governed by a preposition in the role's own sentence
    ("pressure ... on Putin"): an object of the same clause cannot be the role's holder. The role must not
    point back at someone else either: if a different person (not its owner, not such an object) is named
    earlier in its sentence or in the sentence before, "the Arsenal manager" may well mean them, so
    nothing is linked.
    """
    owners = {p for _, _, p in _names_in(text, start, end, people)} | {
        person for m in re.finditer(rf"({NAME_RUN})['’]s\b", text[start:end]) if (person := people.person(m[1]))
    }
    s, e = sentences[number]
    candidate = None
    objects = set()  # people governed by a preposition in the role's clause: never its holder
    for a, b, person in _names_in(text, end, e, people):
        before = text[max(s, a - 20) : a].split()
        if before and before[-1].lower() in PREPOSITIONS:
            objects.add(person)
            continue
        # ", Mr Fox said." after the role is an attribution tag: the role is in what Mr Fox said.
        tag = re.search(r"[,\"“”]\s*$", text[s:a]) is not None
        if _SPEECH_AFTER.match(text, b) and person not in owners and not tag:
            candidate = person
        break
    else:
        if number + 1 < len(sentences):
            ns, ne = sentences[number + 1]
            opener = _CONNECTIVE.match(text, ns)
            names = _names_in(text, ns, ne, people)
            if names and names[0][0] in (ns, opener.end() if opener else ns) and _SPEECH_AFTER.match(text, names[0][1]):
                candidate = names[0][2]
    if candidate is None or people.first_mention(candidate) < start:
        return None  # a person named before the role is not introduced by it: "the Tory leader" may be anyone
    earlier_start = sentences[number - 1][0] if number > 0 else s
    for _, _, person in _names_in(text, earlier_start, start, people):
        if person != candidate and person not in owners and person not in objects:
            return None
    return candidate


def role_line(roles: list[Role]) -> str:
    """One short line for the embedded text or the prompt: "Yuri Ushakov: Putin's foreign policy advisor.
    Mark Rutte: NATO Secretary-General." Each person once, in order of first mention, with their distinct
    roles; a role contained in a longer one of the same person ("President" in "US President") is left
    out. "" when there are none."""
    by_person: dict[str, list[str]] = {}
    for role in roles:
        by_person.setdefault(role.person, [])
        if role.role.lower() not in (r.lower() for r in by_person[role.person]):
            by_person[role.person].append(role.role)
    parts = []
    for person, descriptions in by_person.items():
        kept = [d for d in descriptions if not any(d.lower() in o.lower() and d != o for o in descriptions)]
        parts.append(f"{person}: {'; '.join(kept)}.")
    return " ".join(parts)
