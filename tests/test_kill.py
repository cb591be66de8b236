"""A build killed at any moment (issue 17, item 7): `python -m rag.build_index` run as a user runs it, with the
real embedder, and killed with SIGKILL at seeded random moments while it brings an index of a changed corpus
up to date. After each kill the index loads, answers a search, and is exactly the previous generation or
the new one; its lock does not block the next build, which completes and gives the new generation.

The moments: each step of rag.index_store.BUILD_STEPS once (after the embedding, after each file written,
just after the swap of `current`), where the build is made to wait by RAG_BUILD_PAUSE_AT, and the rest at
random fractions of the time from the start of the embedding to the swap (measured by the run paused at the
swap), counted from when the build's progress shows the embedding has started. Every run starts from a copy
of the first generation; two run at a time (starting Python with torch is most of each run), and the
checks and the builds after the kills run afterwards, one by one. Every process embeds on one thread: two
torch threads on two cores that other work also uses spend more time waiting for each other than working
(a normal build here took 12 s on two threads, about 1 s on one).
"""

from __future__ import annotations

import fcntl
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from rag import index_store
from rag.embedding import get_embedder
from rag.index_store import Index, load_index
from rag.retrieve import Retriever

pytestmark = pytest.mark.embedder  # the command, the builds and the searches use the real embedder

ROOT = Path(__file__).resolve().parent.parent
SEED = 17
KILLS = 10
ARTICLES = 200  # 3-5 short sentences each: ~1,000 texts to embed for the first generation
CHANGED = 8  # articles rewritten, and as many added: the build killed embeds ~80 texts
WAIT_S = 300  # for a build to reach its pause on a busy machine
EMBEDDING = "embedding: "  # the build's progress bar (stderr) once it embeds

OUTLETS = ["Coast Herald", "Valley Times", "Northern Post", "Metro Daily", "Harbour News"]
CITIES = ["Ashford", "Brinley", "Calder", "Dunmore", "Elsworth", "Farnham", "Glenrock", "Holloway"]
THINGS = ["bridge", "tram line", "school", "library", "hospital wing", "sea wall", "stadium", "reservoir"]
PEOPLE = ["Mayor Ruth Okafor", "Councillor Dev Patel", "Engineer Mia Lund", "Treasurer Tom Reyes"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
MONTHS = ["March", "April", "May", "June", "September", "October"]
SYLLABLES = ["var", "nok", "tel", "bri", "sam", "dor", "qua", "lin", "rex", "mo", "ul", "zan", "pe", "kir"]


def _names(rng: random.Random, count: int) -> list[str]:
    """Made-up names, one per article, that no other article holds: a search for one finds its article."""
    names: set[str] = set()
    while len(names) < count:
        names.add("".join(rng.sample(SYLLABLES, 3)).capitalize())
    return sorted(names)


def _article(name: str, rng: random.Random, revised: bool = False) -> str:
    city, thing, person = rng.choice(CITIES), rng.choice(THINGS), rng.choice(PEOPLE)
    sentences = [
        f"The {name} committee met in {city} on {rng.choice(DAYS)} to discuss the new {thing}.",
        f"Officials said the {thing} would cost {rng.randint(2, 90)} million pounds.",
        f"{person} told reporters the plan was {rng.choice(['sound', 'rushed', 'overdue', 'bold'])}.",
        f"Residents of {city} have waited {rng.randint(2, 30)} years for the {thing}.",
        f"A vote on the {name} proposal is expected in {rng.choice(MONTHS)}.",
    ][: rng.randint(3, 5)]
    if revised:
        sentences.append(f"Late on Friday the {name} committee postponed its vote on the {thing}.")
    date = f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    return f"{name} committee weighs {thing} for {city}\n{date}\n{rng.choice(OUTLETS)}\n\n" + " ".join(sentences)


@dataclass
class Generation:
    """What must be the same in an index for it to be this generation."""

    articles: dict  # article id -> what the manifest records of it (the file's hash among them)
    chunks: list[dict]
    vectors: np.ndarray
    sentence_vectors: np.ndarray

    @classmethod
    def of(cls, index: Index) -> Generation:
        return cls(
            articles=index.manifest["articles"],
            chunks=[chunk.to_dict() for chunk in index.chunks],
            vectors=index.vectors.reconstruct_n(0, index.vectors.ntotal),
            sentence_vectors=np.asarray(index.sentence_vectors, dtype=np.float32),
        )

    def is_(self, other: Generation) -> bool:
        return (
            self.articles == other.articles
            and self.chunks == other.chunks
            and np.allclose(self.vectors, other.vectors, atol=1e-4)  # kept rows copied, new ones embedded anew
            and np.allclose(self.sentence_vectors, other.sentence_vectors, atol=2e-3)  # stored as float16
        )


def _start(corpus: Path, index: Path, log: Path, pause: str | None) -> subprocess.Popen:
    env = {key: value for key, value in os.environ.items() if not key.startswith("RAG_")}  # the defaults
    env["OMP_NUM_THREADS"] = "1"  # two builds share the two cores
    if pause:
        env["RAG_BUILD_PAUSE_AT"] = pause
    command = [sys.executable, "-m", "rag.build_index", "--corpus", str(corpus), "--index", str(index)]
    with open(log, "w") as err:
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True
        )


