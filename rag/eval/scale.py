"""The scale benchmark behind `python -m rag.eval.bench --scale N` (`make bench-scale`): for each size N a
synthetic archive of N articles (rag.eval.synth) in its own folder, and what an archive of that size costs.

Measured per size, each in a subprocess through the public entry points only (`python -m rag.build_index`,
`load_index`, `Retriever`, `Pipeline`, `python -m rag.eval.evaluate`), so the figures hold whatever the build
and the store do inside:
- build from scratch: wall time, articles per second, peak memory of the build process (its own ru_maxrss,
  from os.wait4), chunks; the index's size on disk (the files of the current generation);
- app start without the model (a probe process): load_index, the embedder, Retriever construction (BM25),
  peak memory after the index alone and with everything loaded and searched, and after the searches the
  process's own resident memory apart from the mapped files' pages it holds; retrieval p50/p95 over a
  Q&A set's questions (Retriever.search with the pipeline's depth, after one warm-up);
- no-op rebuild; 10 synthetic articles added and rebuilt, then removed and rebuilt;
- retrieval quality: `rag.eval.evaluate --retrieval-only` on the archive (hit@1, hit@5, MRR);
- answer time p50/p95 only with `--answers K`: it loads the language model.
A size whose build would take longer than `--max-build-minutes` (estimated from the articles per second of
the largest size built before it) is not built: its archive is written and the report says why the rest is
missing. `--embedder` is passed to every step: a stand-in embedder (any sentence-transformers folder, e.g.
a static-embedding model) measures everything but the vectors' quality at sizes MiniLM cannot build on two
cores.

`python -m rag.eval.scale --probe INDEX --qa FILE` is the probe process (it prints one JSON line).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from rag.config import Settings, environment_with_path_first
from rag.eval.metrics import percentile
from rag.eval.synth import ParagraphPool, add_articles, gold_documents, synthesize

ADDED = 10
ADDED_FOLDER = "added"
MIB = 1024  # ru_maxrss is in KiB on Linux


@dataclass
class Measured:
    """One subprocess: its wall time, its own peak resident memory, its exit code and output."""

    seconds: float
    peak_mib: float
    returncode: int
    output: str


def _this_code() -> dict[str, str]:
    """The environment with this checkout first on the path: `python -m rag...` in a subprocess runs the code
    that runs here, not another copy the virtual environment may point at."""
    return environment_with_path_first(str(Path(__file__).resolve().parent.parent.parent))


def status_kib(status: Path, field: str) -> int:
    """One memory field of a process's /proc/<pid>/status, in KiB ("VmHWM", "RssAnon", "RssFile")."""
    line = next(x for x in status.read_text().splitlines() if x.startswith(field + ":"))
    return int(line.split()[1])


def measured_run(command: list[str]) -> Measured:
    """Run a command to its end; the peak memory is that process's own: the high-water mark of its resident
    memory (VmHWM) read while it runs. Neither RUSAGE_CHILDREN (the maximum over every child so far) nor the
    child's own ru_maxrss (which starts from the parent's size at the fork and is kept across exec) says it."""
    with tempfile.TemporaryFile() as output:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=_this_code())
        peak_kib = 0
        status = Path(f"/proc/{process.pid}/status")
        while process.poll() is None:
            try:
                peak_kib = max(peak_kib, status_kib(status, "VmHWM"))
            except (OSError, StopIteration, ValueError):
                pass  # between fork and exec, or just exited
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        output.seek(0)
        text = output.read().decode("utf-8", errors="replace")
    return Measured(seconds, peak_kib / 1024, process.returncode, text)


