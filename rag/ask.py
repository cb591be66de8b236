"""`python -m rag.ask "QUESTION"`: a cited answer in the terminal, or as JSON for scripts."""

from __future__ import annotations

import argparse
import json
import sys

from rag.config import default_index
from rag.errors import ModelError
from rag.index_store import IndexMissingError
from rag.pipeline import Done, Pipeline, QuestionError, Redraft, Settings, Token
from rag.retrieve import Filters
from rag.rules import RULES


def _windows(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if not values or min(values) < 0:
        raise argparse.ArgumentTypeError(f"expected comma-separated sentence counts such as 2,1,0, not {text!r}")
    return values


def add_pipeline_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags shared by ask and evaluate, so each can reproduce the other's runs."""
    parser.add_argument("--index", default=default_index(), help="index folder (RAG_INDEX; default: %(default)s)")
    parser.add_argument("--model", default=None, help="path to a GGUF model file (RAG_MODEL)")
    defaults = Settings()
    parser.add_argument("--top-k", type=int, default=defaults.top_k, help="passages to retrieve (RAG_TOP_K)")
    parser.add_argument("--retrieval", choices=["hybrid", "rrf", "dense", "bm25"], default=defaults.retrieval)
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


def settings_from(args: argparse.Namespace) -> Settings:
    # Without the check, the plain pipeline reads the best --top-k passages once and takes the model's word.
    return Settings(
        top_k=args.top_k,
        retrieval=args.retrieval,
        focused=not args.full_passages,
        windows=args.windows,
        check=not args.no_check,
        refusal_threshold=args.refusal_threshold,
        yes_threshold=args.yes_threshold,
        rules_off=frozenset(args.rule_off),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag.ask", description=__doc__)
    parser.add_argument("question")
    parser.add_argument("--json", action="store_true", help="print the answer and citations as JSON")
    parser.add_argument("--source", action="append", default=[], help="only this outlet (repeatable)")
    parser.add_argument("--from", dest="date_from", help="only articles published on or after YYYY-MM-DD")
    parser.add_argument("--to", dest="date_to", help="only articles published on or before YYYY-MM-DD")
    add_pipeline_arguments(parser)
    args = parser.parse_args(argv)
    filters = Filters(tuple(args.source), args.date_from, args.date_to)
    try:
        pipeline = Pipeline(args.index, model=args.model, settings=settings_from(args))
        answer = None
        for event in pipeline.stream(args.question, filters=filters):
            if isinstance(event, Token) and not args.json:
                print(event.text, end="", flush=True, file=sys.stderr)
            elif isinstance(event, Redraft) and not args.json:
                print(" [not supported by the best passage; reading more]", flush=True, file=sys.stderr)
            elif isinstance(event, Done):
                answer = event.answer
    except (QuestionError, IndexMissingError, ModelError) as error:
        if args.json:
            print(json.dumps({"error": str(error)}))
        else:
            print(f"error: {error}", file=sys.stderr)
        return 2
    assert answer is not None
    if args.json:
        print(json.dumps(answer.to_json(), ensure_ascii=False, indent=1))
        return 0
    print(file=sys.stderr)
    print(answer.text)
    for sentence in answer.sentences:
        if not sentence.supported:
            print(f"  (unsupported: {sentence.text} - {sentence.reason})")
    shown = answer.citations if not answer.abstained else []
    if shown:
        print("\nSources:")
    for marker in dict.fromkeys(c.marker for c in shown):
        chunk = next(c.evidence.chunk for c in shown if c.marker == marker)
        print(
            f"[{marker}] {chunk.title} - {chunk.source or 'unknown outlet'}, {chunk.published or 'undated'}"
            f" ({chunk.article_id})"
        )
        for c in shown:
            if c.marker == marker:
                print(f"    > {c.quote}")
    if answer.abstained and answer.evidence:
        print("\nClosest passages:")
        for e in answer.evidence:
            print(f"[{e.number}] {e.chunk.title} ({e.chunk.article_id}): {e.text[:300]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
