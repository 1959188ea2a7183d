"""Embeddings + Chroma (embedded on disk, or a server), with content-hash upserts.

Two collections hold the vectors: chunks (what retrieval ranks) and sentences (what the
answerer picks and cites). A JSON registry beside them keeps the documents themselves, so the
index can be reopened, and rebuilt for a new model, without the original files.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlparse

import numpy as np
from langchain_core.embeddings import Embeddings

from .chunking import DocSpans, Span, chunks, sentences
from .config import Settings
from .documents import Document
from .embeddings import model_id
from .errors import IndexStoreError

_BATCH = 256
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
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise IndexStoreError(
            f"cannot write the index under {settings.index_dir} ({exc.strerror or exc}); "
            "set ASSISTANT_HOME to a folder you can write to"
        ) from None
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


class Index:
    """Vectors for every chunk and sentence, plus the registry of ingested documents."""

    def __init__(self, settings: Settings, embeddings: Embeddings, client=None) -> None:
        self.settings = settings
        self.embeddings = embeddings
        self.client = client if client is not None else make_client(settings)
        self.registry_path = settings.index_dir / "documents.json"
        self._spans: dict[str, DocSpans] = {}
        self._sentence_vectors: dict[str, np.ndarray] = {}
        self._chunk_matrix: tuple[int, list[str], np.ndarray] | None = None  # (version, ids, rows)
        self.chunk_col, self.sentence_col = self._collections()
        self._docs: dict[str, Document] = self._read_registry()
        self.version = 0  # bumped on every change, so in-memory indexes know when to rebuild

    # -- collections -------------------------------------------------------------------
    def _collections(self):
        model = model_id(self.embeddings)
        names = (f"{self.settings.collection}-chunks", f"{self.settings.collection}-sentences")
        cols = []
        for name in names:
            col = self.client.get_or_create_collection(
                name, metadata={"hnsw:space": "cosine", "model": model}
            )
            if (col.metadata or {}).get("model") != model:
                # Vectors from another model are meaningless here: start the collection over;
                # the documents themselves stay in the registry and are re-embedded on ingest.
                self.client.delete_collection(name)
                col = self.client.create_collection(
                    name, metadata={"hnsw:space": "cosine", "model": model}
                )
            cols.append(col)
        return cols

    # -- registry ----------------------------------------------------------------------
    def _read_registry(self) -> dict[str, Document]:
        if not self.registry_path.exists():
            return {}
        try:
            data = json.loads(self.registry_path.read_text(encoding="utf-8"))
            return {d["id"]: Document.from_dict(d) for d in data["documents"]}
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise IndexStoreError(
                f"{self.registry_path} is damaged ({exc}); run `assistant ingest --rebuild`"
            ) from None

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
        n = self.chunk_col.count()
        res = self.chunk_col.query(
            query_embeddings=[list(query_vector)], n_results=min(k, n), include=["distances"]
        )
        return [(i, 1.0 - d) for i, d in zip(res["ids"][0], res["distances"][0], strict=True)]

    def _exact_nearest(self, query_vector: Sequence[float], k: int) -> list[tuple[str, float]]:
        if self._chunk_matrix is None or self._chunk_matrix[0] != self.version:
            ids = list(dict.fromkeys(c.id for c in self.all_chunks()))
            rows: dict[str, np.ndarray] = {}
            for b in range(0, len(ids), 5000):
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
            got = self.sentence_col.get(ids=missing, include=["embeddings"])
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
        for doc in documents:
            old_doc = self._docs.get(doc.id)
            self._docs[doc.id] = doc
            self._spans.pop(doc.id, None)
            try:
                spans = self.spans(doc.id)
                pairs = ((self.chunk_col, spans.chunks), (self.sentence_col, spans.sentences))
                stale = [self._upsert(col, doc.id, wanted, report, progress) for col, wanted in pairs]
                # Delete only once every new vector is in: an interrupted update never loses data.
                for (col, _), ids in zip(pairs, stale, strict=True):
                    if ids:
                        col.delete(ids=ids)
                        report.removed += len(ids)
            except Exception:
                # Leave the registry as it was: the stored vectors of the old version still match it.
                if old_doc is None:
                    self._docs.pop(doc.id, None)
                else:
                    self._docs[doc.id] = old_doc
                self._spans.pop(doc.id, None)
                raise
        self._write_registry()
        self.version += 1
        return report

    def _upsert(self, col, doc_id: str, wanted: list[Span], report: IngestReport, progress: bool) -> list[str]:
        """Embed and store the spans not stored yet; return the ids that are now stale."""
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
            col.upsert(
                ids=[s.id for s in batch],
                embeddings=[list(v) for v in vectors],
                documents=[s.text for s in batch],
                metadatas=[{"doc_id": s.doc_id, "start": s.start, "end": s.end} for s in batch],
            )
            report.embedded += len(batch)
        return sorted(existing - {s.id for s in wanted})

    def remove(self, doc_id: str) -> None:
        """Forget one document and its vectors."""
        if doc_id not in self._docs:
            raise IndexStoreError(f"no document {doc_id!r} in the index; see `assistant docs`")
        for col in (self.chunk_col, self.sentence_col):
            col.delete(where={"doc_id": doc_id})
        del self._docs[doc_id]
        self._spans.pop(doc_id, None)
        self._write_registry()
        self.version += 1

    def clear(self) -> None:
        """Drop every vector and document (used by `ingest --rebuild`)."""
        for col in (self.chunk_col, self.sentence_col):
            self.client.delete_collection(col.name)
        self._docs.clear()
        self._spans.clear()
        self._sentence_vectors.clear()
        self.chunk_col, self.sentence_col = self._collections()
        self._write_registry()
        self.version += 1

    def counts(self) -> dict[str, int]:
        """Stored vectors per collection."""
        return {"chunks": self.chunk_col.count(), "sentences": self.sentence_col.count()}
