"""`python -m rag.eval.bench --corpus DIR --qa FILE`: speed and memory of every stage on one corpus.
(`--scale N`: the scale benchmark on synthetic archives of N articles instead, see rag/eval/scale.py.)

Reports index build time and chunks per second (from scratch, into a temporary folder), the no-op
rebuild time, retrieval latency, time to first token and total answer time (p50/p95), and the
process's peak memory, and the model's own prompt-reading and writing speed measured at the end: the
same machine is not equally fast all day, and answer times only compare at equal model speed.
Every time is taken from `Pipeline.stream`, the path a user's question takes: retrieval ends with its
first `Retrieved` event (passages retrieved, covered and focused). Timings are measured here, never
asserted in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from rag.cli import add_embedder_argument, add_model_argument, add_reading_arguments, settings_from
from rag.config import Settings
from rag.eval.evaluate import load_qa
from rag.eval.metrics import percentile
from rag.eval.provenance import git_revision, now, provenance
from rag.eval.scale import add_scale_arguments, scale_main
from rag.index_store import build_index
from rag.llm import LocalModel
from rag.pipeline import Done, Pipeline, Retrieved


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        memory = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    except OSError:
        memory = 0.0
    return f"{os.cpu_count()} cores, {cpu}, {memory:.0f} GiB, Python {platform.python_version()}"


def model_speed(model: LocalModel, corpus: Path, prompt_tokens: int = 400, new_tokens: int = 40) -> tuple[float, float]:
    """Tokens per second the model reads (a 400-token prompt) and writes (40 tokens), right now."""
    text = " ".join(p.read_text(encoding="utf-8", errors="replace") for p in sorted(corpus.rglob("*.txt"))[:5])
    tokens = model.llm.tokenize(text.encode("utf-8"))[:prompt_tokens]
    with model.lock:
        model.llm.reset()
        started = time.perf_counter()
        model.llm.eval(tokens)
        reading = len(tokens) / (time.perf_counter() - started)
        started, written = time.perf_counter(), 0
        for _ in model.llm.generate(tokens[:50], top_k=1, reset=True):
            written += 1
            if written == new_tokens:
                break
        writing = written / (time.perf_counter() - started)  # includes re-reading 50 tokens: a small share
        model.llm.reset()
    return reading, writing


def run(settings: Settings, qa: str, questions: int) -> tuple[dict, Settings]:
    """The figures, and the settings they were measured with (the index in a temporary folder)."""
    items = [i for i in load_qa(qa)][:questions]
    corpus = settings.corpus
    if corpus is None:
        raise ValueError("the benchmark builds its own index: give --corpus")
    with tempfile.TemporaryDirectory() as folder:
        settings = replace(settings, index=str(Path(folder) / "index"))
        first = build_index(corpus, settings.index, embedder=settings.embedder, show_progress=False)
        noop = build_index(corpus, settings.index, embedder=settings.embedder, show_progress=False)
        pipeline = Pipeline.from_settings(settings)
        pipeline.answer(items[0]["question"])  # warm-up: model load and prompt cache
        retrieval, first_token, total = [], [], []
        for item in items:
            started, retrieved = time.perf_counter(), None
            for event in pipeline.stream(item["question"]):
                if isinstance(event, Retrieved) and retrieved is None:
                    retrieved = time.perf_counter() - started
                elif isinstance(event, Done):
                    first_token.append(event.answer.timings["first_token_s"])
                    total.append(event.answer.timings["total_s"])
            if retrieved is not None:
                retrieval.append(retrieved)
        model = pipeline.model
        if not isinstance(model, LocalModel):
            raise TypeError("the benchmark measures llama.cpp itself: it needs a LocalModel")
        reading, writing = model_speed(model, Path(corpus))
    figures = {
        "corpus": corpus,
        "articles": len(first.added),
        "chunks": first.chunks,
        "build_s": round(first.seconds, 2),
        "chunks_per_s": round(first.chunks / first.seconds, 1) if first.seconds else 0.0,
        "noop_rebuild_s": round(noop.seconds, 3),
        "questions": len(items),
        "retrieval_p50_s": round(percentile(retrieval, 50), 3),
        "retrieval_p95_s": round(percentile(retrieval, 95), 3),
        "first_token_p50_s": round(percentile(first_token, 50), 2),
        "first_token_p95_s": round(percentile(first_token, 95), 2),
        "answer_p50_s": round(percentile(total, 50), 2),
        "answer_p95_s": round(percentile(total, 95), 2),
        "model_prompt_tokens_per_s": round(reading, 1),
        "model_generation_tokens_per_s": round(writing, 1),
        "peak_memory_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "machine": machine(),
    }
    return figures, settings


def build_parser() -> argparse.ArgumentParser:
    """The command's flags (also read by `python -m rag.cli`, which writes docs/commands.md)."""
    parser = argparse.ArgumentParser(prog="python -m rag.eval.bench", description=__doc__)
    parser.add_argument("--corpus", help="article folder to index from scratch (not with --scale)")
    parser.add_argument(
        "--qa", help="Q&A set whose questions are asked (with --scale: timed, default eval/qa_bbc.jsonl)"
    )
    parser.add_argument("--questions", type=int, default=20, help="questions to time (default %(default)s)")
    parser.add_argument("--out", help="also write the figures as JSON here")
    add_scale_arguments(parser)
    add_model_argument(parser)
    add_embedder_argument(parser)
    add_reading_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    started, revision = now(), git_revision()
    if args.scale:
        return scale_main(args, settings_from(args), started, revision)
    if not (args.corpus and args.qa):
        parser.error("give --corpus and --qa, or --scale N")
    figures, settings = run(settings_from(args), args.qa, args.questions)
    for key, value in figures.items():
        print(f"{key:>20}: {value}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({**figures, **provenance(settings, started, revision)}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
