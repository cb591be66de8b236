"""`python -m rag.eval.loadtest`: the chat under load, as its users reach it.

Starts `python app.py` on a free loopback port over a corpus of its own (the seed article and hand-written
articles, in a temporary folder) and drives it through its gradio API, the endpoints the page calls, with
`gradio_client`: each user is a client of its own (its own session) that asks its sequence of questions
about its own article, follow-ups included, sending back the chat history the answer returned, as the page
does; meanwhile one more user uploads articles and, once they are indexed, asks about them.

Checked: no error; each history holds its own user's questions only, in order; each answer states what
its question asks (a word or figure of its article) and cites no article but its user's; the uploaded
articles are answerable once indexed. Measured, per user and overall (p50 and p95): the wait in the queue
(from sending the question to the answer's start) and the answer time (from its start to the checked
answer). Times are measured here, never asserted in tests.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rag.cli import add_embedder_argument, add_model_argument
from rag.config import environment_with
from rag.eval.metrics import percentile
from rag.eval.provenance import PROJECT, git_revision, now
from rag.pipeline import ABSTAIN_TEXT

SEED_ID = "000_34dd6e6ea37e3941.txt"
START_TIMEOUT_S = 600  # the start indexes the corpus and loads the model on a slow shared CPU
ANSWER_TIMEOUT_S = 900  # eight users' questions may be ahead of one in the queue


@dataclass(frozen=True)
class Question:
    text: str
    expect: tuple[str, ...]  # the answer holds one of these (case, spaces and thousands commas aside)


@dataclass(frozen=True)
class Subject:
    """One user's article and questions (each follow-up refers back to the one before it)."""

    article_id: str
    text: str | None  # None: the seed article, copied from seeds/
    questions: tuple[Question, ...]


def _article(title: str, date: str, outlet: str, *paragraphs: str) -> str:
    return f"{title}\nPublished: {date}\n{outlet}\n\n" + "\n\n".join(paragraphs) + "\n"


