"""The embedding pass on Ray (`python -m rag.build_index --ray`, rag.cluster.RayEncoder): a local Ray instance
of this machine (no network) embeds, and the index is the one a single-process build writes."""

import re
import shutil
import sys

import numpy as np
import pytest
from conftest import SEEDS
from fakes import write_corpus

from rag import build_index as build_command
from rag.cluster import INSTALL_HINT, RayEncoder
from rag.errors import ModelError
from rag.index_store import build_index, load_index

# Hand-written articles beside the seed article: enough sentences that the Ray pass runs many small batches on
# both actors, whose results come back out of order unless the encoder puts them back.
ARTICLES = {
    "harbour.txt": "Harbour reopens after storm\nPublished: 2024-03-02\nCoast Gazette\n\n"
    + " ".join(f"Crews cleared {n} wrecked boats from berth {n} on Monday." for n in range(1, 13)),
    "budget.md": "# Council passes budget\n\n"
    + " ".join(f"Councillor {name} voted for the plan after a long debate." for name in "ABCDEFGHIJ")
    + "\n\nThe mayor said the library would stay open on Sundays.",
    "rates.txt": "Central bank holds rates\nPublished: 2024-05-10\nMarket Wire\n\n"
    + " ".join(f"Analysts in city {n} had expected a cut of {n} basis points." for n in range(1, 11)),
    "football.txt": "Late goal wins the derby\nPublished: 2024-08-18\nSports Desk\n\n"
    + " ".join(f"In minute {n} the home side pressed but the keeper held firm." for n in range(80, 92)),
}


@pytest.fixture(scope="module")
def local_ray():
    """Ray on this machine only: two CPUs, no dashboard, shut down after the module's tests."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.mark.embedder
def test_an_index_embedded_on_ray_equals_the_single_process_one(tmp_path, local_ray):
    corpus = write_corpus(tmp_path, ARTICLES)
    for seed in SEEDS.iterdir():
        shutil.copy(seed, corpus / seed.name)

    single = build_index(corpus, tmp_path / "single", show_progress=False, log=lambda _: None)
    # Batches of 16 texts: dozens of blocks over two actors, which Ray Data returns in no set order (the build
    # embeds its texts shortest first, so a vector put back in the wrong row differs from the one expected).
    with RayEncoder(workers=2, batch_size=16, progress=False) as encoder:
        assert encoder.texts_per_call > 10_000  # the build hands it every text at once, not slices of 256
        assert encoder.encode([]).shape == (0, encoder.dimension)
        clustered = build_index(corpus, tmp_path / "ray", show_progress=False, log=lambda _: None, encoder=encoder)
    assert local_ray.is_initialized()  # a Ray the caller started is left running
    assert clustered.embedded_chunks == single.embedded_chunks > 10

    one, other = load_index(tmp_path / "single"), load_index(tmp_path / "ray")
    assert [(c.chunk_id, c.text) for c in other.chunks] == [(c.chunk_id, c.text) for c in one.chunks]
    assert [c.to_dict() for c in other.chunks] == [c.to_dict() for c in one.chunks]
    one_vectors = one.vectors.reconstruct_n(0, one.vectors.ntotal)
    other_vectors = other.vectors.reconstruct_n(0, other.vectors.ntotal)
    assert one_vectors.shape == other_vectors.shape
    np.testing.assert_allclose(other_vectors, one_vectors, atol=1e-5)
    assert other.sentence_vectors.shape == one.sentence_vectors.shape
    assert len(one.sentence_vectors) > len(one.chunks)
    np.testing.assert_allclose(
        np.asarray(other.sentence_vectors, dtype=np.float32),
        np.asarray(one.sentence_vectors, dtype=np.float32),
        atol=2e-3,
    )
    assert other.manifest["articles"] == one.manifest["articles"]
    assert other.manifest["embedder"] == one.manifest["embedder"]


def test_without_ray_the_command_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    corpus = write_corpus(tmp_path, ARTICLES)
    with pytest.raises(ModelError, match=re.escape(INSTALL_HINT)):
        RayEncoder()
    assert build_command.main(["--corpus", str(corpus), "--index", str(tmp_path / "index"), "--ray"]) == 2
    error = capsys.readouterr().err
    assert "pip install -e '.[cluster]'" in error
    assert not (tmp_path / "index").exists()  # nothing was built without the cluster asked for
