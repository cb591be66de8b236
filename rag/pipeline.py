"""Where a question becomes a cited answer: retrieve -> cover -> focus -> generate -> check citations.

1. retrieve: BM25 and dense scores fused, re-ranked by each passage's best sentence (rag.retrieve); the
   roles stored with each chunk at index time (rag.roles) are part of the text both read;
2. cover: only a passage holding most of the question's specific terms, and every year it gives, may
   answer it (rag.coverage); when none does, the answer is a refusal naming the missing words, unread;
3. read, at most twice: the best passage alone (beside other passages a 1.5B model often takes the wrong
   name or number from them), then, when that gives no supported answer, the best covering passages
   together; the refusal and a yes/no verdict are decided from the first token's probabilities;
4. check: every answer sentence must stand in the passage it cites (rag.cite); a yes/no verdict rests
   on the quoted sentence of the passage it cites.

Every step beyond plain retrieval and reading is a named rule (rag.rules) that can be switched off.
Questions about the collection itself ("how many articles mention X?") are counted from the index
instead (rag.collection): no passage-reading model can count articles. Questions asking for the story
("what happened to X?", "summarize", "latest on"), or any question with `briefing=True` (the chat's
toggle), get a briefing across articles instead (rag.briefing): dated bullets, one fact each, cited to
every article stating it.

`Pipeline.stream` yields the evidence as soon as retrieval is done, then the model's tokens, then the
checked answer; `Pipeline.answer` is the same without streaming. The chat, `rag.ask` and
`rag.eval.evaluate` all go through here, so what is measured is what users get.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field, replace
from pathlib import Path

from rag.answer_type import is_yes_no
from rag.briefing import Briefing, brief, is_briefing
from rag.chat_model import ChatModel
from rag.cite import CheckedSentence, Citation, check_answer, markers_of
from rag.collection import find_mentions, mentioned_term, mentions_answer, referent, refers_back
from rag.config import ReadingSettings, RetrievalWeights, Settings
from rag.coverage import Cover
from rag.embedding import Embedder
from rag.generate import (
    NOT_FOUND,
    Evidence,
    RefusalGate,
    condense_question,
    fit_to_context,
    focus,
    is_not_found,
    stream_answer,
    without_data_tags,
)
from rag.index_store import Index, load_index
from rag.llm import get_model
from rag.retrieve import Filters, Retriever, bm25_terms

MAX_QUESTION_CHARS = 1000
ANSWER_TOKENS = 80  # one or two short sentences; longer replies were rambling and made p95 long
YES_NO_TOKENS = 120  # the deciding sentence copied whole, then the verdict
ABSTAIN_TEXT = "The articles in the corpus do not answer this question."
COVER_MIN = 0.55  # share of the question's term weight a passage must hold to answer it (rag.coverage)


def _words_for(question: str, covers: list[Cover]) -> str:
    """The question's words for the terms the closest passage lacks most ("gas", not the stem "ga")."""
    missing = max(covers, key=lambda c: c.share).missing[:2] if covers else ()
    words = re.findall(r"[\w'’-]+", question)
    plain = [next((w for w in words if bm25_terms([w.lower()])[0][:1] == [term]), term) for term in missing]
    return " or ".join(f'"{w}"' for w in plain) or "what the question asks about"


class QuestionError(ValueError):
    """The question cannot be asked as it is; the message tells the user why."""


