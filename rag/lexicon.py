"""Every word list and word pattern the rules read, in one place: rules as data.

The modules that apply them (rag.text, rag.speakers, rag.roles, rag.answer_type, rag.coverage,
rag.collection, rag.generate, rag.retrieve, rag.cite) import them from here. Where two lists look alike
but serve different rules they are kept apart under names that say what each is for; merging them
would change what a rule matches.
"""

from __future__ import annotations

import re

# --- Function words. ------------------------------------------------------------------------------

# Words that carry no content: left out of the content words compared by retrieval and the citation
# check (rag.text.content_words), and never a name when capitalised.
STOPWORDS = frozenset(
    "a an the of to in on at for by with from and or but as is are was were be been being it its this that "
    "these those he she they his her their them we our you your i not no so than then there here what which "
    "who whom whose when where why how did does do has have had will would can could should may might "
    "about into over after before said says say according also just very more most some any all one much many".split()
)
# Function words (NLTK's English stop word list): they frame a sentence and pin nothing down, so a
# passage need not hold them to cover a question (rag.coverage).
FUNCTION_WORDS = STOPWORDS | frozenset(
    "me my myself ours ourselves yours yourself yourselves him himself hers herself itself theirs themselves "
    "am having doing if because until while against between through during above below up down out off "
    "under again further once both each few other such nor only own same too now".split()
)
# Capitalised words that are not names: sentence openers and words a model adds to any answer.
COMMON_CAPITALISED = STOPWORDS | {"according", "yes", "no", "however", "passage", "article", "articles", "quote"}

# --- Dates and numbers. ---------------------------------------------------------------------------

MONTHS = "january february march april may june july august september october november december".split()
WEEKDAYS = frozenset("monday tuesday wednesday thursday friday saturday sunday".split())
# Words that answer a when-question without a number (rag.answer_type).
DATE_WORDS = (
    frozenset(MONTHS) | WEEKDAYS | frozenset("yesterday today tomorrow tonight weekend christmas easter".split())
)
# A year as news writes it: 1800-2099.
YEAR = re.compile(r"(?:1[89]|20)\d\d")
# Scale words stay words when numbers are normalised ("2.5 million"), and their abbreviations expand
# ("£801m" = "£801 million").
NUMBER_SCALES = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12}
SCALE_ABBREVIATIONS = {"bn": "billion", "m": "million", "k": "thousand"}
# Words after a number that are not the thing it counts ("24 March", "3 percent", "5 out of 10").
NOT_COUNTED = STOPWORDS | frozenset(MONTHS) | frozenset(NUMBER_SCALES) | {"percent", "out", "per", "or", "and"}

# --- Pronouns and determiners. Four lists, four purposes. -----------------------------------------

# A pronoun subject of a speech verb hands a quote to the last named speaker (rag.speakers).
SPEAKER_PRONOUNS = r"(?:he|she|He|She)"
# A person's pronoun: after a name it shows the name is a person's; before a role phrase in its sentence it
# shows the role points back at someone already named (rag.roles).
PERSON_PRONOUN = re.compile(r"\b(?:he|she|him|his|her|He|She|His|Her)\b")
# A term of a how-many-articles-mention question that stands for something in the conversation (rag.collection).
REFERRING_TERMS = frozenset(
    {"him", "her", "them", "it", "this", "that", "he", "she", "they", "this person", "that person"}
)
# A chat question that opens like a continuation or points back (pronouns, "the same", "else") is
# rewritten into a standalone question before retrieval (rag.generate).
FOLLOW_UP = re.compile(
    r"^(and|but|also|what about|how about|so|then)\b|\b(he|she|they|him|her|them|his|hers|their|theirs|it|its|"
    r"this|that|these|those|there|then|the same|the other|else)\b",
    re.IGNORECASE,
)
# Determiners a role phrase may open with ("the chief executive", "his adviser") (rag.roles).
DETERMINERS = ("the", "a", "an", "his", "her", "its", "their")

