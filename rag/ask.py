"""`python -m rag.ask "QUESTION"`: a cited answer in the terminal, or as JSON for scripts."""

from __future__ import annotations

import argparse
import json
import sys

from rag.cli import add_pipeline_arguments, settings_from
from rag.errors import ModelError
from rag.index_store import IndexMissingError
from rag.pipeline import Done, Pipeline, QuestionError, Redraft, Token
from rag.retrieve import Filters


def build_parser() -> argparse.ArgumentParser:
    """The command's flags (also read by `python -m rag.cli`, which writes docs/commands.md)."""
    parser = argparse.ArgumentParser(prog="python -m rag.ask", description=__doc__)
    parser.add_argument("question")
    parser.add_argument("--json", action="store_true", help="print the answer and citations as JSON")
    parser.add_argument("--source", action="append", default=[], help="only this outlet (repeatable)")
    parser.add_argument("--from", dest="date_from", help="only articles published on or after YYYY-MM-DD")
    parser.add_argument("--to", dest="date_to", help="only articles published on or before YYYY-MM-DD")
    parser.add_argument(
        "--briefing", action="store_true", help="answer with a briefing across articles whatever the question asks"
    )
    add_pipeline_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    filters = Filters(tuple(args.source), args.date_from, args.date_to)
    try:
        pipeline = Pipeline.from_settings(settings_from(args))
        answer = None
        for event in pipeline.stream(args.question, filters=filters, briefing=args.briefing):
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
    except Exception as error:  # noqa: BLE001 - any other failure is told in one line, never as a traceback
        message = f"internal error ({type(error).__name__}: {error})"
        print(
            json.dumps({"error": message}) if args.json else f"error: {message}", file=None if args.json else sys.stderr
        )
        return 1
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
