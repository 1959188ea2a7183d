"""Sentences and chunks as (start, end) character spans into the document text.

Invariant (property-tested): text[span.start:span.end] is exactly the sentence or chunk.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

from .documents import BULLET, Block, Document, find_blocks


@dataclass(frozen=True)
class Span:
    """A slice of one document's text."""

    doc_id: str
    start: int
    end: int
    text: str

    @property
    def id(self) -> str:
        """Content-derived id: same document, place and text -> same id."""
        key = f"{self.doc_id}\x00{self.start}\x00{self.end}\x00{self.text}"
        return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


@lru_cache(maxsize=1)
def _segmenter():
    import pysbd

    # clean=False keeps the text untouched so every sentence can be found verbatim.
    return pysbd.Segmenter(language="en", clean=False)


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def sentence_spans_in(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence (start, end) offsets inside text[start:end], found with pysbd."""
    end = len(text) if end is None else end
    piece = text[start:end]
    if not piece.strip():
        return []
    out: list[tuple[int, int]] = []
    cursor = 0
    for sentence in _segmenter().segment(piece):
        s = sentence.strip()
        at = piece.find(s, cursor) if s else -1
        if at < 0:  # pysbd rewrote something: the rest becomes one span rather than lose text
            break
        if piece[cursor:at].strip():  # text pysbd skipped: keep it as its own span
            out.append((cursor, at))
        out.append((at, at + len(s)))
        cursor = at + len(s)
    out.append((cursor, len(piece)))
    spans = []
    for s, e in out:
        s, e = _trimmed(piece, s, e)
        if e > s:
            spans.append((start + s, start + e))
    return spans


def sentences(doc: Document) -> list[Span]:
    """Every sentence of a document; sentences never cross block boundaries."""
    out = []
    for block in doc.blocks:
        start = block.start
        if block.kind == "item":  # cite "TPUs can ...", not the "- " bullet in front of it
            marker = BULLET.match(doc.text, block.start, block.end)
            start = marker.end() if marker else start
        out += [Span(doc.id, s, e, doc.text[s:e]) for s, e in sentence_spans_in(doc.text, start, block.end)]
    return out


def sections(blocks: list[Block]) -> list[tuple[int, int]]:
    """Runs of blocks from one heading to the next: chunks never cross a heading."""
    out: list[tuple[int, int]] = []
    for block in blocks:
        if not out or block.kind in ("title", "heading") or out[-1][2] in ("title",):
            out.append([block.start, block.end, block.kind])  # type: ignore[arg-type]
        else:
            out[-1][1] = block.end  # type: ignore[index]
    return [(s, e) for s, e, _ in out]


def chunks(doc: Document, chunk_size: int = 600, chunk_overlap: int = 100) -> list[Span]:
    """Chunks of about chunk_size characters, split at paragraph, line, then sentence ends."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        separators=["\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ", ""],
        keep_separator="end",
        add_start_index=True,
        strip_whitespace=True,
    )
    out: list[Span] = []
    for sec_start, sec_end in sections(doc.blocks) or [(0, len(doc.text))]:
        section = doc.text[sec_start:sec_end]
        for piece in splitter.create_documents([section]):
            local = piece.metadata["start_index"]
            if section[local : local + len(piece.page_content)] != piece.page_content:
                local = section.find(piece.page_content)  # defensive: the splitter lost its place
            s, e = _trimmed(doc.text, sec_start + local, sec_start + local + len(piece.page_content))
            if e > s:
                out.append(Span(doc.id, s, e, doc.text[s:e]))
    return out


__all__ = ["Span", "chunks", "find_blocks", "sentence_spans_in", "sentences", "sections"]
