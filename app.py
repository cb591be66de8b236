"""The chat: `python app.py` serves "Ask the news" on http://127.0.0.1:7860.

Every answer goes through rag.pipeline.Pipeline.stream: the cited passages appear as soon as
retrieval is done, then the answer streams in, then the checked answer replaces the draft. All
article text and model output is escaped before display: nothing from an article runs as HTML.
This file holds the UI; `main` parses the flags (rag.cli) and hands it a ready pipeline.
"""

from __future__ import annotations

import argparse
import html
import logging
import re
import threading
from pathlib import Path

import gradio as gr

from rag.articles import CorpusError, Skipped, parse_file
from rag.background import BackgroundIndexer
from rag.cli import (
    add_corpus_argument,
    add_embedder_argument,
    add_pipeline_arguments,
    add_server_arguments,
    add_upload_arguments,
    ready_pipeline,
    settings_from,
    upload_limits_from,
)
from rag.config import UploadLimits
from rag.embedding import Embedder
from rag.errors import ModelError
from rag.index_store import IndexMissingError
from rag.llm import model_setting
from rag.pipeline import Answer, Done, Pipeline, QuestionError, Redraft, Retrieved, Token
from rag.retrieve import Filters

log = logging.getLogger("newsrag.app")
UPLOAD_TYPES = [".txt", ".md", ".markdown", ".json", ".jsonl", ".html", ".htm"]
PLACEHOLDERS = ("⏳", "🔎")  # how a question waiting for its answer starts

CSS = """
#sources { max-height: 78vh; overflow-y: auto !important; }
.src-card { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px 10px; margin: 0 0 10px 0; }
.src-card.flash { outline: 3px solid #f59e0b; }
.src-card .src-head { font-weight: 600; }
.src-card .src-meta { font-size: 0.85em; opacity: 0.75; margin: 2px 0 6px 0; }
.src-card .src-text { white-space: pre-wrap; font-size: 0.92em; }
.src-card mark { background: #fde68a; color: inherit; padding: 0 1px; }
.src-uncited { opacity: 0.6; }
.src-marker { display: inline-block; min-width: 1.6em; font-weight: 700; }
#status { font-size: 0.85em; opacity: 0.8; }
"""

# Clicking an [n] marker in the chat brings source card n into view.
HEAD = """
<script>
document.addEventListener('click', function (event) {
  const link = event.target.closest('a[href^="#src-"]');
  if (!link) return;
  event.preventDefault();
  event.stopPropagation();
  const card = document.getElementById(link.getAttribute('href').slice(1));
  if (!card) return;
  if (card.closest('details')) card.closest('details').open = true;
  card.scrollIntoView({behavior: 'smooth', block: 'center'});
  card.classList.add('flash');
  setTimeout(() => card.classList.remove('flash'), 1500);
}, true);
</script>
"""


# ---------------------------------------------------------------- rendering (pure, unit-tested)


# Markdown that could make text from an article or the model live in a chat bubble: links and images
# ([ ] ( ) !), code, emphasis, headings, and autolinks ("https://" and "www." are broken by an escaped
# ":" or "."). HTML is escaped first, so no tag survives either.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]()#!:]|(?<=\bwww)\.)", re.IGNORECASE)
_ESCAPED = re.compile(r"\\([\\`*_\[\]()#!:.])")


