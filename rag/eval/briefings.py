"""`python -m rag.eval.briefings --briefings eval/briefings.jsonl`: how good the briefings are.

Per topic of the set (eval/briefings.jsonl: a question, the articles about the topic, 3-5 key facts with
the strings a bullet stating them contains), the briefing the chat would give, measured:
- on topic: share of bullets an assessor judged about the topic (eval/briefings_judged.jsonl: each quoted
  sentence judged for its topic's question, blind to the code); a bullet none of whose sentences is judged
  counts when it cites one of the topic's listed articles, which is also reported for every bullet
  ("on topic, listed": a lower bound, as a topic lists at most 15 articles). `--unjudged FILE` writes the
  sentences still to judge;
- supported: share of bullets whose every source sentence stands, word for word, in the passage its
  marker cites, and whose text quotes its sources;
- key-fact recall: share of the key facts some bullet states (holds one of the fact's strings);
- duplicates: pairs of bullets sharing most of their content words (Jaccard >= 0.5);
- order errors: neighbouring dated bullets out of date order (newest last; newest first for "latest");
- time to the first bullet and to the last, through `Pipeline.stream` as the chat gets them (with the
  toggle on, so each topic is briefed whatever its wording; the wording's own choice is tested apart).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from rag.briefing import Briefing, Bullet
from rag.eval.evaluate import read_set
from rag.eval.metrics import is_held_out, normalize_answer
from rag.index_store import build_index
from rag.pipeline import Done, Pipeline, Token
from rag.text import content_words


def states(bullet: str, answers: list[str]) -> bool:
    """Does the bullet hold one of the fact's strings? Normalized as the Q&A sets' answers are
    (rag.eval.metrics.normalize_answer: case, punctuation, "$11bn" = "11 billion"); a string of five letters or
    more may also begin a longer word ("resign" in "resigned")."""
    text = f" {normalize_answer(bullet)} "
    wanted = [normalize_answer(a) for a in answers]
    return any(a and (f" {a} " in text or (len(a) > 4 and f" {a}" in text)) for a in wanted)


Judged = dict[tuple[str, str], bool]  # (topic id, quoted sentence) -> about the topic


def read_judged(path: str | Path) -> Judged:
    """The assessor's judgments (no file: none)."""
    if not Path(path).exists():
        return {}
    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    return {(r["id"], r["sentence"]): bool(r["on_topic"]) for r in rows}


def judgments(topic: str, bullet: Bullet, judged: Judged) -> list[bool]:
    """The assessor's labels of the bullet's sentences (empty: the bullet is unjudged)."""
    return [judged[key] for s in bullet.fact.statements if (key := (topic, s.text)) in judged]


def score_topic(item: dict, briefing: Briefing, duplicates: dict[str, str], judged: Judged | None = None) -> dict:
    """The measures of one topic's briefing (see the module's docstring)."""
    judged = judged or {}
    about = {duplicates.get(a, a) for a in item["articles"]}
    bullets = briefing.bullets
    cited = [{e.chunk.article_id for e in briefing.evidence if e.number in b.markers} for b in bullets]
    listed = [bool(c & about) for c in cited]
    labels = [judgments(item["id"], b, judged) for b in bullets]
    on_topic = [any(found) if found else by_list for found, by_list in zip(labels, listed, strict=True)]
    passages = {e.number: e for e in briefing.evidence}
    supported = [
        any(s.text in b.text for s in b.fact.statements)
        and all(s.text in passages[m].text for s, m in zip(b.fact.statements, b.markers, strict=True) if m in passages)
        and set(b.markers) <= set(passages)
        for b in bullets
    ]
    stated = [[i for i, b in enumerate(bullets) if states(b.text, fact["answers"])] for fact in item["key_facts"]]
    same_fact = set()
    for i in range(len(bullets)):
        for j in range(i + 1, len(bullets)):
            a, b = content_words(bullets[i].text), content_words(bullets[j].text)
            if a and b and len(a & b) / len(a | b) >= 0.5:
                same_fact.add((i, j))
    dates = [b.fact.date for b in bullets if b.fact.date]  # the dates shown
    pairs = list(zip(dates, dates[1:], strict=False))
    order_errors = sum(1 for a, b in pairs if (a < b if briefing.latest else a > b))
    return {
        "id": item["id"],
        "bullets": len(bullets),
        "on_topic": sum(on_topic),
        "on_topic_listed": sum(listed),
        "unjudged": sum(1 for found in labels if not found),
        "supported": sum(supported),
        "facts": len(item["key_facts"]),
        "facts_stated": sum(1 for holders in stated if holders),
        "duplicates": len(same_fact),
        "dated_bullets": len(dates),
        "order_errors": order_errors,
    }


