"""`python -m rag.eval.compare BEFORE.json AFTER.json`: did quality go up or down between two evaluation runs?

Aggregate figures move by a question or two between runs, which on a set of 50-130 questions is
within noise. What settles it is the same questions, paired: which ones a change got right that
were wrong before (gained), which it lost, and whether that imbalance could be chance (an exact
McNemar test: under "no effect" a gain is as likely as a loss). Held-out questions are counted but
not listed unless asked, so comparing runs does not quietly turn them into tuning material.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from scipy.stats import binomtest

from rag.eval.metrics import format_table, summarize, wilson_interval


def is_right(record: dict) -> bool:
    """A right answer to an answerable question, or an abstention on an unanswerable one."""
    return record["abstained"] if record["unanswerable"] else bool(record["correct"])


@dataclass
class Comparison:
    before: list[dict]  # records of the questions both runs asked, in the same order
    after: list[dict]
    gained: list[int] = field(default_factory=list)  # positions in before/after
    lost: list[int] = field(default_factory=list)
    reworded: list[int] = field(default_factory=list)  # same outcome, another answer
    unmatched: int = 0  # questions only one run asked

    @property
    def p_value(self) -> float:
        """Exact two-sided McNemar test on the discordant pairs (1.0 when nothing changed)."""
        changed = len(self.gained) + len(self.lost)
        return binomtest(len(self.gained), changed, 0.5).pvalue if changed else 1.0

    @property
    def first_gained(self) -> int:
        return sum(o["hit_rank"] != 1 and n["hit_rank"] == 1 for o, n in zip(self.before, self.after, strict=True))

    @property
    def first_lost(self) -> int:
        return sum(o["hit_rank"] == 1 and n["hit_rank"] != 1 for o, n in zip(self.before, self.after, strict=True))

    def right(self, records: list[dict]) -> int:
        return sum(is_right(r) for r in records)


def compare_runs(before: list[dict], after: list[dict]) -> Comparison:
    earlier = {r["id"]: r for r in before}
    later = [r for r in after if r["id"] in earlier]
    pairs = Comparison([earlier[r["id"]] for r in later], later)
    pairs.unmatched = len(before) + len(after) - 2 * len(later)
    for position, (old, new) in enumerate(zip(pairs.before, pairs.after, strict=True)):
        if is_right(new) and not is_right(old):
            pairs.gained.append(position)
        elif is_right(old) and not is_right(new):
            pairs.lost.append(position)
        elif old["answer"] != new["answer"]:
            pairs.reworded.append(position)
    return pairs


def _interval(right: int, n: int) -> str:
    if not n:
        return "-"
    low, high = wilson_interval(right, n)
    return f"{right}/{n} = {right / n:.2f} (95% interval {low:.2f}-{high:.2f})"


def format_comparison(pairs: Comparison, show_held_out: bool = False) -> str:
    """The comparison as text: paired verdict, metric table before/after, and the changed questions."""
    n = len(pairs.before)
    if not n:
        return "The two runs share no question ids: nothing to compare."
    lines = [
        f"Paired comparison on {n} questions"
        + (f" ({pairs.unmatched} asked by only one run, left out)" if pairs.unmatched else "")
        + ":",
        f"- right before: {_interval(pairs.right(pairs.before), n)}",
        f"- right after:  {_interval(pairs.right(pairs.after), n)}",
        f"- gained {len(pairs.gained)}, lost {len(pairs.lost)}, same outcome in other words {len(pairs.reworded)}; "
        f"exact McNemar p = {pairs.p_value:.3f}"
        + (" (the difference may well be chance)" if pairs.p_value >= 0.05 else " (unlikely to be chance)"),
        f"- retrieval: answer-bearing passage first for {pairs.first_gained} more and {pairs.first_lost} fewer",
        "",
        format_table({"before": summarize(pairs.before), "after": summarize(pairs.after)}),
        "(times compare only between runs made in the same hour on the same machine)",
    ]
    hidden = 0
    for label, positions in (("gained", pairs.gained), ("lost", pairs.lost), ("same outcome", pairs.reworded)):
        shown = []
        for position in positions:
            old, new = pairs.before[position], pairs.after[position]
            if new.get("split") == "heldout" and not show_held_out:
                hidden += 1
                continue
            shown.append(f"  {new['id']}: {new['question']}\n    before: {old['answer']}\n    after:  {new['answer']}")
        if shown:
            lines += ["", f"{label}:", *shown]
    if hidden:
        note = "not listed (--show-held-out lists them; never tune on them)"
        lines += ["", f"{hidden} changed held-out questions {note}."]
    return "\n".join(lines)


def load_records(path: Path | str) -> list[dict]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not a JSON report of python -m rag.eval.evaluate --out ({error})") from None
    if not isinstance(data, dict) or "per_question" not in data:
        raise ValueError(f"{path} is not a report of python -m rag.eval.evaluate --out (no per_question records)")
    return data["per_question"]


def build_parser() -> argparse.ArgumentParser:
    """The command's flags (also read by `python -m rag.cli`, which writes docs/commands.md)."""
    parser = argparse.ArgumentParser(prog="python -m rag.eval.compare", description=__doc__)
    parser.add_argument("before", help="report of the earlier run (rag.eval.evaluate --out)")
    parser.add_argument("after", help="report of the later run")
    parser.add_argument("--show-held-out", action="store_true", help="also list changed held-out questions")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        pairs = compare_runs(load_records(args.before), load_records(args.after))
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(format_comparison(pairs, args.show_held_out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
