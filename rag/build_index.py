"""`python -m rag.build_index`: bring the index in line with the corpus folder."""

from __future__ import annotations

import argparse
import sys

from rag.articles import CorpusError
from rag.chunking import ChunkingParams
from rag.cli import add_corpus_argument, add_embedder_argument, add_index_argument, add_max_file_mb_argument
from rag.errors import ModelError
from rag.index_store import build_index


def build_parser() -> argparse.ArgumentParser:
    """The command's flags (also read by `python -m rag.cli`, which writes docs/commands.md)."""
    parser = argparse.ArgumentParser(prog="python -m rag.build_index", description=__doc__)
    add_corpus_argument(parser)
    add_index_argument(parser)
    add_embedder_argument(parser)
    parser.add_argument("--sentences-per-chunk", type=int, default=ChunkingParams.sentences_per_chunk)
    parser.add_argument("--overlap", type=int, default=ChunkingParams.overlap)
    parser.add_argument(
        "--plain-chunks", action="store_true", help="embed chunk text alone, without title and date in front"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_max_file_mb_argument(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    params = ChunkingParams(
        sentences_per_chunk=args.sentences_per_chunk, overlap=args.overlap, contextual=not args.plain_chunks
    )
    try:
        report = build_index(
            args.corpus,
            args.index,
            embedder=args.embedder,
            params=params,
            show_progress=not args.quiet,
            max_file_mb=args.max_file_mb,
        )
    except (CorpusError, ModelError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: the previous index is left as it was", file=sys.stderr)
        return 130
    print(report.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
