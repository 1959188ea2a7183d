"""The scale curve: ingest throughput, query latency, recall and memory at 1 k, 10 k and 100 k chunks.

    assistant bench --scale 1000,10000,100000 [--stores embedded,server] [--out reports/scale.json]

Another HNSW search width: ASSISTANT_HNSW_EF_SEARCH=100 assistant bench --scale ... (each point is
a process of its own, so each run is built and searched with the width it names).

Each (size, store) point runs in a process of its own, so its peak RSS is its own; with the
server store a `chroma run` on a free 127.0.0.1 port holds the vectors and its peak RSS is added.
A second fresh process then reopens the built index (the server restarted too) and asks the same
questions: `reopened` is what a server restarted on that index costs, without the ingest's peak.

The bulk is synthetic but shaped like real text. Documents are real sentences of the shared SQuAD
articles, recombined with a fixed seed. Their vectors are the mean of the MiniLM vectors of their
words: embedding 100 k chunks and their half a million sentences on 2 cores would take hours, and
word means cluster like real embeddings (uniform random vectors would be the worst case for HNSW,
not a real one). Queries stay real: SQuAD questions embedded by MiniLM, then retrieval, the reader
and the answer, as in a warm `ask`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..documents import Document
from . import chroma_server
from . import metrics as m

CHARS_PER_CHUNK = 470  # measured on these documents: 600-character chunks, 100 of overlap
SENTENCES_PER_DOC = 200  # about 50 chunks a document
_WORD = re.compile(r"[a-z0-9]+")


def synthetic_documents(sentences: list[str], chunks: int, seed: int = 0) -> list[Document]:
    """Documents of real sentences drawn with a fixed seed, about `chunks` chunks in all."""
    rng = np.random.default_rng(seed)
    docs, chars, i = [], 0, 0
    while chars < chunks * CHARS_PER_CHUNK:
        picked = rng.integers(0, len(sentences), SENTENCES_PER_DOC)
        text = " ".join(sentences[j] for j in picked)
        docs.append(Document(id=f"synthetic-{i:05d}", text=text, title=f"Synthetic {i}"))
        chars += len(text)
        i += 1
    return docs


def word_mean_embeddings(vocabulary: list[str], word_vectors: np.ndarray):
    """MiniLM for queries (and token vectors); for documents, the mean of their words' vectors."""
    from ..embeddings import SentenceTransformerEmbeddings, minilm_path

    column = {w: i for i, w in enumerate(vocabulary)}

    class WordMeanEmbeddings(SentenceTransformerEmbeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            out = np.zeros((len(texts), word_vectors.shape[1]), dtype=np.float32)
            for row, text in enumerate(texts):
                cols = [column[w] for w in _WORD.findall(text.lower()) if w in column]
                if cols:
                    out[row] = word_vectors[cols].mean(axis=0)
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
            return out.tolist()

    return WordMeanEmbeddings(minilm_path())


def _peak_rss_mb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def measure_point(size: int, work: Path, questions: list[str], sentences: list[str],
                  chroma_url: str | None) -> dict[str, Any]:
    """One point of the curve, in this process: ingest, warm asks, dense search, recall@10."""
    from ..api import Assistant
    from ..config import Settings
    from ..index import EXACT_SEARCH_MAX, Index

    vocab = json.loads((work / "vocabulary.json").read_text(encoding="utf-8"))
    # Each store its own folder: the span files one run leaves must not spare the other its splitting.
    store = "server" if chroma_url else "embedded"
    settings = Settings.load(index_dir=work / f"index-{store}-{size}", chroma_url=chroma_url)
    embeddings = real = word_mean_embeddings(vocab, np.load(work / "word_vectors.npy"))
    docs = synthetic_documents(sentences, size)
    index = Index(settings, embeddings)
    t0 = time.perf_counter()
    report = index.add(docs)
    ingest_s = time.perf_counter() - t0
    chunks = len(index.all_chunks())
    bot = Assistant(index, settings)
    for q in questions[:3]:
        bot.ask(q)  # warm: reader, BM25, the exact-search matrix
    asks = []
    for i, q in enumerate(questions):
        t = time.perf_counter()
        bot.ask(f"{q} ({i})")
        asks.append(time.perf_counter() - t)
    peak_serving = _peak_rss_mb()  # before the recall check below fetches every vector
    vectors = [real.embed_query(q) for q in questions]
    hnsw = chunks > EXACT_SEARCH_MAX
    exact = [{i for i, _ in index._exact_nearest(v, 10)} for v in vectors] if hnsw else None
    dense, recall = _search(index, vectors, exact)
    return {
        "size": size, "store": store, "documents": len(docs),
        "chunks": chunks, "spans_embedded": report.embedded,
        "ingest_seconds": ingest_s, "ingest_chunks_per_s": chunks / ingest_s,
        "search": "hnsw" if hnsw else "exact",
        "hnsw_ef_search": settings.hnsw_ef_search if hnsw else None,
        "ask_ms": {"p50": 1000 * m.percentile(asks, 50), "p95": 1000 * m.percentile(asks, 95)},
        "dense_search_ms": {"p50": 1000 * m.percentile(dense, 50), "p95": 1000 * m.percentile(dense, 95)},
        "recall_at_10_vs_exact": float(np.mean(recall)) if recall else None,
        "peak_rss_mb": peak_serving,
        "peak_rss_mb_with_recall_check": _peak_rss_mb(),
    }


def serve_point(size: int, work: Path, questions: list[str], chroma_url: str | None) -> dict[str, Any]:
    """The built index opened by a fresh process, as a server after a restart: open, first and warm asks, RSS."""
    from ..api import Assistant
    from ..config import Settings

    vocab = json.loads((work / "vocabulary.json").read_text(encoding="utf-8"))
    store = "server" if chroma_url else "embedded"
    settings = Settings.load(index_dir=work / f"index-{store}-{size}", chroma_url=chroma_url)
    embeddings = word_mean_embeddings(vocab, np.load(work / "word_vectors.npy"))
    t0 = time.perf_counter()
    bot = Assistant.open(settings, embeddings=embeddings)
    opened = time.perf_counter()
    bot.ask(questions[0])  # builds BM25 and loads the reader: what the first user waits for
    first = time.perf_counter()
    asks = []
    for i, q in enumerate(questions):
        t = time.perf_counter()
        bot.ask(f"{q} ({i})")
        asks.append(time.perf_counter() - t)
    return {
        "open_seconds": opened - t0, "first_ask_seconds": first - opened,
        "ask_ms": {"p50": 1000 * m.percentile(asks, 50), "p95": 1000 * m.percentile(asks, 95)},
        # Anything opening had to mend or re-embed (a complete index: nothing).
        "notes_on_open": list(bot.index.recovered),
        "peak_rss_mb": _hwm_mb(),
    }


def _search(index, vectors: list[list[float]], exact: list[set[str]] | None) -> tuple[list[float], list[float]]:
    """Seconds of each dense top-10 search and, given the exact top 10s, the share of each found."""
    dense, recall = [], []
    for n, v in enumerate(vectors):
        t = time.perf_counter()
        found = index.dense_chunks(v, 10)
        dense.append(time.perf_counter() - t)
        if exact is not None:
            recall.append(len(exact[n] & {i for i, _ in found}) / 10)
    return dense, recall


def _prepare(work: Path, questions_n: int) -> tuple[list[str], list[str]]:
    """The real sentences and questions the points share; the vocabulary's MiniLM vectors."""
    from ..chunking import sentences as split
    from ..config import Settings
    from ..embeddings import get_embeddings
    from .squad import load_squad, squad_files

    docs, cases = load_squad(*squad_files())
    pool = [s.text for d in docs for s in split(d) if len(s.text.split()) >= 4]
    asked = [c.question for c in cases][:: max(1, len(cases) // questions_n)][:questions_n]
    vocab = sorted({w for s in pool for w in _WORD.findall(s.lower())})
    model = get_embeddings(Settings.load().embedding_model).model
    np.save(work / "word_vectors.npy", model.encode(vocab, batch_size=256, normalize_embeddings=True))
    (work / "vocabulary.json").write_text(json.dumps(vocab), encoding="utf-8")
    (work / "inputs.json").write_text(json.dumps({"sentences": pool, "questions": asked}), encoding="utf-8")
    return pool, asked


def _hwm_mb(pid: int | str = "self") -> int | None:
    """A process's peak RSS since its exec (VmHWM): ru_maxrss would also keep the parent's pages."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    except OSError:
        return None
    return None


def run_scale(sizes: list[int], stores: list[str], questions_n: int = 30) -> dict[str, Any]:
    """Every (size, store) point in its own process, and the ratios the issue asks for."""
    with tempfile.TemporaryDirectory(prefix="assistant-scale-") as tmp:
        work = Path(tmp)
        _prepare(work, questions_n)
        points = []
        for store in stores:
            for size in sizes:
                server = url = None
                if store == "server":
                    server, url = chroma_server.start(work / f"chroma-{size}")
                try:
                    cmd = [sys.executable, "-m", "assistant.eval.scale", "--point", str(size), "--work", str(work)]
                    env = {**os.environ, "HF_HUB_OFFLINE": "1", **({"ASSISTANT_CHROMA_URL": url} if url else {})}
                    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
                    if out.returncode != 0:  # its traceback, or the hour it ran is lost
                        raise RuntimeError(f"the {store} point at {size} chunks failed:\n{out.stderr[-3000:]}")
                    point = json.loads(out.stdout.strip().splitlines()[-1])
                    # The ingesting process's peak holds the ingest; a restarted one's does not. The
                    # server is restarted too, so its peak is that of serving the store it reloads.
                    if server is not None:
                        point["server_peak_rss_mb"] = _hwm_mb(server.pid)
                        chroma_server.stop(server)
                        server, url = chroma_server.start(work / f"chroma-{size}")
                        env["ASSISTANT_CHROMA_URL"] = url
                    out = subprocess.run([*cmd, "--serve"], env=env, capture_output=True, text=True)
                    if out.returncode != 0:
                        raise RuntimeError(f"reopening the {store} index of {size} chunks failed:\n{out.stderr[-3000:]}")
                    point["reopened"] = json.loads(out.stdout.strip().splitlines()[-1])
                    if server is not None:
                        point["reopened"]["server_peak_rss_mb"] = _hwm_mb(server.pid)
                finally:
                    if server is not None:
                        chroma_server.stop(server)
                print(json.dumps(point), file=sys.stderr)
                points.append(point)
    return {"points": points, "ratios": _ratios(points, sizes)}


def _ratios(points: list[dict], sizes: list[int]) -> dict[str, Any]:
    out = {}
    lo, hi = min(sizes), max(sizes)
    for store in dict.fromkeys(p["store"] for p in points):
        by = {p["size"]: p for p in points if p["store"] == store}
        if lo in by and hi in by and lo != hi:
            out[store] = {
                f"ask_p50_{hi}_over_{lo}": by[hi]["ask_ms"]["p50"] / by[lo]["ask_ms"]["p50"],
                f"dense_search_p50_{hi}_over_{lo}": by[hi]["dense_search_ms"]["p50"] / by[lo]["dense_search_ms"]["p50"],
                f"ingest_throughput_{hi}_over_{lo}": by[hi]["ingest_chunks_per_s"] / by[lo]["ingest_chunks_per_s"],
                f"recall_at_10_at_{hi}": by[hi]["recall_at_10_vs_exact"],
                f"peak_rss_mb_at_{hi}": by[hi]["peak_rss_mb"] + (by[hi].get("server_peak_rss_mb") or 0),
            }
            if "reopened" in by[hi] and "reopened" in by[lo]:
                again = {n: by[n]["reopened"] for n in (lo, hi)}
                out[store] |= {
                    f"reopened_ask_p50_{hi}_over_{lo}": again[hi]["ask_ms"]["p50"] / again[lo]["ask_ms"]["p50"],
                    f"reopened_peak_rss_mb_at_{hi}": again[hi]["peak_rss_mb"] + (again[hi].get("server_peak_rss_mb") or 0),
                }
    return out


def plot(result: dict[str, Any], path: Path) -> None:
    """Ask and dense-search p50 against chunks, one line per store (log-log)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for store in dict.fromkeys(p["store"] for p in result["points"]):
        pts = sorted((p for p in result["points"] if p["store"] == store), key=lambda p: p["chunks"])
        xs = [p["chunks"] for p in pts]
        ax.plot(xs, [p["ask_ms"]["p50"] for p in pts], marker="o", label=f"ask p50, {store}")
        if all("reopened" in p for p in pts):
            ax.plot(xs, [p["reopened"]["ask_ms"]["p50"] for p in pts], marker="^", ls=":",
                    label=f"ask p50, {store}, reopened")
        ax.plot(xs, [p["dense_search_ms"]["p50"] for p in pts], marker="s", ls="--", label=f"dense search p50, {store}")
    ax.set_xscale("log"), ax.set_yscale("log")
    ax.set_xlabel("chunks in the index"), ax.set_ylabel("ms")
    ax.set_title("Warm latency against index size (2 cores)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--point", type=int, help=argparse.SUPPRESS)  # one point, in this process
    ap.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)  # reopen the point's index
    args = ap.parse_args(argv)
    inputs = json.loads((args.work / "inputs.json").read_text(encoding="utf-8"))
    url = os.environ.get("ASSISTANT_CHROMA_URL") or None
    if args.serve:
        point = serve_point(args.point, args.work, inputs["questions"], url)
    else:
        point = measure_point(args.point, args.work, inputs["questions"], inputs["sentences"], url)
    print(json.dumps(point))


if __name__ == "__main__":
    main()