# Eight users, eight subjects: an answer to another user's question names another article. (The seed
# article's user comes last: its follow-up is beyond the stand-in model of tests/test_loadtest.py.)
SUBJECTS: tuple[Subject, ...] = (
    Subject(
        "halden_museum.txt",
        _article(
            "Halden maritime museum reopens after flood repairs",
            "2025-11-20",
            "Østfold Daily",
            "The maritime museum in Halden reopened on Saturday after being closed for eight months because of "
            "the autumn flood, director Ingrid Solberg said.",
            "Solberg said the flood repairs cost 3.5 million kroner, paid mostly by the municipality. The museum "
            "now shows a new exhibit on coastal shipping in its main hall.",
        ),
        (
            Question("Why was the maritime museum in Halden closed?", ("flood",)),
            Question("How long was it closed?", ("eight months", "8 months")),
            Question("Who is the director of the Halden maritime museum?", ("Solberg",)),
            Question("How much did she say the repairs cost?", ("3.5 million",)),
            Question("What new exhibit does the Halden museum show?", ("coastal shipping",)),
        ),
    ),
    Subject(
        "island_ferries.txt",
        _article(
            "Island Ferries to raise fares",
            "2025-10-01",
            "Coast Daily",
            "Island Ferries will raise its fares by 5 percent from June, chief executive Maria Lund said on Tuesday.",
            "Lund said the company's fuel costs had doubled in two years. Island Ferries carried 1.2 million "
            "passengers last year between Skarholm and Vessby.",
        ),
        (
            Question("By how much will Island Ferries raise its fares?", ("5 percent", "5%", "five percent")),
            Question("From when will the higher fares apply?", ("June",)),
            Question("Who is the chief executive of Island Ferries?", ("Lund",)),
            Question("What did she say about fuel costs?", ("doubled",)),
            Question("How many passengers did Island Ferries carry last year?", ("1.2 million",)),
        ),
    ),
    Subject(
        "corven_marathon.txt",
        _article(
            "Yusuf wins the Corven city marathon in a course record",
            "2025-10-12",
            "Corven Herald",
            "Amina Yusuf won the Corven city marathon on Sunday with a winning time of 2 hours 21 minutes, a "
            "course record. "
            "About 14,000 runners took part this year.",
            "Yusuf, who trains in Eldoret, won the winner's prize of 20,000 euros.",
        ),
        (
            Question("Who won the Corven city marathon?", ("Yusuf",)),
            Question("What was her winning time?", ("2 hours 21 minutes", "2:21")),
            Question("How many runners took part in the Corven marathon?", ("14000",)),
            Question("How much prize money did she win?", ("20000",)),
            Question("Where does Amina Yusuf train?", ("Eldoret",)),
        ),
    ),
    Subject(
        "linthorpe_panda.txt",
        _article(
            "Giant panda cub born at Linthorpe Zoo",
            "2025-09-08",
            "Linthorpe Echo",
            "A giant panda cub was born at Linthorpe Zoo on Friday, the first panda born at the zoo in 30 years.",
            "The cub's mother is Mei Lan. The cub weighed 180 grams at birth, head keeper Tom Ashby said.",
        ),
        (
            Question("What animal was born at Linthorpe Zoo?", ("panda",)),
            Question("How much did it weigh at birth?", ("180 grams",)),
            Question("What is the name of the Linthorpe panda cub's mother?", ("Mei Lan",)),
            Question("Who is the head keeper at Linthorpe Zoo?", ("Ashby",)),
            Question("How many years has it been since a panda was born at Linthorpe Zoo?", ("30", "thirty")),
        ),
    ),
    Subject(
        "dunmere_bridge.txt",
        _article(
            "New Dunmere river bridge opens to traffic",
            "2025-08-18",
            "Dunmere Gazette",
            "The new bridge over the river at Dunmere opened to traffic on Monday. It cost 84 million pounds and is "
            "640 metres long.",
            "Chief engineer Rhoda Finch said the Dunmere bridge would carry 30,000 vehicles a day.",
        ),
        (
            Question("How much did the new Dunmere bridge cost?", ("84 million",)),
            Question("How long is it?", ("640",)),
            Question("Who was the chief engineer of the Dunmere bridge?", ("Finch",)),
            Question("How many vehicles a day will the Dunmere bridge carry?", ("30000",)),
            Question("When did the Dunmere bridge open to traffic?", ("Monday",)),
        ),
    ),
    Subject(
        "valmora_chess.txt",
        _article(
            "Sixteen-year-old Brenner wins the Valmora chess championship",
            "2025-07-27",
            "Valmora Times",
            "Lukas Brenner, who is 16 years old, won the Valmora national chess championship on Sunday. The "
            "championship was held in the city of Graz. Brenner beat grandmaster Petra Kovac in the final round.",
            "Brenner won a prize of 5,000 euros.",
        ),
        (
            Question("Who won the Valmora national chess championship?", ("Brenner",)),
            Question("How old is he?", ("16", "sixteen")),
            Question("Whom did Lukas Brenner beat in the final round?", ("Kovac",)),
            Question("In which city was the Valmora chess championship held?", ("Graz",)),
            Question("How much prize money did Brenner win?", ("5000",)),
        ),
    ),
    Subject(
        "hollins_strike.txt",
        _article(
            "Hollins Bakery workers strike over pay",
            "2025-06-30",
            "Tarrow Evening News",
            "About 300 workers at the Hollins Bakery plant in Tarrow walked out on Monday in a dispute over pay, "
            "union leader Dev Patel said.",
            "The union demands a pay rise of 8 percent. Hollins Bakery has offered a pay rise of 3 percent.",
        ),
        (
            Question("Why did workers at Hollins Bakery go on strike?", ("pay",)),
            Question("How many of them walked out?", ("300",)),
            Question("What pay rise does the union at Hollins Bakery demand?", ("8 percent", "8%")),
            Question("What pay rise has Hollins Bakery offered?", ("3 percent", "3%")),
            Question("Who is the union leader at the Hollins Bakery plant?", ("Patel",)),
        ),
    ),
    Subject(
        SEED_ID,
        None,
        (
            Question("What did Ushakov say about compromise?", ("compromise",)),
            Question("How long did those talks last?", ("five hours", "5 hours")),
            Question("Where are the NATO foreign ministers meeting?", ("Brussels",)),
            Question("Who is NATO's Secretary-General?", ("Rutte",)),
            Question("What did von der Leyen say about coal imports?", ("51", "zero")),
        ),
    ),
)

