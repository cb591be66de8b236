"""`python -m rag.calibrate REPORT.json`: choose the refusal threshold from one run, not one run per value.

The refusal gate (rag.generate.RefusalGate) reads the model's probability of replying NOT IN ARTICLES
at the first token; below the threshold the model must answer. With refusals banned
(`rag.evaluate --split dev --refusal-threshold 1.01 --out REPORT.json`) the report holds, for every
question, that probability and the checked answer the model gives when it may not refuse. Greedy
decoding makes that answer the same for any threshold above the probability, so every threshold can be
replayed from the one report. Held-out questions are left out: the threshold is tuned on dev only.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from rag.compare import load_records
from rag.generate import NOT_FOUND
from rag.metrics import share

THRESHOLDS = (0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.8, 0.9, 1.01)


@dataclass
class Outcome:
    threshold: float
    accuracy: float  # answerable questions answered right
    wrong: int  # answerable questions answered wrong (worse than an abstention)
    false_abstention: float
    abstention: float  # unanswerable questions abstained on
    citation_precision: float


def replay(records: list[dict], threshold: float) -> Outcome:
    """The outcome the run would have had with this threshold (records made with refusals banned)."""
    answerable = [r for r in records if not r["unanswerable"]]
    unanswerable = [r for r in records if r["unanswerable"]]

    def abstains(record: dict) -> bool:
        p = record.get("refusal_p")
        return record["abstained"] or (p is not None and p >= threshold)

    answered = [r for r in answerable if not abstains(r)]
    citations = [c for r in answered for c in r["citations"]]
    return Outcome(
        threshold=threshold,
        accuracy=share(sum(r["correct"] for r in answered), len(answerable)),
        wrong=sum(not r["correct"] for r in answered),
        false_abstention=share(len(answerable) - len(answered), len(answerable)),
        abstention=share(sum(abstains(r) for r in unanswerable), len(unanswerable)),
        citation_precision=share(sum(c["gold"] for c in citations), len(citations)),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag.calibrate", description=__doc__)
    parser.add_argument("report", help="rag.evaluate --refusal-threshold 1.01 --out REPORT.json")
    args = parser.parse_args(argv)
    try:
        records = load_records(args.report)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    dev = [r for r in records if r.get("split") != "heldout"]
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
