"""Sentences and chunks as (start, end) character spans into the document text.

Invariant (property-tested): text[span.start:span.end] is exactly the sentence or chunk.
"""

from __future__ import annotations

import bisect
import hashlib
import re
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

from .documents import BULLET, Block, Document, find_blocks
from .documents import strip_span as _trimmed
from .lexicon import CONTEXT_LEANS, DEMONSTRATIVES, PRONOUNS


@dataclass(frozen=True)
class Span:
    """A slice of one document's text."""

    doc_id: str
    start: int
    end: int
    text: str
    context: str = ""  # what the sentence leans on (heading, lead-in, antecedent); embedded with it

    @property
    def id(self) -> str:
        """Content-derived id: same document, place, text and context -> same id."""
        key = f"{self.doc_id}\x00{self.start}\x00{self.end}\x00{self.text}\x00{self.context}"
        return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]

    @property
    def embed_text(self) -> str:
        """The text the encoder sees: the span, preceded by its context when it has one."""
        return f"{self.context}\n{self.text}" if self.context else self.text


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk: an exact span of one document, with its fused score."""

    doc_id: str
    start: int
    end: int
    text: str
    score: float
    dense_score: float | None = None  # cosine similarity, when the dense side found it
    bm25_score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return asdict(self)


@lru_cache(maxsize=1)
def _segmenter():
    import pysbd

    # clean=False keeps the text untouched so every sentence can be found verbatim.
    return pysbd.Segmenter(language="en", clean=False)


def sentence_spans_in(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence (start, end) offsets inside text[start:end], found with pysbd."""
    end = len(text) if end is None else end
    piece = text[start:end]
    if not piece.strip():
        return []
    out: list[tuple[int, int]] = []
    cursor = 0
    # pysbd ends a sentence at every newline; hard-wrapped prose must not split mid-sentence.
    # Replacing newlines with spaces keeps the length, so offsets still line up.
    flat = piece.replace("\n", " ")
    for sentence in _segmenter().segment(flat):
        s = sentence.strip()
        at = flat.find(s, cursor) if s else -1
        if at < 0:  # pysbd rewrote something: the rest becomes one span rather than lose text
            break
        if flat[cursor:at].strip():  # text pysbd skipped: keep it as its own span
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


# A sentence opening with one of these (lexicon.PRONOUNS, CONTEXT_LEANS, DEMONSTRATIVES) is
# embedded with the sentence before it. Changing this set changes every context, so every
# sentence id and vector.
_LEANS = re.compile(rf"^({'|'.join(PRONOUNS + CONTEXT_LEANS + DEMONSTRATIVES)})\b", re.I)


def sentences(doc: Document) -> list[Span]:
    """Every sentence of a document; sentences never cross block boundaries.

    Each sentence also carries a context for the encoder: its section heading, the lead-in
    of its list, or the previous sentence when it opens with a pronoun ("They are ...").
    """
    out: list[Span] = []
    heading = lead_in = ""
    for block in doc.blocks:
        if block.kind == "heading":
            heading, lead_in = doc.text[block.start : block.end], ""
        start = block.start
        if block.kind == "item":  # cite "TPUs can ...", not the "- " bullet in front of it
            marker = BULLET.match(doc.text, block.start, block.end)
            start = marker.end() if marker else start
        for s, e in sentence_spans_in(doc.text, start, block.end):
            text = doc.text[s:e]
            parts = [heading] if heading and block.kind != "heading" else []
            if block.kind == "item" and lead_in:
                parts.append(lead_in)
            elif _LEANS.match(text) and out and out[-1].text != heading:
                parts.append(out[-1].text)
            out.append(Span(doc.id, s, e, text, " ".join(parts)))
        if block.kind == "paragraph" and out and out[-1].text.rstrip().endswith(":"):
            lead_in = out[-1].text
        elif block.kind not in ("item",):
            lead_in = ""
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
        reach = 0
        placed: list[tuple[int, int]] = []
        for piece in splitter.create_documents([section]):
            local = _place(section, piece.page_content, reach)
            if local < 0:
                continue
            reach = local + len(piece.page_content)
            placed.append((local, reach))
        for local, local_end in sorted(placed):
            s, e = _trimmed(doc.text, sec_start + local, sec_start + local_end)
            if e > s:
                out.append(Span(doc.id, s, e, doc.text[s:e]))
    return out


