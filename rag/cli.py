"""The command-line flags the commands share (the chat, ask, build_index, evaluate, ablate, bench, loadtest),
declared once, so each command can reproduce another's runs. A flag's default comes from its environment variable
through rag.config, and its help names that variable; `settings_from` turns the parsed flags into the one
`Settings` tree, and `ready_pipeline` turns that into the chat's pipeline.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from rag.config import MAX_FILE_MB, MAX_UPLOAD_FILES, ReadingSettings, Settings, UploadLimits, env_name, from_env
from rag.index_store import build_index
from rag.llm import model_setting
from rag.pipeline import Pipeline
from rag.retrieve import MODES
from rag.rules import RULES


def _windows(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if not values or min(values) < 0:
        raise argparse.ArgumentTypeError(f"expected comma-separated sentence counts such as 2,1,0, not {text!r}")
    return values


def add_corpus_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--corpus", default=from_env("corpus"), help=f"folder of articles ({env_name('corpus')}; default: %(default)s)"
    )


def add_index_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--index", default=from_env("index"), help=f"index folder ({env_name('index')}; default: %(default)s)"
    )


def add_embedder_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--embedder",
        default=from_env("embedder"),
        help=f"sentence-transformers model path or name, used when an index is built; a name ending @int8 runs "
        f"its int8 export with ONNX Runtime ({env_name('embedder')}; default: %(default)s)",
    )


def add_max_file_mb_argument(parser: argparse.ArgumentParser, uploads: bool = False) -> None:
    """The size limit of one article file: the index skips larger files (and the chat refuses them as uploads)."""
    refused = " and refuse them as uploads" if uploads else ""
    parser.add_argument(
        "--max-file-mb",
        type=float,
        default=MAX_FILE_MB,
        help=f"skip larger files{refused} (default: %(default)g MB)",
    )


def add_upload_arguments(parser: argparse.ArgumentParser) -> None:
    """The chat's upload limits (rag.config.UploadLimits)."""
    add_max_file_mb_argument(parser, uploads=True)
    parser.add_argument(
        "--max-upload-files",
        type=int,
        default=MAX_UPLOAD_FILES,
        help="most files one upload may hold (default: %(default)s)",
    )


def upload_limits_from(args: argparse.Namespace) -> UploadLimits:
    return UploadLimits(max_files=args.max_upload_files, max_file_mb=args.max_file_mb)


def add_model_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        default=from_env("model"),
        help=f"path to a GGUF model file ({env_name('model')}; default: %(default)s)",
    )


def add_reading_arguments(parser: argparse.ArgumentParser) -> None:
    """The reading steps (rag.config.ReadingSettings)."""
    defaults = ReadingSettings()
    parser.add_argument(
        "--top-k",
        type=int,
        default=int(from_env("top_k")),
        help=f"passages read together ({env_name('top_k')}; default: %(default)s)",
    )
    parser.add_argument(
        "--retrieval",
        choices=list(MODES),
        default=defaults.retrieval,
        help="how passages are ranked (default: %(default)s)",
    )
    parser.add_argument("--full-passages", action="store_true", help="show the model whole chunks, not best sentences")
    parser.add_argument(
        "--windows",
        type=_windows,
        default=defaults.windows,
        help="sentences kept on each side of the best one, by passage rank; the last holds for the rest "
        "(default: %(default)s)",
    )
    parser.add_argument("--no-check", action="store_true", help="keep the model's citations unchecked")
    parser.add_argument(
        "--refusal-threshold",
        type=float,
        default=defaults.refusal_threshold,
        help="abstain when the model's probability of replying NOT IN ARTICLES reaches this (above 1: never)",
    )
    parser.add_argument(
        "--yes-threshold",
        type=float,
        default=defaults.yes_threshold,
        help="a yes/no verdict is Yes when its share of the yes-or-no probability reaches this",
    )
    parser.add_argument(
        "--rule-off",
        action="append",
        default=[],
        choices=sorted(RULES),
        metavar="RULE",
        help="switch one rule off (repeatable): " + ", ".join(sorted(RULES)),
    )


