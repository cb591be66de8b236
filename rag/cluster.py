"""The bulk embedding pass of a build on a Ray cluster (`python -m rag.build_index --ray [ADDRESS]`).

`RayEncoder` has the surface of rag.embedding.Embedder that a build's embedding pass uses (`name`, `dimension`,
`encode`) and sends the texts through Ray Data: one row per text with its position, `map_batches` over a fixed
pool of actors that each load the same embedder once (on a GPU worker, on its GPU), the vectors put back in the
order of the texts. Everything else of a build (reading, chunking, the manifest's embedder record and probe
vector, writing the index) stays in the building process with the local Embedder of the same name, so an index
built this way is the one a single-process build writes (tests/test_ray_build.py) and is searched the same way.

Ray is an optional extra (`pip install -e '.[cluster]'`): it is imported only when a RayEncoder connects.
Every machine of the cluster needs this package and the embedder installed (docs/cluster.md).
"""

from __future__ import annotations

import math
from types import ModuleType, TracebackType
from typing import Any

import numpy as np

from rag.embedding import Embedder, embedder_name, get_embedder
from rag.errors import ModelError

INSTALL_HINT = "pip install -e '.[cluster]'"
# Texts per map_batches call (a block of the dataset). A CPU actor embeds them in the Embedder's own batches of
# 32, as a single-process build does; a GPU actor in one batch of GPU_BATCH, which a GPU needs to be kept busy.
CPU_BATCH = 256
GPU_BATCH = 1024
# Each `encode` call starts its pool of actors, and each actor loads the embedder: 10-30 s on 2 busy cores, some
# seconds on a GPU node. A build's embedding pass therefore hands a RayEncoder this many texts per call
# (`texts_per_call`), not the few hundred it gives the local Embedder; 500,000 texts and their float32 vectors
# (384 dimensions: 0.8 GB) fit in the building process's memory.
TEXTS_PER_CALL = 500_000


def import_ray() -> ModuleType:
    """The ray module, or a ModelError naming the command that installs it."""
    try:
        import ray
        import ray.data  # noqa: F401 - the Data library is a separate part of the `ray[data]` extra
    except ImportError as error:
        raise ModelError(f"building on a Ray cluster needs Ray, not installed here: `{INSTALL_HINT}`") from error
    return ray


class EmbedBatch:
    """The map_batches callable: one per actor, which loads the embedder once and embeds every batch it is given."""

    def __init__(self, name: str, gpu: bool) -> None:
        # On a GPU worker Ray sets CUDA_VISIBLE_DEVICES to the GPUs it gave this actor: "cuda" is the first of them.
        self.embedder = Embedder(name, batch_size=GPU_BATCH, device="cuda") if gpu else Embedder(name)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        vectors = self.embedder.encode([str(text) for text in batch["text"]])
        return {"row": batch["row"], "vector": vectors}


class RayEncoder:
    """Embeds a build's texts on a Ray cluster with the weights of the local embedder of the same name.

    `address`: a running cluster ("HEAD:6379", or "auto" for the one `ray start` made on this machine); None
    starts a local instance on this machine, shut down again by `close` (a Ray already initialized in this
    process is used as it is and left running). `workers`: actors in the pool (default: one per CPU of the
    cluster, or one per `gpus_per_worker` GPUs). `batch_size`: texts per map_batches call (CPU_BATCH or GPU_BATCH
    by default). Use it as a context manager, or call `close`.
    """

    def __init__(
        self,
        name: str | None = None,
        address: str | None = None,
        workers: int | None = None,
        gpus_per_worker: float = 0,
        progress: bool = True,
        batch_size: int | None = None,
    ) -> None:
        if workers is not None and workers < 1:
            raise ValueError(f"a Ray pool needs at least one worker, not {workers}")
        if gpus_per_worker < 0:
            raise ValueError(f"GPUs per worker cannot be negative ({gpus_per_worker})")
        # Ray is imported first: a missing extra is told before seconds go into loading the embedder.
        self._module = import_ray()
        self.name = embedder_name(name)
        self.address = address
        self.workers = workers
        self.gpus_per_worker = gpus_per_worker
        self.progress = progress
        self.batch_size = batch_size or (GPU_BATCH if gpus_per_worker > 0 else CPU_BATCH)
        self.texts_per_call = TEXTS_PER_CALL
        self._ray: ModuleType | None = None
        self._started = False  # whether this encoder initialized Ray (and so shuts it down)
        # The local embedder of the same name: its dimension here, its record and probe vector in the manifest.
        self.dimension = get_embedder(self.name).dimension

    def connect(self) -> ModuleType:
        """Ray, initialized: connected to `address`, or a local instance (done on the first `encode`)."""
        if self._ray is not None:
            return self._ray
        ray = self._module
        if not ray.is_initialized():
            # "local" starts an instance of this machine even when `ray start` left one running: no address
            # means this machine alone, as the command's help says.
            ray.init(address=self.address or "local", include_dashboard=False, log_to_driver=False)
            self._started = True
        ray.data.DataContext.get_current().enable_progress_bars = self.progress
        self._ray = ray
        return ray

    def pool_size(self) -> int:
        """The actors to start: as asked, or as many as the cluster's CPUs (GPUs) allow."""
        if self.workers is not None:
            return self.workers
        resources: dict[str, Any] = self.connect().cluster_resources()
        if self.gpus_per_worker:
            return max(1, math.floor(resources.get("GPU", 0) / self.gpus_per_worker))
        return max(1, int(resources.get("CPU", 1)))

    def encode(self, texts: list[str]) -> np.ndarray:
        """Normalized float32 vectors, one row per text in the order given."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        ray = self.connect()
        gpu, batch = self.gpus_per_worker > 0, self.batch_size
        import pyarrow as pa  # a dependency of ray[data]

        table = pa.table({"row": np.arange(len(texts), dtype=np.int64), "text": texts})
        # One block per batch (zero-copy slices), so every actor of the pool gets work: a block goes to one actor.
        rows = ray.data.from_arrow([table.slice(offset, batch) for offset in range(0, len(texts), batch)])
        embedded = rows.map_batches(
            EmbedBatch,
            fn_constructor_kwargs={"name": self.name, "gpu": gpu},
            batch_size=batch,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=self.pool_size()),
            num_cpus=1,
            num_gpus=self.gpus_per_worker or None,
            udf_modifying_row_count=False,
        )
        # Ray Data does not keep the row order by default: each vector goes back to its text's position.
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        returned = np.zeros(len(texts), dtype=bool)
        for result in embedded.iter_batches(batch_size=None, batch_format="numpy"):
            vectors[result["row"]] = result["vector"]
            returned[result["row"]] = True
        if not returned.all():
            raise RuntimeError(f"the Ray pool returned no vector for {int((~returned).sum())} of {len(texts)} texts")
        return vectors

    def close(self) -> None:
        """Shut down the local Ray instance this encoder started, or disconnect from the cluster it connected to
        (which keeps running); a Ray initialized by the caller is left as it was."""
        if self._ray is not None and self._started:
            self._ray.shutdown()
        self._ray, self._started = None, False

    def __enter__(self) -> RayEncoder:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()
