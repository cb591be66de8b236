"""`python -m rag.eval.synth --bbc DIR --seeds seeds --out DIR --articles N`: a synthetic news archive of N
articles for the scale benchmark (rag.eval.scale), written deterministically from a seed.

What it holds:
- the seed article(s) (`seeds/000_*.txt`) at the root and real BBC articles under `bbc/` with their own
  relative paths (symlinks), so the gold ids of eval/*.jsonl (`doc`, e.g. "bbc/business/058.txt") name the
  same articles. When N is at least the whole real corpus, every BBC article is there; below it, only the
  gold articles of the evaluation sets (the questions need them), and the rest of N is synthetic.
- synthetic articles under `synth/<section>/<shard>/` (at most 1,000 files a folder), plain text as
  rag.articles reads it: a title, `Published:` and `Source:` header lines, a blank line, the body.
  A body is a lead paragraph (the first paragraph of a real article) and 2-9 more paragraphs drawn from
  other articles of the same BBC section, so the text is real news; the title is the key words of the
  lead's first sentence (headline style); the outlet one of 15 fictional ones; the date uniform over
  2019-2026.
- near-duplicates, as a real archive has them (a wire story re-run by other outlets under another title):
  `NEAR_DUPLICATE_SHARE` of the synthetic articles take an earlier article's paragraphs with one dropped or
  swapped, `RERUN_SHARE` take them unchanged (the build indexes such a body once and lists it as a duplicate).

No paragraph holding a sentence of a gold article (the `doc` of any question in eval/*.jsonl, read from
that field alone) is ever used, whichever article it comes from: the BBC corpus itself holds copies of some
stories, and a gold sentence in a distractor would make the gold article's passage a coin toss, not a
measure of scale.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from rag.chunking import split_sentences
from rag.lexicon import STOPWORDS

# Fictional outlets: none is a real one a question could name, and none has an all-capitals word that the
# retriever's outlet rule (rag.retrieve.Retriever.outlets_in) would take for an acronym in a question.
OUTLETS = (
    "Meridian Wire",
    "Calder Valley Courier",
    "Riverside Chronicle",
    "Eastbrook Gazette",
    "Northern Lantern",
    "Pinecrest Observer",
    "Harbourline News",
    "Silverbay Times",
    "Westmarch Journal",
    "Copperfield Daily",
    "Lakeshore Dispatch",
    "Granite City Record",
    "Hollow Oak Tribune",
    "Bramblewood Bulletin",
    "Fenwick Evening Star",
)
FIRST_DAY = datetime(2019, 1, 1)
DAYS = (datetime(2026, 12, 31) - FIRST_DAY).days + 1
NEAR_DUPLICATE_SHARE = 0.12  # one paragraph dropped or swapped: most of the body shared
RERUN_SHARE = 0.03  # the body unchanged under another title, outlet and date: a duplicate to the build
MIN_PARAGRAPHS, MAX_PARAGRAPHS = 3, 10
SHARD_SIZE = 1_000  # files per folder at most
TITLE_WORDS = 7
SYNTH = "synth"


def _key(text: str) -> str:
    """A sentence or title as compared: lowercase, single spaces."""
    return " ".join(text.split()).lower()


def gold_documents(eval_dir: Path | str) -> set[str]:
    """The `doc` field of every line of every eval/*.jsonl: the gold articles' ids. Nothing else is read."""
    docs: set[str] = set()
    for path in sorted(Path(eval_dir).glob("*.jsonl")):
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    doc = json.loads(line).get("doc")
                    if isinstance(doc, str):
                        docs.add(doc)
    return docs


def _read_bbc(path: Path) -> tuple[str, list[str]]:
    """A BBC file's title (line 1) and body paragraphs (separated by blank lines)."""
    text = path.read_text(encoding="utf-8", errors="replace").replace("\r\n", "\n")
    title, _, body = text.strip().partition("\n")
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", body) if p.strip()]
    return title.strip(), paragraphs


def _sentences(paragraph: str) -> list[str]:
    return [paragraph[s:e] for s, e in split_sentences(paragraph)]


@dataclass
class ParagraphPool:
    """The paragraphs synthetic bodies are drawn from, per BBC section, none holding a gold sentence."""

    paragraphs: dict[str, list[str]]  # section -> usable paragraphs
    leads: dict[str, list[int]]  # section -> indices (into paragraphs) of articles' first paragraphs
    real: dict[str, list[str]]  # section -> the real article file names, sorted
    gold_titles: set[str]
    refused: int = 0  # paragraphs left out for holding a gold sentence
    # section -> the real articles' bodies as paragraph indices: a synthetic body is never one of them whole
    bodies: dict[str, set[tuple[int, ...]]] = field(default_factory=dict)

    @classmethod
    def from_bbc(cls, bbc: Path, gold: set[str]) -> ParagraphPool:
        sections = sorted(p.name for p in bbc.iterdir() if p.is_dir())
        if not sections:
            raise ValueError(f"{bbc} has no section folders (business/, sport/, ...)")
        real = {s: sorted(p.name for p in (bbc / s).iterdir() if p.suffix == ".txt") for s in sections}
        articles = {(s, name): _read_bbc(bbc / s / name) for s in sections for name in real[s]}
        gold_keys = {key for key in articles if f"bbc/{key[0]}/{key[1]}" in gold}
        gold_sentences = {
            _key(sentence) for key in gold_keys for paragraph in articles[key][1] for sentence in _sentences(paragraph)
        }
        pool = cls({s: [] for s in sections}, {s: [] for s in sections}, real, set())
        pool.gold_titles = {_key(articles[key][0]) for key in gold_keys}
        pool.bodies = {s: set() for s in sections}
        for (section, _name), (_title, paragraphs) in sorted(articles.items()):
            kept = []
            for number, paragraph in enumerate(paragraphs):
                # The gold articles' own paragraphs fall here too: every sentence of theirs is a gold sentence.
                if any(_key(s) in gold_sentences for s in _sentences(paragraph)):
                    pool.refused += 1
                    continue
                if number == 0:
                    pool.leads[section].append(len(pool.paragraphs[section]))
                kept.append(len(pool.paragraphs[section]))
                pool.paragraphs[section].append(paragraph)
            if len(kept) == len(paragraphs):
                pool.bodies[section].add(tuple(kept))
        for section in sections:
            if len(pool.paragraphs[section]) < MAX_PARAGRAPHS or not pool.leads[section]:
                raise ValueError(f"section {section!r} has too few paragraphs without a gold sentence to draw from")
        return pool


def headline(paragraph: str, skip: int = 0, words: int = TITLE_WORDS) -> str:
    """A title in headline style: the first `words` content words of the paragraph's first sentence (after
    `skip` of them), the first letter capitalised. "Electrolux saw its shares rise 14% on Tuesday after ..." ->
    "Electrolux saw shares rise 14% Tuesday shifting"."""
    sentences = _sentences(paragraph) or [paragraph]
    tokens = [w.strip("\"'“”‘’()[],;:.!?-") for w in sentences[0].split()]
    kept = [w for w in tokens if w and w.lower() not in STOPWORDS][skip : skip + words]
    if not kept:
        kept = paragraph.split()[:words]
    title = " ".join(kept)
    return title[:1].upper() + title[1:]


@dataclass
class Synthetic:
    path: str  # relative to the archive
    section: str
    title: str
    outlet: str
    published: str
    paragraphs: list[int]  # indices into the section's pool
    copy_of: str | None = None  # the article whose paragraphs it re-runs
    kind: str = "original"  # original, near-duplicate, rerun

    def text(self, pool: ParagraphPool) -> str:
        body = "\n\n".join(pool.paragraphs[self.section][i] for i in self.paragraphs)
        return f"{self.title}\nPublished: {self.published}\nSource: {self.outlet}\n\n{body}\n"


def _date(rng: random.Random) -> datetime:
    return FIRST_DAY + timedelta(days=rng.randrange(DAYS), minutes=rng.randrange(6 * 60, 23 * 60))


def _title(pool: ParagraphPool, paragraph: str, skip: int = 0, words: int = TITLE_WORDS) -> str:
    title = headline(paragraph, skip, words)
    if _key(title) in pool.gold_titles:  # never a gold article's title whole
        title = headline(paragraph, skip, words + 1)
    return title


def synthesize_articles(
    pool: ParagraphPool, count: int, seed: int, folder: str = SYNTH, start: int = 0, copies: bool = True
) -> list[Synthetic]:
    """`count` synthetic articles, the same for the same pool, seed and start; without `copies`, no
    near-duplicates or re-runs (articles the build must index, none it may set aside as a duplicate)."""
    rng = random.Random(f"{seed}:{folder}:{start}")
    sections = sorted(pool.paragraphs)
    weights = [len(pool.real[s]) for s in sections]  # sections in the BBC's proportions
    made: list[Synthetic] = []
    by_section: dict[str, list[Synthetic]] = {s: [] for s in sections}
    for number in range(start, start + count):
        section = rng.choices(sections, weights)[0]
        path = f"{folder}/{section}/{number // SHARD_SIZE:03d}/{number:06d}.txt"
        outlet = rng.choice(OUTLETS)
        published = _date(rng)
        roll = rng.random()
        earlier = by_section[section][-500:]  # a re-run follows its story within days, not years
        paragraphs = pool.paragraphs[section]
        if copies and earlier and roll < NEAR_DUPLICATE_SHARE + RERUN_SHARE:
            original = rng.choice(earlier)
            chosen = list(original.paragraphs)
            kind = "rerun"
            if roll < NEAR_DUPLICATE_SHARE:
                kind = "near-duplicate"
                where = rng.randrange(1, len(chosen))  # the lead stays: the same story
                if len(chosen) > MIN_PARAGRAPHS and rng.random() < 0.5:
                    del chosen[where]
                else:
                    swapped = rng.randrange(len(paragraphs))
                    while swapped in chosen:
                        swapped = rng.randrange(len(paragraphs))
                    chosen[where] = swapped
            others = [o for o in OUTLETS if o != original.outlet]
            when = datetime.strptime(original.published, "%Y-%m-%d %H:%M") + timedelta(minutes=rng.randrange(30, 4320))
            article = Synthetic(
                path,
                section,
                # Another outlet's headline: the key words of the second paragraph (the first one's after
                # its first word when there is none).
                _title(pool, paragraphs[chosen[1]]) if len(chosen) > 1 else _title(pool, paragraphs[chosen[0]], 1),
                rng.choice(others),
                when.strftime("%Y-%m-%d %H:%M"),
                chosen,
                copy_of=original.path,
                kind=kind,
            )
        else:
            lead = rng.choice(pool.leads[section])
            rest = rng.sample(range(len(paragraphs)), rng.randint(MIN_PARAGRAPHS, MAX_PARAGRAPHS))
            chosen = [lead] + [i for i in rest if i != lead][: MAX_PARAGRAPHS - 1]
            article = Synthetic(
                path,
                section,
                # A lead heads many articles in a large archive: its headline varies in length and start.
                _title(pool, paragraphs[lead], skip=rng.choice((0, 0, 1)), words=rng.randint(5, 8)),
                outlet,
                published.strftime("%Y-%m-%d %H:%M"),
                chosen,
            )
        while tuple(article.paragraphs) in pool.bodies[section]:  # a real article whole: one more paragraph
            article.paragraphs.append(rng.randrange(len(paragraphs)))
        made.append(article)
        by_section[section].append(article)
    return made


@dataclass
class Archive:
    """What was written: the figures the benchmark reports beside its timings."""

    folder: str
    articles: int
    real: int
    synthetic: int
    near_duplicates: int
    reruns: int
    seed: int
    refused_paragraphs: int
    sections: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def _link(target: Path, link: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target.resolve())


def write_articles(archive: Path, pool: ParagraphPool, articles: list[Synthetic]) -> list[Path]:
    written = []
    for article in articles:
        path = archive / article.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(article.text(pool), encoding="utf-8")
        written.append(path)
    return written


def synthesize(
    bbc: Path | str,
    seeds: Path | str,
    out: Path | str,
    articles: int,
    gold: set[str],
    seed: int = 0,
    pool: ParagraphPool | None = None,
) -> Archive:
    """Write the archive of `articles` files into `out` (which must not exist or be empty)."""
    bbc, seeds, out = Path(bbc), Path(seeds), Path(out)
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"{out} is not empty: give a new folder")
    pool = pool or ParagraphPool.from_bbc(bbc, gold)
    seed_files = sorted(seeds.glob("000_*.txt"))
    everything = [(s, name) for s in sorted(pool.real) for name in pool.real[s]]
    if len(seed_files) + len(everything) <= articles:
        real = everything
    else:  # a smaller archive: the articles the questions are about, and synthetic ones around them
        real = [(s, name) for s, name in everything if f"bbc/{s}/{name}" in gold]
    if articles < len(seed_files) + len(real):
        raise ValueError(
            f"{articles} articles cannot hold the {len(seed_files)} seed and {len(real)} gold BBC articles: "
            f"ask for at least {len(seed_files) + len(real)}"
        )
    out.mkdir(parents=True, exist_ok=True)
    for path in seed_files:
        _link(path, out / path.name)
    for section, name in real:
        _link(bbc / section / name, out / "bbc" / section / name)
    made = synthesize_articles(pool, articles - len(seed_files) - len(real), seed)
    write_articles(out, pool, made)
    sections: dict[str, int] = {}
    for article in made:
        sections[article.section] = sections.get(article.section, 0) + 1
    return Archive(
        folder=str(out),
        articles=articles,
        real=len(seed_files) + len(real),
        synthetic=len(made),
        near_duplicates=sum(1 for a in made if a.kind == "near-duplicate"),
        reruns=sum(1 for a in made if a.kind == "rerun"),
        seed=seed,
        refused_paragraphs=pool.refused,
        sections=sections,
    )


def add_articles(archive: Path | str, pool: ParagraphPool, count: int, seed: int, folder: str = "added") -> list[Path]:
    """`count` more synthetic articles under `archive/folder/` (the benchmark's "add 10 articles")."""
    # Originals only: a re-run among them would be set aside as a duplicate, and fewer than `count` indexed.
    made = synthesize_articles(pool, count, seed + 1, folder=folder, copies=False)
    return write_articles(Path(archive), pool, made)


def build_parser() -> argparse.ArgumentParser:
    """The command's flags (also read by `python -m rag.cli`, which writes docs/commands.md)."""
    parser = argparse.ArgumentParser(prog="python -m rag.eval.synth", description=__doc__.split("\n\n")[0])
    parser.add_argument("--bbc", default=os.path.join("..", "shared", "corpora", "bbc"), help="the BBC corpus")
    parser.add_argument("--seeds", default="seeds", help="folder of the seed article (000_*.txt)")
    parser.add_argument("--eval", default="eval", help="folder of the evaluation sets whose gold articles are kept")
    parser.add_argument("--out", required=True, help="the archive folder to write (new or empty)")
    parser.add_argument("--articles", type=int, required=True, help="articles in the archive, real ones included")
    parser.add_argument("--seed", type=int, default=0, help="the same seed writes the same archive")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        archive = synthesize(args.bbc, args.seeds, args.out, args.articles, gold_documents(args.eval), args.seed)
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(archive.to_dict(), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