@dataclass
class Answer:
    question: str
    searched: str  # what retrieval searched for: the standalone question, people named by role added
    text: str
    abstained: bool
    evidence: list[Evidence] = field(default_factory=list)
    citations: list[Citation] = field(default_factory=list)
    sentences: list[CheckedSentence] = field(default_factory=list)
    raw: str = ""  # what the model wrote, before checking
    refusal_p: float | None = None  # of replying NOT IN ARTICLES, in the last read (RefusalGate)
    yes_p: float | None = None  # of "Yes" against "No" for a yes/no question, in the last read (RefusalGate)
    best_alone: bool = False  # answered from the best passage alone (step 1)
    looked_further: bool = False  # the second read took in the passages after the best top_k ("second_look")
    briefing: Briefing | None = None  # the answer is a briefing (rag.briefing): its bullets and their facts
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def briefing_articles(self) -> tuple[str, ...]:
        """The articles a briefing cites, which a follow-up reads first (Pipeline.stream's `within`)."""
        if self.briefing is None:
            return ()
        return tuple(dict.fromkeys(e.chunk.article_id for e in self.briefing.evidence))

    def to_json(self) -> dict:
        return {
            "answer": self.text,
            "citations": [
                {
                    "marker": c.marker,
                    "article_id": c.evidence.chunk.article_id,
                    "title": c.evidence.chunk.title,
                    "source": c.evidence.chunk.source,
                    "published": c.evidence.chunk.published,
                    "quote": c.quote,
                    "passage": c.evidence.text,
                }
                for c in self.citations
            ],
            "abstained": self.abstained,
            "sentences": [{"text": s.text, "supported": s.supported} for s in self.sentences],
            "searched": self.searched,
            "best_alone": self.best_alone,
            "looked_further": self.looked_further,
            "closest_passages": [
                {
                    "marker": e.number,
                    "article_id": e.chunk.article_id,
                    "title": e.chunk.title,
                    "source": e.chunk.source,
                    "published": e.chunk.published,
                    "passage": e.text,
                }
                for e in self.evidence
            ],
        }


@dataclass
class Retrieved:
    searched: str
    evidence: list[Evidence]


@dataclass
class Token:
    text: str


@dataclass
class Redraft:
    """The text streamed so far is withdrawn (no passage supports it); an answer from more passages follows."""


@dataclass
class Done:
    answer: Answer


def validate_question(question: str) -> str:
    question = " ".join((question or "").split())
    if not question:
        raise QuestionError("Please type a question about the articles.")
    if len(question) > MAX_QUESTION_CHARS:
        raise QuestionError(
            f"The question is {len(question):,} characters long; please ask in at most "
            f"{MAX_QUESTION_CHARS:,} characters (one or two sentences work best)."
        )
    return question


