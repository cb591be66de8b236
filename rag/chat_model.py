"""What the pipeline needs from a chat model: rag.llm.LocalModel is one, a scripted model in the tests another.

`Pipeline` reads the context size and counts tokens to fit the passages (`fit_to_context`), asks for the first
token of the replies the refusal gate judges (`first_token`), streams the answer (`stream_chat`, with the gate
as its logits processor) and rewrites a follow-up question (`chat`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol, runtime_checkable

import numpy as np

# Sees (and may change) the logits of each generated token: (input_ids, logits) -> logits (rag.generate.RefusalGate).
LogitsProcessor = Callable[[np.ndarray, np.ndarray], np.ndarray]


@runtime_checkable
class ChatModel(Protocol):
    @property
    def context_tokens(self) -> int:
        """How many tokens the prompt and the reply may take together."""
        ...

    def count_tokens(self, text: str) -> int: ...

    def first_token(self, text: str) -> int:
        """The token a reply starting with `text` begins with."""
        ...

    def stream_chat(
        self, messages: list[dict], *, max_tokens: int = 160, logits_processor: LogitsProcessor | None = None
    ) -> Iterator[str]:
        """The reply to `messages` in pieces of text, greedy; `logits_processor` may change every token's logits."""
        ...

    def chat(self, messages: list[dict], *, max_tokens: int = 160) -> str:
        """The whole reply at once (`stream_chat` joined)."""
        ...
