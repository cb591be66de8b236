import numpy as np

from rag.generate import RefusalGate


def logits_with(refusal: float, other: float = 0.0, size: int = 5) -> np.ndarray:
    logits = np.full(size, -10.0, dtype=np.float32)
    logits[0], logits[3] = refusal, other  # token 0: the refusal; token 3: the start of an answer
    return logits


def test_unlikely_refusal_is_ruled_out_and_the_model_must_answer():
    gate = RefusalGate(refusal_token=0, threshold=0.5)
    out = gate(np.array([]), logits_with(refusal=0.0, other=1.0))
    assert 0.2 < gate.probability < 0.3 and not gate.refused
    assert out[0] == -np.inf and int(np.argmax(out)) == 3


def test_likely_refusal_is_forced_even_when_not_the_first_choice():
    gate = RefusalGate(refusal_token=0, threshold=0.2)
    out = gate(np.array([]), logits_with(refusal=0.0, other=1.0))
    assert gate.refused
    assert int(np.argmax(out)) == 0 and np.isinf(out[3])


def test_only_the_first_token_is_judged():
    gate = RefusalGate(refusal_token=0, threshold=0.5)
    gate(np.array([]), logits_with(refusal=0.0, other=5.0))
    later = logits_with(refusal=9.0)
    assert np.array_equal(gate(np.array([1]), later.copy()), later)
    assert not gate.refused