# --- Names. ---------------------------------------------------------------------------------------

# Honorifics before a name; not part of the name (rag.roles).
HONORIFICS = frozenset("mr mrs ms miss dr sir dame lord lady prof professor rev baroness baron".split())
# The honorifics that mark the word after them as a person's surname ("Mr Smith" makes "Smith" a person) (rag.roles).
HONORIFIC_BEFORE_NAME = r"(?:Mr|Mrs|Ms|Miss|Dr|Sir|Dame|Lord|Lady|Prof|Professor)"
# Lower-case words inside a name, three lists for three patterns; their members differ and are kept
# as they are, since each list decides what its own pattern reads as one name:
# - in a speaker tag (rag.speakers.NAME): "said Ursula von der Leyen";
SPEAKER_NAME_PARTICLES = r"(?:von|van|der|de|den|da|di|du|al|bin|la|le|del|dos)"
# - in a person's name run (rag.roles.NAME_RUN), which also takes Dutch "ter" and "ten";
PERSON_NAME_PARTICLES = r"(?:von|van|der|de|den|da|di|du|al|bin|la|le|del|dos|ter|ten)"
# - before a surname kept whole when a referent is named by surname (rag.collection), which takes
#   "della" and "ibn" and not "dos".
SURNAME_PARTICLES = r"(?:von|van|der|den|de|del|della|da|di|du|la|le|al|bin|ibn)"
# Capitalised words stripped from either end of a speaker tag: sentence openers, honorifics, titles,
# determiners, organisations and countries ("But Mr Smith" -> "Smith") (rag.speakers).
SPEAKER_TAG_NOT_NAMES = frozenset(
    """
    But And The A An He She They It We I However Yet So Then
    Mr Mrs Ms Miss Dr Sir Lord Lady Prof Professor
    President Minister Prime Chief Executive Secretary General Secretary-General Chairman Senator Foreign
    Policy Advisor Adviser Spokesman Spokeswoman Manager Coach Boss Chancellor Governor Director
    Commissioner Captain Attorney
    In On At As When While After Before This That These Those His Her Its Their Our
    NATO US UK EU UN Russia's America's Britain's Ukraine's
    Also Now Still Speaking Asked Meanwhile
    """.split()
)

# --- Speech. Three lists: attribution in articles, speech in questions, outlets as sources. --------

# Verbs that attribute a quote in news text ("X said", "said X", "X: ...") (rag.speakers, rag.roles).
SPEECH_VERBS = (
    "said|says|saying|say|told|tells|telling|added|adds|warned|warns|argued|argues|insisted|insists|"
    "explained|explains|stated|states|claimed|claims|responded|responds|replied|replies|asked|asks|"
    "noted|notes|announced|announces|admitted|admits|stressed|stresses|commented|comments|called|"
    "described|describes|wrote|writes|declared|declares|urged|urges|believes|believed|suggested|suggests"
)
# Words of a question that asks what someone said or thinks ("what did X say", "how did she describe",
# "X's view of the talks"): a who-said-what question (rag.retrieve's speaker lift).
_QUESTION_SPEECH_VERBS = (
    r"say|said|says|saying|tell|told|comment\w*|claim\w*|describ\w*|call\w*|warn\w*|quot\w*|argu\w*|"
    r"react\w*|respond\w*|repl\w*|insist\w*|remark\w*|view|position|stance|think|thinks|believe\w*"
)
SPEECH_QUESTION = re.compile(rf"\b({_QUESTION_SPEECH_VERBS})\b", re.IGNORECASE)
# Headline shorthand for a who-said-what question: "<person> on <topic>?".
HEADLINE_QUESTION = re.compile(r"^\W*(?P<who>[\w'’.-]+(?:\s+[\w'’.-]+){0,2})\s+on\s", re.IGNORECASE)
# An outlet named as a source ("what did <outlet> report", "the <outlet> piece", "according to ..."), not
# as a subject ("how much did <outlet> save?", asked of other outlets' stories about the company)
# (rag.retrieve's outlet lift).
SOURCE_QUESTION = re.compile(
    r"\b(report|reports|reported|reporting|piece|story|stories|article|articles|coverage|broadcast|"
    r"published|publish|carried|carry|wrote|write|writes|say|says|said|according to)\b",
    re.IGNORECASE,
)