def _place(section: str, content: str, reach: int) -> int:
    """Where a chunk sits: the copy of its text that carries coverage furthest past `reach`.

    The splitter's own start_index searches from inside the overlap, so a chunk whose text also
    occurs there ("the\nthe" in "the\nthe\nthe") lands on the earlier copy and leaves the real
    text in no chunk. Chunks follow one another with at most whitespace between them, so the
    candidates are the copies that start no later than `reach` (past whitespace) and end after it;
    taking the one that ends furthest never loses text a later chunk could have covered (a larger
    reach only lets later chunks skip). A piece already covered (the splitter re-emits one now and
    then) places nowhere (-1) and is dropped.
    """
    best = -1
    at = section.find(content, max(reach - len(content) + 1, 0))
    while at >= 0 and (at <= reach or not section[reach:at].strip()):
        best = at
        at = section.find(content, at + 1)
    return best


# -- document structure: lists and referents ---------------------------------------------

# "Superior Efficiency: They are engineered for…": a short run of words and a colon opening a
# list item names what the item is about.
_LABEL = re.compile(r"^\W*(?P<label>[^.!?:\n]{1,60}?)[\s*_]*:\s+\S")


def item_label(text: str, max_words: int = 6) -> str:
    """The label opening a list item ("Superior Efficiency"), or '' when it has none."""
    found = _LABEL.match(text)
    if not found or len(found.group("label").split()) > max_words:
        return ""
    return found.group("label")


@dataclass
class DocSpans:
    """A document with its chunk and sentence spans, computed once per process."""

    doc: Document
    chunks: list[Span]
    sentences: list[Span]


_PRONOUN_START = re.compile(rf"({'|'.join(PRONOUNS)})\b", re.I)  # a subject named elsewhere
_POINTS_BACK = re.compile(rf"\W*({'|'.join(PRONOUNS + DEMONSTRATIVES)})\b", re.I)  # ... or a demonstrative


def list_start(blocks: list[Block], i: int) -> int:
    """The first item of the list blocks[i] belongs to (i itself when it is not an item)."""
    while i > 0 and blocks[i].kind == "item" and blocks[i - 1].kind == "item":
        i -= 1
    return i


def list_run(blocks: list[Block], i: int) -> list[Block]:
    """The list items in a row from blocks[i] on ([] when blocks[i] is not an item)."""
    out = []
    while i < len(blocks) and blocks[i].kind == "item":
        out.append(blocks[i])
        i += 1
    return out


def list_after(doc: Document, span: Span) -> list[Block]:
    """The list items a sentence ending in a colon introduces ([] for any other sentence)."""
    if not span.text.rstrip().endswith(":"):
        return []
    block = doc.block_at(span.start)
    return list_run(doc.blocks, doc.blocks.index(block) + 1) if block is not None else []


def block_span(spans: DocSpans, block: Block) -> Span:
    """The sentences inside a block, as one span."""
    inside = [s for s in spans.sentences if block.start <= s.start and s.end <= block.end]
    start, end = inside[0].start, inside[-1].end
    return Span(spans.doc.id, start, end, spans.doc.text[start:end])


def referent(spans: DocSpans, span: Span) -> Span | None:
    """The sentence a pronoun-led sentence leans on: the one before it, or for a list item
    the lead-in before its list. None when the sentence names its own subject."""
    doc = spans.doc
    block = doc.block_at(span.start)
    item = block is not None and block.kind == "item"
    text = span.text.split(":", 1)[1] if item and item_label(span.text) else span.text
    if not _PRONOUN_START.match(text.lstrip(" *_")):
        return None
    # Sentences are in document order: look back from the sentence, or from the start of its list.
    limit = doc.blocks[list_start(doc.blocks, doc.blocks.index(block))].start if item else span.start
    end = bisect.bisect_right(spans.sentences, limit, key=lambda s: s.end)
    before = []
    for s in reversed(spans.sentences[:end]):
        b = doc.block_at(s.start)
        if b is None or b.kind not in ("heading", "title", "meta"):
            before.append(s)
            # "This specialization results in several key advantages:" leans on the sentence
            # before it in turn: the two read as one.
            if len(before) == 2 or not _POINTS_BACK.match(s.text):
                break
    if not before:
        return None
    first, last = before[-1], before[0]
    return Span(doc.id, first.start, last.end, doc.text[first.start:last.end]) if first is not last else last


__all__ = ["DocSpans", "Passage", "Span", "block_span", "chunks", "find_blocks", "list_after", "list_run",
           "list_start", "referent", "sentence_spans_in", "sentences", "sections"]