def folder_bytes(folder: Path) -> int:
    """Bytes of the files in a folder (symlinks followed: `current` names the generation)."""
    folder = folder.resolve()
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def build_figures(run: Measured) -> dict:
    """What `python -m rag.build_index` printed (rag.index_store.BuildReport.summary), as numbers."""
    if run.returncode != 0:
        raise RuntimeError(f"the build failed (exit {run.returncode}):\n{run.output[-2000:]}")
    articles = re.search(
        r"articles: (\d+) added, (\d+) updated, (\d+) removed, (\d+) unchanged, (\d+) skipped, (\d+) duplicates",
        run.output,
    )
    chunks = re.search(r"chunks: (\d+) in the index, (\d+) embedded now", run.output)
    seconds = re.search(r"seconds: ([\d.]+)", run.output)
    if not (articles and chunks and seconds):
        raise RuntimeError(f"unexpected build output:\n{run.output[-2000:]}")
    added, updated, removed, unchanged, skipped, duplicates = (int(x) for x in articles.groups())
    return {
        "added": added,
        "updated": updated,
        "removed": removed,
        "unchanged": unchanged,
        "skipped": skipped,
        "duplicates": duplicates,
        "chunks": int(chunks[1]),
        "embedded_chunks": int(chunks[2]),
        "reported_s": float(seconds[1]),
        "wall_s": round(run.seconds, 2),
        "peak_mib": round(run.peak_mib),
    }


def estimated_minutes(articles: int, rate: float | None) -> float | None:
    """Minutes a build of this many articles takes at `rate` articles per second (None: nothing to go by)."""
    return articles / rate / 60 if rate else None


# --- the probe process --------------------------------------------------------------------------------


def probe(index_dir: Path | str, qa: Path | str, k: int, answers: int = 0) -> dict:
    """App start without the model, its memory, and retrieval times; with `answers`, answer times too (this
    loads the language model)."""
    from rag.embedding import get_embedder
    from rag.eval.evaluate import load_qa
    from rag.index_store import load_index
    from rag.retrieve import Retriever

    def peak() -> float:
        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / MIB)

    def resident(kind: str) -> float:
        """Resident memory of one kind now: RssAnon, the process's own, or RssFile, pages of mapped files
        (the page cache, which the system takes back under pressure)."""
        return round(status_kib(Path("/proc/self/status"), kind) / MIB)

    questions = [item["question"] for item in load_qa(qa)]  # timed, never shown
    started = time.perf_counter()
    index = load_index(index_dir)
    figures: dict = {"load_index_s": round(time.perf_counter() - started, 3), "index_peak_mib": peak()}
    started = time.perf_counter()
    embedder = get_embedder(index.embedder)
    figures["embedder_s"] = round(time.perf_counter() - started, 3)
    started = time.perf_counter()
    retriever = Retriever(index, embedder)
    figures["retriever_s"] = round(time.perf_counter() - started, 3)
    figures["start_s"] = round(figures["load_index_s"] + figures["embedder_s"] + figures["retriever_s"], 3)
    retriever.search(questions[0], k=k)  # warm-up: first-call costs are start, not search
    times = []
    for question in questions:
        started = time.perf_counter()
        retriever.search(question, k=k)
        times.append(time.perf_counter() - started)
    figures.update(
        questions=len(questions),
        retrieval_p50_s=round(percentile(times, 50), 4),
        retrieval_p95_s=round(percentile(times, 95), 4),
        pipeline_peak_mib=peak(),
        pipeline_own_mib=resident("RssAnon"),
        pipeline_mapped_mib=resident("RssFile"),
    )
    if answers:
        from rag.pipeline import Pipeline

        del retriever, index  # the pipeline loads its own
        pipeline = Pipeline(index_dir, embedder=embedder)
        pipeline.answer(questions[0])  # warm-up: the model's load and prompt cache
        totals = [pipeline.answer(q).timings["total_s"] for q in questions[:answers]]
        figures.update(
            answers=len(totals),
            answer_p50_s=round(percentile(totals, 50), 2),
            answer_p95_s=round(percentile(totals, 95), 2),
            with_model_peak_mib=peak(),
        )
    return figures


# --- the harness --------------------------------------------------------------------------------------


