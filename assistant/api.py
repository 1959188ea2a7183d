"""The public Python API: `Assistant.open()`, `Assistant.from_documents()`, `ask`, `retrieve`.

    >>> bot = Assistant.open()
    >>> ans = bot.ask("Which TPU generations is OpenAI using?")
    >>> ans.text, [c.quote for c in ans.citations]
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from . import llm
from .answer import Answer, Answerer
from .chain import STEPS, Pipeline
from .chunking import Passage
from .config import Settings
from .documents import Document, Skipped, load_path
from .embeddings import get_embeddings
from .errors import AssistantError, ConfigError, DocumentError
from .extractive import ExtractiveAnswerer
from .followup import History
from .index import Index, IngestReport, Progress
from .inputs import MAX_QUESTION_CHARS, check_k, check_question
from .naming import document_field
from .retrieval import HybridRetriever

__all__ = ["MAX_QUESTION_CHARS", "Assistant", "answerer_for", "check_question", "make_answerer"]

# Backends other than the bot's own, built once by `with_llm` and shared: a llamacpp model keeps
# its weights in memory, so a few names at most stay cached (the oldest goes first).
MAX_BACKENDS = 4
PACKAGED_LLM = "llamacpp:smollm2"
# An upload shares the encoder with the chats, which queue behind each of its batches: small
# batches, and a pause as long as each batch took, bound what an upload adds to a chat's wait
# (`assistant bench --ui`; at 32 spans and no pause, chat p95 rose 10x while uploads ran).
UPLOAD_BATCH = 8
UPLOAD_PACE = 1.0

class Assistant:
    """Grounded, cited question answering over a set of documents."""

    def __init__(self, index: Index, settings: Settings, answerer: Answerer | None = None) -> None:
        self.settings = settings
        self.index = index
        self.retriever = HybridRetriever(index=index, k=settings.k)
        self.answerer = answerer or make_answerer(settings, index)
        if not isinstance(self.answerer, Answerer):
            raise ConfigError(f"{type(self.answerer).__name__} is not an Answerer: give it name, answer, "
                              "stream, rewrite_query, warm_up and offline (or subclass answer.AnswererBase)")
        self.pipeline = _Pipeline(self.retriever, self.answerer, lambda: self.index.documents, settings.k)
        self.chain = self.pipeline.chain  # input {"question", "history", "k"}; invoke -> Answer
        self._variants: dict[str, Assistant] = {}
        self._variants_lock = threading.Lock()

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
        # The reader's session loads in native code beside the first question's model import
        # (a cold `assistant ask`, 4 paired runs under load: 0.1-0.8 s shorter); asking waits for it.
        if (reader := getattr(bot.answerer, "reader", None)) is not None and hasattr(reader, "load_in_background"):
            reader.load_in_background()
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

    def upload(self, files: Sequence[tuple[str, bytes]], on_progress: Progress | None = None) -> list:
        """Add uploaded files, each (client's name, bytes); one `uploads.UploadResult` per file, in
        order: added, updated, unchanged, or skipped and why.

        Each file is checked by content and size (Settings.upload_max_mb, upload_total_mb) and
        stored under a generated name (assistant/uploads.py); the client's name is never a path.
        An upload over the total limit raises DocumentError before anything is stored. The index
        takes one document at a time while chats go on; when the store fails, that file and the
        rest are "failed" (with the store's message) and the documents added before them stay.
        """
        from .uploads import UploadResult, display_name, stage

        files = list(files)
        staged, results = stage(files, self.settings)
        failure = ""
        for item in staged:
            if failure:
                results.append(UploadResult(item.name, "failed", f"not added: {failure}"))
                continue
            try:
                report = self.index.add([item.document], on_progress=on_progress, batch=UPLOAD_BATCH,
                                        pace=UPLOAD_PACE)
            except AssistantError as exc:
                failure = str(exc)
                results.append(UploadResult(item.name, "failed", failure))
                continue
            doc = item.document
            results.append(UploadResult(item.name, report.outcomes[doc.id], doc.title or doc.id, doc.id))
        order = {display_name(name): i for i, (name, _) in reversed(list(enumerate(files)))}
        return sorted(results, key=lambda r: order.get(r.name, len(order)))

    def remove(self, doc_id: str) -> Document:
        """Take a document out: its spans leave the index and the registry, answers stop citing it."""
        return self.index.remove(doc_id)

    # -- asking ------------------------------------------------------------------------
    def ask(self, question: str, history: History | None = None, k: int | None = None) -> Answer:
        """Answer from the documents only, every sentence cited; abstain when they are silent."""
        return self.chain.invoke({"question": question, "history": history, "k": k})

    def stream(self, question: str, history: History | None = None, k: int | None = None, *,
               steps: int = STEPS) -> Iterator[tuple[str, Answer | None]]:
        """Yield (text so far, None) as each sentence is ready, then (full text, Answer).

        With a model, each update adds one sentence the passages back, as soon as the model has
        finished it (never an unverified one). The extractive answer is whole after ~20 ms; its
        sentences are yielded in up to `steps` updates (each UI update costs a server several ms).
        """
        for part in self.chain.stream({"question": question, "history": history, "k": k, "steps": steps}):
            yield part.text, (None if part.partial else part)

    def warm_up(self) -> None:
        """Load the embedding model and build the in-memory indexes now, not on the first question.

        A chat model is not called: with a paid API, a warm-up request would cost money.
        """
        state = self.pipeline.prepare.invoke({"question": "warm up", "history": [], "k": self.settings.k})
        self.answerer.offline.answer(*self.pipeline.answer_inputs(state))
        self.answerer.warm_up(self.documents)

    # -- model backends ------------------------------------------------------------------
    @property
    def llm(self) -> str:
        """The model backend this assistant answers with ("extractive" when none)."""
        name = self.answerer.name
        # A model backend's name is always kind:model; anything else (the extractive answerer, a
        # test's scripted one) runs under the settings' name.
        return name if ":" in name else self.settings.llm

    def offered_llms(self) -> list[str]:
        """The backends `with_llm` may switch to: extractive, this one, the packaged SmolLM2, and
        whatever the ui_llms setting (ASSISTANT_UI_LLMS=name,name) adds."""
        extra = [n.strip() for n in self.settings.ui_llms.split(",") if n.strip()]
        return list(dict.fromkeys(["extractive", self.llm, PACKAGED_LLM, *extra]))

    def with_llm(self, name: str | None) -> Assistant:
        """This assistant answering with another offered backend over the same index; itself for
        its own backend (or no name). Each is built once, under a lock, and shared by callers."""
        name = " ".join(str(name or "").split())
        if not name or name == self.llm:
            return self
        llm.parse_backend(name)  # an unknown name is told apart from one not offered
        offered = self.offered_llms()
        if name not in offered:
            # Anyone with the UI could otherwise load any file on the server as a model, or spend
            # the server's OPENAI_API_KEY on any model.
            raise ConfigError(f"this server offers the models {', '.join(offered)}; "
                              "its owner can offer more with ASSISTANT_UI_LLMS=name,name")
        # Built under the lock: two sessions asking for the same new model must not load it twice.
        with self._variants_lock:
            variant = self._variants.get(name)
            if variant is None:
                variant = Assistant(self.index, self.settings, answerer_for(name, self.settings, self.index))
                self._variants[name] = variant
                while len(self._variants) > MAX_BACKENDS:
                    self._variants.pop(next(iter(self._variants)))
        return variant

    def retrieve(self, query: str, k: int = 5) -> list[Passage]:
        """The k best passages for a query (hybrid dense + BM25); for a question about the
        document itself ("What is the headline?"), the blocks that answer it first."""
        query = check_question(query)
        return self.retriever.search(query, check_k(k), field=document_field(query))


class _Pipeline(Pipeline):
    """The pipeline over an index that may change while a question is answered (an upload or a
    removal from another session): the answerer gets only passages the documents still hold."""

    def answer_inputs(self, s) -> tuple:
        parsed, passages, docs = super().answer_inputs(s)
        by_id = {d.id: d for d in docs}
        # Retrieval read the index before the documents were read: a passage of a document
        # removed (or changed) in between must not be quoted from what is there now.
        kept = [p for p in passages if p.doc_id in by_id and by_id[p.doc_id].text[p.start:p.end] == p.text]
        return parsed, (kept if len(kept) < len(passages) else passages), docs


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
    extractive = ExtractiveAnswerer(index, index.embeddings, reader=settings.reader)
    backend = llm.parse_backend(name)
    if backend is None:
        return extractive
    from .generative import GenerativeAnswerer
    from .verify import Verifier

    mode = llm.resolve_mode(backend, settings.llm_mode)  # a bad setting fails before a model loads
    model = llm.chat_model(backend, timeout=settings.llm_timeout)
    return GenerativeAnswerer(extractive, model, Verifier(index, index.embeddings),
                              mode=mode, name=backend.name,
                              endpoint=llm.endpoint(backend), timeout=settings.llm_timeout)
