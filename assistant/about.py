"""Questions about the document itself, not what it reports: who wrote it, when it came out,
which outlet published it and where to read it (naming.document_field "author", "date", "meta").

No sentence of an article says "my author is…", so ranking its sentences can only quote the
wrong one. The answer comes from `Document.metadata` (a sidecar .json, or what trafilatura read
from the HTML) and `Document.source`, and cites the source line ("Source: https://…"), the one
span of the text that says where the article is from. What the metadata lacks is said plainly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .answer import Answer, make_citation
from .chunking import Passage, Span
from .documents import Block, Document
from .markers import remove as remove_markers

if TYPE_CHECKING:
    from .question import Question

FIELDS = ("author", "date", "meta")  # the document_field kinds answered here


def about_document(question: Question, passages: list[Passage], docs: list[Document],
                   answerer: str = "extractive") -> Answer | None:
    """The answer to a question about the best document's author, date, outlet or link; None when
    the question asks none of these or nothing was retrieved."""
    field = question.document_field
    by_id = {d.id: d for d in docs}
    if field not in FIELDS or not passages or passages[0].doc_id not in by_id:
        return None
    doc = by_id[passages[0].doc_id]
    # One document is "the article"; among several, the one answering is named by its title.
    subject = f"“{doc.title}”" if len(docs) > 1 and doc.title else "The article"
    facts = metadata(doc)
    line = source_line(doc)
    said = statement(field, subject, facts, link_shown=line is not None)
    known = bool(facts["outlet"] or facts["link"]) if field == "meta" else bool(facts[field])

    def answered(text: str, block: Block | None) -> Answer:
        citations = [] if block is None else [
            make_citation(1, doc, Span(doc.id, block.start, block.end, doc.text[block.start : block.end]), 1.0)]
        return Answer(text, not citations, citations, question.answer_query, question.text,
                      passages=passages, answerer=answerer)

    if line is not None:
        # The line is shown as written: it is what [1] cites, and a link must stay clickable
        # (as_sentence would end it with a period).
        shown = " ".join(remove_markers(doc.text[line.start : line.end]).split())
        return answered(f"{said} {shown} [1]".lstrip(), line)
    title = next((b for b in doc.blocks if b.kind == "title"), None)
    if known and title is not None:
        # No source line: the title is the span that names the document the metadata describes.
        return answered(f"{said} [1]", title)
    # Nothing in the text to cite: said without a citation, like a refusal.
    return answered(said, None)


def metadata(doc: Document) -> dict[str, str]:
    """The author, date, outlet and link a document's metadata gives ('' for each it lacks)."""
    meta = doc.metadata
    # A file's own path (file://…, load_file's fallback) is not a link to the article.
    link = doc.source if doc.source.startswith(("http://", "https://")) else _text(meta.get("url"))
    return {"author": _text(meta.get("author")), "date": _text(meta.get("date")),
            "outlet": _text(meta.get("outlet") or meta.get("sitename")), "link": link}


def source_line(doc: Document) -> Block | None:
    """The document's source line ("Source: https://…"), the last when it has several."""
    lines = doc.field_blocks("meta")
    return lines[-1] if lines else None


def statement(field: str, subject: str, facts: dict[str, str], link_shown: bool) -> str:
    """What the metadata says about a field, or that it does not say; '' when the source line
    shown after it says it all (a link question without an outlet)."""
    if field == "author":
        return f"{subject} was written by {facts['author']}." if facts["author"] else \
            f"{subject} does not name its author."
    if field == "date":
        return f"{subject} was published on {facts['date']}." if facts["date"] else \
            f"{subject} does not give its publication date."
    outlet, link = facts["outlet"], "" if link_shown else facts["link"]
    if outlet and link:
        return f"{subject} was published by {outlet}, at {link}"
    if outlet:
        return f"{subject} was published by {outlet}."
    if link:
        return f"{subject} is at {link}"
    return "" if link_shown else f"{subject} names neither its outlet nor a link to it."


def _text(value: Any) -> str:
    """A metadata value as text: a list of authors joined, anything missing as ''."""
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v).strip() for v in value if str(v).strip())
    return str(value).strip() if value else ""