# What the uploading user adds, then asks about: articles no other user's answer names.
UPLOADS: tuple[Subject, ...] = (
    Subject(
        "alderney_lighthouse.txt",
        _article(
            "Alderney lighthouse gets a keeper again",
            "2025-11-29",
            "Island Post",
            "Olwen Price is the new keeper of the Alderney lighthouse, the first keeper there in twelve years, "
            "the island's harbour office said on Friday.",
        ),
        (Question("Who is the new keeper of the Alderney lighthouse?", ("Price",)),),
    ),
    Subject(
        "kessling_harvest.txt",
        _article(
            "Record apple harvest for the Kessling cooperative",
            "2025-10-05",
            "Kessling Courier",
            "The Kessling fruit growers' cooperative harvested 4,200 tonnes of apples this autumn, a record, "
            "cooperative chair Hugo Brandt said.",
        ),
        (Question("How many tonnes of apples did the Kessling cooperative harvest?", ("4200",)),),
    ),
    Subject(
        "arlen_comet.txt",
        _article(
            "Mount Arlen observatory discovers a comet",
            "2025-09-21",
            "Science Weekly",
            "Astronomer Sofia Reyes discovered a new comet at the Mount Arlen observatory on Wednesday. "
            "The comet will be named Arlen-Reyes.",
        ),
        (Question("Who discovered the comet at the Mount Arlen observatory?", ("Reyes",)),),
    ),
)


# ---------------------------------------------------------------- the corpus and the app


