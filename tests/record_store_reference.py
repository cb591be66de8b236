"""Record tests/store_reference.json: run with the code of the index format to compare against, e.g.
`cd <checkout of that code> && python <this file> . <this tests folder>/store_reference.json` (it was run on
format 8, the in-memory index). Builds seeds/ plus store_cases.ARTICLES with the hashing stand-in embedder and
writes each question's top passages (chunk id, rounded scores, speakers) for every mode, and their coverage."""

import json
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(code: Path, out: Path) -> None:
    sys.path[:0] = [str(code), str(code / "tests"), str(HERE)]
    import store_cases
    from fakes import HashingEmbedder

    from rag.index_store import build_index, load_index
    from rag.retrieve import Retriever

    folder = Path(tempfile.mkdtemp())
    try:
        corpus = folder / "corpus"
        shutil.copytree(code / "seeds", corpus)
        for name, text in store_cases.ARTICLES.items():
            (corpus / name).write_text(text, encoding="utf-8")
        embedder = HashingEmbedder()
        build_index(corpus, folder / "index", embedder=embedder, show_progress=False)
        index = load_index(folder / "index")
        result: dict = {}
        for mode in ("hybrid", "dense", "bm25", "rrf"):
            retriever = Retriever(index, embedder=embedder, mode=mode)
            result[mode] = {
                question: [
                    [p.chunk.chunk_id, round(p.score, 5), round(p.dense, 5), round(p.keyword, 5), p.speakers]
                    for p in retriever.search(question, k=store_cases.K)
                ]
                for question in store_cases.QUESTIONS
            }
        retriever = Retriever(index, embedder=embedder)
        result["cover"] = {
            question: [round(retriever.cover(question, p.chunk).share, 5) for p in retriever.search(question, k=5)]
            for question in store_cases.QUESTIONS
        }
        out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    finally:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve())
