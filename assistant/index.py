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

One index is shared by the UI's sessions and by other processes (the CLI, another server).
Writers take one lock, threads of this process first, then a file lock on the index dir, and
re-read the registry under it, so no writer drops what another added. Readers (chats) never wait:
they see a document once all its vectors are stored, and keep the spans of one removed under them.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
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
from .span_cache import SpanCache

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no cross-process lock, the rest still works
    fcntl = None  # type: ignore[assignment]

_BATCH = 256
_CHECKPOINT_S = 10.0  # an ingest writes the registry at least this often (seconds)
_ID_PAGE = 10_000  # stored ids read per request when an index opens
log = logging.getLogger(__name__)
# Up to this many chunks, dense search is exact (a matrix product over the stored vectors)
# instead of Chroma's HNSW: HNSW builds differ from run to run, and 14 of 600 ClapNQ queries got
# another top 20 from two builds of the same vectors, which made the fit unreproducible. 20,000
# chunks of MiniLM vectors are 30 MB in memory.
EXACT_SEARCH_MAX = 20_000


def _ef_search(col) -> int | None:
    """The ef_search a collection searches with (None where the store does not say)."""
    return ((col.configuration or {}).get("hnsw") or {}).get("ef_search")


@dataclass
class IngestReport:
    """What one ingest changed."""

    documents: int = 0
    embedded: int = 0  # spans sent to the encoder
    reused: int = 0  # spans whose vectors were already stored
    removed: int = 0  # stale spans deleted (document changed or removed)
    doc_ids: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)  # files of a folder that could not be read
    outcomes: dict[str, str] = field(default_factory=dict)  # doc id -> "added", "updated", "unchanged"


# Called as an ingest goes: (document id, spans embedded so far, spans to embed in all).
Progress = Callable[[str, int, int], None]


def make_client(settings: Settings):
    """Chroma client: PersistentClient under the index dir, or HttpClient for a server URL."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=True)
    if settings.chroma_url:
        url = urlparse(settings.chroma_url)
        # chromadb's HTTP client waits forever (httpx timeout=None), already inside its
        # constructor: a server that accepts and never answers is caught here first, with a
        # deadline, and the client's own session gets one below.
        _heartbeat(settings)
        try:
            client = chromadb.HttpClient(
                host=url.hostname or "127.0.0.1", port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https", settings=chroma_settings,
            )
            _set_timeout(client, settings.chroma_timeout)
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


def _heartbeat(settings: Settings) -> None:
    """The server's heartbeat within settings.chroma_timeout, or an IndexStoreError saying which."""
    import httpx

    try:
        httpx.get(f"{settings.chroma_url.rstrip('/')}/api/v2/heartbeat",
                  timeout=settings.chroma_timeout).raise_for_status()
    except httpx.TimeoutException:
        raise IndexStoreError(_hung(settings, "checking its heartbeat")) from None
    except httpx.HTTPError as exc:
        raise IndexStoreError(
            f"cannot reach the Chroma server at {settings.chroma_url} ({exc.__class__.__name__}); "
            "start it with `chroma run --host 127.0.0.1 --port 8000` or unset ASSISTANT_CHROMA_URL"
        ) from None


def _set_timeout(client, seconds: float) -> None:
    """Give chromadb's HTTP session a deadline per request (it builds it with none)."""
    import httpx

    session = getattr(getattr(client, "_server", None), "_session", None)
    if not isinstance(session, httpx.Client):
        # Another chromadb layout: say so loudly rather than wait forever on a hung server.
        raise IndexStoreError("this chromadb version hides its HTTP session; the request timeout "
                              "(ASSISTANT_CHROMA_TIMEOUT) cannot be set: pin chromadb>=1.0,<2")
    session.timeout = httpx.Timeout(seconds)


def _hung(settings: Settings, doing: str) -> str:
    return (f"the Chroma server at {settings.chroma_url} did not answer within "
            f"{settings.chroma_timeout} s while {doing}; check that it is running and not "
            "overloaded (or raise ASSISTANT_CHROMA_TIMEOUT), then try again: the registry was not "
            "changed, and the assistant reconnects on its own")