def write_corpus(folder: Path, seeds: Path = PROJECT / "seeds") -> Path:
    """The load test's corpus in folder/corpus: the seed article and the subjects' articles."""
    corpus = folder / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for subject in SUBJECTS:
        target = corpus / subject.article_id
        if subject.text is None:
            shutil.copy2(seeds / subject.article_id, target)
        else:
            target.write_text(subject.text, encoding="utf-8")
    return corpus


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serving(url: str) -> bool:
    """Does the URL answer 200 (no proxy)?"""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def start_app(
    corpus: Path, index: Path, log_path: Path, model: str, embedder: str, extra: list[str] | None = None
) -> tuple[subprocess.Popen, str]:
    """`python app.py` on a free loopback port, once it serves: (the process, its URL). Its output goes to
    `log_path`; on a failed start the process is stopped and the log's end is in the error."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    command = [sys.executable, str(PROJECT / "app.py"), "--host", "127.0.0.1", "--port", str(port)]
    command += ["--corpus", str(corpus), "--index", str(index), "--model", model, "--embedder", embedder]
    env = environment_with(PYTHONUNBUFFERED="1", GRADIO_ANALYTICS_ENABLED="False", NO_PROXY="127.0.0.1")
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command + (extra or []), cwd=PROJECT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + START_TIMEOUT_S
    while not serving(url):
        problem = None
        if process.poll() is not None:
            problem = f"the app exited with code {process.returncode} before serving"
        elif time.monotonic() > deadline:
            problem = f"the app did not serve {url} within {START_TIMEOUT_S} s"
        if problem:
            stop_app(process)
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-20:])
            raise RuntimeError(f"{problem}; the end of {log_path}:\n{tail}")
        time.sleep(0.5)
    return process, url


def stop_app(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=30)


# ---------------------------------------------------------------- one user


@dataclass
class Turn:
    """One question and its answer, as one user saw them."""

    user: str
    number: int
    question: str
    answer: str = ""
    cited: list[str] = field(default_factory=list)
    wait_s: float = 0.0  # from sending the question to the start of its answer (the queue)
    answer_s: float = 0.0  # from the start of the answer to the checked answer
    ended: float = 0.0  # seconds since the run began, when the answer was final
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _text(message: dict) -> str:
    """A chat message's text as written: gradio's list of parts joined, the chat's escapes undone."""
    content = message.get("content")
    if isinstance(content, list):
        content = " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    shown = re.sub(r"\[\[(\d+)\]\]\(#src-\d+\)", r"[\1]", content if isinstance(content, str) else "")
    shown = re.sub(r"<[^>]+>", "", shown)
    return html.unescape(re.sub(r"\\([\\`*_\[\]()#!:.])", r"\1", shown)).strip()


def cited_articles(sources: str) -> list[str]:
    """The articles of the cited source cards (none when the answer cites nothing)."""
    if "Cited sources" not in (sources or ""):
        return []
    return [html.unescape(a) for a in re.findall(r"<div class='src-card' id='src-\d+' data-article='([^']*)'", sources)]


def _plain(text: str) -> str:
    return re.sub(r"(?<=\d),(?=\d{3})", "", " ".join(text.lower().split()))


def check(turn: Turn, expect: tuple[str, ...], own: set[str], asked: list[str], history: list[dict]) -> None:
    """What is wrong with the answer to `turn` (history: the chat as the answer returned it)."""
    questions = [_text(m) for m in history if m.get("role") == "user"]
    if questions != asked or len(history) != 2 * len(asked):
        turn.problems.append(f"the history is not this user's: {questions}")
    if turn.answer.startswith("⚠️"):
        turn.problems.append("the app reported an error")
    foreign = sorted(set(turn.cited) - own)
    if foreign:
        turn.problems.append(f"cites another user's article: {foreign}")
    if ABSTAIN_TEXT in turn.answer:
        turn.problems.append("refused: " + " ".join(turn.answer.split()))  # "Searched for" says what was read
    elif not any(_plain(word) in _plain(turn.answer) for word in expect):
        turn.problems.append(f"does not say {' or '.join(expect)}")


class User:
    """One chat session: its own client, its own history."""

    def __init__(self, url: str, name: str, began: float) -> None:
        from gradio_client import Client

        self.name = name
        self.began = began
        self.client = Client(url, verbose=False, download_files=False, analytics_enabled=False)
        self.history: list[dict] = []
        self.asked: list[str] = []

    def ask(self, question: Question, own: set[str], number: int) -> Turn:
        turn = Turn(self.name, number, question.text)
        sent = time.monotonic()
        _, history, _ = self.client.predict(question.text, self.history, api_name="/add_question")
        job = self.client.submit(history, [], "", "", False, api_name="/answer")
        started = None
        while not job.done():
            if started is None and job.outputs():
                started = time.monotonic()  # the answer's first step: it has left the queue
            time.sleep(0.02)
        history, sources = job.result(timeout=ANSWER_TIMEOUT_S)
        finished = time.monotonic()
        started = started or finished
        self.history = history
        self.asked.append(question.text)
        turn.answer = _text(history[-1]) if history else ""
        turn.cited = cited_articles(sources)
        turn.wait_s, turn.answer_s = started - sent, finished - started
        turn.ended = finished - self.began
        check(turn, question.expect, own, self.asked, history)
        return turn


def run_user(url: str, name: str, subject: Subject, questions: int, began: float) -> list[Turn]:
    user = User(url, name, began)
    turns = []
    for number, question in enumerate(subject.questions[:questions], 1):
        try:
            turns.append(user.ask(question, {subject.article_id}, number))
        except Exception as error:  # noqa: BLE001 - a failed call is a result of the load test
            turns.append(Turn(name, number, question.text, problems=[f"the call failed: {error!r}"]))
            break
    return turns


@dataclass
class UploadResult:
    files: int
    upload_s: float = 0.0  # the upload call: saving the files and starting their indexing
    indexed_s: float = 0.0  # from the upload to the new index in use
    log: str = ""
    answers_while_indexing: int = 0  # other users' answers that ended while the upload was being indexed
    problems: list[str] = field(default_factory=list)


def run_uploader(
    url: str, uploads: tuple[Subject, ...], folder: Path, began: float, delay_s: float = 2.0
) -> tuple[UploadResult, list[Turn], tuple[float, float]]:
    """Upload the articles (after `delay_s`, once the others are asking), wait until they are indexed, then
    ask about each: (the upload, the answers, the indexing's start and end in seconds since the run began)."""
    from gradio_client import handle_file

    user = User(url, "uploader", began)
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for subject in uploads:
        (folder / subject.article_id).write_text(subject.text or "", encoding="utf-8")
        files.append(handle_file(str(folder / subject.article_id)))
    result = UploadResult(len(files))
    time.sleep(delay_s)
    sent = time.monotonic()
    shown, *_ = user.client.predict(files, api_name="/upload")
    result.upload_s = time.monotonic() - sent
    deadline = sent + ANSWER_TIMEOUT_S
    while "Indexed:" not in shown and "⚠️" not in shown and time.monotonic() < deadline:
        time.sleep(0.5)
        shown, *_ = user.client.predict(shown, api_name="/indexing")
    indexed = time.monotonic()
    result.indexed_s, result.log = indexed - sent, shown
    if f"Indexed: {len(files)} added" not in shown:
        result.problems.append(f"the upload was not indexed: {shown!r}")
    turns = []
    for number, subject in enumerate(uploads, 1):
        user.history, user.asked = [], []  # a new chat for each uploaded article, as after "New chat"
        try:
            turns.append(user.ask(subject.questions[0], {f"uploads/{subject.article_id}"}, number))
        except Exception as error:  # noqa: BLE001 - a failed call is a result of the load test
            turns.append(Turn("uploader", number, subject.questions[0].text, problems=[f"the call failed: {error!r}"]))
    return result, turns, (sent - began, indexed - began)


# ---------------------------------------------------------------- the run and its report


def run_load(url: str, users: int = 8, questions: int = 5, uploads: int = 3, folder: Path | None = None) -> dict:
    """Drive the chat at `url`: `users` users at once, each asking `questions` questions about its own subject,
    and one more uploading `uploads` articles; the report (turns, timings, checks)."""
    if not 1 <= users <= len(SUBJECTS) or not 1 <= questions <= 5 or not 0 <= uploads <= len(UPLOADS):
        raise ValueError(f"at most {len(SUBJECTS)} users, 5 questions and {len(UPLOADS)} uploads")
    folder = folder or Path(tempfile.mkdtemp(prefix="loadtest-uploads-"))
    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=users + 1) as pool:
        asking = [
            pool.submit(run_user, url, f"user{n + 1}", subject, questions, began)
            for n, subject in enumerate(SUBJECTS[:users])
        ]
        uploading = pool.submit(run_uploader, url, UPLOADS[:uploads], folder, began) if uploads else None
        turns = [turn for future in asking for turn in future.result()]
        upload, upload_turns, window = uploading.result() if uploading else (None, [], (0.0, 0.0))
    if upload is not None:
        upload.answers_while_indexing = sum(window[0] < t.ended < window[1] for t in turns)
    return report(turns, upload_turns, upload, time.monotonic() - began)


