"""rag.eval.model_cache: a recorded reply is replayed for the same request, the refusal gate's decision with it."""

from rag.eval.model_cache import CachedModel
from rag.generate import RefusalGate


class CountingModel:
    context_tokens = 4096
    path = "fake.gguf"

    def __init__(self) -> None:
        self.calls = 0

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def first_token(self, text: str) -> int:
        return 7

    def stream_chat(self, messages, max_tokens=160, logits_processor=None, **_):
        self.calls += 1
        if logits_processor is not None:
            logits_processor.probability = 0.9  # as if the gate had seen the first token's logits
        yield from ["NOT", " IN", " ARTICLES"]


def _read(model, gate=None, stop_after=None):
    pieces = []
    for piece in model.stream_chat([{"role": "user", "content": "q"}], max_tokens=10, logits_processor=gate):
        pieces.append(piece)
        if stop_after and len(pieces) == stop_after:
            break
    return pieces


def test_the_same_request_is_read_once_and_replayed_after(tmp_path):
    inner = CountingModel()
    cached = CachedModel(inner, tmp_path / "replies.jsonl")
    assert _read(cached) == ["NOT", " IN", " ARTICLES"]
    assert _read(cached) == ["NOT", " IN", " ARTICLES"] and inner.calls == 1
    again = CachedModel(inner, tmp_path / "replies.jsonl")  # recorded on disk for the next run
    assert _read(again) == ["NOT", " IN", " ARTICLES"] and inner.calls == 1
    other = [{"role": "user", "content": "another question"}]
    assert list(again.stream_chat(other, max_tokens=10)) and inner.calls == 2


def test_a_gate_decision_is_replayed_and_a_gate_with_another_threshold_reads_anew(tmp_path):
    inner = CountingModel()
    cached = CachedModel(inner, tmp_path / "replies.jsonl")
    _read(cached, RefusalGate([7], 0.5), stop_after=1)  # the caller stops at the first token, as on a refusal
    replayed = RefusalGate([7], 0.5)
    assert _read(cached, replayed, stop_after=1) == ["NOT"] and inner.calls == 1
    assert replayed.probability == 0.9 and replayed.refused
    _read(cached, RefusalGate([7], 0.95))
    assert inner.calls == 2


def test_a_line_cut_short_by_a_stopped_run_is_skipped_and_asked_again(tmp_path):
    inner = CountingModel()
    path = tmp_path / "replies.jsonl"
    _read(CachedModel(inner, path))
    with open(path, "a", encoding="utf-8") as handle:
        handle.write('{"key": "abc", "pieces": ["cut')  # the process was killed mid-line
    again = CachedModel(inner, path)
    assert _read(again) == ["NOT", " IN", " ARTICLES"] and inner.calls == 1