class Pipeline:
    """One index and one model, read with the reading steps `settings` (rag.config.ReadingSettings)."""

    def __init__(
        self,
        index_dir: Path | str,
        model: str | None = None,
        settings: ReadingSettings | None = None,
        local_model: ChatModel | None = None,
        embedder: Embedder | None = None,
        weights: RetrievalWeights | None = None,
    ) -> None:
        self.index_dir = Path(index_dir)
        self.settings = settings or ReadingSettings()
        self.weights = weights or RetrievalWeights()
        self.model_name = model
        self._model = local_model
        self.index: Index = load_index(self.index_dir)
        if embedder is not None and embedder.name != self.index.embedder:
            raise ValueError(f"the index was built with {self.index.embedder!r}, not with {embedder.name!r}")
        self.retriever = Retriever(
            self.index, embedder, mode=self.settings.retrieval, rules_off=self.settings.rules_off, weights=self.weights
        )

    @classmethod
    def from_settings(cls, settings: Settings, local_model: ChatModel | None = None) -> Pipeline:
        """The pipeline a settings tree describes (its index, model, retrieval weights and reading steps)."""
        return cls(settings.index, settings.model, settings.reading, local_model, weights=settings.retrieval)

    @property
    def model(self) -> ChatModel:
        if self._model is None:
            self._model = get_model(self.model_name)
        return self._model

    def use_model(self, model: ChatModel) -> None:
        """Read with another model object (a measuring wrapper such as rag.eval.model_cache.CachedModel)."""
        self._model = model

    def reload(self) -> None:
        """Pick up a rebuilt index (after articles were added)."""
        self.index = load_index(self.index_dir)
        self.retriever = Retriever(
            self.index, self.retriever.embedder, self.settings.retrieval, self.settings.rules_off, self.weights
        )

    def stream(
        self,
        question: str,
        filters: Filters | None = None,
        history: list[tuple[str, str]] | None = None,
        briefing: bool = False,
        within: tuple[str, ...] = (),
    ) -> Iterator[Retrieved | Token | Redraft | Done]:
        """Events: Retrieved (evidence, before generation), Token (streamed text), Redraft (streamed text
        withdrawn), Done (checked answer).

        `history` holds earlier (question, answer) pairs; a follow-up is rewritten into a standalone
        question before retrieval, and that question is what the model answers. `briefing` answers with a
        briefing whatever the question asks (rag.briefing); without it, a question asking for the story does.
        `within`: the articles of the briefing the conversation is about (Answer.briefing_articles), which a
        follow-up reads first.
        """
        started = time.perf_counter()
        question = validate_question(question)
        term = mentioned_term(question)
        if term is not None and history and refers_back(term):
            term = referent(history)  # "mention him?": the name from the chat, not from a rewrite
            searched = f"{question} ({term})" if term else question
        else:
            searched = condense_question(self.model, history, question) if history else question
            term = mentioned_term(searched)
        if term is not None:
            yield from self._count_mentions(question, searched, term, filters, started)
            return
        if briefing or is_briefing(searched):
            yield from self._brief(question, searched, filters, started)
            return
        on = self.settings.on
        # A follow-up to a briefing reads the briefing's articles first, the whole archive when none covers it.
        narrowed = replace(filters or Filters(), articles=tuple(within)) if within and history else None
        for scope in ([narrowed] if narrowed else []) + [filters]:
            passages = self.retriever.search(searched, k=2 * self.settings.top_k, filters=scope)
            covers = [self.retriever.cover(searched, p.chunk) for p in passages] if on("coverage") else []
            # Only a passage that covers the question may answer it: the model never reads the others.
            covering = [p for p, c in zip(passages, covers, strict=True) if c.enough(COVER_MIN)] if covers else passages
            if covering:
                break
        evidence = self._focus(covering[: self.settings.top_k] or passages[: self.settings.top_k], searched)
        timings = {"retrieval_s": time.perf_counter() - started}
        yield Retrieved(searched, evidence)

        answer = Answer(question, searched, ABSTAIN_TEXT, abstained=True, evidence=evidence)
        if not covering:
            answer.text = f"{ABSTAIN_TEXT} None of the closest passages mentions {_words_for(searched, covers)}."
        else:
            # At most two reads: the best passage alone, then the best ones together (with the next ones,
            # if "second_look"), so a refusal costs one read more than an answer from the best passage.
            if on("best_alone") and len(covering) > 1:
                streamed = False
                for token in self._generate(answer, evidence[:1], timings, started):
                    streamed = True
                    yield token
                answer.best_alone = not answer.abstained
                if streamed and not answer.best_alone:
                    yield Redraft()  # what was streamed is no answer: the draft makes way for the next one
            if not answer.best_alone:
                wider = covering[: 2 * self.settings.top_k] if on("second_look") else []
                if len(wider) > self.settings.top_k:
                    evidence = answer.evidence = self._focus(wider, searched)
                    answer.looked_further = True
                    yield Retrieved(searched, evidence)
                yield from self._generate(answer, evidence, timings, started)
                answer.best_alone = len(evidence) == 1 and not answer.abstained
        timings.setdefault("first_token_s", time.perf_counter() - started)
        timings["total_s"] = time.perf_counter() - started
        answer.timings = timings
        yield Done(answer)

    def read(self, question: str, evidence: list[Evidence]) -> Answer:
        """The model's checked answer from these passages alone, no retrieval: `rag.eval.evaluate
        --gold-passage` measures the reader by itself this way."""
        started = time.perf_counter()
        answer = Answer(question, question, ABSTAIN_TEXT, abstained=True, evidence=evidence)
        timings = {"retrieval_s": 0.0}
        for _ in self._generate(answer, evidence, timings, started):
            pass
        timings["total_s"] = time.perf_counter() - started
        answer.timings = timings
        return answer

    def _focus(self, passages, searched: str) -> list[Evidence]:
        return focus(
            passages, searched, self.retriever.embedder, windows=self.settings.windows, full=not self.settings.focused
        )

    def _generate(self, answer: Answer, evidence: list[Evidence], timings: dict, started: float) -> Iterator[Token]:
        """The model's answer to `answer.searched` from `evidence`, streamed, then checked into `answer`."""
        yes_no = is_yes_no(answer.searched)
        length = YES_NO_TOKENS if yes_no else ANSWER_TOKENS
        budget = self.model.context_tokens - length - 64
        evidence = fit_to_context(answer.searched, evidence, self.model.count_tokens, budget)
        refusals = [self.model.first_token(text) for text in (NOT_FOUND, NOT_FOUND.capitalize())]
        verdicts = None
        if yes_no and self.settings.on("verdict_gate"):
            first = self.model.first_token
            verdicts = ([first("Yes"), first("yes")], [first("No"), first("no")])
        gate = (
            RefusalGate(refusals, self.settings.refusal_threshold, verdicts, self.settings.yes_threshold)
            if self.settings.on("refusal_gate")
            else None
        )
        pieces: list[str] = []
        with closing(stream_answer(self.model, answer.searched, evidence, length, gate)) as stream:
            for piece in stream:
                if not pieces:
                    timings.setdefault("first_token_s", time.perf_counter() - started)
                if gate and gate.refused:
                    pieces.append(NOT_FOUND)  # decided at the first token: no need to write it out
                    break
                pieces.append(piece)
                yield Token(piece)
        answer.raw = without_data_tags("".join(pieces)).strip()
        answer.refusal_p = gate.probability if gate else None
        answer.yes_p = gate.yes_probability if gate else None
        self._finish(answer, evidence)

    def _count_mentions(
        self, question: str, searched: str, term: str, filters: Filters | None, started: float
    ) -> Iterator[Retrieved | Done]:
        rows = self.retriever.mention_rows(term)
        mentions = find_mentions(term, self.index.chunks, filters, rows=rows, allowed=self.retriever.allowed(filters))
        yield Retrieved(searched, mentions.evidence)
        counted = mentions_answer(mentions)
        elapsed = time.perf_counter() - started
        yield Done(
            Answer(
                question=question,
                searched=searched,
                text=counted.text,
                abstained=False,
                evidence=mentions.evidence,
                citations=counted.citations,
                sentences=counted.sentences,
                timings={"retrieval_s": elapsed, "first_token_s": elapsed, "total_s": elapsed},
            )
        )

    def _brief(
        self, question: str, searched: str, filters: Filters | None, started: float
    ) -> Iterator[Retrieved | Token | Done]:
        """A briefing: its sources once gathered, then its bullets one by one (each a quoted sentence, so it
        stands in the passage it cites by construction)."""
        briefing = brief(self.retriever, searched, filters)
        timings = {"retrieval_s": time.perf_counter() - started}
        yield Retrieved(searched, briefing.evidence)
        answer = Answer(question, searched, ABSTAIN_TEXT, abstained=True, evidence=briefing.evidence)
        answer.briefing = briefing
        if not briefing.bullets:
            answer.text = f"{ABSTAIN_TEXT} None of the articles found is about {briefing.topic}."
        else:
            numbers = {e.number: e for e in briefing.evidence}
            for n, line in enumerate(briefing.text.splitlines()):
                if n == 0:
                    timings["first_token_s"] = time.perf_counter() - started
                yield Token(("\n" if n else "") + line)
            answer.text, answer.abstained = briefing.text, False
            for bullet in briefing.bullets:
                answer.sentences.append(CheckedSentence(bullet.text, bullet.markers, supported=True))
                for statement, marker in zip(bullet.fact.statements, bullet.markers, strict=True):
                    start, end = statement.span
                    answer.citations.append(Citation(marker, numbers[marker], statement.text, start, end))
        timings.setdefault("first_token_s", time.perf_counter() - started)
        timings["total_s"] = time.perf_counter() - started
        answer.timings = timings
        yield Done(answer)

    def _finish(self, answer: Answer, evidence: list[Evidence]) -> None:
        if not answer.raw or is_not_found(answer.raw):
            return
        if not self.settings.check:
            answer.text, answer.abstained = answer.raw, False  # the plain pipeline: markers taken on trust
            numbers = {e.number: e for e in evidence}
            answer.citations = [
                Citation(n, numbers[n], numbers[n].text, numbers[n].start, numbers[n].end)
                for n in markers_of(answer.raw)
                if n in numbers
            ]
            return
        checked = check_answer(answer.raw, evidence, answer.searched, self.settings.rules_off)
        if not checked.sentences:
            return
        if not any(s.supported for s in checked.sentences):
            return
        answer.text = checked.text
        answer.sentences = checked.sentences
        answer.citations = checked.citations
        answer.abstained = False

    def answer(
        self,
        question: str,
        filters: Filters | None = None,
        history: list[tuple[str, str]] | None = None,
        briefing: bool = False,
        within: tuple[str, ...] = (),
    ) -> Answer:
        for event in self.stream(question, filters, history, briefing, within):
            if isinstance(event, Done):
                return event.answer
        raise RuntimeError("the pipeline ended without an answer")
