"""Index builds in the background, for the chat: uploaded files are saved, then indexed in a thread while
questions go on being answered from the index in use.

One build runs at a time. Files submitted while a build runs wait for the next build (all of them in one);
none is dropped. A build writes a new generation beside the old one (rag.index_store), so the index in use
stays whole until the pipeline takes the new one. The pipeline takes it only while holding `reading`, the
lock every answer holds from its first look at the index to its last token: so the switch happens between
two answers, never during one. The switch is made by the builder as soon as the answer in progress ends, or
by the next answer at its start (`take_new_index`), whichever comes first. A failed build leaves the
previous index in use and says why in the status and the log.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from rag.config import MAX_FILE_MB
from rag.embedding import Embedder
from rag.index_store import BuildReport, build_index

log = logging.getLogger("newsrag.indexing")


class Reloadable(Protocol):
    """What the builder needs of the pipeline (rag.pipeline.Pipeline): its index folder and a reload."""

    @property
    def index_dir(self) -> Path: ...

    def reload(self) -> None: ...


@dataclass
class _Job:
    """The files of one build: each submission (ticket) with its article ids."""

    tickets: dict[int, list[str]] = field(default_factory=dict)

    @property
    def files(self) -> int:
        return sum(len(ids) for ids in self.tickets.values())


class BackgroundIndexer:
    """Brings the index in line with the corpus in a background thread after each submission.

    `embedder` is the embedder's name (loaded once, in the builder's thread, as an instance of its own:
    the answers' embedder is never used by two threads at once) or an embedder object to build with.
    """

    def __init__(
        self,
        pipeline: Reloadable,
        corpus: Path | str,
        embedder: str | Embedder,
        reading: threading.Lock | None = None,
        max_file_mb: float = MAX_FILE_MB,
        build: Callable[..., BuildReport] = build_index,
    ) -> None:
        self.pipeline = pipeline
        self.corpus = Path(corpus)
        self.reading = reading if reading is not None else threading.Lock()
        self.max_file_mb = max_file_mb
        self._embedder = embedder
        self._build = build
        self._lock = threading.Lock()  # guards everything below
        self._changed = threading.Condition(self._lock)
        self._waiting = _Job()  # submitted, for the next build
        self._running: _Job | None = None
        self._phase = ""
        self._thread: threading.Thread | None = None
        self._fresh = False  # a build wrote an index the pipeline has not taken yet
        self._tickets = 0
        self._outcomes: dict[int, str] = {}
        self._failure = ""  # why the last build failed ("" once one succeeds)

    # ---------------------------------------------------------------- what the chat calls

    def submit(self, article_ids: list[str]) -> int:
        """Index these files (already saved in the corpus) in the background; returns the submission's ticket."""
        with self._lock:
            self._tickets += 1
            self._waiting.tickets[self._tickets] = list(article_ids)
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="background-indexing", daemon=True)
                self._thread.start()
            return self._tickets

    def queued_behind(self) -> bool:
        """Is a build running, so that a submission now waits for the next one?"""
        with self._lock:
            return self._running is not None

    def outcome(self, ticket: int) -> str | None:
        """What became of a submission: None while its build waits or runs, then one line."""
        with self._lock:
            return self._outcomes.get(ticket)

    def status(self) -> str:
        """One line on what is being indexed now, or on the last failure; "" when there is nothing to say."""
        with self._lock:
            if self._running is not None:
                line = f"⏳ Indexing {self._running.files} uploaded file(s) in the background: {self._phase}"
                if self._waiting.tickets:
                    line += f" · {self._waiting.files} more file(s) queued for the next build"
                return line + " · questions are answered from the current index meanwhile"
            return f"⚠️ {self._failure}" if self._failure else ""

    def take_new_index(self) -> bool:
        """The caller holds `reading`: take the index a build wrote, if there is one the pipeline has not taken."""
        with self._lock:
            if not self._fresh:
                return False
            self._fresh = False
        try:
            self.pipeline.reload()
        except Exception as error:  # noqa: BLE001 - the pipeline keeps the index it had
            log.exception("the new index could not be loaded")
            with self._lock:
                self._failure = f"The new index could not be loaded, the previous one is still in use: {error}"
            return False
        log.info("the pipeline now answers from the new index")
        return True

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every submission is indexed (or failed); False if `timeout` seconds pass first."""
        with self._changed:
            return self._changed.wait_for(lambda: self._thread is None, timeout)

    # ---------------------------------------------------------------- the builder's thread

    def _work(self) -> None:
        while True:
            with self._lock:
                if not self._waiting.tickets:
                    self._running, self._thread = None, None
                    self._changed.notify_all()
                    return
                job, self._waiting = self._waiting, _Job()
                self._running, self._phase = job, "reading and embedding the articles"
            try:
                outcome = self._run(job)
            except Exception as error:  # noqa: BLE001 - the builder must outlive any one build, or uploads stall
                log.exception("indexing failed")
                outcome = f"⚠️ Indexing failed: {error}"
            with self._lock:
                for ticket in job.tickets:
                    self._outcomes[ticket] = outcome
                self._changed.notify_all()

    def _run(self, job: _Job) -> str:
        try:
            report = self._build(
                self.corpus,
                self.pipeline.index_dir,
                embedder=self._builder_embedder(),
                show_progress=False,
                on_progress=self._progress,
                log=log.info,
                max_file_mb=self.max_file_mb,
            )
        except Exception as error:  # noqa: BLE001 - whatever failed, answers go on from the previous index
            log.exception("indexing %d uploaded file(s) failed", job.files)
            with self._lock:
                self._failure = f"Indexing failed, the previous index is still in use: {error}"
            return f"⚠️ {self._failure}"
        with self._lock:
            self._failure = ""
            self._fresh = self._fresh or report.wrote
            self._phase = "switching to the new index when the answer in progress ends"
        with self.reading:  # between two answers
            self.take_new_index()
        with self._lock:
            if self._failure:
                return f"⚠️ {self._failure}"
        return _summary(report, [i for ids in job.tickets.values() for i in ids])

    def _builder_embedder(self) -> str | Embedder:
        if isinstance(self._embedder, str):
            self._embedder = Embedder(self._embedder)  # its own instance: never shared with the answers' thread
        return self._embedder

    def _progress(self, done: int, total: int) -> None:
        with self._lock:
            self._phase = f"embedding, {done:,} of {total:,} texts done"


def _summary(report: BuildReport, article_ids: list[str]) -> str:
    """What the build did with these files, in one line."""
    ids = set(article_ids)
    added = len(ids & set(report.added))
    updated = len(ids & set(report.updated))
    parts = [f"{added} added", f"{updated} updated"]
    if earlier := len(ids & set(report.unchanged)):
        parts.append(f"{earlier} already indexed")
    if same := len(ids & set(report.duplicates)):
        parts.append(f"{same} with the same text as an indexed article")
    if skipped := [s for s in report.skipped if s.path in ids]:
        parts.append(f"{len(skipped)} skipped ({skipped[0].path}: {skipped[0].reason})")
    return f"Indexed: {', '.join(parts)}, {report.embedded_chunks} chunks embedded."
