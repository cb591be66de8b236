"""Evaluation metrics: SQuAD-style answer matching, passage hits, citation and abstention rates."""

from __future__ import annotations

import hashlib
import math
import re
import string
from collections import Counter

from scipy.stats import binomtest

from rag.text import normalize_text


def normalize_answer(text: str) -> str:
    """SQuAD normalization (lowercase, no punctuation, no articles, single spaces), after the
    checker's own: "seven" = "7", "£801m" = "£801 million", "5%" = "5 percent"."""
    text = normalize_text(text)  # also lowercases and straightens quotes
    text = "".join(ch if ch not in set(string.punctuation) | {"“", "”", "‘", "£", "€"} else " " for ch in text)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def contains_answer(text: str, answers: list[str]) -> bool:
    haystack = f" {normalize_answer(text)} "
    return any(f" {normalize_answer(a)} " in haystack for a in answers if normalize_answer(a))


def token_f1(prediction: str, answers: list[str]) -> float:
    """Best SQuAD token F1 of the prediction against any acceptable answer."""
    predicted = normalize_answer(prediction).split()
    best = 0.0
    for answer in answers:
        gold = normalize_answer(answer).split()
        common = Counter(predicted) & Counter(gold)
        same = sum(common.values())
        if not predicted or not gold or same == 0:
            continue
        precision, recall = same / len(predicted), same / len(gold)
        best = max(best, 2 * precision * recall / (precision + recall))
    return best


YES_NO = ("yes", "no")


def is_yes_no(answers: list[str]) -> bool:
    """A yes/no question's gold answer is exactly ["yes"] or ["no"]."""
    return len(answers) == 1 and normalize_answer(answers[0]) in YES_NO


def judge_answer(text: str, answers: list[str]) -> bool:
    """Is this reply right? A yes/no question is answered by the reply's first word ("No. Ushakov said
    ..."), which must be the gold one; any other by containing one of the gold answers."""
    if is_yes_no(answers):
        words = normalize_answer(text).split()
        return bool(words) and words[0] == normalize_answer(answers[0])
    return contains_answer(text, answers)


def holds_answer(text: str, answers: list[str], evidence: str | None = None) -> bool:
    """Does a passage hold the answer? For a yes/no question, whose answer word stands in no passage, the
    passage must hold the start of the gold evidence sentence instead."""
    if is_yes_no(answers):
        start = " ".join(normalize_answer(evidence or "").split()[:8])
        return bool(start) and f" {start} " in f" {normalize_answer(text)} "
    return contains_answer(text, answers)


def hit_rank(
    passages: list[tuple[str, str]], doc: str | None, answers: list[str], evidence: str | None = None
) -> int | None:
    """1-based rank of the first (article_id, text) passage from `doc` that carries an answer."""
    for rank, (article_id, text) in enumerate(passages, start=1):
        if article_id == doc and holds_answer(text, answers, evidence):
            return rank
    return None