@dataclass
class ScaleOptions:
    sizes: list[int]
    work: Path
    bbc: Path
    seeds: Path
    eval_dir: Path
    timing_qa: Path  # the set whose questions time retrieval (and answers)
    quality_sets: list[tuple[Path, str]]  # (Q&A set, split) run with evaluate --retrieval-only
    max_build_minutes: float
    answers: int = 0
    seed: int = 0
    embedder: str | None = None
    k: int = 6


def _python(module: str, *args: str, embedder: str | None = None) -> list[str]:
    return [sys.executable, "-m", module, *args, *(["--embedder", embedder] if embedder else [])]


def _build(archive: Path, index: Path, embedder: str | None) -> Measured:
    return measured_run(
        _python("rag.build_index", "--corpus", str(archive), "--index", str(index), "--quiet", embedder=embedder)
    )


def measure_size(options: ScaleOptions, size: int, pool: ParagraphPool, rate: float | None) -> dict:
    """Every figure of one size (see the module's docstring); `rate` is the articles per second measured at a
    smaller size."""
    folder = options.work / f"n{size}"
    archive, index = folder / "archive", folder / "index"
    if folder.exists():
        shutil.rmtree(folder)  # from scratch: an archive of another seed or an index of another build
    folder.mkdir(parents=True)
    started = time.perf_counter()
    gold = gold_documents(options.eval_dir)
    written = synthesize(options.bbc, options.seeds, archive, size, gold, options.seed, pool)
    figures: dict = {"archive": written.to_dict(), "synth_s": round(time.perf_counter() - started, 1)}
    minutes = estimated_minutes(size, rate)
    if minutes is not None and minutes > options.max_build_minutes:
        figures["skipped"] = (
            f"build estimated at {minutes:.0f} min ({rate:.2f} articles/s) > --max-build-minutes "
            f"{options.max_build_minutes:g}"
        )
        return figures
    build = build_figures(_build(archive, index, options.embedder))
    build["articles_per_s"] = round(size / build["wall_s"], 2)
    figures["build"] = build
    figures["index_mib"] = round(folder_bytes(index / "current") / 2**20, 1)
    figures["noop"] = build_figures(_build(archive, index, options.embedder))
    run = measured_run(
        _python(
            "rag.eval.scale",
            "--probe",
            str(index),
            "--qa",
            str(options.timing_qa),
            "--k",
            str(options.k),
            "--answers",
            str(options.answers),
        )
    )
    if run.returncode != 0:
        raise RuntimeError(f"the probe failed (exit {run.returncode}):\n{run.output[-2000:]}")
    figures["probe"] = json.loads(run.output.strip().splitlines()[-1])
    added = add_articles(archive, pool, ADDED, options.seed, folder=ADDED_FOLDER)
    figures["add"] = build_figures(_build(archive, index, options.embedder))
    for path in added:
        path.unlink()
    shutil.rmtree(archive / ADDED_FOLDER)
    figures["remove"] = build_figures(_build(archive, index, options.embedder))
    figures["quality"] = {}
    for qa, split in options.quality_sets:
        out = folder / f"quality-{qa.stem}-{split}.json"
        command = _python(
            "rag.eval.evaluate",
            "--retrieval-only",
            "--qa",
            str(qa),
            "--split",
            split,
            "--corpus",
            str(archive),
            "--index",
            str(index),
            "--out",
            str(out),
            embedder=options.embedder,
        )
        run = measured_run(command)
        if run.returncode != 0:
            raise RuntimeError(f"evaluate failed (exit {run.returncode}):\n{run.output[-2000:]}")
        report = json.loads(out.read_text(encoding="utf-8"))
        answerable = sum(1 for r in report["per_question"] if not r["unanswerable"])
        figures["quality"][f"{qa.stem}:{split}"] = {
            **{key: round(value, 3) for key, value in report["retrieval"].items()},
            "answerable": answerable,
        }
    return figures