def summary(records: list[dict]) -> dict:
    bullets = sum(r["bullets"] for r in records) or 1
    facts = sum(r["facts"] for r in records) or 1
    first = [r["first_bullet_s"] for r in records]
    last = [r["last_bullet_s"] for r in records]
    return {
        "topics": len(records),
        "bullets": sum(r["bullets"] for r in records),
        "on_topic": round(sum(r["on_topic"] for r in records) / bullets, 3),
        "on_topic_listed": round(sum(r["on_topic_listed"] for r in records) / bullets, 3),
        "unjudged_bullets": sum(r["unjudged"] for r in records),
        "supported": round(sum(r["supported"] for r in records) / bullets, 3),
        "key_fact_recall": round(sum(r["facts_stated"] for r in records) / facts, 3),
        "duplicates": sum(r["duplicates"] for r in records),
        "order_errors": sum(r["order_errors"] for r in records),
        "empty": sum(1 for r in records if not r["bullets"]),
        "first_bullet_p50_s": round(statistics.median(first), 2) if first else None,
        "last_bullet_p50_s": round(statistics.median(last), 2) if last else None,
        "last_bullet_max_s": round(max(last), 2) if last else None,
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rag.eval.briefings", description=__doc__.split("\n\n")[0])
    parser.add_argument("--briefings", default="eval/briefings.jsonl", help="the briefing set")
    parser.add_argument("--index", required=True, help="an index of the set's articles (BBC, seed and eval/dated)")
    parser.add_argument("--corpus", help="build (or bring up to date) the index of this folder first")
    parser.add_argument("--split", choices=["all", "dev", "heldout"], default="dev", help="(default %(default)s)")
    parser.add_argument("--judged", default="eval/briefings_judged.jsonl", help="on-topic judgments (%(default)s)")
    parser.add_argument("--unjudged", help="write the bullets' sentences no judgment covers here (JSON lines to judge)")
    parser.add_argument("--out", help="write the report as JSON here")
    parser.add_argument("--show", action="store_true", help="print each briefing (dev topics only)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    items = read_set(args.briefings, {"id", "question", "articles", "key_facts"})
    if args.split != "all":
        items = [i for i in items if is_held_out(i["id"]) == (args.split == "heldout")]
    if args.corpus:
        built = build_index(args.corpus, args.index, log=lambda m: print(m, file=sys.stderr))
        print(built.summary().splitlines()[0], file=sys.stderr)
    pipeline = Pipeline(args.index)  # the model is not loaded: a briefing does not ask it
    duplicates = pipeline.index.manifest.get("duplicates", {})
    judged = read_judged(args.judged)
    records, unjudged = [], []
    for item in items:
        started, first, briefing = time.perf_counter(), None, None
        for event in pipeline.stream(item["question"], briefing=True):  # as the chat streams it
            if isinstance(event, Token) and first is None:
                first = time.perf_counter() - started
            elif isinstance(event, Done):
                briefing = event.answer.briefing
        last = time.perf_counter() - started
        if briefing is None:
            raise RuntimeError(f"{item['id']}: the pipeline answered without a briefing")
        record = score_topic(item, briefing, duplicates, judged)
        unjudged += [
            {"id": item["id"], "question": item["question"], "sentence": s.text, "headline": s.chunk.title}
            for b in briefing.bullets
            if not judgments(item["id"], b, judged)
            for s in b.fact.statements
        ]
        record.update(first_bullet_s=round(first or last, 2), last_bullet_s=round(last, 2))
        records.append(record)
        if args.show and not is_held_out(item["id"]):
            print(f"\n## {item['id']} {item['question']}  [{briefing.topic}]\n{briefing.text}")
            print({k: v for k, v in record.items() if k != "id"})
    report = {"summary": summary(records), "per_topic": records}
    print(json.dumps(report["summary"], indent=1))
    if args.unjudged:
        Path(args.unjudged).write_text("".join(json.dumps(u) + "\n" for u in unjudged), encoding="utf-8")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