# --- Roles: everything that decides what counts as a role (rag.roles). ---------------------------

# Nouns a role phrase ends in (its head). Singular only: "leaders Chelsea" is a league table, not a
# person. Multi-word entries are titles whose last word alone would mean something else.
ROLE_NOUNS = frozenset(
    """
    president president-elect vice-president premier minister secretary secretary-general
    secretary general general secretary attorney general solicitor general director-general director general
    chancellor adviser advisor aide spokesman spokeswoman spokesperson representative negotiator envoy
    ambassador diplomat commissioner governor mayor senator congressman congresswoman mp mep peer whip
    leader head chief boss executive ceo chairman chairwoman chairperson chair director manager
    founder co-founder owner treasurer deputy official officer commander inspector detective
    judge lawyer barrister solicitor attorney prosecutor constable superintendent supt sergeant
    analyst economist strategist expert consultant researcher scientist professor
    editor correspondent reporter journalist presenter broadcaster host columnist critic
    singer guitarist drummer bassist vocalist frontman rapper musician composer songwriter pianist
    actor actress producer writer author novelist playwright screenwriter comedian star designer
    artist photographer dancer conductor
    coach captain striker midfielder defender goalkeeper keeper winger player champion batsman bowler
    fly-half scrum-half full-back sprinter athlete cyclist jockey trainer boxer golfer
    king queen prince princess accountant film-maker filmmaker
    """.replace("general secretary", "general-secretary")
    .replace("secretary general", "secretary-general")
    .replace("attorney general", "attorney-general")
    .replace("solicitor general", "solicitor-general")
    .replace("director general", "director-general")
    .split()
)
# Family ties ("Trump's son-in-law Jared Kushner", "his wife Maria Lopez"): lower-case only, since "Big
# Brother" is a television show, and never linked across sentences, where "Anna's mother ... Mr Hale
# says" is usually somebody else.
KIN_NOUNS = frozenset("son-in-law daughter-in-law wife husband widow son daughter brother sister father mother".split())
# Titles written with a capital before a name ("Foreign Secretary Jack Straw", "Judge Letitia Clark").
# Any other role noun with a capital inside a sentence belongs to a name or a title of a work ("Star
# Wars Battlefront"), not to a role.
CAPITALISED_TITLES = frozenset(
    """
    president president-elect vice-president premier minister secretary secretary-general general-secretary
    attorney-general solicitor-general director-general chancellor governor mayor senator congressman
    congresswoman commissioner ambassador envoy judge professor prince princess king queen chairman
    chairwoman chair director executive chief manager coach captain commander inspector detective officer
    constable superintendent supt sergeant
    mp mep deputy whip treasurer adviser advisor spokesman spokeswoman leader editor
    """.split()
)
# Role nouns that news also puts before an organisation ("former European champion Borussia Dortmund",
# "owner France Telecom", "electronics leader Best Buy"): the name must show it is a person's.
ORG_PRONE_NOUNS = frozenset("champion owner leader star host player winner broadcaster".split())
# Words that may stand between the owner and the role noun ("Putin's foreign policy advisor", "the
# band's lead singer", "former US President"). A closed list: an open one would pull in the verb before a
# title ("met chief executive ..." must not make "met chief executive" a role).
ROLE_MODIFIERS = frozenset(
    """
    former ex acting deputy assistant associate senior junior chief vice interim caretaker new current
    outgoing incoming then first foreign finance defence defense home health trade economic economics
    policy shadow lead managing executive general top national international technical artistic
    creative commercial financial marketing sales press communications team club party union football
    rugby tennis cricket golf music film movie fashion political security energy environment environmental
    education culture sports sport justice interior transport industry employment treasury prime head
    special official principal regional european state city world olympic defending reigning joint
    independent opposition legal medical research investment market business technology tv television
    radio news record pop rock backing bass session founding oil production
    operations operating strategy programme campaign communications prison police army military
    intelligence immigration cabinet government white house supreme high court district federal county
    local
    """.split()
)
# Words that make a run of capitalised words an organisation or a place, not a person.
NOT_PERSON_WORDS = frozenset(
    """
    united city town county rovers athletic wanderers albion villa hotspur fc ltd inc corp co plc ag sa
    group bank party commission council committee ministry department office association federation
    union league club airways airlines motors industries holdings fund agency authority board court house
    street road square stadium park university college school institute society trust foundation
    organisation organization service services news times post journal telegraph mail guardian records
    studios pictures entertainment company corporation systems technologies software energy oil petroleum
    airport olympics games cup championship open awards award festival show parliament congress senate
    assembly government administration commons lords republic kingdom states islands army police force
    navy exchange market markets index capital partners securities insurance media network channel radio
    television tv bbc itv sky new north south east west san santa los las hong kong saint st deutsche
    international wars dairy foods brewery steel mining pharmaceuticals electronics telecom telecoms
    semiconductor chemicals networks digital labs productions publishing ventures investments resources
    electric railways rail
    """.split()
)
# Capitalised words that open a sentence or precede a name without being part of it.
NAME_OPENERS = (
    STOPWORDS
    | frozenset(MONTHS)
    | HONORIFICS
    | WEEKDAYS
    | frozenset(
        """
        yesterday today tomorrow last next earlier later despite although though since until during under
        without speaking following instead indeed both neither either many some most other another even only
        nor if unlike like however meanwhile yet now still also asked while when after before as in on at
        """.split()
    )
)
# A name right after one of these is its object, never the holder of a role named before it.
PREPOSITIONS = frozenset(
    """
    on to with from for against about at by of into onto over under toward towards like than between among
    after before without including via behind beside upon across
    """.split()
)
# Nouns a "who heads/runs ..." object must end in for the clause to describe a post, not an act
# ("who heads the union" is a role, "who led the protest" is not).
ORG_NOUNS = frozenset(
    """
    union company firm band group club team party bank committee commission council department ministry
    agency organisation organization business board campaign charity association federation league school
    university hospital trust fund network studio label magazine newspaper paper programme program
    project inquiry investigation review service division unit office delegation government squad side
    orchestra institute foundation chain retailer airline operator maker manufacturer carmaker watchdog
    regulator body panel practice country nation region
    """.split()
)
# Verbs of "X, who heads/runs/leads ... ," that name a post. Not "directed" or "edited": "who directed
# the film" is a deed, not a post.
LEAD_VERBS = (
    "heads|headed|head|runs|ran|run|leads|led|lead|chairs|chaired|chair|manages|managed|manage|coaches|"
    "coached|coach|captains|captained|captain|founded|co-founded|owns|owned"
)
# Prefixes a role noun or modifier may carry ("co-founder", "vice-president", "ex-minister").
ROLE_PREFIX = r"(?:co|vice|ex|deputy)-"
# Prepositions that join a complement to a role noun ("chief executive of <company>", "analyst at <bank>").
ROLE_COMPLEMENT = r"(?:of|at|for|to|in)"
# Sentence connectives before the subject that a forward-linked role introduces ("But <name> said").
CONNECTIVES = r"(?:But|And|However|Meanwhile|Yet|Then|Now|Later|Instead)"
# Right before a bare role noun these make it a verb ("to head", "will host", "powerfully head").
VERB_BEFORE = re.compile(r"\b(?:to|will|would|can|could|may|might|should|must|not|\w+ly)\s+$", re.IGNORECASE)

