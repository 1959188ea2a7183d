"""Chunk and sentence spans kept on disk beside the index.

Opening an index needs every document's spans (to check the stored vectors against them, then to
answer). Splitting 15 SQuAD articles into sentences took 2.5 s of a cold `assistant ask`; reading
the spans back takes milliseconds. A file is named by everything the spans depend on (the
document's id, title and text, the chunk settings, and the code and library versions that split
it), so a change to any of them misses the cache instead of reading stale spans.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from functools import cache
from importlib.metadata import version
from pathlib import Path

from .chunking import DocSpans, Span
from .documents import Document

# The modules whose code decides where spans fall (sentences, chunks, blocks, contexts).
_SPLITTING_CODE = ("chunking.py", "documents.py", "lexicon.py")


@cache
def code_version() -> str:
    """A hash of the splitting code and of the libraries it calls."""
    h = hashlib.sha256()
    here = Path(__file__).parent
    for name in _SPLITTING_CODE:
        h.update((here / name).read_bytes())
    for lib in ("pysbd", "langchain-text-splitters"):
        h.update(version(lib).encode())
    return h.hexdigest()[:16]


class SpanCache:
    """One JSON file of spans per version of a document, in `folder`."""

    def __init__(self, folder: Path, chunk_size: int, chunk_overlap: int) -> None:
        self.folder, self.chunk_size, self.chunk_overlap = folder, chunk_size, chunk_overlap

    def path(self, doc: Document) -> Path:
        """The file this document's spans live in."""
        key = json.dumps([doc.id, doc.title, doc.text, self.chunk_size, self.chunk_overlap, code_version()])
        return self.folder / f"{hashlib.sha256(key.encode('utf-8', 'surrogatepass')).hexdigest()[:32]}.json"

    def load(self, doc: Document) -> DocSpans | None:
        """The stored spans, or None when there are none (or they cannot be read)."""
        try:
            data = json.loads(self.path(doc).read_text(encoding="utf-8"))
            return DocSpans(doc, *([Span(doc.id, s, e, doc.text[s:e], ctx) for s, e, ctx in data[kind]]
                                   for kind in ("chunks", "sentences")))
        except (OSError, ValueError, KeyError, TypeError):
            return None  # missing or damaged: the caller splits the document again

    def save(self, spans: DocSpans) -> DocSpans:
        """Store the spans (best effort: a read-only disk only costs the next open a re-split)."""
        data = {kind: [[s.start, s.end, s.context] for s in getattr(spans, kind)] for kind in ("chunks", "sentences")}
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f)
            os.replace(tmp, self.path(spans.doc))  # atomic: a reader never sees half a file
        except OSError:
            pass
        return spans

    def keep_only(self, docs: list[Document]) -> None:
        """Delete the files of document versions no longer in the index."""
        wanted = {self.path(d).name for d in docs}
        for f in self.folder.glob("*.json") if self.folder.is_dir() else ():
            if f.name not in wanted:
                f.unlink(missing_ok=True)
