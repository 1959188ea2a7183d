"""The public Python API: `Assistant.open()`, `Assistant.from_documents()`, `ask`, `retrieve`.

    >>> bot = Assistant.open()
    >>> ans = bot.ask("Which TPU generations is OpenAI using?")
    >>> ans.text, [c.quote for c in ans.citations]
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from .answer import Answer
from .chain import build_chain
from .config import Settings
from .documents import Document, load_path
from .embeddings import get_embeddings
from .errors import ConfigError, DocumentError
from .extractive import ExtractiveAnswerer
from .index import Index, IngestReport
from .question import History, document_field
from .retrieval import HybridRetriever, Passage

MAX_QUESTION_CHARS = 2000


class Assistant:
    """Grounded, cited question answering over a set of documents."""

    def __init__(self, index: Index, settings: Settings, answerer: Any = None) -> None:
        self.settings = settings
        self.index = index
        self.retriever = HybridRetriever(index=index, k=settings.k)
        self.answerer = answerer or make_answerer(settings.answerer, index)
        self.chain = build_chain(self.retriever, self.answerer, lambda: self.index.documents)

    # -- construction ------------------------------------------------------------------
    @classmethod
    def open(cls, settings: Settings | None = None, *, embeddings=None, **overrides: Any) -> Assistant:
        """The default corpus and index; builds the index on first use."""
        settings = settings or Settings.load(**overrides)
        index = Index(settings, embeddings or get_embeddings(settings.embedding_model))
        bot = cls(index, settings)
        if not index.documents:
            bot.ingest([settings.corpus_dir])
        else:
            # Re-sync what is registered: embeds nothing when the vectors are current, and
            # re-embeds after a model or span change (content-derived ids no longer match).
            index.add(index.documents)
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
        """Add files/folders and Documents; unchanged content is not re-embedded."""
        docs = [d for p in paths for d in load_path(Path(p))] + list(documents)
        if not docs:
            raise DocumentError("nothing to ingest: pass a file, a folder or documents")
        # Everything is read and validated before anything stored is touched.
        if rebuild:
            self.index.clear()
        return self.index.add(docs, progress=progress)

    # -- asking ------------------------------------------------------------------------
    def ask(self, question: str, history: History | None = None, k: int | None = None) -> Answer:
        """Answer from the documents only, every sentence cited; abstain when they are silent."""
        question = check_question(question)
        history = _check_history(history)
        return self.chain.invoke({"question": question, "history": history,
                                  "k": _check_k(self.settings.k if k is None else k)})

    def stream(self, question: str, history: History | None = None, k: int | None = None, *,
               steps: int = 5) -> Iterator[tuple[str, Answer | None]]:
        """Yield the answer text as it grows (in up to `steps` updates), then (full text, Answer)."""
        # The answer is whole before anyone sees it (~20 ms extractive; the generative answerer's
        # sentences must be checked against the quotes first), so this streams it in a few steps:
        # a UI update costs a server several ms, so one per word cost more than the answer did.
        answer = self.ask(question, history, k)
        words = answer.text.split(" ")
        cuts = sorted({round(len(words) * j / steps) for j in range(1, steps)})
        for i in cuts:
            if 0 < i < len(words):
                yield " ".join(words[:i]), None
        yield answer.text, answer

    def warm_up(self) -> None:
        """Load the model and build the in-memory indexes now, not on the first question."""
        self.ask("warm up")
        if hasattr(self.answerer, "warm_up"):
            self.answerer.warm_up(self.documents)

    def retrieve(self, query: str, k: int = 5) -> list[Passage]:
        """The k best passages for a query (hybrid dense + BM25); for a question about the
        document itself ("What is the headline?"), the blocks that answer it first."""
        query = check_question(query)
        return self.retriever.search(query, _check_k(k), field=document_field(query))


def make_answerer(name: str, index: Index):
    """Answerer by name: 'extractive' (the offline default) or 'generative' (SmolLM2 through
    llama-cpp-python, from the `llm` extra, phrasing the extractive answer's quotes)."""
    if name == "extractive":
        return ExtractiveAnswerer(index, index.embeddings)
    if name == "generative":
        from .generative import GenerativeAnswerer, LlamaCppChat

        return GenerativeAnswerer(ExtractiveAnswerer(index, index.embeddings), LlamaCppChat())
    raise ConfigError(f"unknown answerer {name!r}; use 'extractive' or 'generative'")


def check_question(question: Any) -> str:
    """The question, stripped; a clear error when it is empty or too long."""
    if not isinstance(question, str) or not question.strip():
        raise ConfigError("the question is empty; ask something about the article")
    if len(question) > MAX_QUESTION_CHARS:
        raise ConfigError(
            f"the question is {len(question)} characters long; keep it under {MAX_QUESTION_CHARS}"
        )
    return question.strip()


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
                question = str(m.get("content", ""))
            elif m.get("role") == "assistant" and question is not None:
                pairs.append((question, str(m.get("content", ""))))
                question = None
        return pairs
    try:
        if items is None or any(isinstance(p, str | dict) or len(p) != 2 for p in items):
            raise TypeError
        return [(str(q), str(a)) for q, a in items]
    except TypeError:
        raise ConfigError(
            "history must be a list of (question, answer_text) pairs or of {'role', 'content'} messages"
        ) from None