# --- Question shapes (rag.answer_type, rag.collection, rag.retrieve). ----------------------------

# Nouns of a what-question that asks for a quantity ("what was the attendance").
_QUANTITY = (
    "amount|number|price|cost|fee|salary|wage|pay|profits?|loss(?:es)?|revenues?|sales|score|attendance|"
    "majority|fortune|rate|age|total|figure|value|budget|percentage|proportion|margin|turnover|debt|deficit|"
    "fine|sum|valuation|odds|population|size|capacity"
)
NUMBER_QUESTION = re.compile(
    rf"\bhow (many|much|old|long|far|big|large|high|often|fast)\b"
    rf"|\bwhat (?:was|is|were|are|will be)? ?(?:the |its |his |her |their )?(?:[\w-]+ ){{0,2}}(?:{_QUANTITY})\b"
    r"|\b(what|which) (year|percentage|proportion|share)\b",
    re.IGNORECASE,
)
DATE_QUESTION = re.compile(r"^\W*when\b|\b(what|which) (date|day|month|time)\b|\bdeadline\b", re.IGNORECASE)
NAME_QUESTION = re.compile(
    r"^\W*(who|whom|whose|where|which)\b|\b(who|whom|whose|where)\b|\bwhat(?: is|'s| was)? the name\b"
    r"|\b(in|at|from|to|for|by|with) (which|what)\b",
    re.IGNORECASE,
)
# Questions that ask for a name as such: a number alone never answers them.
PERSON_QUESTION = re.compile(
    r"\b(who|whom|whose)\b|\bwhat(?: is|'s| was| were| are)? (?:the|their|his|her|its) names?\b", re.IGNORECASE
)
# A question answered by yes or no opens with an auxiliary verb, maybe after a connective or "according to X,".
YES_NO_QUESTION = re.compile(
    r"^\W*(?:(?:so|and|but|also|now|according to [^,?]{1,60}),?\s+)?"
    r"(?:is|are|was|were|do|does|did|has|have|had|can|could|will|would|should|may|might|must)(?:n't| not)?\s",
    re.IGNORECASE,
)
# A question about the collection itself: how many, or which, articles mention a term.
MENTION_QUESTION = re.compile(
    r"^\W*(?:how many|which|what|list|show(?: me)?|find)\s+(?:(?:of\s+)?the\s+)?(?:news\s+)?"
    r"(?:articles|stories|reports|pieces)\s+(?:in the (?:corpus|collection|index)\s+)?"
    r"(?:that\s+|which\s+)?(?:do\s+|does\s+)?"
    r"(?:mention|mentions|mentioning|mentioned|name|names|naming|refer to|refers to)\s+"
    r"(?P<term>.+?)[\s?.!]*$",
    re.IGNORECASE,
)
# A question asking for the latest: newer articles rank higher (rag.retrieve's recency lift).
LATEST_QUESTION = re.compile(
    r"\b(latest|newest|most recent|recent|recently|currently|current|now|today|this week)\b", re.IGNORECASE
)

# --- The model's replies (rag.cite, rag.generate). ----------------------------------------------

# A yes/no verdict opening the reply ("No. [1]") or closing it ("So the answer is: yes").
VERDICT_OPENING = re.compile(r"^\s*(yes|no)\b[\s.,!:;—–-]*(?:\[\d+\][\s.,]*)?", re.IGNORECASE)
VERDICT_CLOSING = re.compile(
    r"(?:\b(?:so|thus|therefore),?\s+)?(?:the\s+)?answer(?:\s+is)?\s*[:\-]?\s*\**(yes|no)\b\**[.!]?", re.IGNORECASE
)
# Ways a reply says the passages do not hold the answer, besides the agreed NOT IN ARTICLES (lower case).
NOT_STATED = re.compile(r"\b(passages|articles|text)\b[^.]{0,40}\b(do|does) not (say|contain|mention|state)")
NO_INFORMATION = re.compile(r"\bno (information|mention)\b")