def as_text(value: str) -> str:
    """Text shown in a Markdown bubble exactly as written: HTML escaped, then Markdown escaped."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(value, quote=False))


def from_text(shown: str) -> str:
    """The text as_text was given (for reading questions and answers back from the chat's history)."""
    return html.unescape(_ESCAPED.sub(r"\1", shown))


def render_answer(answer: Answer) -> str:
    """Markdown for the chat bubble: escaped text, [n] linked to its card, unsupported sentences flagged."""
    if answer.abstained:
        body = as_text(answer.text)
        if answer.evidence:
            body += " The closest passages are shown beside the chat."
    elif answer.briefing is not None:  # a list, one dated fact an item (rag.briefing)
        lines = [as_text(answer.briefing.heading)] if answer.briefing.heading else []
        lines += [f"- {_link_markers(as_text(bullet.text))}" for bullet in answer.briefing.bullets]
        body = "\n".join(lines)
    else:
        parts = []
        for sentence in answer.sentences:
            text = _link_markers(as_text(sentence.text))
            if not sentence.supported:
                text += " ⚠️ *(not supported by the shown passages)*"
            parts.append(text)
        body = " ".join(parts) if parts else _link_markers(as_text(answer.text))
    if answer.searched != answer.question:
        body += f"\n\n<sub>Searched for: {as_text(answer.searched)}</sub>"
    return body


def _link_markers(escaped: str) -> str:
    return re.sub(r"\\\[(\d+)\\\]", r"[[\1]](#src-\1)", escaped)


def render_sources(answer: Answer | None, evidence=None, note: str = "") -> str:
    """Source cards: cited first with the supporting sentence highlighted, then the uncited ones dimmed."""
    evidence = evidence if evidence is not None else (answer.evidence if answer else [])
    if not evidence:
        return f"<div class='src-empty'>{html.escape(note or 'Sources will appear here.')}</div>"
    quotes: dict[int, list[tuple[int, int]]] = {}
    if answer is not None and not answer.abstained:
        for c in answer.citations:
            quotes.setdefault(c.marker, []).append((c.quote_start, c.quote_end))
    cited = [e for e in evidence if e.number in quotes]
    uncited = [e for e in evidence if e.number not in quotes]
    supports: dict[int, list[int]] = {}  # a briefing's passage -> the bullets it is cited for, counted from 1
    if answer is not None and answer.briefing is not None:
        for position, bullet in enumerate(answer.briefing.bullets, start=1):
            for marker in dict.fromkeys(bullet.markers):
                supports.setdefault(marker, []).append(position)
    out = []
    if note:
        out.append(f"<p class='src-note'>{html.escape(note)}</p>")
    if cited:
        out.append("<h4>Cited sources</h4>")
        out.extend(_card(e, quotes[e.number], supports=supports.get(e.number, [])) for e in cited)
    if uncited:
        title = "Closest passages" if (answer is None or answer.abstained or not cited) else "Also retrieved, not cited"
        if cited:
            out.append(f"<details class='src-uncited'><summary>{title} ({len(uncited)})</summary>")
            out.extend(_card(e, [], dim=True) for e in uncited)
            out.append("</details>")
        else:
            out.append(f"<h4>{title}</h4>")
            out.extend(_card(e, []) for e in uncited)
    return "\n".join(out)


def _card(evidence, highlights: list[tuple[int, int]], dim: bool = False, supports: list[int] | None = None) -> str:
    chunk = evidence.chunk
    text = evidence.text
    pieces, cursor = [], 0
    for start, end in sorted(highlights):
        start, end = max(start - evidence.start, cursor), min(end - evidence.start, len(text))
        if start >= end:
            continue
        pieces.append(html.escape(text[cursor:start]))
        pieces.append(f"<mark>{html.escape(text[start:end])}</mark>")
        cursor = end
    pieces.append(html.escape(text[cursor:]))
    meta = " · ".join(
        html.escape(x) for x in (chunk.source or "outlet unknown", chunk.published or "date unknown", chunk.article_id)
    )
    css = "src-card src-dim" if dim else "src-card"
    if supports:
        label = ("bullets " if len(supports) > 1 else "bullet ") + ", ".join(map(str, supports))
        meta += f" · <span class='src-bullets'>{label}</span>"
    return (
        f"<div class='{css}' id='src-{evidence.number}' data-article='{html.escape(chunk.article_id, quote=True)}'>"
        f"<div class='src-head'><span class='src-marker'>[{evidence.number}]</span> {html.escape(chunk.title)}</div>"
        f"<div class='src-meta'>{meta}</div>"
        f"<div class='src-text'>{''.join(pieces)}</div></div>"
    )


def example_questions(pipeline: Pipeline, limit: int = 4) -> list[str]:
    """Questions a first-time user can click, taken from who is quoted and what the articles are about."""
    questions: list[str] = []
    seen: set[str] = set()
    for chunk in pipeline.index.chunks:
        for quote in chunk.quotes:
            if quote.speaker and quote.speaker not in seen and len(quote.speaker.split()) >= 2:
                seen.add(quote.speaker)
                questions.append(f"What did {quote.speaker} say?")
        if len(questions) >= limit - 1:
            break
    for article in list(pipeline.index.manifest["articles"].values())[:2]:
        if len(questions) < limit:
            questions.append(f'What happened in the story "{article["title"]}"?')
    return questions[:limit]


# ---------------------------------------------------------------- the app


LOOKING_FURTHER = "🔎 Not in the best passages; reading the next ones…"
READING_MORE = "✍️ Not supported by the best passage alone; reading the others too…"


class NewsChat:
    """State shared by all browser sessions: one pipeline, one model, one index build at a time.

    `pipeline` is ready (its index built from `corpus`). Uploaded articles are checked against `limits`,
    saved into `corpus` and indexed in the background with `embedder` (rag.background): answers go on from
    the index in use, and the pipeline takes the new index between two answers (each answer holds
    `reading` from its first look at the index to its last token)."""

    def __init__(
        self, pipeline: Pipeline, corpus: Path, embedder: str | Embedder, limits: UploadLimits | None = None
    ) -> None:
        self.pipeline = pipeline
        self.corpus = Path(corpus)
        self.limits = limits or UploadLimits()
        self.waiting = 0
        self.waiting_lock = threading.Lock()
        self.reading = threading.Lock()
        self.indexer = BackgroundIndexer(pipeline, self.corpus, embedder, self.reading, self.limits.max_file_mb)

    def status(self) -> str:
        manifest = self.pipeline.index.manifest
        model = Path(model_setting(self.pipeline.model_name)).name
        line = (
            f"**{len(manifest['articles']):,} articles · {len(self.pipeline.index.chunks):,} chunks indexed** · "
            f"embedder: {manifest['embedder']['name']} · model: {model} · "
            f"index built {manifest['built_at']} in {manifest['build_seconds']} s"
        )
        indexing = self.indexer.status()
        return f"{line}\n\n{as_text(indexing)}" if indexing else line

    def sources(self) -> list[str]:
        return sorted({a["source"] for a in self.pipeline.index.manifest["articles"].values() if a.get("source")})

    # -- chat events

    def add_question(self, message: str, history: list[dict]):
        """Runs outside the queue: shows the question at once and says if it must wait."""
        message = (message or "").strip()
        if not message:
            return "", history, gr.update()
        with self.waiting_lock:
            ahead = self.waiting
            self.waiting += 1
        placeholder = (
            f"⏳ Waiting in the queue: {ahead} question(s) ahead of yours…" if ahead else "🔎 Searching the articles…"
        )
        history = history + [
            {"role": "user", "content": as_text(message)},
            {"role": "assistant", "content": placeholder},
        ]
        return "", history, gr.update()

    def answer(
        self,
        history: list[dict],
        sources: list[str],
        date_from: str,
        date_to: str,
        briefing: bool = False,
        within: list[str] | None = None,
    ):
        """Runs in the queue, one at a time: llama.cpp is not thread-safe. `briefing`: the toggle that asks
        for a briefing (rag.briefing) whatever the question; `within`: this chat's last briefing's articles,
        which its follow-ups read first (kept in the session's state, the third output)."""
        within = list(within or [])
        if not (history and _message_text(history[-1]).startswith(PLACEHOLDERS)):
            yield history, gr.update(), within  # an empty Ask: nothing was queued, nothing to answer
            return
        try:
            question, past = _last_question(history)
            if question is None:
                yield history, gr.update(), within
                return
            history[-1] = {"role": "assistant", "content": "🔎 Searching the articles…"}
            yield history, gr.update(), within
            filters = Filters(tuple(sources or ()), _date(date_from), _date(date_to))
            draft, looks = "", 0
            with self.reading:  # the index (and the model) stay the same until this answer is done
                self.indexer.take_new_index()  # an index built since the last answer is used from this one
                for event in self.pipeline.stream(
                    question, filters=filters, history=past, briefing=bool(briefing), within=tuple(within)
                ):
                    if isinstance(event, Retrieved):
                        draft, looks = "", looks + 1  # a refusal written out in words may have streamed
                        note = f"Searched for: {event.searched}" if event.searched != question else ""
                        status = "✍️ Writing the answer…" if looks == 1 else LOOKING_FURTHER
                        history[-1] = {"role": "assistant", "content": status}
                        yield history, render_sources(None, event.evidence, note=note), within
                    elif isinstance(event, Redraft):
                        draft = ""  # the check rejected what was streamed: it must not stay on screen
                        history[-1] = {"role": "assistant", "content": READING_MORE}
                        yield history, gr.update(), within
                    elif isinstance(event, Token):
                        draft += event.text
                        history[-1] = {"role": "assistant", "content": as_text(draft) + " ▌"}
                        yield history, gr.update(), within
                    elif isinstance(event, Done):
                        history[-1] = {"role": "assistant", "content": render_answer(event.answer)}
                        within = list(event.answer.briefing_articles) or within
                        yield history, render_sources(event.answer), within
        except QuestionError as error:  # the question or a filter cannot be used as it is: the user is told why
            history[-1] = {"role": "assistant", "content": as_text(str(error))}
            yield history, gr.update(), within
        except (IndexMissingError, ModelError) as error:
            log.exception("answer failed")
            history[-1] = {"role": "assistant", "content": f"⚠️ {as_text(str(error))}"}
            yield history, gr.update(), within
        except Exception:
            log.exception("answer failed")
            history[-1] = {
                "role": "assistant",
                "content": "⚠️ Something went wrong while answering; the details are in the server log.",
            }
            yield history, gr.update(), within
        finally:
            with self.waiting_lock:
                self.waiting = max(0, self.waiting - 1)

    def upload(self, files: list | None, tickets: list[int] | None = None):
        """Check the uploaded files against the limits, save the articles into the corpus folder and hand
        them to the background indexer; returns at once (the log, the status, the outlets, the timer that
        polls the indexing, and this session's submissions still being indexed)."""
        tickets = list(tickets or [])
        messages, saved = self._save(files or [])
        if saved:
            behind = " after the build in progress" if self.indexer.queued_behind() else ""
            tickets.append(self.indexer.submit(saved))
            messages.append(
                f"⏳ Indexing {len(saved)} file(s) in the background{behind}; questions are answered from the "
                "current index until it is done."
            )
        polling = gr.Timer(active=bool(tickets))
        return "\n".join(messages), self.status(), gr.update(choices=self.sources()), polling, tickets

    def _save(self, files: list) -> tuple[list[str], list[str]]:
        """(one line per file, the article ids saved): nothing is saved from an upload over the count limit,
        and no file over the size limit is read."""
        if not files:
            return ["Choose one or more article files first."], []
        limit = self.limits
        if len(files) > limit.max_files:
            return [
                f"✗ {len(files)} files in one upload: at most {limit.max_files} files per upload. "
                "Nothing was saved; add them in smaller groups."
            ], []
        max_bytes = int(limit.max_file_mb * 1e6)
        messages, saved = [], []
        for file in files:
            path = Path(file if isinstance(file, str) else file.name)
            name = _safe_name(path.name)
            if Path(name).suffix.lower() not in UPLOAD_TYPES:
                messages.append(f"✗ {name}: not an article file ({', '.join(UPLOAD_TYPES)})")
                continue
            try:
                size = path.stat().st_size
                data = b""
                if size <= max_bytes:
                    with open(path, "rb") as handle:
                        data = handle.read(max_bytes + 1)  # no more than the limit, should the file grow
            except OSError as error:
                messages.append(f"✗ {name}: cannot be read ({error.strerror or error})")
                continue
            if max(size, len(data)) > max_bytes:
                messages.append(
                    f"✗ {name}: {max(size, len(data)) / 1e6:.3g} MB, over the {limit.max_file_mb:g} MB limit "
                    "per file; not saved"
                )
                continue
            problems = [item for item in parse_file(name, data) if isinstance(item, Skipped)]
            if problems:
                messages.append(f"✗ {name}: rejected, {problems[0].reason}")
                continue
            target = _free_path(self.corpus / "uploads", name, data)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            saved.append(target.relative_to(self.corpus).as_posix())
            messages.append(f"✓ {name}: saved as {saved[-1]}")
        return messages, saved

    def poll(self, shown: str, tickets: list[int] | None):
        """Every second while this session's uploads are being indexed: the status, and each outcome added
        to the upload log as its build ends (then the timer stops)."""
        waiting = []
        for ticket in tickets or []:
            outcome = self.indexer.outcome(ticket)
            if outcome is None:
                waiting.append(ticket)
            else:
                shown = f"{shown}\n{outcome}" if shown else outcome
        return shown, self.status(), gr.update(choices=self.sources()), gr.Timer(active=bool(waiting)), waiting

    def build_ui(self) -> gr.Blocks:
        with gr.Blocks(title="Ask the news") as demo:
            gr.Markdown("## Ask the news\nAnswers come only from the indexed articles, with their sources.")
            status = gr.Markdown(self.status(), elem_id="status")
            with gr.Row():
                with gr.Column(scale=3):
                    chat = gr.Chatbot(
                        label="Chat",
                        height=520,
                        elem_id="chat",
                        sanitize_html=True,
                        render_markdown=True,
                        feedback_options=None,
                        buttons=["copy"],
                    )
                    with gr.Row():
                        box = gr.Textbox(
                            placeholder="Ask about the news, e.g. who said what, numbers, places…",
                            show_label=False,
                            scale=5,
                            elem_id="question",
                            autofocus=True,
                        )
                        send = gr.Button("Ask", variant="primary", scale=1, elem_id="ask")
                    with gr.Row():
                        briefing = gr.Checkbox(
                            label="Briefing: the story across articles, in dated bullets (also chosen by "
                            '"what happened to…", "summarize…", "latest on…")',
                            value=False,
                            elem_id="briefing",
                        )
                        new_chat = gr.Button("New chat", elem_id="new-chat", size="sm")
                    gr.Examples(example_questions(self.pipeline), inputs=box, label="Try")
                with gr.Column(scale=2):
                    sources_html = gr.HTML(render_sources(None, []), elem_id="sources")
                    with gr.Accordion("Filters", open=False):
                        outlets = gr.Dropdown(
                            choices=self.sources(), multiselect=True, label="Outlet", elem_id="filter-outlet"
                        )
                        date_from = gr.Textbox(label="Published from (YYYY-MM-DD)", elem_id="filter-from")
                        date_to = gr.Textbox(label="Published to (YYYY-MM-DD)", elem_id="filter-to")
                    with gr.Accordion("Add articles", open=False):
                        files = gr.File(
                            file_count="multiple", file_types=UPLOAD_TYPES, label="Article files", elem_id="upload"
                        )
                        add = gr.Button("Add to index", elem_id="add-articles")
                        upload_log = gr.Textbox(label="Upload result", interactive=False, lines=3, elem_id="upload-log")
            submitted = gr.State([])  # this session's uploads still being indexed (rag.background tickets)
            within = gr.State([])  # the articles of this chat's last briefing, which follow-ups read first
            polling = gr.Timer(1.0, active=False)

            # The API names are what rag.eval.loadtest drives; the button repeats the Enter key's events.
            for trigger, visibility in ((box.submit, "public"), (send.click, "undocumented")):
                trigger(
                    self.add_question,
                    [box, chat],
                    [box, chat, sources_html],
                    queue=False,
                    api_name="add_question" if visibility == "public" else None,
                    api_visibility=visibility,
                ).then(
                    self.answer,
                    [chat, outlets, date_from, date_to, briefing, within],
                    [chat, sources_html, within],
                    concurrency_limit=1,
                    concurrency_id="model",
                    api_name="answer" if visibility == "public" else None,
                    api_visibility=visibility,
                )
            new_chat.click(lambda: ([], render_sources(None, []), []), None, [chat, sources_html, within], queue=False)
            # Saving is quick and runs beside the answers; the indexing itself runs in the background.
            add.click(
                self.upload,
                [files, submitted],
                [upload_log, status, outlets, polling, submitted],
                concurrency_limit=1,
                concurrency_id="upload",
                api_name="upload",
            )
            polling.tick(
                self.poll,
                [upload_log, submitted],
                [upload_log, status, outlets, polling, submitted],
                queue=False,
                api_name="indexing",
            )
            # A new tab or a reload sees the index as it is now (articles may have been added since start).
            demo.load(
                lambda: (self.status(), gr.update(choices=self.sources())),
                None,
                [status, outlets],
                queue=False,
                api_name="status",
            )
        return demo


def _message_text(message: dict) -> str:
    """A chat message's text: gradio 6 hands messages back as [{"type": "text", "text": ...}, ...]."""
    content = message.get("content")
    if isinstance(content, list):
        content = " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content if isinstance(content, str) else ""


def _last_question(history: list[dict]) -> tuple[str | None, list[tuple[str, str]]]:
    """The newest question (history ends with it and a placeholder) and the earlier (question, answer) pairs."""

    def text(message: dict) -> str:
        shown = re.sub(r"\[\[(\d+)\]\]\(#src-\d+\)", r"\\[\1\\]", _message_text(message))  # linked markers
        return from_text(re.sub(r"<[^>]+>", "", shown)).strip()

    if len(history) < 2 or history[-2].get("role") != "user":
        return None, []
    pairs = []
    earlier = history[:-2]
    for asked, answered in zip(earlier, earlier[1:], strict=False):
        if asked.get("role") == "user" and answered.get("role") == "assistant":
            pairs.append((text(asked), text(answered)))
    return text(history[-2]), pairs


def _date(value: str | None) -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise QuestionError(f"Dates must look like 2025-12-03, not {value!r}.")
    return value


def _safe_name(name: str) -> str:
    cleaned = re.sub(r"[^\w.\- ]+", "_", Path(name).name).strip(" .") or "article.txt"
    return cleaned[:120]


def _free_path(folder: Path, name: str, data: bytes) -> Path:
    """The same name with the same content is an update; another content gets a new name."""
    target = folder / name
    number = 2
    while target.exists() and target.read_bytes() != data:
        target = folder / f"{Path(name).stem}-{number}{Path(name).suffix}"
        number += 1
    return target


def build_parser() -> argparse.ArgumentParser:
    """The command's flags (also read by `python -m rag.cli`, which writes docs/commands.md)."""
    parser = argparse.ArgumentParser(prog="python app.py", description="Ask the news: the chat.")
    add_server_arguments(parser)
    add_corpus_argument(parser)
    add_embedder_argument(parser)
    add_pipeline_arguments(parser)
    add_upload_arguments(parser)
    parser.add_argument("--share", action="store_true", help="also publish a public gradio.live link (off by default)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = settings_from(args)
    try:
        limits = upload_limits_from(args)
        pipeline = ready_pipeline(settings, log=log.info, max_file_mb=limits.max_file_mb)
    except (CorpusError, ValueError, ModelError, IndexMissingError) as error:
        print(f"error: {error}")
        return 2
    except Exception as error:  # noqa: BLE001 - one line for the user, the traceback in the log
        log.exception("the chat cannot start")
        print(f"error: the chat cannot start ({type(error).__name__}: {error})")
        return 1
    chat = NewsChat(pipeline, Path(settings.corpus), settings.embedder, limits)
    log.info("embedder %s; serving on http://%s:%d", settings.embedder, args.host, args.port)
    demo = chat.build_ui()
    demo.queue(default_concurrency_limit=1)
    demo.launch(
        server_name=args.host,
        server_port=args.port,
        share=args.share,
        css=CSS,
        head=HEAD,
        # Gradio refuses a larger file before it reaches the disk, saying "exceed the maximum allowed size of
        # 20 Mb" (its megabytes are MiB: the same figure as the limit's); a file between the two is refused
        # by `upload`, unread.
        max_file_size=int(limits.max_file_mb * 1024 * 1024),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
