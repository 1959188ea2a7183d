"""The public Python API: `Assistant.open()`, `Assistant.from_documents()`, `ask`, `retrieve`.

    >>> bot = Assistant.open()
    >>> ans = bot.ask("Which TPU generations is OpenAI using?")
    >>> ans.text, [c.quote for c in ans.citations]
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from . import llm
from .answer import Answer
from .chain import Pipeline
from .config import Settings
from .documents import Document, Skipped, load_path
from .embeddings import get_embeddings
from .errors import ConfigError, DocumentError
from .extractive import ExtractiveAnswerer
from .index import Index, IngestReport
from .question import History, document_field
from .retrieval import HybridRetriever, Passage
from .sanitize import clean

MAX_QUESTION_CHARS = 2000
_MARKED_SENTENCE = re.compile(r".+?(?:\[\d+\])+(?=\s|$)|.+$")  # a sentence up to its markers


class Assistant:
    """Grounded, cited question answering over a set of documents."""

    def __init__(self, index: Index, settings: Settings, answerer: Any = None) -> None:
        self.settings = settings
        self.index = index
        self.retriever = HybridRetriever(index=index, k=settings.k)
        self.answerer = answerer or make_answerer(settings, index)
        self.pipeline = Pipeline(self.retriever, self.answerer, lambda: self.index.documents)
        self.chain = self.pipeline.chain

    # -- construction ------------------------------------------------------------------
    @classmethod
    def open(cls, settings: Settings | None = None, *, embeddings=None, **overrides: Any) -> Assistant:
        """The default corpus and index; builds the index on first use, repairs it when damaged.

        Opening recovers from any state a crash or a damaged file leaves: a corrupt Chroma
        database or registry is moved aside (renamed *.broken-<time>, never deleted), vectors
        of an interrupted ingest are dropped, and registered documents missing vectors are
        re-embedded. When no registered document survives, the default corpus is ingested,
        as on first use. Each repair is one line in `bot.index.recovered` (and a logged warning).
        """
        settings = settings or Settings.load(**overrides)
        index = Index(settings, embeddings or get_embeddings(settings.embedding_model))
        bot = cls(index, settings)
        if not index.documents:
            damaged = bool(index.recovered)
            bot.ingest([settings.corpus_dir])
            if damaged:
                index.note(f"the index held no readable document; ingested the corpus at {settings.corpus_dir}")
        else:
            # Embeds nothing when the vectors are current; re-embeds after a recovery, or a model or
            # span change (content-derived ids no longer match).
            index.resync()
        return bot

    @classmethod
    def from_documents(
        cls, documents: Sequence[Document], index_dir: str | Path | None = None, *,
        embeddings=None, **overrides: Any,
    ) -> Assistant:
        """An assistant over exactly these documents, in its own index dir."""
        if not documents:
            raise DocumentError("from_documents needs at least one Document")
        if index_dir is not None:
            overrides["index_dir"] = Path(index_dir)
        settings = Settings.load(**overrides)
        index = Index(settings, embeddings or get_embeddings(settings.embedding_model))
        bot = cls(index, settings)
        bot.index.add(list(documents))
        keep = {d.id for d in documents}
        for doc in index.documents:
            if doc.id not in keep:
                index.remove(doc.id)
        return bot

    # -- documents ---------------------------------------------------------------------
    @property
    def documents(self) -> list[Document]:
        """The documents answers come from."""
        return self.index.documents

    def ingest(self, paths: Iterable[str | Path] = (), *, documents: Sequence[Document] = (),
               rebuild: bool = False, progress: bool = False) -> IngestReport:
        """Add files/folders and Documents; unchanged content is not re-embedded.

        Unreadable files inside a folder are skipped and listed in `report.skipped`.
        """
        skipped: list[Skipped] = []
        docs = [d for p in paths for d in load_path(Path(p), skipped)] + list(documents)
        if not docs:
            raise DocumentError("nothing to ingest: pass a file, a folder or documents")
        # Everything is read and validated before anything stored is touched.
        if rebuild:
            self.index.clear()
        report = self.index.add(docs, progress=progress)
        report.skipped = skipped
        if not rebuild:
            self.index.resync(progress=progress)  # the other registered documents, after a recovery
        return report

    # -- asking ------------------------------------------------------------------------
    def ask(self, question: str, history: History | None = None, k: int | None = None) -> Answer:
        """Answer from the documents only, every sentence cited; abstain when they are silent."""
        question = check_question(question)
        history = _check_history(history)
        return self.chain.invoke({"question": question, "history": history,
                                  "k": _check_k(self.settings.k if k is None else k)})

    def stream(self, question: str, history: History | None = None, k: int | None = None, *,
               steps: int = 5) -> Iterator[tuple[str, Answer | None]]:
        """Yield (text so far, None) as each sentence is ready, then (full text, Answer).

        With a model, each update adds one sentence the passages back, as soon as the model has
        finished it (never an unverified one). The extractive answer is whole after ~20 ms; its
        sentences are yielded in up to `steps` updates (each UI update costs a server several ms).
        """
        question = check_question(question)
        state = self.pipeline.prepare.invoke({"question": question, "history": _check_history(history),
                                              "k": _check_k(self.settings.k if k is None else k)})
        t0 = time.perf_counter()
        live = getattr(self.answerer, "stream", None)
        answer, shown = None, []
        if live is None:
            answer = self.answerer.answer(*self.pipeline.answer_inputs(state))
        else:
            for item in live(*self.pipeline.answer_inputs(state)):
                if isinstance(item, Answer):
                    answer = item
                else:
                    shown.append(item)
                    yield " ".join(shown), None
        state["timings"]["answer"] = time.perf_counter() - t0
        answer = self.pipeline.finish(state, answer)
        if not shown:
            sentences = _MARKED_SENTENCE.findall(answer.text) or [answer.text]
            cuts = sorted({round(len(sentences) * j / steps) for j in range(1, steps)})
            for i in cuts:
                if 0 < i < len(sentences):
                    yield " ".join(s.strip() for s in sentences[:i]), None
        yield answer.text, answer

    def warm_up(self) -> None:
        """Load the embedding model and build the in-memory indexes now, not on the first question.

        A chat model is not called: with a paid API, a warm-up request would cost money.
        """
        state = self.pipeline.prepare.invoke({"question": "warm up", "history": [], "k": self.settings.k})
        getattr(self.answerer, "extractive", self.answerer).answer(*self.pipeline.answer_inputs(state))
        if hasattr(self.answerer, "warm_up"):
            self.answerer.warm_up(self.documents)

    def retrieve(self, query: str, k: int = 5) -> list[Passage]:
        """The k best passages for a query (hybrid dense + BM25); for a question about the
        document itself ("What is the headline?"), the blocks that answer it first."""
        query = check_question(query)
        return self.retriever.search(query, _check_k(k), field=document_field(query))


def make_answerer(settings: Settings, index: Index):
    """The answerer the settings name: the extractive one (the offline default), or a chat model
    (settings.llm, see llm.py) whose sentences are verified against the passages."""
    if settings.answerer not in ("extractive", "generative"):
        raise ConfigError(f"unknown answerer {settings.answerer!r}; use 'extractive' or 'generative'")
    name = settings.llm
    if settings.answerer == "generative" and llm.parse_backend(name) is None:
        name = "llamacpp:smollm2"
    return answerer_for(name, settings, index)


def answerer_for(name: str, settings: Settings, index: Index):
    """The answerer for a backend name (llm.py) over an index; the extractive one for "extractive"."""
    extractive = ExtractiveAnswerer(index, index.embeddings)
    backend = llm.parse_backend(name)
    if backend is None:
        return extractive
    from .generative import GenerativeAnswerer
    from .verify import Verifier

    model = llm.chat_model(backend, timeout=settings.llm_timeout)
    return GenerativeAnswerer(extractive, model, Verifier(index, index.embeddings),
                              mode=llm.resolve_mode(backend, settings.llm_mode), name=backend.name,
                              endpoint=llm.endpoint(backend), timeout=settings.llm_timeout)


def check_question(question: Any) -> str:
    """The question cleaned (sanitize.clean) on one line; a clear error when it is not a
    string, empty or too long."""
    if isinstance(question, bytes | bytearray):
        raise ConfigError("the question is bytes; decode it to a str first (e.g. data.decode('utf-8'))")
    if question is not None and not isinstance(question, str):
        raise ConfigError(f"the question must be a str, got {type(question).__name__}")
    question = clean(question or "")
    if not question.strip():
        raise ConfigError("the question is empty; ask something about the article")
    if len(question) > MAX_QUESTION_CHARS:
        raise ConfigError(
            f"the question is {len(question)} characters long; keep it under {MAX_QUESTION_CHARS}"
        )
    return " ".join(question.split())


def _check_k(k: Any) -> int:
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ConfigError(f"k must be a positive integer, got {k!r}")
    return k


def _check_history(history: Any) -> list[tuple[str, str]]:
    """(question, answer) pairs; chat "messages" ({"role", "content"} dicts) are paired up too."""
    if history is None:
        return []
    items = list(history) if isinstance(history, list | tuple) else None
    if items and all(isinstance(m, dict) for m in items):
        pairs, question = [], None
        for m in items:
            if m.get("role") == "user":
                question = clean(str(m.get("content", "")))
            elif m.get("role") == "assistant" and question is not None:
                pairs.append((question, clean(str(m.get("content", "")))))
                question = None
        return pairs
    try:
        if items is None or any(isinstance(p, str | dict) or len(p) != 2 for p in items):
            raise TypeError
        return [(clean(str(q)), clean(str(a))) for q, a in items]
    except TypeError:
        raise ConfigError(
            "history must be a list of (question, answer_text) pairs or of {'role', 'content'} messages"
        ) from None