def run_scale(options: ScaleOptions, log=print) -> dict:
    """The figures of every size, smallest first: a larger size's build time is estimated from the last
    one built."""
    pool = ParagraphPool.from_bbc(options.bbc, gold_documents(options.eval_dir))
    sizes: dict[str, dict] = {}
    rate: float | None = None
    for size in sorted(options.sizes):
        log(f"scale {size:,}: writing the archive and measuring")
        figures = measure_size(options, size, pool, rate)
        if "build" in figures:
            rate = figures["build"]["articles_per_s"]
        sizes[str(size)] = figures
        log(json.dumps(figures))
    return {"sizes": sizes}


# --- the report ---------------------------------------------------------------------------------------


def _mib(value: float) -> str:
    return f"{value / 1024:.2f} GiB" if value >= 1024 else f"{value:.0f} MiB"


def _rows(figures: dict) -> dict[str, str]:
    """One size's cells, by row name."""
    archive = figures["archive"]
    cells = {
        "articles (real + synthetic)": f"{archive['articles']:,} ({archive['real']:,} + {archive['synthetic']:,})",
        "near-duplicates / re-runs": f"{archive['near_duplicates']:,} / {archive['reruns']:,}",
    }
    if "skipped" in figures:
        cells["build"] = f"not run: {figures['skipped']}"
        return cells
    build, probe = figures["build"], figures["probe"]
    cells.update(
        {
            "indexed articles (duplicates) / chunks": (
                f"{build['added']:,} ({build['duplicates']:,}) / {build['chunks']:,}"
            ),
            "build / articles per s": f"{build['wall_s']:,.0f} s / {build['articles_per_s']:.1f}",
            "build peak memory": _mib(build["peak_mib"]),
            "index on disk": _mib(figures["index_mib"]),
            "load_index / app start without model": f"{probe['load_index_s']:.2f} s / {probe['start_s']:.2f} s",
            "peak memory: index / pipeline searched": (
                f"{_mib(probe['index_peak_mib'])} / {_mib(probe['pipeline_peak_mib'])}"
            ),
            "resident after the searches: own / mapped files": (
                f"{_mib(probe['pipeline_own_mib'])} / {_mib(probe['pipeline_mapped_mib'])}"
                if "pipeline_own_mib" in probe
                else "not measured"
            ),
            "retrieval p50 / p95": f"{probe['retrieval_p50_s']:.3f} / {probe['retrieval_p95_s']:.3f} s",
            "answer p50 / p95": (
                f"{probe['answer_p50_s']:.2f} / {probe['answer_p95_s']:.2f} s" if "answer_p50_s" in probe else "not run"
            ),
            "no-op rebuild": f"{figures['noop']['wall_s']:.1f} s",
            f"add {ADDED} / remove {ADDED} articles": (
                f"{figures['add']['wall_s']:.1f} / {figures['remove']['wall_s']:.1f} s"
            ),
        }
    )
    for name, scores in figures["quality"].items():
        cells[f"{name} hit@1 / hit@5 / MRR"] = f"{scores['hit@1']:.3f} / {scores['hit@5']:.3f} / {scores['mrr']:.3f}"
    return cells


def markdown_table(report: dict) -> str:
    """Rows = measures, columns = sizes, ready for the README."""
    columns = {size: _rows(figures) for size, figures in report["sizes"].items()}
    names: list[str] = []
    for cells in columns.values():
        names += [name for name in cells if name not in names]
    lines = [
        "| | " + " | ".join(f"{int(size):,} articles" for size in columns) + " |",
        "| --- |" + " --- |" * len(columns),
    ]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(cells.get(name, "") for cells in columns.values()) + " |")
    return "\n".join(lines)