def _wait_for(process: subprocess.Popen, log: Path, text: str, started: float) -> float:
    """Seconds from `started` until the build's stderr shows `text`."""
    while text not in log.read_text(errors="replace"):
        if process.poll() is not None:
            pytest.fail(f"the build ended ({process.returncode}) before {text!r}: {log.read_text()[-2000:]}")
        if time.monotonic() - started > WAIT_S:
            pytest.fail(f"the build did not show {text!r} in {WAIT_S} s")
        time.sleep(0.01)
    return time.monotonic() - started


@dataclass
class Kill:
    attempt: int
    kind: str  # "step" or "fraction"
    moment: str | float  # a step of BUILD_STEPS, or a fraction of the embedding-to-swap time
    index: Path
    log: Path
    seconds: float = 0.0  # from the start of the command to the kill
    landed: str = ""

    def describe(self) -> str:
        moment = self.moment if self.kind == "step" else f"{self.moment:.2f} of embedding-to-swap"
        return f"{self.kind} {moment}, {self.seconds:.1f} s after start: {self.landed}"


class Window:
    """Seconds from the start of the embedding to the swap, measured by the run paused at the swap."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.known = threading.Event()


def _run_and_kill(kill: Kill, corpus: Path, first: Path, window: Window) -> Kill:
    shutil.copytree(first, kill.index, symlinks=True)
    started = time.monotonic()
    process = _start(corpus, kill.index, kill.log, pause=str(kill.moment) if kill.kind == "step" else None)
    old = os.readlink(kill.index / "current")
    try:
        embedding = _wait_for(process, kill.log, EMBEDDING, started)
        if kill.kind == "step":
            paused = _wait_for(process, kill.log, f"paused at {kill.moment}", started)
            if kill.moment == "swapped":
                window.seconds = paused - embedding
                window.known.set()
        else:
            window.known.wait(WAIT_S)
            time.sleep(max(0.0, float(kill.moment) * window.seconds - (time.monotonic() - started - embedding)))
        finished = process.poll() is not None
        kill.seconds = time.monotonic() - started
        os.kill(process.pid, signal.SIGKILL)
    finally:
        if kill.moment == "swapped":
            window.known.set()  # also when that run failed: the others must not wait for it
        if process.poll() is None:
            process.kill()
        process.wait()
    if finished:
        kill.landed = "finished before the kill"
    elif os.readlink(kill.index / "current") != old:
        kill.landed = "after the swap"
    elif written := [entry for entry in kill.index.glob("gen-*") if entry.name != old]:
        files = sum(1 for path in written[0].rglob("*") if path.is_file())
        kill.landed = f"writing the new generation ({files} files there)"
    elif f"paused at {kill.moment}" in kill.log.read_text(errors="replace"):
        kill.landed = "embedded, nothing written"
    else:
        kill.landed = "embedding"
    return kill


def _lock_is_free(index: Path) -> bool:
    with open(index / ".lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(handle, fcntl.LOCK_UN)
        return True


@pytest.fixture
def one_thread():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_a_build_killed_at_random_moments_leaves_the_old_or_the_new_generation(tmp_path, one_thread):
    started = time.monotonic()
    rng = random.Random(SEED)
    embedder = get_embedder()
    names = _names(rng, ARTICLES + CHANGED)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in names[:ARTICLES]:
        (corpus / f"{name.lower()}.txt").write_text(_article(name, rng), encoding="utf-8")
    first = tmp_path / "index-a"
    index_store.build_index(corpus, first, embedder=embedder, show_progress=False, log=lambda _: None)
    old = Generation.of(load_index(first))

    revised = rng.sample(names[:ARTICLES], CHANGED)
    for name in revised:
        (corpus / f"{name.lower()}.txt").write_text(_article(name, rng, revised=True), encoding="utf-8")
    for name in names[ARTICLES:]:
        (corpus / f"{name.lower()}.txt").write_text(_article(name, rng), encoding="utf-8")
    reference = tmp_path / "index-b"
    shutil.copytree(first, reference, symlinks=True)
    report = index_store.build_index(corpus, reference, embedder=embedder, show_progress=False, log=lambda _: None)
    assert len(report.updated) == CHANGED and len(report.added) == CHANGED and not report.full_rebuild_reason
    new = Generation.of(load_index(reference))
    unchanged = next(name for name in names[:ARTICLES] if name not in revised)
    prepared = time.monotonic() - started

    steps = rng.sample(index_store.BUILD_STEPS, len(index_store.BUILD_STEPS))
    steps.remove("swapped")
    moments: list[tuple[str, str | float]] = [("step", "swapped")] + [("step", step) for step in steps]
    moments += [("fraction", rng.uniform(0.0, 1.1)) for _ in range(KILLS - len(moments))]
    kills = [
        Kill(n, kind, moment, tmp_path / f"index-{n}", tmp_path / f"build-{n}.log")
        for n, (kind, moment) in enumerate(moments)
    ]
    window = Window()
    with ThreadPoolExecutor(max_workers=2) as pool:
        kills = list(pool.map(lambda kill: _run_and_kill(kill, corpus, first, window), kills))
    killed = time.monotonic()

    outcomes = []
    for kill in kills:
        where = f"kill {kill.attempt} ({kill.describe()})"
        assert _lock_is_free(kill.index), f"{where}: the killed build's lock would block the next build"
        loaded = load_index(kill.index)
        now = Generation.of(loaded)
        outcome = "old" if now.is_(old) else "new" if now.is_(new) else None
        assert outcome, f"{where}: the index is neither the old generation nor the new one"
        retriever = Retriever(loaded, embedder=embedder)
        [top] = retriever.search(f"What did the {unchanged} committee discuss?", k=1)
        assert top.chunk.article_id == f"{unchanged.lower()}.txt", where
        [top] = retriever.search(f"Did the {revised[0]} committee postpone its vote?", k=1)
        assert top.chunk.article_id == f"{revised[0].lower()}.txt", where
        postponed = any("postponed" in c.text for c in loaded.chunks if c.article_id == top.chunk.article_id)
        assert postponed == (outcome == "new"), where  # the search reads the generation that loaded

        index_store.build_index(corpus, kill.index, embedder=embedder, show_progress=False, log=lambda _: None)
        assert Generation.of(load_index(kill.index)).is_(new), f"{where}: the build after it"
        assert [entry.name for entry in kill.index.glob("gen-*")] == [load_index(kill.index).path.name], where
        outcomes.append(f"{kill.describe()} -> {outcome}")

    print(
        f"\n{len(outcomes)} kills; embedding-to-swap {window.seconds:.1f} s; seconds: {prepared:.0f} to build the "
        f"first generation and the expected one, {killed - started - prepared:.0f} to run and kill the builds, "
        f"{time.monotonic() - killed:.0f} to check and rebuild; {time.monotonic() - started:.0f} in all\n  "
        + "\n  ".join(outcomes)
    )
    assert len(outcomes) == KILLS
