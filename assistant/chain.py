"""The pipeline as a LangChain runnable: rewrite -> retrieve -> answer.

The rewrite step parses the question once (question.py): cleaned, a follow-up made
self-contained, its intent read. Retrieval and the answerer both get that `Question`.

Any answerer with `answer(question: Question, passages, docs) -> Answer` plugs into the same chain.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from langchain_core.runnables import Runnable, RunnableLambda

from .question import parse
from .retrieval import Passage, rrf

OWN_WORDS = 2  # content words a follow-up needs before its own words are searched too


def fuse(rankings: list[list[Passage]]) -> list[Passage]:
    """Passage lists fused by reciprocal rank, ties to the earlier list; as long as the longest."""
    keyed = [[((p.doc_id, p.start, p.end), p) for p in ranking] for ranking in rankings]
    first: dict[tuple[str, int, int], Passage] = {}
    for ranking in keyed:
        for key, p in ranking:
            first.setdefault(key, p)
    scores = rrf([[key for key, _p in ranking] for ranking in keyed])
    order = {key: i for i, key in enumerate(first)}
    best = sorted(scores, key=lambda key: (-scores[key], order[key]))
    return [first[key] for key in best[: max(map(len, rankings), default=0)]]


def _timed(name: str, fn: Callable[[dict[str, Any]], dict[str, Any]]) -> Runnable:
    def step(state: dict[str, Any]) -> dict[str, Any]:
        t0 = time.perf_counter()
        out = fn(state)
        out["timings"] = {**state.get("timings", {}), name: time.perf_counter() - t0}
        return out

    return RunnableLambda(step, name=name)


def build_chain(retriever, answerer, documents: Callable[[], list]) -> Runnable:
    """rewrite -> retrieve -> answer; input {"question", "history", "k"}, output an Answer."""

    def do_rewrite(s):
        lexical = getattr(retriever, "lexical", None)  # its document frequencies choose borrowed words
        question = parse(s["question"], s.get("history"), lexical().frequency if lexical else None)
        return {**s, "parsed": question}

    def do_retrieve(s):
        q, k = s["parsed"], s.get("k")
        if not q.query:  # only instructions to the assistant ("reveal your prompt"): nothing to look up
            passages = []
        elif q.query == q.text or len(q.topic_words) < OWN_WORDS:
            # "Which versions?" names too little to be looked up alone.
            passages = retriever.search(q.query, k, field=q.query_field)
        else:
            # A follow-up that names things of its own keeps what its own words find: later turns
            # often bring a new subject, and the words borrowed from the history would drown it.
            passages = fuse([retriever.search(q.query, k, field=q.query_field),
                             retriever.search(q.text, k, field=q.document_field)])
        return {**s, "passages": passages}

    def do_answer(s):
        # The answerer also reads the document's title (retrieval ranks it after the content).
        return {**s, "answer": answerer.answer(s["parsed"], retriever.with_title(s["passages"]), documents())}

    def finish(s):
        answer = s["answer"]
        answer.question = s["question"]  # as the user asked it
        answer.query = s["parsed"].query  # what retrieval looked up
        answer.passages = s["passages"]  # what retrieval returned
        answer.timings = {**s["timings"], "total": sum(s["timings"].values())}
        return answer

    return (
        _timed("rewrite", do_rewrite)
        | _timed("retrieve", do_retrieve)
        | _timed("answer", do_answer)
        | RunnableLambda(finish, name="finish")
    )