def parse_sizes(values: list[str]) -> list[int]:
    """`--scale 2000,20000 --scale 100k` -> [2000, 20000, 100000]."""
    sizes = []
    for value in values:
        for part in value.split(","):
            part = part.strip().lower().replace("_", "")
            if part:
                sizes.append(int(float(part[:-1]) * 1000) if part.endswith("k") else int(part))
    if not sizes or min(sizes) <= 0:
        raise ValueError(f"--scale takes positive article counts, not {values}")
    return sorted(set(sizes))


def add_scale_arguments(parser: argparse.ArgumentParser) -> None:
    """The scale flags of `python -m rag.eval.bench`."""
    group = parser.add_argument_group("scale (--scale N): synthetic archives of N articles, see rag/eval/scale.py")
    group.add_argument(
        "--scale", action="append", default=[], metavar="N", help="archive size(s): repeatable or 2000,20000,100k"
    )
    group.add_argument("--work", help="folder for the archives and their indexes (default: a temporary folder)")
    group.add_argument("--bbc", default=os.path.join("..", "shared", "corpora", "bbc"), help="the BBC corpus")
    group.add_argument("--seeds", default="seeds", help="folder of the seed article")
    group.add_argument(
        "--quality",
        action="append",
        default=[],
        metavar="FILE[:SPLIT]",
        help="Q&A sets run --retrieval-only on "
        "each archive (default eval/qa_bbc.jsonl:all and eval/qa_large.jsonl:dev)",
    )
    group.add_argument(
        "--max-build-minutes",
        type=float,
        default=30.0,
        help="skip a size whose build is estimated longer (default %(default)s)",
    )
    group.add_argument("--answers", type=int, default=0, help="time K answers per size: loads the LLM (default off)")
    group.add_argument("--seed", type=int, default=0, help="the archives' seed (default %(default)s)")


def _quality_sets(values: list[str]) -> list[tuple[Path, str]]:
    values = values or ["eval/qa_bbc.jsonl:all", "eval/qa_large.jsonl:dev"]
    sets = []
    for value in values:
        path, _, split = value.partition(":")
        sets.append((Path(path), split or "all"))
    return sets


def scale_main(args: argparse.Namespace, settings: Settings, started: str, revision: str | None) -> int:
    """`python -m rag.eval.bench --scale ...`: measure, print the JSON figures per size and the table, and
    write the report to --out."""
    from rag.eval.bench import machine
    from rag.eval.provenance import provenance

    with tempfile.TemporaryDirectory() as temporary:
        options = ScaleOptions(
            sizes=parse_sizes(args.scale),
            work=Path(args.work or temporary).resolve(),
            bbc=Path(args.bbc).resolve(),
            seeds=Path(args.seeds).resolve(),
            eval_dir=Path("eval").resolve(),
            timing_qa=Path(args.qa or "eval/qa_bbc.jsonl").resolve(),
            quality_sets=[(p.resolve(), s) for p, s in _quality_sets(args.quality)],
            max_build_minutes=args.max_build_minutes,
            answers=args.answers,
            seed=args.seed,
            embedder=settings.embedder,
            k=2 * settings.reading.top_k,  # the pipeline's retrieval depth (rag.pipeline.Pipeline.stream)
        )
        report = run_scale(options, log=lambda m: print(m, file=sys.stderr))
    report["machine"] = machine()
    report["table"] = markdown_table(report)
    print(report["table"])
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({**report, **provenance(settings, started, revision)}, indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    """The probe process (`--probe INDEX`)."""
    parser = argparse.ArgumentParser(prog="python -m rag.eval.scale", description=__doc__.split("\n\n")[0])
    parser.add_argument("--probe", required=True, metavar="INDEX", help="the index to load and search")
    parser.add_argument("--qa", required=True, help="the Q&A set whose questions are searched (never printed)")
    parser.add_argument("--k", type=int, default=6, help="passages per search (default %(default)s)")
    parser.add_argument("--answers", type=int, default=0, help="also time K answers: loads the LLM")
    args = parser.parse_args(argv)
    print(json.dumps(probe(args.probe, args.qa, args.k, args.answers)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
