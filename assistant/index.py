"""Embeddings + Chroma (embedded on disk, or a server), with content-hash upserts.

Two collections hold the vectors: chunks (what retrieval ranks) and sentences (what the
answerer picks and cites). A JSON registry beside them keeps the documents themselves, so the
index can be reopened, and rebuilt for a new model, without the original files.

The registry is the source of truth. Opening an index repairs what a crash or a damaged file left
behind, and says so in `Index.recovered` (also logged as a warning):

- a registry that is not valid JSON is moved aside (documents.json.broken-<time>); the documents
  still readable in it are kept;
- an embedded Chroma database that SQLite calls corrupt is moved aside (chroma.broken-<time>) and
  a new one is started; `resync()` re-embeds the registry into it;
- vectors no registered document expects (an ingest killed half-way) are deleted, and registered
  documents missing vectors are re-embedded by `resync()`.

Nothing is deleted to recover: damaged files are renamed, so what the user had stays on disk.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from urllib.parse import urlparse

import numpy as np
from langchain_core.embeddings import Embeddings

from .chunking import DocSpans, Span, chunks, sentences
from .config import Settings
from .documents import Document, Skipped
from .embeddings import model_id
from .errors import DocumentError, IndexStoreError
from .repair import forget_system, is_corrupt, move_aside, salvage

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no cross-process lock, the rest still works
    fcntl = None  # type: ignore[assignment]

_BATCH = 256
log = logging.getLogger(__name__)
# Up to this many chunks, dense search is exact (a matrix product over the stored vectors)
# instead of Chroma's HNSW: HNSW builds differ from run to run, and 14 of 600 ClapNQ queries got
# another top 20 from two builds of the same vectors, which made the fit unreproducible. 20,000
# chunks of MiniLM vectors are 30 MB in memory.
EXACT_SEARCH_MAX = 20_000


@dataclass
class IngestReport:
    """What one ingest changed."""

    documents: int = 0
    embedded: int = 0  # spans sent to the encoder
    reused: int = 0  # spans whose vectors were already stored
    removed: int = 0  # stale spans deleted (document changed or removed)
    doc_ids: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)  # files of a folder that could not be read


def make_client(settings: Settings):
    """Chroma client: PersistentClient under the index dir, or HttpClient for a server URL."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=True)
    if settings.chroma_url:
        url = urlparse(settings.chroma_url)
        try:
            client = chromadb.HttpClient(
                host=url.hostname or "127.0.0.1", port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https", settings=chroma_settings,
            )
            client.heartbeat()
        except Exception as exc:  # chromadb raises several types for "not reachable"
            raise IndexStoreError(
                f"cannot reach the Chroma server at {settings.chroma_url} ({exc.__class__.__name__}); "
                "start it with `chroma run --host 127.0.0.1 --port 8000` or unset ASSISTANT_CHROMA_URL"
            ) from None
        return client
    path = settings.index_dir / "chroma"
    try:
        settings.index_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise IndexStoreError(
            f"cannot write the index under {settings.index_dir} ({exc.strerror or exc}); "
            "set ASSISTANT_HOME to a folder you can write to"
        ) from None
    path.mkdir(exist_ok=True)  # a file in its place is reported by the caller's store seam
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


@cache
def _store_errors() -> tuple[type[BaseException], ...]:
    """What a failing Chroma call raises (imported late: `import assistant` stays light)."""
    import httpx
    from chromadb.errors import ChromaError

    return ChromaError, httpx.HTTPError, OSError


