"""`python -m rag.build_index`: bring the index in line with the corpus folder."""

from __future__ import annotations

import argparse
import sys
from contextlib import nullcontext

from rag.articles import CorpusError
from rag.chunking import ChunkingParams
from rag.cli import add_corpus_argument, add_embedder_argument, add_index_argument, add_max_file_mb_argument
from rag.cluster import RayEncoder
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
    cluster = parser.add_argument_group(
        "Ray cluster", "embed on a Ray cluster (needs `pip install -e '.[cluster]'` on every machine; docs/cluster.md)"
    )
    cluster.add_argument(
        "--ray",
        nargs="?",
        const="",
        default=None,
        metavar="ADDRESS",
        help="embed with a pool of Ray workers: on the cluster at ADDRESS (HEAD:6379, or auto for the one "
        "`ray start` runs on this machine); without ADDRESS, on a Ray instance started on this machine",
    )
    cluster.add_argument(
        "--ray-workers", type=int, default=None, help="embedder actors (default: one per CPU, or per GPU share)"
    )
    cluster.add_argument(
        "--ray-gpus-per-worker", type=float, default=0, help="GPUs per embedder actor; 0: CPU (default: %(default)s)"
    )
    return parser


def _encoder(args: argparse.Namespace) -> RayEncoder | nullcontext[None]:
    """The Ray encoder --ray asks for (connected on its first use, closed after the build), or none."""
    if args.ray is None:
        return nullcontext()
    return RayEncoder(
        args.embedder,
        address=args.ray or None,
        workers=args.ray_workers,
        gpus_per_worker=args.ray_gpus_per_worker,
        progress=not args.quiet,
    )


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    params = ChunkingParams(
        sentences_per_chunk=args.sentences_per_chunk, overlap=args.overlap, contextual=not args.plain_chunks
    )
    try:
        with _encoder(args) as encoder:
            report = build_index(
                args.corpus,
                args.index,
                embedder=args.embedder,
                params=params,
                show_progress=not args.quiet,
                max_file_mb=args.max_file_mb,
                encoder=encoder,
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
