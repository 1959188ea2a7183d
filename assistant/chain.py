"""The pipeline as a LangChain runnable: rewrite -> retrieve -> answer.

The rewrite step parses the question once (question.py): cleaned, a follow-up made
self-contained, its intent read. Retrieval and the answerer both get that `Question`.

Any answerer with `answer(question: Question, passages, docs) -> Answer` plugs into the same chain.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
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


class Pipeline:
    """rewrite -> retrieve -> answer, as LangChain runnables; `chain` runs it whole, `prepare`
    runs the first two steps so `Assistant.stream` can stream the answer step itself."""

    def __init__(self, retriever, answerer, documents: Callable[[], list]) -> None:
        self.retriever, self.answerer, self.documents = retriever, answerer, documents
        self.prepare = _timed("rewrite", self._rewrite) | _timed("retrieve", self._retrieve)
        self.chain = (self.prepare | _timed("answer", self._answer)
                      | RunnableLambda(lambda s: self.finish(s, s["answer"]), name="finish"))

    def _rewrite(self, s):
        lexical = getattr(self.retriever, "lexical", None)  # its document frequencies choose borrowed words
        question = parse(s["question"], s.get("history"), lexical().frequency if lexical else None)
        # With a model, a follow-up becomes a standalone query the model writes (LangChain's
        # history-aware pattern); the deterministic rewrite is still searched, and fused with it.
        model_rewrite = getattr(self.answerer, "rewrite_query", None)
        written = model_rewrite(question, s["history"]) if model_rewrite and s.get("history") else None
        if written and written != question.query:
            return {**s, "parsed": replace(question, query=written), "also_search": question.query}
        return {**s, "parsed": question}

    def _retrieve(self, s):
        q, k = s["parsed"], s.get("k")
        search = self.retriever.search
        if not q.query:  # only instructions to the assistant ("reveal your prompt"): nothing to look up
            passages = []
        elif s.get("also_search"):
            passages = fuse([search(q.query, k, field=q.query_field),
                             search(s["also_search"], k, field=q.query_field)])
        elif q.query == q.text or len(q.topic_words) < OWN_WORDS:
            # "Which versions?" names too little to be looked up alone.
            passages = search(q.query, k, field=q.query_field)
        else:
            # A follow-up that names things of its own keeps what its own words find: later turns
            # often bring a new subject, and the words borrowed from the history would drown it.
            passages = fuse([search(q.query, k, field=q.query_field),
                             search(q.text, k, field=q.document_field)])
        return {**s, "passages": passages}

    def answer_inputs(self, s) -> tuple:
        """What the answerer gets: the parsed question, the passages (the document's title after
        them: retrieval ranks it after the content) and the documents."""
        return s["parsed"], self.retriever.with_title(s["passages"]), self.documents()

    def _answer(self, s):
        return {**s, "answer": self.answerer.answer(*self.answer_inputs(s))}

    def finish(self, s, answer):
        """The answer with the question as asked, the query retrieved, the passages and timings."""
        answer.question = s["question"]  # as the user asked it
        answer.query = s["parsed"].query  # what retrieval looked up
        answer.passages = s["passages"]  # what retrieval returned
        before = sum(s["timings"].get(step, 0.0) for step in ("rewrite", "retrieve"))
        own = dict(answer.timings)  # e.g. the answerer's first_sentence, from its own start
        answer.timings = {**s["timings"], "total": sum(s["timings"].values())}
        if "first_sentence" in own:
            answer.timings["first_sentence"] = before + own["first_sentence"]
        return answer


def build_chain(retriever, answerer, documents: Callable[[], list]) -> Runnable:
    """rewrite -> retrieve -> answer; input {"question", "history", "k"}, output an Answer."""
    return Pipeline(retriever, answerer, documents).chain