def _timings(turns: list[Turn]) -> dict:
    waits, answers = [t.wait_s for t in turns], [t.answer_s for t in turns]
    return {
        "answers": len(turns),
        "ok": sum(t.ok for t in turns),
        "wait_p50_s": round(percentile(waits, 50), 2),
        "wait_p95_s": round(percentile(waits, 95), 2),
        "answer_p50_s": round(percentile(answers, 50), 2),
        "answer_p95_s": round(percentile(answers, 95), 2),
        "total_p50_s": round(percentile([w + a for w, a in zip(waits, answers, strict=True)], 50), 2),
        "total_p95_s": round(percentile([w + a for w, a in zip(waits, answers, strict=True)], 95), 2),
    }


def report(turns: list[Turn], upload_turns: list[Turn], upload: UploadResult | None, seconds: float) -> dict:
    everyone = turns + upload_turns
    per_user = {
        name: _timings([t for t in everyone if t.user == name]) for name in dict.fromkeys(t.user for t in everyone)
    }
    problems = [f"{t.user} question {t.number} ({t.question}): {p}" for t in everyone for p in t.problems]
    if upload is not None:
        problems += [f"upload: {p}" for p in upload.problems]
    return {
        "passed": not problems,
        "problems": problems,
        "seconds": round(seconds, 1),
        "per_user": per_user,
        "overall": _timings(everyone),
        "upload": asdict(upload) if upload is not None else None,
        "turns": [asdict(t) | {"ok": t.ok} for t in everyone],
    }


