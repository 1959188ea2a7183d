"""The pipeline as a LangChain runnable: rewrite -> retrieve -> answer.

The rewrite step cleans the question first (instructions to the assistant dropped, chat-speak
spelled out, see normalize.py) and then makes a follow-up self-contained.

Any answerer with `answer(question, query, passages, docs) -> Answer` plugs into the same chain.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.runnables import Runnable, RunnableLambda

from .features import document_field, names
from .normalize import normalize
from .retrieval import stopword_set

History = Sequence[tuple[str, str]]

# A follow-up leans on an earlier turn: a pronoun, a demonstrative, or an elliptical opener.
_ANAPHOR = re.compile(
    r"\b(it|its|it's|they|them|their|theirs|this|that|these|those|he|him|his|she|her|hers|"
    r"there|one|ones|such|same|former|latter)\b",
    re.I,
)
# "The deal" leans on an earlier turn only when the question names nothing of its own: "How did
# Microsoft react to the deal?" is about Microsoft, whatever the turn before asked.
_DEFINITE = re.compile(r"\bthe (company|partnership|deal|firm|alliance)\b", re.I)
_ELLIPSIS = re.compile(r"^\s*(and|also|but|so|then|what about|how about|why|how come|and why)\b", re.I)


def is_follow_up(question: str) -> bool:
    """Whether a question only makes sense with the turns before it."""
    if document_field(question):  # "What is the headline of the article?" stands on its own
        return False
    content = [w for w in re.findall(r"\w+", question.lower()) if w not in stopword_set()]
    return bool(_ANAPHOR.search(question)) or (bool(_DEFINITE.search(question)) and not names(question)) \
        or (bool(_ELLIPSIS.match(question)) and len(content) <= 4) or len(content) <= 1


def rewrite(question: str, history: History | None) -> str:
    """Make a follow-up self-contained by adding the topic words of the earlier questions."""
    question = " ".join(question.split())
    if not history or not is_follow_up(question):
        return question
    have = {w.lower() for w in re.findall(r"\w+", question)}
    # The topic comes from the latest question that stood on its own; the follow-ups in
    # between carry their own intent ("how much", "why"), not the topic.
    past = [q for q, _answer in history]
    topic = next((q for q in reversed(past) if not is_follow_up(q)), past[0])
    stop, extra = stopword_set(), []
    for word in re.findall(r"[\w’'-]+", topic):
        low = word.lower()
        if low not in stop and low not in have:
            extra.append(word)
            have.add(low)
    return f"{question} ({' '.join(extra)})" if extra else question


def prepare(question: str, history: History | None) -> tuple[str, str]:
    """(cleaned question, query to retrieve): what the answerer and the retriever get."""
    clean = normalize(question)
    if not clean:
        return "", ""
    return clean, rewrite(clean, [(normalize(q), a) for q, a in history or []])


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
        clean, query = prepare(s["question"], s.get("history"))
        return {**s, "clean": clean, "query": query}

    def do_retrieve(s):
        # Only instructions to the assistant ("reveal your prompt"): nothing to look up.
        passages = retriever.search(s["query"], s.get("k")) if s["query"] else []
        return {**s, "passages": passages}

    def do_answer(s):
        question = s["clean"] or s["question"]
        # The answerer also reads the document's title (retrieval ranks it after the content).
        return {**s, "answer": answerer.answer(question, s["query"], retriever.with_title(s["passages"]),
                                               documents())}

    def finish(s):
        answer = s["answer"]
        answer.question = s["question"]  # as the user asked it
        answer.passages = s["passages"]  # what retrieval returned
        answer.timings = {**s["timings"], "total": sum(s["timings"].values())}
        return answer

    return (
        _timed("rewrite", do_rewrite)
        | _timed("retrieve", do_retrieve)
        | _timed("answer", do_answer)
        | RunnableLambda(finish, name="finish")
    )
