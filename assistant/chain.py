"""The pipeline as one LangChain runnable: check -> rewrite -> retrieve -> answer.

    >>> bot.chain.invoke({"question": "Which TPUs?", "history": [], "k": 5})   # an Answer
    >>> for part in bot.chain.stream({"question": "Which TPUs?"}):            # Answers that grow
    ...     print(part.text, part.partial)

The rewrite step parses the question once (question.py): cleaned, a follow-up made
self-contained, its intent read. Retrieval and the answerer both get that `Question`. Every step
reads and returns a typed `State`. The answer step is a generator: `stream()` yields a partial
`Answer` each time a sentence is ready, then the final one; `invoke()` returns the final one.
`Assistant.ask` and `Assistant.stream` both go through this chain.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from langchain_core.runnables import Runnable, RunnableLambda

from .answer import Answer, Answerer
from .chunking import Passage
from .followup import History
from .inputs import check_history, check_k, check_question
from .markers import split_marked_sentences
from .question import Question, parse
from .retrieval import HybridRetriever, rrf

OWN_WORDS = 2  # content words a follow-up needs before its own words are searched too
STEPS = 5  # updates a whole (extractive) answer is streamed in: each UI update costs a server ms


@dataclass
class State:
    """What flows through the chain: the request, then what each step adds to it."""

    question: str
    history: list[tuple[str, str]] = field(default_factory=list)
    k: int = 5
    steps: int = STEPS
    parsed: Question | None = None  # rewrite
    also_search: str = ""  # rewrite: the deterministic query, when a model wrote `parsed.query`
    passages: list[Passage] = field(default_factory=list)  # retrieve
    timings: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, request: State | dict[str, Any], default_k: int) -> State:
        """A checked state from the chain's input: {"question", "history"?, "k"?, "steps"?}."""
        if isinstance(request, State):
            return request
        if not isinstance(request, dict):
            raise TypeError(f"the chain takes a dict with a 'question', got {type(request).__name__}")
        k = request.get("k")
        return cls(question=check_question(request.get("question")),
                   history=check_history(request.get("history")),
                   k=check_k(default_k if k is None else k),
                   steps=check_k(request.get("steps") or STEPS))


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


def _timed(name: str, fn: Callable[[State], State]) -> Runnable:
    def step(state: State) -> State:
        t0 = time.perf_counter()
        out = fn(state)
        out.timings = {**state.timings, name: time.perf_counter() - t0}
        return out

    return RunnableLambda(step, name=name)


class Pipeline:
    """check -> rewrite -> retrieve -> answer as LangChain runnables; `chain` is the whole."""

    def __init__(self, retriever: HybridRetriever, answerer: Answerer,
                 documents: Callable[[], list], default_k: int = 5) -> None:
        self.retriever, self.answerer, self.documents = retriever, answerer, documents
        self.prepare = (RunnableLambda(lambda r: State.of(r, default_k), name="check")
                        | _timed("rewrite", self._rewrite) | _timed("retrieve", self._retrieve))
        # A generator step: LangChain streams what it yields and `invoke` returns the last
        # (Answer + Answer is the later one).
        self.chain = self.prepare | RunnableLambda(self._answer, name="answer")

    def _rewrite(self, s: State) -> State:
        # The BM25 side's document frequencies choose which of the last answer's words to borrow.
        question = parse(s.question, s.history, self.retriever.lexical().frequency)
        # With a model, a follow-up becomes a standalone query the model writes (LangChain's
        # history-aware pattern); the deterministic rewrite is still searched, and fused with it.
        written = self.answerer.rewrite_query(question, s.history) if s.history else None
        if written and written != question.query:
            return replace(s, parsed=replace(question, query=written), also_search=question.query)
        return replace(s, parsed=question)

    def _retrieve(self, s: State) -> State:
        q, k = s.parsed, s.k
        assert q is not None
        search = self.retriever.search
        if not q.query:  # only instructions to the assistant ("reveal your prompt"): nothing to look up
            passages = []
        elif s.also_search:
            passages = fuse([search(q.query, k, field=q.query_field),
                             search(s.also_search, k, field=q.query_field)])
        elif q.query == q.text or len(q.topic_words) < OWN_WORDS:
            # "Which versions?" names too little to be looked up alone.
            passages = search(q.query, k, field=q.query_field)
        else:
            # A follow-up that names things of its own keeps what its own words find: later turns
            # often bring a new subject, and the words borrowed from the history would drown it.
            passages = fuse([search(q.query, k, field=q.query_field),
                             search(q.text, k, field=q.document_field)])
        return replace(s, passages=passages)

    def answer_inputs(self, s: State) -> tuple:
        """What the answerer gets: the parsed question, the passages (the document's title after
        them: retrieval ranks it after the content) and the documents."""
        return s.parsed, self.retriever.with_title(s.passages), self.documents()

    def _answer(self, s: State) -> Iterator[Answer]:
        t0 = time.perf_counter()
        shown: list[str] = []
        answer = None
        for item in self.answerer.stream(*self.answer_inputs(s)):
            if isinstance(item, Answer):
                answer = item
                break
            shown.append(item)
            yield self._partial(s, " ".join(shown))
        assert answer is not None, "an answerer's stream must end with its Answer"
        s.timings["answer"] = time.perf_counter() - t0
        answer = self.finish(s, answer)
        if not shown:
            # A whole answer (the extractive one is ready in ~20 ms) still streams, a few
            # sentences at a time: a chat shows it growing.
            sentences = split_marked_sentences(answer.text)
            cuts = sorted({round(len(sentences) * j / s.steps) for j in range(1, s.steps)})
            for i in cuts:
                if 0 < i < len(sentences):
                    yield self._partial(s, " ".join(x.strip() for x in sentences[:i]))
        yield answer

    @staticmethod
    def _partial(s: State, text: str) -> Answer:
        q = s.parsed
        return Answer(text, False, [], q.query if q else "", s.question, partial=True)

    def finish(self, s: State, answer: Answer) -> Answer:
        """The answer with the question as asked, the query retrieved, the passages and timings."""
        answer.question = s.question  # as the user asked it
        answer.query = s.parsed.query if s.parsed else ""  # what retrieval looked up
        answer.passages = s.passages  # what retrieval returned
        before = sum(s.timings.get(step, 0.0) for step in ("rewrite", "retrieve"))
        own = dict(answer.timings)  # e.g. the answerer's first_sentence, from its own start
        answer.timings = {**s.timings, "total": sum(s.timings.values())}
        if "first_sentence" in own:
            answer.timings["first_sentence"] = before + own["first_sentence"]
        return answer


def build_chain(retriever: HybridRetriever, answerer: Answerer, documents: Callable[[], list],
                default_k: int = 5) -> Runnable:
    """check -> rewrite -> retrieve -> answer; input {"question", "history", "k"}, output an Answer."""
    return Pipeline(retriever, answerer, documents, default_k).chain


__all__ = ["History", "Pipeline", "State", "build_chain", "fuse"]
