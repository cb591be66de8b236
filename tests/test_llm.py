"""Model assembly and model errors (the real model is exercised in test_end_to_end.py)."""

import hashlib

import pytest

from rag.embedding import Embedder, ModelError
from rag.llm import DEFAULT_MODEL_SHA256, assemble_default_model, part_paths, resolve_model_path


def _parts(tmp_path, chunks):
    paths = []
    for number, data in enumerate(chunks, start=1):
        path = tmp_path / f"part{number:02d}.bin"
        path.write_bytes(data)
        paths.append(path)
    return paths


def test_parts_are_concatenated_in_order_hash_checked_and_reused(tmp_path):
    chunks = [b"GGUF", b"-middle-", b"end"]
    digest = hashlib.sha256(b"".join(chunks)).hexdigest()
    cache = tmp_path / "cache"
    target = assemble_default_model(cache, _parts(tmp_path, chunks), digest, expected_size=15)
    assert target.read_bytes() == b"GGUF-middle-end"
    # The second call trusts the verified stamp and never touches the parts.
    assert assemble_default_model(cache, [tmp_path / "gone.bin"], digest, expected_size=15) == target


def test_wrong_hash_after_assembling_is_a_clear_error_and_leaves_nothing(tmp_path):
    cache = tmp_path / "cache"
    with pytest.raises(ModelError, match="corrupt: sha256 .* expected " + DEFAULT_MODEL_SHA256[:8]):
        assemble_default_model(cache, _parts(tmp_path, [b"GGUF", b"tampered"]), DEFAULT_MODEL_SHA256, None)
    assert list(cache.iterdir()) == []


def test_default_model_parts_are_installed_in_order():
    paths = part_paths()
    assert [p.name for p in paths] == [f"part{n:02d}.bin" for n in range(1, 23)]
    assert all(p.is_file() for p in paths)


def test_missing_or_wrong_model_file_says_what_to_do(tmp_path, monkeypatch):
    with pytest.raises(ModelError, match="not found: pass --model PATH"):
        resolve_model_path(str(tmp_path / "missing.gguf"))
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ModelError, match="not a GGUF"):
        resolve_model_path(str(tmp_path / "notes.txt"))
    from rag.config import Settings  # RAG_MODEL reaches the model through the settings tree

    monkeypatch.setenv("RAG_MODEL", str(tmp_path / "env.gguf"))
    with pytest.raises(ModelError, match="env.gguf not found"):
        resolve_model_path(Settings.from_env().model)


@pytest.mark.embedder  # sentence-transformers is imported and asked to load the folder
def test_unknown_embedder_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="cannot load embedder"):
        Embedder(str(tmp_path / "no-such-model"))


@pytest.mark.embedder
def test_an_int8_embedder_is_exported_once_and_stays_close_to_the_float_one(tmp_path, monkeypatch):
    import numpy as np

    from rag import embedding
    from rag.config import DEFAULT_EMBEDDER, PACKAGED_EMBEDDER
    from rag.index_store import embedder_difference, embedder_record

    monkeypatch.setenv("RAG_CACHE", str(tmp_path))
    texts = ["Shares in the airline rose 5% on Monday.", "The minister resigned after the vote.", "Rain at last."]
    assert DEFAULT_EMBEDDER == PACKAGED_EMBEDDER + "@int8"  # the default
    plain, int8 = Embedder(PACKAGED_EMBEDDER), Embedder(DEFAULT_EMBEDDER, batch_size=2)
    assert int8.name.endswith("@int8") and int8.dimension == plain.dimension
    assert all(p.device.type == "meta" for p in int8.model.parameters())  # its float weights let go
    exports = list(tmp_path.glob("embedders/*/model-int8.onnx"))
    assert exports == [int8.onnx.path]  # the export lies in the cache, keyed by the weights
    a, b = plain.encode(texts), int8.encode(texts)
    assert np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-4)
    cosines = (a * b).sum(axis=1)
    assert cosines.min() > 0.96 and not np.allclose(a, b, atol=1e-3)  # close, yet other vectors
    # Batches are formed longest first; every vector comes back in the order of its text.
    assert np.allclose(int8.encode(texts[::-1]), b[::-1], atol=1e-5)
    assert int8.encode([]).shape == (0, int8.dimension)
    assert "embedder changed" in embedder_difference(embedder_record(plain), int8)  # never mixed in one index

    def no_export(*args):
        raise AssertionError("exported again")

    monkeypatch.setattr(embedding, "_export_int8", no_export)
    again = Embedder(DEFAULT_EMBEDDER)  # the cached export, in batches of another size
    assert np.allclose(again.encode(texts), b, atol=1e-5)
    with pytest.raises(ModelError, match="runs on the CPU"):
        Embedder(DEFAULT_EMBEDDER, device="meta")
