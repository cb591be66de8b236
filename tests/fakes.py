"""Stand-ins for the two real models, for fast tests of the logic around them.

`ScriptedModel` is a `rag.chat_model.ChatModel` that replies from a script and records every prompt;
its first token goes through the pipeline's logits processor (the refusal gate) as a real model's
would, with the probabilities the script gives. `ExtractiveModel` needs no script: it answers with the
passage sentence that shares most words with the question (for tests where questions come in any
order, such as the load test's). `HashingEmbedder` is an `rag.embedding.Embedder` that
hashes words into a fixed number of dimensions: texts sharing words are close, and nothing is loaded.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.embedding import Embedder
from rag.generate import NOT_FOUND

_PIECE = re.compile(r"\s*(\w+|\S)")
_STOPWORDS = frozenset(
    "a an and are as at be by did do does for from had has have he her his how in is it its of on or said say "
    "says she that the their they this to was were what when where which who why will with".split()
)


@dataclass
class Reply:
    """One scripted reply: what the model writes when it does not refuse, and its first token's odds."""

    text: str
    refusal_p: float = 0.0  # probability of starting NOT IN ARTICLES, which the refusal gate judges
    yes_p: float | None = None  # for a yes/no question: the share of "Yes" in the yes-or-no probability


def _first_piece(text: str) -> tuple[str, str]:
    """The first token of a reply as this model tokenizes (a word or a sign), and the rest."""
    match = _PIECE.match(text)
    if not match:
        return "", text
    return match.group(1), text[match.end() :]


class ScriptedModel:
    """Answers each prompt with the next reply of its script; records the prompts and logits processors."""

    context_tokens = 4096

    def __init__(self, *script: str | Reply) -> None:
        self.script = [r if isinstance(r, Reply) else Reply(r) for r in script]
        self.prompts: list[list[dict]] = []  # every request's messages, in order
        self.processors: list = []  # the logits processor of each request (None when there was none)
        self._vocabulary: dict[str, int] = {}

    # --- what the pipeline calls (rag.chat_model.ChatModel) ---------------------------------------------
    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def first_token(self, text: str) -> int:
        return self._token(_first_piece(text)[0])

    def stream_chat(self, messages: list[dict], max_tokens: int = 160, logits_processor=None, **_) -> Iterator[str]:
        self.prompts.append(messages)
        self.processors.append(logits_processor)
        if not self.script:
            raise AssertionError(f"the model was asked {len(self.prompts)} times; the script has no more replies")
        text = self._write(self.script.pop(0), logits_processor)
        yield from re.findall(r"\S+\s*", text)  # word by word, as a model streams

    def chat(self, messages: list[dict], **options) -> str:
        return "".join(self.stream_chat(messages, **options))

    # --- what the tests read ----------------------------------------------------------------------------
    @property
    def reads(self) -> int:
        return len(self.prompts)

    def user_message(self, read: int = -1) -> str:
        return self.prompts[read][-1]["content"]

    def shown(self, read: int = -1) -> list[int]:
        """The numbers of the passages the prompt of this read showed."""
        return [int(n) for n in re.findall(r'^\[(\d+)\] "', self.user_message(read), flags=re.MULTILINE)]

    # --- the first token, as a real model's: probabilities, then the logits processor -----------------------
    def _token(self, piece: str) -> int:
        return self._vocabulary.setdefault(piece, len(self._vocabulary))

    def _write(self, reply: Reply, processor) -> str:
        first, rest = _first_piece(reply.text)
        refusal = self.first_token(NOT_FOUND)
        probabilities = {refusal: reply.refusal_p}
        others = 1.0 - reply.refusal_p
        if reply.yes_p is None:
            own = self._token(first)
            probabilities[own] = probabilities.get(own, 0.0) + others
        else:
            yes, no = self.first_token("Yes"), self.first_token("No")
            probabilities[yes] = probabilities.get(yes, 0.0) + others * reply.yes_p
            probabilities[no] = probabilities.get(no, 0.0) + others * (1 - reply.yes_p)
        self.first_token(NOT_FOUND.capitalize())  # every token a processor may ask about is in the vocabulary
        logits = np.full(len(self._vocabulary), -np.inf, dtype=np.float32)
        for token, p in probabilities.items():
            if p > 0:
                logits[token] = np.log(p)
        if processor is not None:
            logits = processor(np.zeros(0, dtype=np.intc), logits)
        chosen = int(np.argmax(logits))
        if not np.isfinite(logits[chosen]):
            raise AssertionError(f"nothing is left to write after the logits processor: script more than {reply}")
        if chosen in (refusal, self.first_token(NOT_FOUND.capitalize())):
            return NOT_FOUND
        piece = next(p for p, token in self._vocabulary.items() if token == chosen)
        return piece + rest


class ExtractiveModel(ScriptedModel):
    """Answers each question with the sentence of its passages sharing most words with it, cited; never
    refuses. A follow-up is left for the pipeline to rewrite on its own (an empty rewrite)."""

    def stream_chat(self, messages: list[dict], max_tokens: int = 160, logits_processor=None, **_) -> Iterator[str]:
        prompt = messages[-1]["content"]
        if "Question:" not in prompt:  # the follow-up rewrite: nothing, so the pipeline joins the two questions
            self.prompts.append(messages)
            self.processors.append(logits_processor)
            return
        self.script = [Reply(_best_sentence(prompt))]
        yield from super().stream_chat(messages, max_tokens, logits_processor)


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"\w+", text.lower()) if w not in _STOPWORDS}


def _best_sentence(prompt: str) -> str:
    passages, _, question = prompt.rpartition("\n\nQuestion:")
    best, best_overlap = NOT_FOUND, 0
    for number, text in re.findall(r"^\[(\d+)\] [^\n]*\n(.*?)(?=\n\n\[\d+\] |\Z)", passages, re.M | re.S):
        for sentence in re.split(r"(?<=[.!?])\s+", text.strip()):
            overlap = len(_words(sentence) & _words(question))
            if overlap > best_overlap and sentence.endswith("."):
                best, best_overlap = f"{sentence[:-1]} [{number}].", overlap
    return best


class HashingEmbedder(Embedder):
    """Words (lowercased, a plural's "s" cut, common words left out) hashed into `dimension` signed buckets,
    normalized: deterministic across processes, and instant. Another `seed` hashes words elsewhere: the
    same embedder by name and dimension with other weights."""

    def __init__(self, dimension: int = 256, name: str = "hashing-embedder-for-tests", seed: int = 0) -> None:
        self.name = name
        self.dimension = dimension
        self.seed = seed
        self.batch_size = 32
        self.texts = 0  # how many texts it has encoded

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        self.texts += len(texts)
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                if word in _STOPWORDS:
                    continue
                word = word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word
                digest = zlib.crc32(word.encode("utf-8"), self.seed)
                vectors[row, digest % self.dimension] += 1.0 if digest & 1 << 31 else -1.0
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1.0, norms)


def write_corpus(folder: Path, articles: dict[str, str]) -> Path:
    """The articles (file name -> text) written into folder/corpus."""
    corpus = folder / "corpus"
    corpus.mkdir(parents=True)
    for name, text in articles.items():
        (corpus / name).write_text(text, encoding="utf-8")
    return corpus
