"""A measuring aid: the model's replies recorded on disk and replayed, so a run that changes one rule
reads only the prompts that rule changed (`rag.eval.evaluate --cache FILE`, `rag.eval.ablate`).

Decoding is greedy, so the same prompt with the same logits processor gives the same reply; the key is
the whole request. A logits processor that decides something at the first token (the refusal gate)
takes part in the key through `cache_key()` and has its decision restored through `restore()`. Times
measured on a replayed run mean nothing: report quality from it, never speed.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path


class CachedModel:
    """Wraps a LocalModel (or anything with its methods); `stream_chat` replays a recorded reply."""

    def __init__(self, model, path: Path | str) -> None:
        self.model = model
        self.path = Path(path)
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        self._replies: dict[str, dict] = {}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            with open(self.path, encoding="utf-8") as handle:
                for line in handle:
                    try:
                        entry = json.loads(line)
                    except json.JSONDecodeError:
                        continue  # a line cut short by a run that was stopped: that reply is asked again
                    self._replies[entry["key"]] = entry

    @property
    def context_tokens(self) -> int:
        return self.model.context_tokens

    def count_tokens(self, text: str) -> int:
        return self.model.count_tokens(text)

    def first_token(self, text: str) -> int:
        return self.model.first_token(text)

    def _key(self, messages: list[dict], processor, **options) -> str:
        request = {
            "model": str(getattr(self.model, "path", getattr(self.model, "name", ""))),
            "messages": messages,
            "processor": processor.cache_key() if processor is not None else None,
            **options,
        }
        return hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()

    def stream_chat(
        self, messages: list[dict], max_tokens: int = 160, logits_processor=None, **options
    ) -> Iterator[str]:
        key = self._key(messages, logits_processor, max_tokens=max_tokens, **options)
        entry = self._replies.get(key)
        if entry is not None:
            self.hits += 1
            if logits_processor is not None:
                logits_processor.restore(entry["processor"])
            yield from entry["pieces"]
            return
        self.misses += 1
        pieces: list[str] = []
        complete = False
        try:
            for piece in self.model.stream_chat(
                messages, max_tokens=max_tokens, logits_processor=logits_processor, **options
            ):
                pieces.append(piece)
                yield piece
            complete = True
        finally:
            # A reply the caller stopped reading (the gate refused at the first token) is recorded as far
            # as it was read: replayed, the caller stops at the same point.
            entry = {
                "key": key,
                "pieces": pieces,
                "complete": complete,
                "processor": logits_processor.snapshot() if logits_processor is not None else None,
            }
            with self._lock:
                self._replies[key] = entry
                with open(self.path, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps(entry, ensure_ascii=False) + "\n")

    def chat(self, messages: list[dict], **kwargs) -> str:
        return "".join(self.stream_chat(messages, **kwargs))
