"""`python -m rag.eval.evaluate`: run a Q&A set through the real pipeline and print its metrics.

Every question goes through `Pipeline.stream`, exactly as in the chat. A fixed third of each set
(by hash of the question id) is held out: report it, but never tune on it (`--split dev` for tuning).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from tqdm import tqdm

from rag.cli import add_embedder_argument, add_pipeline_arguments, settings_from
from rag.errors import ModelError
from rag.eval.compare import compare_runs, format_comparison, load_records
from rag.eval.metrics import (
    format_run,
    hit_rank,
    holds_answer,
    is_held_out,
    judge_answer,
    token_f1,
)
from rag.eval.model_cache import CachedModel
from rag.eval.provenance import git_revision, now, provenance
from rag.generate import Evidence
from rag.index_store import IndexMissingError, build_index
from rag.pipeline import Pipeline

RETRIEVAL_DEPTH = 10


def read_set(path: Path | str, required: set[str]) -> list[dict]:
    """An evaluation set, one JSON object a line (blank lines skipped); a line missing a required key is an error."""
    items = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            item = json.loads(line)
            missing = required - set(item)
            if missing:
                raise ValueError(f"{path}:{number}: missing keys {sorted(missing)}")
            items.append(item)
    return items


def load_qa(path: Path | str) -> list[dict]:
    return read_set(path, {"id", "question", "answers", "doc", "unanswerable"})


def shown_text(chunk, text: str | None = None) -> str:
    """A passage as the model sees it: title, outlet and date in front of the text."""
    header = " ".join(x for x in (chunk.title, chunk.source, chunk.published) if x)
    return f"{header}\n{chunk.text if text is None else text}"


def gold_passage(
    pipeline: Pipeline, doc: str, answers: list[str], window: int = 2, evidence: str | None = None
) -> Evidence | None:
    """The article's first sentence holding an answer (or starting the gold evidence), with up to `window`
    neighbours each side, from the chunk where it sits most centrally: what a perfect retriever and focus
    would show the model."""
    holding = [
        (span[0], -min(i, len(chunk.sentences) - 1 - i), i, chunk)
        for chunk in pipeline.index.chunks.of_article(doc)  # type: ignore[union-attr]  # a loaded index's store
        for i, (span, text) in enumerate(zip(chunk.sentences, chunk.sentence_texts(), strict=True))
        if holds_answer(text, answers, evidence)
    ]
    if not holding:
        return None
    _, _, best, chunk = min(holding, key=lambda h: h[:2])
    spans = chunk.sentences[max(0, best - window) : best + window + 1]
    return Evidence(1, chunk, spans[0][0], spans[-1][1], list(spans), 1.0, 1.0, key=best - max(0, best - window))


def evaluate_one(pipeline: Pipeline, item: dict, generate: bool = True, gold: bool = False) -> dict:
    """One question's record. With `gold`, the model reads only the gold passage (no retrieval)."""
    question, answers = item["question"], item["answers"]
    # The index keeps one copy of an article filed twice: the kept copy counts as the gold article.
    doc = pipeline.index.manifest.get("duplicates", {}).get(item["doc"], item["doc"])
    evidence = item.get("evidence") if not item["unanswerable"] else None
    shown = gold_passage(pipeline, doc, answers, evidence=evidence) if gold else None
    if gold:
        rank = 1 if shown is not None else None  # no sentence holds the answer as written: counted wrong
        generate = generate and shown is not None
    else:
        ranked = pipeline.retriever.search(question, k=max(RETRIEVAL_DEPTH, pipeline.settings.top_k))
        rank = hit_rank([(p.chunk.article_id, shown_text(p.chunk)) for p in ranked], doc, answers, evidence)
    record = {
        "id": item["id"],
        "split": "heldout" if is_held_out(item["id"]) else "dev",
        "kind": item.get("kind"),
        "question": question,
        "unanswerable": bool(item["unanswerable"]),
        "hit_rank": rank,
        "answer": "",
        "abstained": True,
        "correct": False,
        "f1": 0.0,
        "citations": [],
        "cited_answer": False,
        "sentences": [],
        "first_token_s": 0.0,
        "total_s": 0.0,
    }
    if not generate:
        return record
    answer = pipeline.read(question, [shown]) if shown is not None else pipeline.answer(question)
    correct = not answer.abstained and judge_answer(answer.text, answers)
    record.update(
        answer=answer.text,
        raw=answer.raw,
        refusal_p=answer.refusal_p,
        yes_p=answer.yes_p,
        best_alone=answer.best_alone,
        looked_further=answer.looked_further,
        relevance=round(max((e.relevance for e in answer.evidence), default=0.0), 3),
        abstained=answer.abstained,
        correct=correct,
        f1=0.0 if answer.abstained else token_f1(answer.text, answers),
        citations=[
            {"marker": c.marker, "article_id": c.evidence.chunk.article_id, "gold": c.evidence.chunk.article_id == doc}
            for c in answer.citations
        ],
        cited_answer=any(
            holds_answer(shown_text(c.evidence.chunk, c.evidence.text), answers, evidence) for c in answer.citations
        ),
        sentences=[{"text": s.text, "supported": s.supported, "reason": s.reason} for s in answer.sentences],
        shown=[{"n": e.number, "article_id": e.chunk.article_id, "text": e.text} for e in answer.evidence],
        first_token_s=round(answer.timings.get("first_token_s", 0.0), 3),
        total_s=round(answer.timings.get("total_s", 0.0), 3),
    )
    return record


