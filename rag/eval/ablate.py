"""`python -m rag.eval.ablate`: what each rule is worth. The Q&A set is run with every rule on, then once with
each rule off alone, and every run is paired with the first question by question (rag.eval.compare).

A rule pays for itself when switching it off loses more right outcomes (right answers, abstentions on
unanswerable questions) than it gains. The model's replies are recorded and replayed (rag.eval.model_cache),
so a run costs only the prompts its rule changes; for the same reason its times mean nothing.
Run it on a dev part only (`--split dev`): it reads every changed question.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from tqdm import tqdm

from rag.cli import add_pipeline_arguments, settings_from
from rag.config import Settings
from rag.eval.compare import compare_runs
from rag.eval.evaluate import evaluate_one, load_qa
from rag.eval.metrics import is_held_out, summarize
from rag.eval.model_cache import CachedModel
from rag.eval.provenance import git_revision, now, provenance
from rag.llm import get_model
from rag.pipeline import Pipeline
from rag.rules import RULES


def run_variant(settings: Settings, model, items: list[dict], label: str) -> list[dict]:
    pipeline = Pipeline.from_settings(settings, local_model=model)
    return [evaluate_one(pipeline, item) for item in tqdm(items, desc=label, unit="q", file=sys.stderr)]


def ablation_row(rule: str, base: list[dict], records: list[dict]) -> dict:
    pairs = compare_runs(base, records)
    metrics = summarize(records)
    return {
        "rule": rule,
        "stage": RULES[rule].stage if rule in RULES else "",
        "gained": len(pairs.gained),
        "lost": len(pairs.lost),
        "worth": len(pairs.lost) - len(pairs.gained),  # right outcomes the rule brings, net
        "p": round(pairs.p_value, 3),
        "accuracy": round(metrics["answer"]["accuracy"], 3),
        "abstention": round(metrics["abstention"]["accuracy"], 3),
        "false_abstention": round(metrics["abstention"]["false_rate"], 3),
        "citation_precision": round(metrics["citations"]["precision"], 3),
        "hit@1": round(metrics["retrieval"]["hit@1"], 3),
    }


def format_rows(rows: list[dict]) -> str:
    lines = [
        "| rule off | stage | gained | lost | worth (lost - gained) | p | accuracy | abstention | false abst. "
        "| citation prec. | hit@1 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['rule']} | {r['stage']} | {r['gained']} | {r['lost']} | {r['worth']:+d} | {r['p']:.3f} "
            f"| {r['accuracy']:.3f} | {r['abstention']:.3f} | {r['false_abstention']:.3f} "
            f"| {r['citation_precision']:.3f} | {r['hit@1']:.3f} |"
        )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The command's flags (also read by `python -m rag.cli`, which writes docs/commands.md)."""
    parser = argparse.ArgumentParser(prog="python -m rag.eval.ablate", description=__doc__)
    parser.add_argument("--qa", default="eval/qa_large.jsonl")
    parser.add_argument("--split", choices=["all", "dev"], default="dev", help="never the held-out part")
    parser.add_argument("--cache", default="reports/cache/replies.jsonl", help="recorded model replies")
    parser.add_argument("--out-dir", default="reports/ablation", help="one report per variant, and ablation.json")
    parser.add_argument("--rules", help="comma-separated rules to switch off one at a time (default: all)")
    add_pipeline_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    rules = args.rules.split(",") if args.rules else sorted(RULES)
    unknown = set(rules) - set(RULES)
    if unknown:
        parser.error(f"unknown rules {sorted(unknown)}")
    items = [i for i in load_qa(args.qa) if args.split == "all" or not is_held_out(i["id"])]
    started, revision = now(), git_revision()
    settings = settings_from(args)
    model = CachedModel(get_model(settings.model), args.cache)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)

    def write(name: str, used: Settings, records: list[dict]) -> None:
        report = {**summarize(records), "per_question": records, **provenance(used, started, revision)}
        (out / f"{name}.json").write_text(json.dumps(report, indent=1, ensure_ascii=False))

    base = run_variant(settings, model, items, "all rules on")
    write("base", settings, base)
    rows = []
    for rule in rules:
        variant = replace(settings, reading=replace(settings.reading, rules_off=settings.reading.rules_off | {rule}))
        records = run_variant(variant, model, items, f"{rule} off")
        write(rule, variant, records)
        rows.append(ablation_row(rule, base, records))
        print(format_rows(rows[-1:]).splitlines()[-1], flush=True)
    rows.sort(key=lambda r: r["worth"])
    (out / "ablation.json").write_text(json.dumps(rows, indent=1))
    print(format_rows(rows))
    print(f"\nmodel replies: {model.hits} replayed, {model.misses} read", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
