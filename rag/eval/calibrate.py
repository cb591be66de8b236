"""`python -m rag.eval.calibrate REPORT.json`: choose the refusal threshold from one run, not one run per value.

The refusal gate (rag.generate.RefusalGate) reads the model's probability of replying NOT IN ARTICLES
at the first token; below the threshold the model must answer. With refusals banned
(`rag.eval.evaluate --split dev --refusal-threshold 1.01 --no-best-alone --no-second-look --out REPORT.json`:
one read of the best passages, as the replay assumes) the report holds, for every question, that
probability and the checked answer the model gives when it may not refuse. Greedy
decoding makes that answer the same for any threshold above the probability, so every threshold can be
replayed from the one report. Held-out questions are left out: the threshold is tuned on dev only.

`--yes` replays the yes/no verdict threshold the same way (RefusalGate's `yes_threshold`), from a run made
with `--yes-threshold 0.5` (`rag.eval.evaluate --kind yesno --split dev --yes-threshold 0.5 --out REPORT.json`):
each answered yes/no question's record holds the model's share of "Yes" against "No", and whether its
verdict was right, so the verdict and its rightness at any other threshold follow.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from rag.eval.compare import load_records
from rag.eval.metrics import summarize
from rag.generate import NOT_FOUND

THRESHOLDS = (0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.8, 0.9, 1.01)
YES_THRESHOLDS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)


@dataclass
class Outcome:
    threshold: float
    accuracy: float  # answerable questions answered right
    wrong: int  # answerable questions answered wrong (worse than an abstention)
    false_abstention: float
    abstention: float  # unanswerable questions abstained on
    citation_precision: float


def replay(records: list[dict], threshold: float) -> Outcome:
    """The outcome the run would have had with this threshold (records made with refusals banned).

    Each record refused at this threshold becomes an abstention; the metrics are then the report's own
    (rag.eval.metrics.summarize), so a replayed row means what an evaluation row means."""

    def at_threshold(record: dict) -> dict:
        p = record.get("refusal_p")
        if record["abstained"] or p is None or p < threshold:
            return record
        return {**record, "abstained": True, "correct": False, "citations": [], "sentences": []}

    replayed = [at_threshold(r) for r in records]
    metrics = summarize(replayed)
    return Outcome(
        threshold=threshold,
        accuracy=metrics["answer"]["accuracy"],
        wrong=sum(not r["unanswerable"] and not r["abstained"] and not r["correct"] for r in replayed),
        false_abstention=metrics["abstention"]["false_rate"],
        abstention=metrics["abstention"]["accuracy"],
        citation_precision=metrics["citations"]["precision"],
    )


def replay_yes(records: list[dict], threshold: float) -> tuple[int, int]:
    """(right verdicts, verdicts) among the answered yes/no questions of a run made with yes_threshold 0.5."""
    right = total = 0
    for record in records:
        p = record.get("yes_p")
        if p is None or record["abstained"] or record["unanswerable"]:
            continue
        said_yes = p >= 0.5
        gold_yes = said_yes if record["correct"] else not said_yes
        total += 1
        right += (p >= threshold) == gold_yes
    return right, total


def build_parser() -> argparse.ArgumentParser:
    """The command's flags (also read by `python -m rag.cli`, which writes docs/commands.md)."""
    parser = argparse.ArgumentParser(prog="python -m rag.eval.calibrate", description=__doc__)
    parser.add_argument("report", help="rag.eval.evaluate --refusal-threshold 1.01 --out REPORT.json")
    parser.add_argument("--yes", action="store_true", help="replay the yes/no verdict threshold instead")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        records = load_records(args.report)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    dev = [r for r in records if r.get("split") != "heldout"]
    if args.yes:
        print("| yes threshold | right verdicts |")
        print("| --- | --- |")
        for threshold in YES_THRESHOLDS:
            right, total = replay_yes(dev, threshold)
            print(f"| {threshold:.2f} | {right}/{total} |")
        return 0
    if not any(r.get("refusal_p") is not None for r in dev):
        print("error: no refusal probabilities in this report (made with --no-check?)", file=sys.stderr)
        return 2
    if any(r.get("refusal_p") is not None and r.get("raw") == NOT_FOUND for r in dev):
        print(
            "error: in this run the model was allowed to refuse, so its answers above that threshold are "
            "unknown; make the run with --refusal-threshold 1.01",
            file=sys.stderr,
        )
        return 2
    if len(dev) < len(records):
        print(f"{len(records) - len(dev)} held-out questions left out.")
    print("| threshold | accuracy | wrong answers | false abstention | abstention | citation precision |")
    print("| --- | --- | --- | --- | --- | --- |")
    for threshold in THRESHOLDS:
        o = replay(dev, threshold)
        print(
            f"| {threshold:.2f} | {o.accuracy:.2f} | {o.wrong} | {o.false_abstention:.2f} | "
            f"{o.abstention:.2f} | {o.citation_precision:.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
