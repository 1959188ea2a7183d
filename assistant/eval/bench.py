"""Benchmarks as ratios against a baseline run in the same process (never wall-clock asserts).

`assistant bench` prints JSON: warm `ask` latency vs a plain LangChain `Chroma.similarity_search`
over the same chunks and model, and re-ingest cost vs first ingest.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from . import metrics as m
from .baseline import uncached


def _timed(fn, items) -> list[float]:
    out = []
    for item in items:
        t0 = time.perf_counter()
        fn(item)
        out.append(time.perf_counter() - t0)
    return out


def run_bench(bot, questions: list[str], rounds: int = 50) -> dict[str, Any]:
    """Warm latency of ask() and of a bare similarity_search, plus ingest idempotence cost."""
    from langchain_chroma import Chroma

    qs = [questions[i % len(questions)] for i in range(max(rounds, len(questions)))]
    docs = bot.documents
    with tempfile.TemporaryDirectory(prefix="assistant-bench-") as tmp:
        store = Chroma(collection_name="bench", embedding_function=uncached(bot.index.embeddings),
                       persist_directory=str(Path(tmp) / "chroma"))
        chunks = bot.index.all_chunks()
        store.add_texts([c.text for c in chunks], metadatas=[{"doc_id": c.doc_id} for c in chunks])
        for q in qs[:3]:  # warm both paths: model, caches, HNSW
            bot.ask(q)
            store.similarity_search(q, k=4)
        # Distinct query strings: the query-vector cache must not make either side look faster.
        ask_s = _timed(lambda q: bot.ask(q), [f"{q} ({i})" for i, q in enumerate(qs)])
        search_s = _timed(lambda q: store.similarity_search(q, k=4), [f"{q} [{i}]" for i, q in enumerate(qs)])
        t0 = time.perf_counter()
        report = bot.index.add(docs)
        reingest = time.perf_counter() - t0
    p50_ask, p50_search = m.percentile(ask_s, 50), m.percentile(search_s, 50)
    return {
        "asks": len(ask_s),
        "ask_ms": {"p50": 1000 * p50_ask, "p95": 1000 * m.percentile(ask_s, 95)},
        "similarity_search_ms": {"p50": 1000 * p50_search, "p95": 1000 * m.percentile(search_s, 95)},
        "ask_over_similarity_search_p50": p50_ask / p50_search if p50_search else None,
        "reingest_unchanged": {"seconds": reingest, "embedded": report.embedded, "reused": report.reused},
    }