def add_pipeline_arguments(parser: argparse.ArgumentParser) -> None:
    """The index, the model and the reading steps: what a command that answers questions needs."""
    add_index_argument(parser)
    add_model_argument(parser)
    add_reading_arguments(parser)


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host", default=from_env("host"), help=f"bind address ({env_name('host')}; default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=int(from_env("port")), help=f"port ({env_name('port')}; default: %(default)s)"
    )


def reading_from(args: argparse.Namespace) -> ReadingSettings:
    # Without the check, the plain pipeline reads the best --top-k passages once and takes the model's word.
    return ReadingSettings(
        top_k=args.top_k,
        retrieval=args.retrieval,
        focused=not args.full_passages,
        windows=args.windows,
        check=not args.no_check,
        refusal_threshold=args.refusal_threshold,
        yes_threshold=args.yes_threshold,
        rules_off=frozenset(args.rule_off),
    )


def settings_from(args: argparse.Namespace) -> Settings:
    """The settings tree of a command's flags; what the command has no flag for comes from the environment."""
    base = Settings.from_env()
    given = {name: getattr(args, name) for name in ("corpus", "index", "embedder", "model") if hasattr(args, name)}
    reading = reading_from(args) if hasattr(args, "top_k") else base.reading
    return replace(base, **given, reading=reading)


def ready_pipeline(
    settings: Settings, log: Callable[[str], None] = print, max_file_mb: float = MAX_FILE_MB
) -> Pipeline:
    """A pipeline ready to answer: the corpus folder (made if missing) indexed, incrementally (a no-op when
    the index is up to date; files over `max_file_mb` skipped), and the model loaded (on the first run,
    assembled) before anyone asks."""
    if settings.corpus is None:
        raise ValueError("no corpus folder given")
    corpus = Path(settings.corpus)
    corpus.mkdir(parents=True, exist_ok=True)
    report = build_index(
        corpus, settings.index, embedder=settings.embedder, show_progress=True, log=log, max_file_mb=max_file_mb
    )
    log("index: " + report.summary().replace("\n", "; "))
    pipeline = Pipeline.from_settings(settings)
    log(f"loading the model {model_setting(settings.model)}")
    pipeline.model  # noqa: B018 - load (and on first run assemble) the model now
    return pipeline


COMMANDS = (
    ("app", "the chat"),
    ("rag.build_index", "build or update the index"),
    ("rag.ask", "one answer in the terminal"),
    ("rag.eval.evaluate", "a Q&A set through the pipeline, scored"),
    ("rag.eval.compare", "two evaluation runs paired question by question"),
    ("rag.eval.ablate", "each rule switched off alone, paired with all rules on"),
    ("rag.eval.briefings", "a briefing set through the briefing mode: on topic, key facts, duplicates, order"),
    ("rag.eval.calibrate", "the refusal or yes/no threshold replayed from one run"),
    ("rag.eval.bench", "build, retrieval and answer times, model speed, memory; --scale N on synthetic archives"),
    ("rag.eval.synth", "a synthetic news archive of N articles from the BBC corpus, for the scale benchmark"),
    ("rag.eval.build_speed", "the whole build against one plain embedding pass, side by side"),
    ("rag.eval.ann", "exact against approximate vector search on derived vectors: recall@10, latency"),
    ("rag.eval.peer", "a default LlamaIndex pipeline with the same models, scored the same way"),
    ("rag.eval.injection", "attack articles planted one at a time: did any change the answer?"),
    ("rag.eval.loadtest", "concurrent users and an upload driving the chat, checked and timed"),
)


def command_reference(width: int = 100) -> str:
    """docs/commands.md: every command's --help as argparse prints it, so the reference cannot drift from
    the flags. Defaults shown are those with no RAG_* variable set."""
    import importlib

    parts = [
        "# Commands",
        "",
        "Generated by `python -m rag.cli > docs/commands.md` (`make docs`) from each command's `--help`;",
        "a test fails when this file and the flags disagree. Environment variables and defaults: rag/config.py.",
    ]
    for module, what in COMMANDS:
        parser = importlib.import_module(module).build_parser()
        parser.formatter_class = lambda prog: argparse.HelpFormatter(prog, width=width)
        parts += ["", f"## {parser.prog}: {what}", "", "```text", parser.format_help().rstrip(), "```"]
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    print(command_reference(), end="")