def retrieval_scores(ranks: list[int | None]) -> dict[str, float]:
    if not ranks:
        return {"hit@1": 0.0, "hit@5": 0.0, "mrr": 0.0}
    n = len(ranks)
    return {
        "hit@1": sum(1 for r in ranks if r == 1) / n,
        "hit@5": sum(1 for r in ranks if r is not None and r <= 5) / n,
        "mrr": sum(1 / r for r in ranks if r is not None) / n,
    }


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def share(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def wilson_interval(successes: int, n: int) -> tuple[float, float]:
    """95% interval of a rate measured on n questions: on 50-130 questions it spans +-0.06-0.14,
    which is what a one-question change must be read against."""
    if not n:
        return (0.0, 0.0)
    interval = binomtest(successes, n).proportion_ci(0.95, method="wilson")
    return (float(interval.low), float(interval.high))


LARGE_SET_PREFIX = "tq-"  # ids of eval/qa_large.jsonl


def is_held_out(question_id: str) -> bool:
    """The part of a Q&A set run only at the end, chosen by hash of the id: the sealed half of the large
    set (ids "tq-..."; run once at the end of an issue, its questions never read), a fixed third of the
    older sets."""
    digest = int(hashlib.sha1(question_id.encode()).hexdigest(), 16)
    return digest % 2 == 0 if question_id.startswith(LARGE_SET_PREFIX) else digest % 3 == 0


def summarize(records: list[dict]) -> dict:
    """Aggregate per-question records (see rag.eval.evaluate) into the report's metric keys."""
    answerable = [r for r in records if not r["unanswerable"]]
    unanswerable = [r for r in records if r["unanswerable"]]
    correct = [r for r in answerable if r["correct"]]
    citations = [c for r in answerable for c in r["citations"]]
    sentences = [s for r in records if not r["abstained"] for s in r["sentences"]]
    return {
        "n": len(records),
        "retrieval": retrieval_scores([r["hit_rank"] for r in answerable]),
        "answer": {
            "accuracy": share(len(correct), len(answerable)),
            "accuracy_95": wilson_interval(len(correct), len(answerable)),
            "f1": sum(r["f1"] for r in answerable) / len(answerable) if answerable else 0.0,
        },
        "citations": {
            "precision": share(sum(1 for c in citations if c["gold"]), len(citations)),
            "answer_support": share(sum(1 for r in correct if r["cited_answer"]), len(correct)),
            "supported_rate": share(sum(1 for s in sentences if s["supported"]), len(sentences)),
        },
        "abstention": {
            "accuracy": share(sum(1 for r in unanswerable if r["abstained"]), len(unanswerable)),
            "false_rate": share(sum(1 for r in answerable if r["abstained"]), len(answerable)),
            "unanswerable": len(unanswerable),
        },
        "latency_s": {
            "first_token_p50": percentile([r["first_token_s"] for r in records], 50),
            "total_p50": percentile([r["total_s"] for r in records], 50),
            "total_p95": percentile([r["total_s"] for r in records], 95),
        },
    }


def _abstention_cell(metrics: dict) -> str:
    if metrics["abstention"].get("unanswerable") == 0:
        return "n/a"  # no unanswerable question was asked (--gold-passage, or a set without any)
    return f"{metrics['abstention']['accuracy']:.2f}"


def format_table(columns: dict[str, dict]) -> str:
    rows = [
        ("questions", lambda m: f"{m['n']}"),
        ("retrieval hit@1", lambda m: f"{m['retrieval']['hit@1']:.2f}"),
        ("retrieval hit@5", lambda m: f"{m['retrieval']['hit@5']:.2f}"),
        ("retrieval MRR", lambda m: f"{m['retrieval']['mrr']:.2f}"),
        ("answer accuracy", lambda m: f"{m['answer']['accuracy']:.2f}"),
        ("accuracy 95% interval", lambda m: "{:.2f}-{:.2f}".format(*m["answer"]["accuracy_95"])),
        ("answer F1", lambda m: f"{m['answer']['f1']:.2f}"),
        ("citation precision", lambda m: f"{m['citations']['precision']:.2f}"),
        ("answer support", lambda m: f"{m['citations']['answer_support']:.2f}"),
        ("supported sentences", lambda m: f"{m['citations']['supported_rate']:.2f}"),
        ("abstention accuracy", _abstention_cell),
        ("false abstention", lambda m: f"{m['abstention']['false_rate']:.2f}"),
        ("first token p50 (s)", lambda m: f"{m['latency_s']['first_token_p50']:.2f}"),
        ("answer time p50 (s)", lambda m: f"{m['latency_s']['total_p50']:.2f}"),
        ("answer time p95 (s)", lambda m: f"{m['latency_s']['total_p95']:.2f}"),
    ]
    names = list(columns)
    lines = ["| metric | " + " | ".join(names) + " |", "| --- |" + " --- |" * len(names)]
    for label, cell in rows:
        lines.append(f"| {label} | " + " | ".join(cell(columns[n]) for n in names) + " |")
    return "\n".join(lines)


def format_kinds(records: list[dict]) -> str:
    """Right answers by kind of question (the large set tags each: role, yesno, un_topic, ...): an
    answerable kind counts correct answers and refusals, an unanswerable one abstentions. "" if untagged."""
    kinds = sorted({str(r["kind"]) for r in records if r.get("kind")})
    if not kinds:
        return ""
    lines = ["| kind | questions | right | rate | refused |", "| --- | --- | --- | --- | --- |"]
    for kind in kinds:
        group = [r for r in records if r.get("kind") == kind]
        right = sum(r["abstained"] if r["unanswerable"] else r["correct"] for r in group)
        refused = sum(r["abstained"] for r in group)
        lines.append(f"| {kind} | {len(group)} | {right} | {share(right, len(group)):.2f} | {refused} |")
    return "\n".join(lines)


def format_run(records: list[dict]) -> tuple[dict, str]:
    """A run's metrics, and what the measuring commands print of it: the table (dev and held-out apart
    when the run holds both), then right answers by kind."""
    metrics = summarize(records)
    columns = {"all": metrics}
    dev = [r for r in records if r["split"] == "dev"]
    held = [r for r in records if r["split"] == "heldout"]
    if dev and held:
        columns["dev"] = summarize(dev)
        columns["held-out"] = summarize(held)
    kinds = format_kinds(records)
    return metrics, format_table(columns) + ("\n\n" + kinds if kinds else "")