def format_report(run: dict) -> str:
    """The table: one row per user and one overall, then the upload and what failed."""
    head = (
        f"{'user':<10} {'answers':>7} {'ok':>4} {'wait p50':>9} {'wait p95':>9} {'answer p50':>11} {'answer p95':>11}"
    )
    lines = [head, "-" * len(head)]
    rows = list(run["per_user"].items()) + [("overall", run["overall"])]
    for name, row in rows:
        if name == "overall":
            lines.append("-" * len(head))
        lines.append(
            f"{name:<10} {row['answers']:>7} {row['ok']:>4} {row['wait_p50_s']:>8.1f}s {row['wait_p95_s']:>8.1f}s "
            f"{row['answer_p50_s']:>10.1f}s {row['answer_p95_s']:>10.1f}s"
        )
    if upload := run["upload"]:
        lines.append(
            f"\nupload: {upload['files']} files saved in {upload['upload_s']:.1f} s, indexed and in use after "
            f"{upload['indexed_s']:.1f} s; {upload['answers_while_indexing']} other answers ended meanwhile"
        )
    lines.append(f"\n{'passed' if run['passed'] else 'FAILED'} in {run['seconds']:.0f} s")
    lines += [f"  ✗ {problem}" for problem in run["problems"]]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The command's flags (also read by `python -m rag.cli`, which writes docs/commands.md)."""
    parser = argparse.ArgumentParser(
        prog="python -m rag.eval.loadtest",
        description="Start the chat on a free loopback port and drive it as concurrent users (each asking its own "
        "questions, follow-ups included) while one more user uploads articles; check every answer and report "
        "queue wait and answer time (p50/p95) per user and overall.",
    )
    parser.add_argument("--users", type=int, default=len(SUBJECTS), help="users asking at once (default: %(default)s)")
    parser.add_argument("--questions", type=int, default=5, help="questions each user asks (default: %(default)s)")
    parser.add_argument(
        "--uploads", type=int, default=len(UPLOADS), help="articles the uploading user adds (default: %(default)s)"
    )
    parser.add_argument(
        "--index", help="index folder, kept between runs (default: a temporary one, built at the start)"
    )
    add_model_argument(parser)
    add_embedder_argument(parser)
    parser.add_argument("--out", help="write the JSON report here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary corpus and the app's log")
    return parser


def main(argv: list[str] | None = None) -> int:
    from rag.eval.bench import machine

    parser = build_parser()
    args = parser.parse_args(argv)
    if not 1 <= args.users <= len(SUBJECTS) or not 1 <= args.questions <= 5 or not 0 <= args.uploads <= len(UPLOADS):
        parser.error(f"--users 1 to {len(SUBJECTS)}, --questions 1 to 5, --uploads 0 to {len(UPLOADS)}")
    started, revision = now(), git_revision()
    folder = Path(tempfile.mkdtemp(prefix="loadtest-"))
    corpus = write_corpus(folder)
    index = Path(args.index) if args.index else folder / "index"
    log_path = folder / "app.log"
    print(f"starting the chat over {corpus} (log: {log_path})", flush=True)
    try:
        process, url = start_app(corpus, index, log_path, args.model, args.embedder)
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    try:
        print(f"{url}: {args.users} users x {args.questions} questions, {args.uploads} uploads", flush=True)
        run = run_load(url, args.users, args.questions, args.uploads, folder / "incoming")
    finally:
        stop_app(process)
    run = {
        "command": "python -m rag.eval.loadtest " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine(),
        "revision": revision,
        "time": started,
        "model": args.model,
        "embedder": args.embedder,
        **run,
    }
    print(format_report(run))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(run, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        print(f"report: {args.out}")
    if args.keep:
        print(f"kept: {folder}")
    else:
        shutil.rmtree(folder, ignore_errors=True)
    return 0 if run["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
