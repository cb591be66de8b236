"""`python -m rag.eval.peer`: a default LlamaIndex pipeline over the same corpus and Q&A set, same models, same metrics.

A peer baseline: what a LlamaIndex user gets by following its documentation, with this project's two
models, judged by this project's metrics (`rag.eval.metrics.summarize`, `format_table`, `rag.eval.compare`):
- load: `SimpleDirectoryReader(input_files=..., filename_as_id=True)`, one `Document` per article file.
  The files are those `SimpleDirectoryReader(corpus, recursive=True)` reads (hidden ones left out), but
  listed with symlinked folders followed, as `rag.articles` does: the reader's own walk (fsspec) does not
  enter them, and the evaluation corpus (`make corpus-bbc`) is a folder of symlinks. A node's article id is
  its `file_path` relative to the corpus folder (`bbc/business/010.txt`, `000_34dd6e6ea37e3941.txt`);
- chunk, embed, index: the default `SentenceSplitter` (1024 tokens, 200 overlap), `VectorStoreIndex`, the
  project's packaged all-MiniLM-L6-v2 through `HuggingFaceEmbedding` (offline); the index is persisted to
  `--persist` (default reports/peer-index/) and reused when it was built from the same files;
- answer: `index.as_query_engine(streaming=True)` with its defaults (top-k 2, response mode "compact", the
  default QA and refine prompts); the LLM is the project's default GGUF (Qwen2.5-Coder-1.5B-Instruct)
  through `LlamaCPP`, with ChatML prompts (the Qwen2.5 family's chat template; the integration's default is
  Llama-2's [INST] format), temperature 0 (greedy), 4096 context tokens, 256 new tokens, 2 threads.

Each question gives a record in the format of `rag.eval.evaluate.evaluate_one`:
- hit_rank: 1-based rank of the first retrieved source node (of the query engine's 2) that comes from the
  gold article and contains an answer (`rag.eval.metrics.hit_rank` on (article id, node text) pairs, with the
  gold evidence sentence for a yes/no question, as rag.eval.evaluate; the node text without the metadata
  LlamaIndex puts in front of it, which is file names and paths, not article text); so hit@5 here is
  hit@2, the most the default query engine reads. LlamaIndex indexes both copies of an article filed under
  two names: a node from a byte-identical copy of the gold article counts as the gold article (rag.eval.evaluate
  counts the copy its index kept);
- abstained: the reply says the context does not give the answer: `rag.generate.is_not_found`, or one of
  `NOT_FOUND_PHRASES`, the general ways a default LlamaIndex reply says so ("The context does not provide
  ...", "... is not mentioned", "I cannot answer this question as ...", "I don't know"), or an empty reply;
- correct: not abstained and `rag.eval.metrics.judge_answer(reply, answers)`, the function rag.eval.evaluate judges
  with (SQuAD-normalized containment of a gold answer; a yes/no question by the reply's first word);
- f1: SQuAD token F1 of the reply (0 when abstained), as in rag.eval.evaluate;
- citations: [] (LlamaIndex gives none, so the citation metrics do not apply: the table prints 0.00 for
  citation precision, answer support and supported sentences), cited_answer False, sentences [];
- first_token_s: seconds from the query to the first streamed token (retrieval included);
  total_s: seconds to the end of the streamed reply.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import sys
import time
from pathlib import Path

from tqdm import tqdm

from rag.cli import add_model_argument
from rag.config import PACKAGED_EMBEDDER, stay_offline
from rag.embedding import _resolve
from rag.errors import ModelError
from rag.eval.evaluate import load_qa
from rag.eval.metrics import format_run, hit_rank, is_held_out, judge_answer, token_f1
from rag.generate import is_not_found
from rag.llm import resolve_model_path

# judge_answer is the function rag.eval.evaluate judges replies with (tests/test_peer.py checks they stay the same).

DEFAULT_PERSIST = "reports/peer-index"
MANIFEST = "peer_manifest.json"
CONTEXT_WINDOW = 4096
MAX_NEW_TOKENS = 256
THREADS = 2
TEMPERATURE = 0.0

# How a reply says the context does not hold the answer, besides rag.generate.is_not_found. General
# phrasings of "the context does not say", not fitted to any question; matched in lowercase.
NOT_FOUND_PHRASES = (
    "does not provide",
    "do not provide",
    "doesn't provide",
    "is not provided",
    "not mentioned",
    "does not mention",
    "doesn't mention",
    "does not specify",
    "not specified",
    "no information",
    "cannot be determined",
    "can't be determined",
    "cannot determine",
    "cannot answer",
    "can't answer",
    "unable to answer",
    "i don't know",
    "i do not know",
)

# Qwen2.5's chat template (ChatML), with the system message it inserts when none is given.
QWEN_DEFAULT_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."


def messages_to_prompt(messages) -> str:
    """LlamaIndex chat messages in ChatML, ending with the assistant's turn opened."""
    prompt = ""
    if not messages or _role(messages[0]) != "system":
        prompt += f"<|im_start|>system\n{QWEN_DEFAULT_SYSTEM}<|im_end|>\n"
    for message in messages:
        prompt += f"<|im_start|>{_role(message)}\n{message.content or ''}<|im_end|>\n"
    return prompt + "<|im_start|>assistant\n"