def build_parser() -> argparse.ArgumentParser:
    """The command's flags (also read by `python -m rag.cli`, which writes docs/commands.md)."""
    parser = argparse.ArgumentParser(prog="python -m rag.eval.evaluate", description=__doc__)
    parser.add_argument("--qa", default="eval/qa.jsonl", help="Q&A set, one JSON object a line")
    parser.add_argument("--corpus", help="build (or reuse, if up to date) an index of this folder first")
    parser.add_argument("--out", help="write the metrics and per-question records as JSON here")
    parser.add_argument("--limit", type=int, help="only the first N questions")
    parser.add_argument("--kind", action="append", default=[], help="only questions of this kind (repeatable)")
    parser.add_argument(
        "--split",
        choices=["all", "dev", "heldout"],
        default="all",
        help="dev = the part you may tune on; heldout = the third checked only at the end",
    )
    parser.add_argument("--retrieval-only", action="store_true", help="skip generation (retrieval metrics only)")
    parser.add_argument(
        "--gold-passage",
        action="store_true",
        help="the reader alone: answerable questions only, the model shown just the gold article's sentence "
        "holding the answer with two neighbours each side (is the model or the retrieval the limit?)",
    )
    parser.add_argument(
        "--compare", metavar="REPORT", help="an earlier run's --out report: list what this run gained and lost"
    )
    parser.add_argument("--show-held-out", action="store_true", help="with --compare, also list held-out changes")
    parser.add_argument(
        "--cache",
        metavar="FILE",
        help="record the model's replies here and replay recorded ones (quality runs only: times mean nothing)",
    )
    add_pipeline_arguments(parser)
    add_embedder_argument(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    settings = settings_from(args)
    started, revision = now(), git_revision()
    try:
        baseline = load_records(args.compare) if args.compare else None  # a bad path fails before a long run
        items = load_qa(args.qa)
        if args.split != "all":
            items = [i for i in items if is_held_out(i["id"]) == (args.split == "heldout")]
        if args.kind:
            items = [i for i in items if i.get("kind") in args.kind]
        if args.gold_passage:
            items = [i for i in items if not i["unanswerable"]]  # no passage holds what the corpus does not say
        items = items[: args.limit] if args.limit else items
        if args.corpus:
            built = build_index(
                args.corpus,
                args.index,
                embedder=settings.embedder,
                show_progress=True,
                log=lambda m: print(m, file=sys.stderr),
            )
            print(built.summary().splitlines()[0], file=sys.stderr)
        pipeline = Pipeline.from_settings(settings)
        settings = replace(settings, embedder=pipeline.index.embedder)  # the one the index was built with
        if args.cache:
            pipeline.use_model(CachedModel(pipeline.model, args.cache))
        records = [
            evaluate_one(pipeline, item, generate=not args.retrieval_only, gold=args.gold_passage)
            for item in tqdm(items, desc="questions", unit="q", file=sys.stderr)
        ]
    except (IndexMissingError, ModelError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    metrics, table = format_run(records)
    print(table)
    if baseline is not None:
        print(f"\nAgainst {args.compare}:")
        print(format_comparison(compare_runs(baseline, records), args.show_held_out))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        report = {**metrics, "per_question": records, **provenance(settings, started, revision)}
        Path(args.out).write_text(json.dumps(report, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