@cache
def _store_errors() -> tuple[type[BaseException], ...]:
    """What a failing Chroma call raises (imported late: `import assistant` stays light)."""
    import httpx
    from chromadb.errors import ChromaError

    return ChromaError, httpx.HTTPError, OSError


def _is_timeout(exc: BaseException) -> bool:
    import httpx

    return isinstance(exc, httpx.TimeoutException | TimeoutError)


class Index:
    """Vectors for every chunk and sentence, plus the registry of ingested documents."""

    def __init__(self, settings: Settings, embeddings: Embeddings, client=None) -> None:
        self.settings = settings
        self.embeddings = embeddings
        self.registry_path = settings.index_dir / "documents.json"
        self.recovered: list[str] = []  # one line per repair made while opening (see module doc)
        # Readers (chat threads) never lock: `_docs` is replaced, never changed in place, so a
        # reader always sees one whole version of it. Writers hold `_write` (this process's
        # threads) and the file lock (other processes), in `_lock`.
        self._write = threading.RLock()
        self._depth = 0  # nesting of `_lock` in the thread holding `_write`
        self._seen: tuple[int, int, int] | None = None  # the registry file as last read or written
        self._changed = False  # whether the last registry reload found another process's changes
        self._added: dict[str, str] = {}  # doc id -> when its current text was first stored
        self._spans: dict[str, DocSpans] = {}
        self._span_files = SpanCache(settings.index_dir / "spans", settings.chunk_size, settings.chunk_overlap)
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
            if self.settings.chroma_url and _is_timeout(exc):
                raise IndexStoreError(_hung(self.settings, doing)) from None
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
        for attempt in range(3):
            try:
                return self._open_collections()
            except IndexStoreError as exc:
                # Two processes creating one new embedded store at once: the slower one finds the
                # tables the other just made ("table collections already exists"). Opening again
                # finds them whole.
                if attempt == 2 or not self._owns_client or self.settings.chroma_url or "already exists" not in str(exc):
                    raise
                forget_system(self.settings.index_dir / "chroma")
                self.client = None
                time.sleep(0.5)
        raise AssertionError("unreachable")

    def _open_collections(self):
        with self._store("opening the collections"):
            if self.client is None:
                self.client = make_client(self.settings)
            model = model_id(self.embeddings)
            names = (f"{self.settings.collection}-chunks", f"{self.settings.collection}-sentences")
            cols = []
            # Only the chunks are ever searched by HNSW, so only they carry the search width. The
            # space goes in the configuration too: a configuration without it means l2, whatever
            # the metadata says.
            chunk_config = {"hnsw": {"space": "cosine", "ef_search": self.settings.hnsw_ef_search}}
            for name, config in zip(names, (chunk_config, None), strict=True):
                metadata = {"hnsw:space": "cosine", "model": model}
                col = self.client.get_or_create_collection(name, metadata=metadata, configuration=config)
                if (col.metadata or {}).get("model") != model:
                    # Vectors from another model are meaningless here: start the collection over;
                    # the documents themselves stay in the registry and are re-embedded by resync().
                    self.client.delete_collection(name)
                    col = self.client.create_collection(name, metadata=metadata, configuration=config)
                elif config and _ef_search(col) != self.settings.hnsw_ef_search:
                    # An existing collection keeps the width it was made with; a process applies a
                    # changed one when it first loads the HNSW index, which is after this open.
                    col.modify(configuration={"hnsw": {"ef_search": self.settings.hnsw_ef_search}})
                cols.append(col)
        self._cols = tuple(cols)
        return self._cols

    def _open_store(self) -> None:
        """Connect, reconcile the vectors with the registry; move a corrupt embedded DB aside."""
        registered = self._registered_ids()  # hashed once: 810 k span ids at 100 k chunks take seconds
        try:
            stored = self._stored_doc_ids(registered)
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
            stored = self._stored_doc_ids(registered)
        self._reconcile(stored, registered)

    def _registered_ids(self) -> list[dict[str, str]]:
        """{span id: doc_id} of every registered document, for the chunks and the sentences collection."""
        out: list[dict[str, str]] = [{}, {}]
        for doc_id in self._docs:
            spans = self.spans(doc_id)
            for n, group in enumerate((spans.chunks, spans.sentences)):
                out[n].update((s.id, doc_id) for s in group)
        return out

    def _stored_doc_ids(self, registered: list[dict[str, str]]) -> list[dict[str, str | None]]:
        """{vector id: doc_id} per collection (ids and metadata only, no vectors)."""
        out = []
        for col, expected in zip(self._collections(), registered, strict=True):
            # A server's collection holds other registries' vectors too: only a scan finds ours.
            found = None if self.settings.chroma_url else self._expected_found(col, expected)
            out.append(found if found is not None else self._all_stored(col))
        return out

    def _expected_found(self, col, expected: dict[str, str]) -> dict[str, str | None] | None:
        """The registered spans' ids the collection holds, looked up by id; None when it holds others."""
        ids = list(expected)
        found: dict[str, str | None] = {}
        for b in range(0, len(ids), _ID_PAGE):
            with self._store("reading the stored ids"):
                found.update((i, expected[i]) for i in col.get(ids=ids[b : b + _ID_PAGE], include=[])["ids"])
        with self._store("counting the stored vectors"):
            total = col.count()
        # Ids are unique, so a count above what was found means vectors nobody registered (an
        # interrupted ingest's): only then is every id read (pages by offset: 20 s for 300 k
        # sentences, against 2 s by id), to find them.
        return found if total == len(found) else None

    def _all_stored(self, col) -> dict[str, str | None]:
        """Every id the collection holds, with its doc_id metadata."""
        have: dict[str, str | None] = {}
        # In pages: one get of everything fails past about 32 k rows ("too many SQL variables":
        # 30,000 read, 35,000 fail), so a big index could not be opened again.
        while True:
            with self._store("reading the stored ids"):
                got = col.get(include=["metadatas"], limit=_ID_PAGE, offset=len(have))
            have.update((i, (m or {}).get("doc_id")) for i, m in zip(got["ids"], got["metadatas"], strict=True))
            if len(got["ids"]) < _ID_PAGE:
                return have

    def _reconcile(self, stored: list[dict[str, str | None]], registered: list[dict[str, str]]) -> None:
        """Delete vectors the registry does not expect; remember documents that lack some."""
        shared = bool(self.settings.chroma_url)
        orphans: set[str] = set()
        n_orphan = n_stale = 0
        doomed: list[list[str]] = []
        for have, ours in zip(stored, registered, strict=True):
            expected: dict[str, set[str]] = {doc_id: set() for doc_id in self._docs}
            for vid, doc_id in ours.items():
                expected[doc_id].add(vid)
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
        self._span_files.keep_only(list(self._docs.values()))
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
        """Exclusive right to write: this process's other threads wait on a lock, other processes
        on a file lock on the index dir (the kernel drops it if we are killed). Re-entrant."""
        if not self._write.acquire(blocking=blocking):
            yield False
            return
        try:
            if self._depth or fcntl is None:
                self._depth += 1
                try:
                    yield True
                finally:
                    self._depth -= 1
                return
            self.settings.index_dir.mkdir(parents=True, exist_ok=True)
            with open(self.settings.index_dir / "index.lock", "a") as fh:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
                except BlockingIOError:
                    yield False
                    return
                self._depth = 1
                try:
                    # Another process may have written the registry since we read it: start from
                    # its version, or our write would drop what it added (the last one won).
                    self._reload_if_changed()
                    yield True
                finally:
                    self._depth = 0
                    fcntl.flock(fh, fcntl.LOCK_UN)
        finally:
            self._write.release()

    def refresh(self) -> bool:
        """Pick up documents another process added or removed since this one last looked;
        True when something changed. Never waits: during a write of ours it does nothing."""
        with self._lock(blocking=False) as locked:
            return bool(locked) and self._changed
        return False

    # -- registry ----------------------------------------------------------------------
    def _stamp(self) -> tuple[int, int, int] | None:
        try:
            st = self.registry_path.stat()
        except OSError:
            return None
        return st.st_ino, st.st_mtime_ns, st.st_size

    def _reload_if_changed(self) -> None:
        self._changed = False
        if self._stamp() == self._seen:
            return
        before = self._docs
        docs = self._read_registry()
        if docs.keys() != before.keys() or any(docs[i] != before[i] for i in docs):
            # Vectors of what another process added are already stored (it registers only
            # what it stored); ours must not be taken for orphans, nor its for missing.
            self._publish(docs)
            self._changed = True

    def _read_registry(self) -> dict[str, Document]:
        self._seen = self._stamp()
        if not self.registry_path.exists():
            return {}
        raw = self.registry_path.read_bytes()
        text = raw.decode("utf-8", errors="replace")
        try:
            data = json.loads(raw.decode("utf-8"))
            docs = {d["id"]: Document.from_dict(d) for d in data["documents"]}
            added = data.get("added") or {}
            self._added = {i: str(added[i]) for i in docs if isinstance(added, dict) and i in added}
            return docs
        except (ValueError, KeyError, TypeError, AttributeError, DocumentError) as exc:
            # ValueError covers JSONDecodeError and UnicodeDecodeError.
            problem = str(exc)[:120]
        docs = salvage(text)
        moved = move_aside(self.registry_path)
        self._docs, self._added = docs, {}
        self._write_registry()  # so the next open finds a sound registry, not the same damage
        kept = (f"kept the {len(docs)} document(s) still readable in it ({', '.join(list(docs)[:5])}"
                f"{', …' if len(docs) > 5 else ''})" if docs else "no document in it could be read")
        self.note(f"the registry {self.registry_path} was damaged ({problem}); moved it to {moved}; {kept}")
        return docs

    def _write_registry(self) -> None:
        self.registry_path.parent.mkdir(parents=True, exist_ok=True)
        # "added" sits beside the documents, not in their metadata: that stays what the user gave.
        payload = {"documents": [d.to_dict() for d in self._docs.values()],
                   "added": {i: self._added[i] for i in self._docs if i in self._added}}
        # Write then rename: a crash mid-write never leaves a half registry behind.
        fd, tmp = tempfile.mkstemp(dir=self.registry_path.parent, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, ensure_ascii=False)
        os.replace(tmp, self.registry_path)
        self._seen = self._stamp()

    def _publish(self, docs: dict[str, Document]) -> None:
        """Show readers a new set of documents: one assignment, then the version they key on."""
        self._docs = docs
        self.version += 1

    # -- reading -----------------------------------------------------------------------
    @property
    def documents(self) -> list[Document]:
        """Ingested documents, in ingest order."""
        return list(self._docs.values())

    def added(self, doc_id: str) -> str:
        """When this version of a document was first stored (ISO 8601; '' when not recorded)."""
        return self._added.get(doc_id, "")

    def spans(self, doc_id: str) -> DocSpans:
        """Chunks and sentences of one document (cached per version of the document); for a
        document removed while a reader still holds its chunks, the spans it had."""
        doc = self._docs.get(doc_id)
        if doc is None:
            return self._spans[doc_id]  # KeyError for a document this index never had
        return self._spans_of(doc)

    def _spans_of(self, doc: Document) -> DocSpans:
        cached = self._spans.get(doc.id)
        # Keyed by the Document object itself: a reader that computed an old version's spans
        # while a writer replaced the document cannot leave them behind as the new ones.
        if cached is None or cached.doc is not doc:
            cached = self._split(doc)
            self._spans[doc.id] = cached
        return cached

    def _split(self, doc: Document) -> DocSpans:
        """A document's spans: read back from the span files, else split and stored there."""
        return self._span_files.load(doc) or self._span_files.save(
            DocSpans(doc, chunks(doc, self.settings.chunk_size, self.settings.chunk_overlap), sentences(doc)))

    def all_chunks(self) -> list[Span]:
        """Every chunk of every document, in order."""
        docs = self._docs
        return [c for doc in docs.values() for c in self._spans_of(doc).chunks]

    def dense_chunks(self, query_vector: Sequence[float], k: int) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity) of the k nearest chunks, nearest first."""
        docs = self._docs
        n = sum(len(self._spans_of(doc).chunks) for doc in docs.values())
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
        matrix_of = self._chunk_matrix
        if matrix_of is None or matrix_of[0] != self.version:
            # The version is read before the documents: a write landing in between makes the
            # matrix look old (rebuilt next time), never a stale one look current.
            version = self.version
            ids = list(dict.fromkeys(c.id for c in self.all_chunks()))
            rows: dict[str, np.ndarray] = {}
            for b in range(0, len(ids), 5000):
                with self._store("reading the chunk vectors"):
                    got = self.chunk_col.get(ids=ids[b : b + 5000], include=["embeddings"])
                rows.update(zip(got["ids"], np.asarray(got["embeddings"], dtype=np.float32), strict=True))
            ids = [i for i in ids if i in rows]
            matrix = np.stack([rows[i] for i in ids]) if ids else np.zeros((0, 1), np.float32)
            matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
            matrix_of = self._chunk_matrix = (version, ids, matrix)
        _, ids, matrix = matrix_of
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
    def add(self, documents: Sequence[Document], progress: bool = False, *,
            on_progress: Progress | None = None, batch: int = 0, pace: float = 0.0) -> IngestReport:
        """Add or update documents; unchanged spans are not re-embedded, stale ones are removed.

        `on_progress(doc_id, embedded, total)` follows the embedding. For an ingest beside chats
        on the same encoder: `batch` spans go to it at once, and after each batch the ingest
        waits `pace` times as long as the batch took (the chats' turn at the encoder).
        """
        ids = [d.id for d in documents]
        dupes = {i for i in ids if ids.count(i) > 1}
        if dupes:
            raise IndexStoreError(f"duplicate document ids {sorted(dupes)}; give each document its own id")
        report = IngestReport(documents=len(documents), doc_ids=ids)
        stale: list[tuple[object, list[str]]] = []
        bar = None
        if progress:
            from tqdm import tqdm

            # disable=None: shown on a terminal only, so logs and pipes stay clean.
            bar = tqdm(total=len(documents), unit="doc", desc="ingesting", disable=None)
        began, n_chunks = time.perf_counter(), 0
        with self._lock():
            try:
                written = time.monotonic()
                for doc in documents:
                    stale += self._add_one(doc, report, progress, on_progress, batch or _BATCH, pace)
                    if time.monotonic() - written > _CHECKPOINT_S:
                        # A killed ingest (no finally runs) keeps what was registered here: the
                        # next open deletes the vectors of unregistered documents as orphans.
                        self._write_registry()
                        written = time.monotonic()
                    if bar is not None:
                        n_chunks += len(self._spans_of(doc).chunks)
                        bar.set_postfix(chunks_per_s=f"{n_chunks / max(time.perf_counter() - began, 1e-9):.0f}",
                                        embedded=report.embedded, refresh=False)
                        bar.update()
            finally:
                if bar is not None:
                    bar.close()
                # Register what is fully stored before deleting what it replaced: killed at any
                # point, the store holds extra vectors (deleted on the next open), never too few.
                self._write_registry()
            for col, ids in stale:
                with self._store("removing out-of-date vectors"):
                    col.delete(ids=ids)
                report.removed += len(ids)
        return report

    def _add_one(self, doc: Document, report: IngestReport, progress: bool,
                 on_progress: Progress | None, batch: int, pace: float) -> list[tuple[object, list[str]]]:
        """Store one document's vectors, then register it; return the (collection, ids) now stale.

        Readers see the new version only once all its vectors are stored: until then they keep
        answering from the old one (or without the document), never from half of it.
        """
        old = self._docs.get(doc.id)
        spans = self._split(doc)
        pairs = ((self.chunk_col, spans.chunks), (self.sentence_col, spans.sentences))
        total = len({s.id for s in spans.chunks}) + len({s.id for s in spans.sentences})
        done = [0]

        def step(n: int) -> None:
            done[0] += n
            if on_progress is not None:
                on_progress(doc.id, done[0], total)

        embedded = report.embedded
        stale = [(col, self._upsert(col, doc.id, wanted, report, progress, step, batch, pace))
                 for col, wanted in pairs]
        self._spans[doc.id] = spans
        if old is None or old.text != doc.text or doc.id not in self._added:
            self._added = {**self._added, doc.id: time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        self._publish({**self._docs, doc.id: doc})
        self._incomplete.discard(doc.id)
        same = old is not None and old == doc and old.metadata == doc.metadata
        unchanged = same and report.embedded == embedded and not any(ids for _, ids in stale)
        report.outcomes[doc.id] = "unchanged" if unchanged else "added" if old is None else "updated"
        return [(col, ids) for col, ids in stale if ids]

    def _upsert(self, col, doc_id: str, wanted: list[Span], report: IngestReport, progress: bool,
                step: Callable[[int], None], batch: int, pace: float = 0.0) -> list[str]:
        """Embed and store the spans not stored yet; return the ids that are now stale."""
        with self._store(f"reading the stored vectors of {doc_id!r}"):
            existing = set(col.get(where={"doc_id": doc_id}, include=[])["ids"])
        new = [s for s in {s.id: s for s in wanted}.values() if s.id not in existing]
        reused = existing & {s.id for s in wanted}
        report.reused += len(reused)
        step(len(reused))
        batches = range(0, len(new), batch)
        if progress and len(new) > batch:
            from tqdm import tqdm

            batches = tqdm(batches, desc=f"embedding {doc_id}", unit="batch", leave=False, disable=None)
        for b in batches:
            spans = new[b : b + batch]
            began = time.perf_counter()
            vectors = self.embeddings.embed_documents([s.embed_text for s in spans])
            if pace:
                # The encoder serves one caller at a time: without a pause the ingest would take
                # it back at once and every chat's question would wait behind the whole ingest.
                time.sleep(pace * (time.perf_counter() - began))
            with self._store(f"storing the vectors of {doc_id!r}"):
                col.upsert(
                    ids=[s.id for s in spans],
                    embeddings=[list(v) for v in vectors],
                    documents=[s.text for s in spans],
                    metadatas=[{"doc_id": s.doc_id, "start": s.start, "end": s.end} for s in spans],
                )
            report.embedded += len(spans)
            step(len(spans))
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

    def remove(self, doc_id: str) -> Document:
        """Forget one document and its vectors; returns what was removed."""
        with self._lock():
            doc = self._docs.get(doc_id)  # read under the lock: another process may have removed it
            if doc is None:
                raise IndexStoreError(f"no document {doc_id!r} in the index; see `assistant docs`")
            # Readers stop citing it at once; its vectors go next, and the registry last: killed
            # in between, the next open finds it registered and re-embeds it (nothing is half-gone).
            self._publish({i: d for i, d in self._docs.items() if i != doc_id})
            try:
                for col in (self.chunk_col, self.sentence_col):
                    with self._store(f"removing {doc_id!r}"):
                        col.delete(where={"doc_id": doc_id})
            except BaseException:
                self._publish({**self._docs, doc_id: doc})  # still registered: show it again
                raise
            # Its spans stay cached: a chat that looked it up just before still reads them.
            self._incomplete.discard(doc_id)
            self._write_registry()
        return doc

    def clear(self) -> None:
        """Drop every vector and document (used by `ingest --rebuild`)."""
        with self._lock():
            names = [col.name for col in self._collections()]
            with self._store("dropping the collections"):
                for name in names:
                    self.client.delete_collection(name)
            self._cols = None
            self._spans.clear()
            self._sentence_vectors.clear()
            self._incomplete.clear()
            self._publish({})
            self._collections()
            self._write_registry()

    def counts(self) -> dict[str, int]:
        """Stored vectors per collection."""
        chunk_col, sentence_col = self._collections()
        with self._store("counting vectors"):
            return {"chunks": chunk_col.count(), "sentences": sentence_col.count()}