def completion_to_prompt(completion: str, system_prompt: str | None = None) -> str:
    """A completion prompt (how the query engine asks a non-chat LLM) as one ChatML user turn."""
    system = system_prompt or QWEN_DEFAULT_SYSTEM
    return f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{completion}<|im_end|>\n<|im_start|>assistant\n"


def _role(message) -> str:
    role = message.role
    return str(getattr(role, "value", role))


def says_not_found(reply: str) -> bool:
    """The reply says the context does not give the answer (see the module docstring)."""
    lowered = reply.lower().replace("’", "'")
    return not lowered.strip() or is_not_found(reply) or any(p in lowered for p in NOT_FOUND_PHRASES)


def article_id(file_path: str, corpus: Path) -> str:
    """The project's article id (path relative to the corpus folder, with /) of a LlamaIndex file path."""
    path = Path(file_path)
    if not path.is_absolute():
        path = Path.cwd() / path
    return Path(os.path.relpath(os.path.abspath(path), os.path.abspath(corpus))).as_posix()


def article_files(corpus: Path) -> list[str]:
    """Every file under the corpus folder, symlinked folders followed, hidden files and folders left out
    (as SimpleDirectoryReader and rag.articles leave them): absolute paths, not resolved, sorted."""
    found = []
    for root, dirs, names in os.walk(os.path.abspath(corpus), followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [os.path.join(root, name) for name in names if not name.startswith(".")]
    return sorted(found)


def same_articles(files: list[str], corpus: Path) -> dict[str, str]:
    """Article id -> the first article id (sorted) with the same bytes: copies of one article filed twice."""
    first_of: dict[str, str] = {}
    canonical = {}
    for path in files:
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        canonical[article_id(path, corpus)] = first_of.setdefault(digest, article_id(path, corpus))
    return canonical


def corpus_manifest(corpus: Path, files: list[str], embedder_path: str) -> dict:
    """What the persisted index was built from: the files (id, size, mtime) and the embedder."""
    listed = []
    for path in files:
        stat = os.stat(path)
        listed.append([article_id(path, corpus), stat.st_size, int(stat.st_mtime)])
    digest = hashlib.sha256(json.dumps(listed).encode()).hexdigest()
    return {"corpus": os.path.abspath(corpus), "files": len(files), "files_sha256": digest, "embedder": embedder_path}


def versions() -> dict[str, str]:
    names = (
        "llama-index-core",
        "llama-index-embeddings-huggingface",
        "llama-index-llms-llama-cpp",
        "llama-cpp-python",
        "sentence-transformers",
    )
    found = {}
    for name in names:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def make_embedder(embedder_path: str):
    stay_offline()  # as rag.embedding
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    return HuggingFaceEmbedding(model_name=embedder_path, device="cpu")


def make_llm(model_path: Path, threads: int = THREADS):
    from llama_index.llms.llama_cpp import LlamaCPP

    return LlamaCPP(
        model_path=str(model_path),
        temperature=TEMPERATURE,
        max_new_tokens=MAX_NEW_TOKENS,
        context_window=CONTEXT_WINDOW,
        generate_kwargs={"stop": ["<|im_end|>", "<|endoftext|>"]},
        model_kwargs={"n_threads": threads, "n_gpu_layers": 0},
        messages_to_prompt=messages_to_prompt,
        completion_to_prompt=completion_to_prompt,
        verbose=False,
    )


def load_or_build_index(files: list[str], persist: Path, manifest: dict, log=print):
    """The persisted index when it was built from the same files and embedder, else a new one (persisted).

    Needs `Settings.embed_model` set (the embedder that builds and queries the index).
    """
    from llama_index.core import SimpleDirectoryReader, StorageContext, VectorStoreIndex, load_index_from_storage

    stamp = persist / MANIFEST
    if stamp.exists():
        try:
            same = json.loads(stamp.read_text(encoding="utf-8")) == manifest
            if same:
                start = time.perf_counter()
                index = load_index_from_storage(StorageContext.from_defaults(persist_dir=str(persist)))
                log(f"reused the LlamaIndex index in {persist} ({time.perf_counter() - start:.1f} s)")
                return index, {"built": False, "nodes": len(index.docstore.docs)}
            log(f"{persist} was built from other files or another embedder: building it again")
        except (ValueError, OSError) as error:
            log(f"cannot reuse {persist} ({error}): building it again")
    start = time.perf_counter()
    if not files:
        raise ValueError("no article files in the corpus folder")
    documents = SimpleDirectoryReader(input_files=files, filename_as_id=True).load_data()
    index = VectorStoreIndex.from_documents(documents, show_progress=True)
    seconds = time.perf_counter() - start
    stamp.unlink(missing_ok=True)  # the files below are overwritten, nothing else in the folder is touched
    index.storage_context.persist(persist_dir=str(persist))
    stamp.write_text(json.dumps(manifest, indent=1), encoding="utf-8")  # last: a half-written index is not reused
    nodes = len(index.docstore.docs)
    log(f"built the LlamaIndex index of {len(documents)} documents ({nodes} nodes) in {seconds:.1f} s -> {persist}")
    return index, {"built": True, "documents": len(documents), "nodes": nodes, "build_s": round(seconds, 1)}


def ask(query_engine, question: str) -> tuple[str, list, float, float]:
    """The streamed reply, its source nodes, seconds to the first token and in all."""
    start = time.perf_counter()
    response = query_engine.query(question)
    first = None
    pieces = []
    for piece in response.response_gen:
        if first is None and piece:
            first = time.perf_counter() - start
        pieces.append(piece)
    total = time.perf_counter() - start
    return "".join(pieces).strip(), list(response.source_nodes), first if first is not None else total, total


def peer_record(
    item: dict,
    reply: str,
    sources: list[tuple[str, str]],
    first_s: float,
    total_s: float,
    same: dict[str, str] | None = None,
) -> dict:
    """One question's record, in rag.eval.evaluate.evaluate_one's format. `sources`: (article id, node text);
    `same`: article id -> the id its copies share (same_articles)."""
    answers = item["answers"]
    same = same or {}
    evidence = item.get("evidence") if not item["unanswerable"] else None
    doc = same.get(item["doc"], item["doc"])
    sources = [(same.get(article, article), text) for article, text in sources]
    abstained = says_not_found(reply)
    return {
        "id": item["id"],
        "split": "heldout" if is_held_out(item["id"]) else "dev",
        "kind": item.get("kind"),
        "question": item["question"],
        "unanswerable": bool(item["unanswerable"]),
        "hit_rank": hit_rank(sources, doc, answers, evidence),
        "answer": reply,
        "abstained": abstained,
        "correct": not abstained and judge_answer(reply, answers),
        "f1": 0.0 if abstained else token_f1(reply, answers),
        "citations": [],
        "cited_answer": False,
        "sentences": [],
        "first_token_s": round(first_s, 3),
        "total_s": round(total_s, 3),
    }


def evaluate_peer(query_engine, item: dict, corpus: Path, same: dict[str, str] | None = None) -> dict:
    from llama_index.core.schema import MetadataMode

    reply, nodes, first_s, total_s = ask(query_engine, item["question"])
    sources = [
        (article_id(n.node.metadata.get("file_path", ""), corpus), n.node.get_content(metadata_mode=MetadataMode.NONE))
        for n in nodes
    ]
    return peer_record(item, reply, sources, first_s, total_s, same)


def build_parser() -> argparse.ArgumentParser:
    """The command's flags (also read by `python -m rag.cli`, which writes docs/commands.md)."""
    parser = argparse.ArgumentParser(prog="python -m rag.eval.peer", description=__doc__.split("\n\n")[0])
    parser.add_argument("--qa", default="eval/qa.jsonl", help="Q&A set, one JSON object a line")
    parser.add_argument("--corpus", default="seeds", help="the article folder (symlinks followed)")
    parser.add_argument("--out", help="write the metrics and per-question records as JSON here")
    parser.add_argument("--limit", type=int, help="only the first N questions")
    parser.add_argument("--stride", type=int, default=1, help="every Nth question: a quick sample over the set")
    parser.add_argument(
        "--split",
        choices=["all", "dev", "heldout"],
        default="all",
        help="dev = the part you may tune on; heldout = the third checked only at the end",
    )
    add_model_argument(parser)
    parser.add_argument("--persist", default=DEFAULT_PERSIST, help="where the LlamaIndex index is kept and reused")
    parser.add_argument("--threads", type=int, default=THREADS, help="llama.cpp threads")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    log = lambda message: print(message, file=sys.stderr)  # noqa: E731
    corpus, persist = Path(args.corpus), Path(args.persist)
    try:
        try:
            from llama_index.core import Settings
        except ImportError:
            raise ModelError("LlamaIndex is not installed: `make peer` installs the extra `.[peer]`") from None
        if not corpus.is_dir():
            raise ModelError(f"corpus folder {corpus} not found")
        items = load_qa(args.qa)
        if args.split != "all":
            items = [i for i in items if is_held_out(i["id"]) == (args.split == "heldout")]
        items = items[:: args.stride]
        items = items[: args.limit] if args.limit else items
        embedder_path = _resolve(PACKAGED_EMBEDDER)
        model_path = resolve_model_path(args.model)
        Settings.embed_model = make_embedder(embedder_path)
        Settings.llm = make_llm(model_path, args.threads)
        files = article_files(corpus)
        index, build = load_or_build_index(files, persist, corpus_manifest(corpus, files, embedder_path), log)
        query_engine = index.as_query_engine(streaming=True)
        same = same_articles(files, corpus)
        records = [
            evaluate_peer(query_engine, item, corpus, same)
            for item in tqdm(items, desc="questions", unit="q", file=sys.stderr)
        ]
    except (ModelError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    metrics, table = format_run(records)
    print(table)
    if args.out:
        splitter = Settings.node_parser
        peer = {
            "versions": versions(),
            "corpus": str(corpus),
            "qa": args.qa,
            "persist": str(persist),
            "index": build,
            "embedder": embedder_path,
            "model": str(model_path),
            "chunk_size": getattr(splitter, "chunk_size", None),
            "chunk_overlap": getattr(splitter, "chunk_overlap", None),
            "similarity_top_k": getattr(query_engine.retriever, "_similarity_top_k", None),
            "response_mode": str(getattr(query_engine._response_synthesizer, "_response_mode", "compact")),
            "prompt_format": "ChatML (Qwen2.5)",
            "temperature": TEMPERATURE,
            "context_window": CONTEXT_WINDOW,
            "max_new_tokens": MAX_NEW_TOKENS,
            "threads": args.threads,
            "not_found_phrases": list(NOT_FOUND_PHRASES),
        }
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(
            json.dumps({**metrics, "per_question": records, "peer": peer}, indent=1, ensure_ascii=False)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