class Index:
    """Vectors for every chunk and sentence, plus the registry of ingested documents."""

    def __init__(self, settings: Settings, embeddings: Embeddings, client=None) -> None:
        self.settings = settings
        self.embeddings = embeddings
        self.registry_path = settings.index_dir / "documents.json"
        self.recovered: list[str] = []  # one line per repair made while opening (see module doc)
        self._spans: dict[str, DocSpans] = {}
        self._sentence_vectors: dict[str, np.ndarray] = {}
        self._chunk_matrix: tuple[int, list[str], np.ndarray] | None = None  # (version, ids, rows)
        self._docs: dict[str, Document] = self._read_registry()
        self._owns_client = client is None
        self.client = client
        self._cols: tuple | None = None
        self._incomplete: set[str] = set()  # registered documents missing some vectors
        self.version = 0  # bumped on every change, so in-memory indexes know when to rebuild
        self._open_store()

    def note(self, message: str) -> None:
        """Record one repair made to the index (kept in `recovered`, logged as a warning)."""
        self.recovered.append(message)
        log.warning(message)

    # -- the store seam ----------------------------------------------------------------
    @contextmanager
    def _store(self, doing: str) -> Iterator[None]:
        """Every Chroma call runs inside this: a failure becomes one IndexStoreError that names
        the store and the fix, and the next call reconnects."""
        try:
            yield
        except _store_errors() as exc:
            self._cols = None  # re-fetch the collections (and so reconnect) on the next call
            detail = f"{exc.__class__.__name__}: {str(exc)[:200]}"
            if self.settings.chroma_url:
                url = urlparse(self.settings.chroma_url)
                raise IndexStoreError(
                    f"lost the Chroma server at {self.settings.chroma_url} while {doing} ({detail}); "
                    f"check that it is running (`chroma run --path DIR --host {url.hostname} --port "
                    f"{url.port or 8000}`) and try again: the assistant reconnects on its own"
                ) from None
            # Corruption SQLite recognises is repaired on open (_open_store); this is anything else.
            raise IndexStoreError(
                f"the Chroma database at {self.settings.index_dir / 'chroma'} failed while {doing} "
                f"({detail}); check that it is a writable folder no other program is using; if it "
                "is damaged, move it aside: the next command rebuilds it from the registry"
            ) from None

    @property
    def chunk_col(self):
        """The chunks collection (re-fetched after a store failure)."""
        return self._collections()[0]

    @property
    def sentence_col(self):
        """The sentences collection (re-fetched after a store failure)."""
        return self._collections()[1]

    def _collections(self):
        if self._cols is not None:
            return self._cols
        with self._store("opening the collections"):
            if self.client is None:
                self.client = make_client(self.settings)
            model = model_id(self.embeddings)
            names = (f"{self.settings.collection}-chunks", f"{self.settings.collection}-sentences")
            cols = []
            for name in names:
                col = self.client.get_or_create_collection(
                    name, metadata={"hnsw:space": "cosine", "model": model}
                )
                if (col.metadata or {}).get("model") != model:
                    # Vectors from another model are meaningless here: start the collection over;
                    # the documents themselves stay in the registry and are re-embedded by resync().
                    self.client.delete_collection(name)
                    col = self.client.create_collection(
                        name, metadata={"hnsw:space": "cosine", "model": model}
                    )
                cols.append(col)
        self._cols = tuple(cols)
        return self._cols

    def _open_store(self) -> None:
        """Connect, reconcile the vectors with the registry; move a corrupt embedded DB aside."""
        try:
            stored = self._stored_doc_ids()
        except IndexStoreError as exc:
            cause = exc.__context__
            if not (self._owns_client and not self.settings.chroma_url and is_corrupt(cause)):
                raise
            path = self.settings.index_dir / "chroma"
            forget_system(path)
            moved = move_aside(path)
            self.client, self._cols = None, None
            self.note(
                f"the Chroma database at {path} was unreadable ({str(cause)[:120]}); moved it to "
                f"{moved} and started a new one"
            )
            stored = self._stored_doc_ids()
        self._reconcile(stored)

    def _stored_doc_ids(self) -> list[dict[str, str | None]]:
        """{vector id: doc_id} per collection (ids and metadata only, no vectors)."""
        out = []
        for col in self._collections():
            with self._store("reading the stored ids"):
                got = col.get(include=["metadatas"])
            out.append({i: (m or {}).get("doc_id") for i, m in zip(got["ids"], got["metadatas"], strict=True)})
        return out

    def _reconcile(self, stored: list[dict[str, str | None]]) -> None:
        """Delete vectors the registry does not expect; remember documents that lack some."""
        shared = bool(self.settings.chroma_url)
        orphans: set[str] = set()
        n_orphan = n_stale = 0
        doomed: list[list[str]] = []
        for n, have in enumerate(stored):
            expected: dict[str, set[str]] = {}
            for doc_id in self._docs:
                spans = self.spans(doc_id)
                expected[doc_id] = {s.id for s in (spans.chunks, spans.sentences)[n]}
            extra = []
            for vid, doc_id in have.items():
                if doc_id in expected:
                    if vid not in expected[doc_id]:
                        extra.append(vid)
                        n_stale += 1
                elif not shared:
                    # On a server other registries share the collection: only ours is judged.
                    extra.append(vid)
                    orphans.add(str(doc_id))
                    n_orphan += 1
            doomed.append(extra)
            self._incomplete |= {d for d, ids in expected.items() if not ids <= have.keys()}
        if not any(doomed):
            return
        with self._lock(blocking=False) as locked:
            if not locked:
                return  # another process is ingesting: its vectors are not orphans yet
            for col, ids in zip(self._collections(), doomed, strict=True):
                for b in range(0, len(ids), _BATCH * 16):
                    with self._store("removing vectors left by an interrupted ingest"):
                        col.delete(ids=ids[b : b + _BATCH * 16])
        parts = []
        if n_orphan:
            names = sorted(orphans)
            listed = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            parts.append(f"removed {n_orphan} vector(s) of document(s) not in the registry ({listed}), "
                         "left by an interrupted ingest or a damaged registry: ingest those files again")
        if n_stale:
            parts.append(f"removed {n_stale} vector(s) of registered document(s) that match no span of "
                         "their registered version (an interrupted update, or a span setting changed)")
        self.note(f"{self.settings.index_dir}: " + "; ".join(parts))

    @contextmanager
    def _lock(self, blocking: bool = True) -> Iterator[bool]:
        """An exclusive lock on the index dir while writing (the kernel drops it if we are killed)."""
        if fcntl is None:
            yield True
            return
        self.settings.index_dir.mkdir(parents=True, exist_ok=True)
        with open(self.settings.index_dir / "index.lock", "a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    # -- registry ----------------------------------------------------------------------
    def _read_registry(self) -> dict[str, Document]:
        if not self.registry_path.exists():
            return {}
        raw = self.registry_path.read_bytes()
        text = raw.decode("utf-8", errors="replace")
        try:
            data = json.loads(raw.decode("utf-8"))
            return {d["id"]: Document.from_dict(d) for d in data["documents"]}
        except (ValueError, KeyError, TypeError, AttributeError, DocumentError) as exc:
            # ValueError covers JSONDecodeError and UnicodeDecodeError.
            problem = str(exc)[:120]
        docs = salvage(text)
        moved = move_aside(self.registry_path)
        self._docs = docs
        self._write_registry()  # so the next open finds a sound registry, not the same damage
        kept = (f"kept the {len(docs)} document(s) still readable in it ({', '.join(list(docs)[:5])}"
                f"{', …' if len(docs) > 5 else ''})" if docs else "no document in it could be read")
        self.note(f"the registry {self.registry_path} was damaged ({problem}); moved it to {moved}; {kept}")
        return docs

    def _write_registry(self) -> None:
        self.registry_path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"documents": [d.to_dict() for d in self._docs.values()]}
        # Write then rename: a crash mid-write never leaves a half registry behind.
        fd, tmp = tempfile.mkstemp(dir=self.registry_path.parent, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, ensure_ascii=False)
        os.replace(tmp, self.registry_path)

    # -- reading -----------------------------------------------------------------------
    @property
    def documents(self) -> list[Document]:
        """Ingested documents, in ingest order."""
        return list(self._docs.values())

    def spans(self, doc_id: str) -> DocSpans:
        """Chunks and sentences of one document (cached)."""
        if doc_id not in self._spans:
            doc = self._docs[doc_id]
            self._spans[doc_id] = DocSpans(
                doc, chunks(doc, self.settings.chunk_size, self.settings.chunk_overlap), sentences(doc)
            )
        return self._spans[doc_id]

    def all_chunks(self) -> list[Span]:
        """Every chunk of every document, in order."""
        return [c for doc_id in self._docs for c in self.spans(doc_id).chunks]

    def dense_chunks(self, query_vector: Sequence[float], k: int) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity) of the k nearest chunks, nearest first."""
        n = sum(len(self.spans(doc_id).chunks) for doc_id in self._docs)
        if n == 0:
            return []
        if n <= EXACT_SEARCH_MAX:
            return self._exact_nearest(query_vector, k)
        col = self.chunk_col
        with self._store("searching the chunks"):
            n = col.count()
            if n == 0:
                return []
            res = col.query(
                query_embeddings=[list(query_vector)], n_results=min(k, n), include=["distances"]
            )
        return [(i, 1.0 - d) for i, d in zip(res["ids"][0], res["distances"][0], strict=True)]

    def _exact_nearest(self, query_vector: Sequence[float], k: int) -> list[tuple[str, float]]:
        if self._chunk_matrix is None or self._chunk_matrix[0] != self.version:
            ids = list(dict.fromkeys(c.id for c in self.all_chunks()))
            rows: dict[str, np.ndarray] = {}
            for b in range(0, len(ids), 5000):
                with self._store("reading the chunk vectors"):
                    got = self.chunk_col.get(ids=ids[b : b + 5000], include=["embeddings"])
                rows.update(zip(got["ids"], np.asarray(got["embeddings"], dtype=np.float32), strict=True))
            ids = [i for i in ids if i in rows]
            matrix = np.stack([rows[i] for i in ids]) if ids else np.zeros((0, 1), np.float32)
            matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
            self._chunk_matrix = (self.version, ids, matrix)
        _, ids, matrix = self._chunk_matrix
        if not ids:
            return []
        query = np.asarray(query_vector, dtype=np.float32)
        sims = matrix @ (query / max(float(np.linalg.norm(query)), 1e-12))
        # A stable sort: equal scores keep document order, so ties break the same way every run.
        order = np.argsort(-sims, kind="stable")[:k]
        return [(ids[i], float(sims[i])) for i in order]

    def sentence_vectors(self, spans: Iterable[Span]) -> dict[str, np.ndarray]:
        """Stored vectors of some sentences (fetched once, then kept in memory)."""
        wanted = [s.id for s in spans]
        missing = [i for i in dict.fromkeys(wanted) if i not in self._sentence_vectors]
        if missing:
            col = self.sentence_col
            with self._store("reading sentence vectors"):
                got = col.get(ids=missing, include=["embeddings"])
            for i, vec in zip(got["ids"], got["embeddings"], strict=True):
                self._sentence_vectors[i] = np.asarray(vec, dtype=np.float32)
        return {i: self._sentence_vectors[i] for i in wanted if i in self._sentence_vectors}

    # -- writing -----------------------------------------------------------------------
    def add(self, documents: Sequence[Document], progress: bool = False) -> IngestReport:
        """Add or update documents; unchanged spans are not re-embedded, stale ones are removed."""
        ids = [d.id for d in documents]
        dupes = {i for i in ids if ids.count(i) > 1}
        if dupes:
            raise IndexStoreError(f"duplicate document ids {sorted(dupes)}; give each document its own id")
        report = IngestReport(documents=len(documents), doc_ids=ids)
        stale: list[tuple[object, list[str]]] = []
        with self._lock():
            try:
                for doc in documents:
                    stale += self._add_one(doc, report, progress)
            finally:
                # Register what is fully stored before deleting what it replaced: killed at any
                # point, the store holds extra vectors (deleted on the next open), never too few.
                self._write_registry()
                self.version += 1
            for col, ids in stale:
                with self._store("removing out-of-date vectors"):
                    col.delete(ids=ids)
                report.removed += len(ids)
        return report

    def _add_one(self, doc: Document, report: IngestReport, progress: bool) -> list[tuple[object, list[str]]]:
        """Store one document's vectors and register it; return the (collection, ids) now stale."""
        old_doc = self._docs.get(doc.id)
        self._docs[doc.id] = doc
        self._spans.pop(doc.id, None)
        try:
            spans = self.spans(doc.id)
            pairs = ((self.chunk_col, spans.chunks), (self.sentence_col, spans.sentences))
            stale = [(col, self._upsert(col, doc.id, wanted, report, progress)) for col, wanted in pairs]
        except BaseException:
            # Leave the registry as it was: the stored vectors of the old version still match it.
            if old_doc is None:
                self._docs.pop(doc.id, None)
            else:
                self._docs[doc.id] = old_doc
            self._spans.pop(doc.id, None)
            raise
        self._incomplete.discard(doc.id)
        return [(col, ids) for col, ids in stale if ids]

    def _upsert(self, col, doc_id: str, wanted: list[Span], report: IngestReport, progress: bool) -> list[str]:
        """Embed and store the spans not stored yet; return the ids that are now stale."""
        with self._store(f"reading the stored vectors of {doc_id!r}"):
            existing = set(col.get(where={"doc_id": doc_id}, include=[])["ids"])
        new = [s for s in {s.id: s for s in wanted}.values() if s.id not in existing]
        report.reused += len(existing & {s.id for s in wanted})
        batches = range(0, len(new), _BATCH)
        if progress and len(new) > _BATCH:
            from tqdm import tqdm

            batches = tqdm(batches, desc=f"embedding {doc_id}", unit="batch")
        for b in batches:
            batch = new[b : b + _BATCH]
            vectors = self.embeddings.embed_documents([s.embed_text for s in batch])
            with self._store(f"storing the vectors of {doc_id!r}"):
                col.upsert(
                    ids=[s.id for s in batch],
                    embeddings=[list(v) for v in vectors],
                    documents=[s.text for s in batch],
                    metadatas=[{"doc_id": s.doc_id, "start": s.start, "end": s.end} for s in batch],
                )
            report.embedded += len(batch)
        return sorted(existing - {s.id for s in wanted})

    def resync(self, progress: bool = False) -> IngestReport | None:
        """Re-embed registered documents whose vectors are missing (after a recovery, or a model or
        span change); None when every registered document is complete."""
        docs = [d for d in self._docs.values() if d.id in self._incomplete]
        if not docs:
            return None
        report = self.add(docs, progress=progress)
        self.note(f"re-embedded {len(docs)} registered document(s) whose vectors were missing or "
                   f"out of date ({report.embedded} span(s))")
        return report

    def remove(self, doc_id: str) -> None:
        """Forget one document and its vectors."""
        if doc_id not in self._docs:
            raise IndexStoreError(f"no document {doc_id!r} in the index; see `assistant docs`")
        with self._lock():
            for col in (self.chunk_col, self.sentence_col):
                with self._store(f"removing {doc_id!r}"):
                    col.delete(where={"doc_id": doc_id})
            del self._docs[doc_id]
            self._spans.pop(doc_id, None)
            self._incomplete.discard(doc_id)
            self._write_registry()
        self.version += 1

    def clear(self) -> None:
        """Drop every vector and document (used by `ingest --rebuild`)."""
        with self._lock():
            names = [col.name for col in self._collections()]
            with self._store("dropping the collections"):
                for name in names:
                    self.client.delete_collection(name)
            self._cols = None
            self._docs.clear()
            self._spans.clear()
            self._sentence_vectors.clear()
            self._incomplete.clear()
            self._collections()
            self._write_registry()
        self.version += 1

    def counts(self) -> dict[str, int]:
        """Stored vectors per collection."""
        chunk_col, sentence_col = self._collections()
        with self._store("counting vectors"):
            return {"chunks": chunk_col.count(), "sentences": sentence_col.count()}
