"""A scripted answerer for the UI tests: which sentences get cited is the answerer's business,
how citations are shown is the UI's. The script fixes the first so tests can pin down the second.

It plugs into the same seam production uses (`Assistant(index, settings, answerer=...)`), so the
real chain still rewrites follow-ups, retrieves and times every stage.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from assistant import Assistant, Document
from assistant.answer import Answer, AnswererBase, abstention_text, make_citation
from assistant.chunking import Passage, sentences
from assistant.config import Settings
from assistant.embeddings import get_embeddings
from assistant.index import Index
from assistant.question import Question

# Question keyword -> phrases; each phrase selects the article sentence that contains it.
ARTICLE_SCRIPT: dict[str, list[str]] = {
    "what are tpus": ["are its Tensor Processing Units", "optimized for the massive matrix"],
    "efficient": ["performance per watt"],
    "versions": ["v4 and v5e"],
}


class ScriptedAnswerer(AnswererBase):
    """Answers a question holding a scripted keyword by quoting the sentences its phrases select.

    Citations are exact (quote == document.text[start:end]), numbered in document order and
    marked `[1] [2]` like the extractive answerer's; any other question is an abstention.

        >>> ScriptedAnswerer({"tpus": ["Tensor Processing Units", "matrix calculations"]})
    """

    name = "scripted"

    def __init__(self, script: Mapping[str, Sequence[str]], strict: bool = True) -> None:
        self.script = {key.lower(): list(phrases) for key, phrases in script.items()}
        self.questions: list[str] = []  # every question asked, in order
        # strict: a phrase no document holds is a broken test. Not strict: the documents are
        # meant to change (uploads, removals), and a phrase of a removed one means "refuse".
        self.strict = strict

    def answer(self, parsed: Question, passages: list[Passage], docs: list[Document]) -> Answer:
        question, query = parsed.text, parsed.answer_query
        self.questions.append(question)
        phrases = next((p for key, p in self.script.items() if key in question.lower()), None)
        found = None if phrases is None else self._found(phrases, docs)
        if not found:
            return Answer(abstention_text(question, len(docs)), True, [], query, question,
                          passages=passages, answerer=self.name)
        order = {d.id: i for i, d in enumerate(docs)}
        picked = sorted(found, key=lambda s: (order[s.doc_id], s.start))
        by_id = {d.id: d for d in docs}
        citations = [make_citation(n, by_id[s.doc_id], s, 0.9) for n, s in enumerate(picked, start=1)]
        text = " ".join(f"{' '.join(c.quote.split())} [{c.n}]" for c in citations)
        return Answer(text, False, citations, query, question, passages=passages, answerer=self.name)

    def _found(self, phrases: Sequence[str], docs: list[Document]) -> set:
        try:
            return {self._sentence(phrase, docs) for phrase in phrases}
        except ValueError:
            if self.strict:
                raise
            return set()

    @staticmethod
    def _sentence(phrase: str, docs: list[Document]):
        for doc in docs:
            for span in sentences(doc):
                if phrase in span.text:
                    return span
        # A script that selects nothing is a broken test, not an abstention.
        raise ValueError(f"no sentence of {[d.id for d in docs]} contains {phrase!r}")


def scripted_assistant(documents: Sequence[Document], home: Path,
                       script: Mapping[str, Sequence[str]] = ARTICLE_SCRIPT,
                       cls: type[Assistant] = Assistant, strict: bool = True, **overrides) -> Assistant:
    """A real Assistant (hashing embeddings, Chroma under home) whose answerer follows a script."""
    settings = Settings.load(home=home, index_dir=home / "index", **overrides)
    index = Index(settings, get_embeddings("hashing"))
    index.add(list(documents))
    return cls(index, settings, answerer=ScriptedAnswerer(script, strict=strict))


HOST = "127.0.0.1"


def free_port() -> int:
    """A port nothing listens on right now, on the loopback interface."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@contextmanager
def serving(bot) -> Iterator[str]:
    """The app on a free local port, in a background thread; closed on exit."""
    from assistant_ui.app import launch

    port = free_port()
    demo = launch(host=HOST, port=port, bot=bot, prevent_thread_lock=True)
    try:
        yield f"http://{HOST}:{port}/"
    finally:
        demo.close()
    with socket.socket() as s:  # the port is released: nothing keeps listening
        assert s.connect_ex((HOST, port)) != 0
