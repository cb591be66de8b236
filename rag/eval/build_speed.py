"""`python -m rag.eval.build_speed --corpus DIR`: the whole build against one plain embedding pass.

The floor for a build is one pass of the embedder over the articles' text: here, sentence-transformers over
200-word windows of each article's body, sorted by length, as a default LlamaIndex-style pipeline embeds, with
the float model (the build's own embedder may be its int8 export). The benchmark times that pass and a whole
`rag.build_index` (reading, chunking, embedding, writing, into a temporary folder) alternately in one process,
`--rounds` times each, so both see the same machine; a shared machine's speed drifts within minutes, and only
the ratio of the two compares across runs. `--baseline-python` also times another checkout's build in the same
rounds (its `python -m rag.build_index` run from its own folder), for before/after comparisons of a change to
the build.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rag.articles import load_corpus
from rag.cli import add_embedder_argument
from rag.embedding import embedder_name, get_embedder, quantized
from rag.eval.bench import machine
from rag.eval.provenance import git_revision, now
from rag.index_store import build_index

WINDOW_WORDS = 200


def plain_pass(corpus: Path, embedder: str) -> float:
    """Seconds to read the corpus and embed its bodies once with `embedder`, in 200-word windows, shortest
    first."""
    started = time.perf_counter()
    articles = load_corpus(corpus).articles
    windows = []
    for article in articles:
        words = article.text.split()
        windows += [" ".join(words[i : i + WINDOW_WORDS]) for i in range(0, len(words), WINDOW_WORDS)]
    model = get_embedder(embedder)
    windows.sort(key=len)
    for offset in range(0, len(windows), 256):
        model.encode(windows[offset : offset + 256])
    return time.perf_counter() - started


def whole_build(corpus: Path, embedder: str | None) -> float:
    with tempfile.TemporaryDirectory() as folder:
        report = build_index(corpus, Path(folder) / "index", embedder=embedder, show_progress=False, log=lambda _: None)
    return report.seconds


def baseline_build(corpus: Path, checkout: Path, python: str) -> float:
    """Seconds another checkout's `python -m rag.build_index` reports for a build from scratch (its own
    count: without the interpreter's start, with loading the embedder, ~2 s)."""
    with tempfile.TemporaryDirectory() as folder:
        done = subprocess.run(
            [
                python,
                "-m",
                "rag.build_index",
                "--corpus",
                str(corpus.resolve()),
                "--index",
                folder + "/index",
                "--quiet",
            ],
            cwd=checkout,
            check=True,
            capture_output=True,
            text=True,
        )
    return float(re.search(r"^seconds: ([\d.]+)", done.stdout, re.MULTILINE).group(1))  # type: ignore[union-attr]


def build_parser() -> argparse.ArgumentParser:
    """The command's flags (also read by `python -m rag.cli`, which writes docs/commands.md)."""
    parser = argparse.ArgumentParser(prog="python -m rag.eval.build_speed", description=__doc__)
    parser.add_argument("--corpus", required=True, help="article folder to build from scratch")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds of each (default %(default)s)")
    parser.add_argument("--baseline", help="another checkout of this project whose build is timed alongside")
    parser.add_argument("--baseline-python", default=sys.executable, help="the Python that runs --baseline")
    parser.add_argument("--out", help="also write the figures as JSON here")
    add_embedder_argument(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    corpus = Path(args.corpus)
    started, revision = now(), git_revision()
    # The plain pass runs sentence-transformers' own float model, as a default pipeline does (the float form of an
    # `@int8` embedder): the floor is the plain pass, not this tool's faster embedding.
    plain = quantized(embedder_name(args.embedder))[0]
    for name in (args.embedder, plain):
        get_embedder(name).encode(["warm-up"])  # model load is neither's cost
    times: dict[str, list[float]] = {"plain_pass_s": [], "build_s": [], "baseline_build_s": []}
    for _ in range(args.rounds):
        times["plain_pass_s"].append(plain_pass(corpus, plain))
        times["build_s"].append(whole_build(corpus, args.embedder))
        if args.baseline:
            times["baseline_build_s"].append(baseline_build(corpus, Path(args.baseline), args.baseline_python))
    medians = {key: round(statistics.median(values), 1) for key, values in times.items() if values}
    figures: dict = {
        "corpus": str(corpus),
        "articles": len(load_corpus(corpus).articles),
        **medians,
        "build_over_plain_pass": round(medians["build_s"] / medians["plain_pass_s"], 2),
        "rounds": {key: [round(v, 1) for v in values] for key, values in times.items() if values},
        "machine": machine(),
        "revision": revision,
        "time": started,
    }
    if args.baseline:
        figures["baseline_over_build"] = round(medians["baseline_build_s"] / medians["build_s"], 2)
        figures["baseline_over_plain_pass"] = round(medians["baseline_build_s"] / medians["plain_pass_s"], 2)
    for key, value in figures.items():
        print(f"{key:>26}: {value}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
