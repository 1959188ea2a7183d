"""The contract every answerer meets: `Answer` and its `Citation`s, the text conventions they
share (a quote as a sentence, `[n]` markers, the refusal), and `check_citations`, which every
answerer's output must pass.

The answerers themselves: `extractive.py` (the offline default), `generative.py` (opt-in).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from .chunking import Span
from .documents import Document
from .retrieval import Passage

# A citation marker in an answer's text: "[1]" refers to the Citation with n == 1.
_MARKER = re.compile(r"\[(\d+)\]")


@dataclass(frozen=True)
class Citation:
    """One `[n]` marker: an exact span of a document and where it sits in that document."""

    n: int
    doc_id: str
    start: int
    end: int
    quote: str  # always document.text[start:end]
    score: float
    title: str = ""
    source: str = ""
    outlet: str = ""
    paragraph: int | None = None  # "¶ n" counting paragraphs and list items
    section: str = ""  # the heading above the span

    def label(self) -> str:
        """Human-readable provenance: “Title”, outlet, ¶ n."""
        parts = [f"“{self.title}”" if self.title else self.doc_id]
        if self.outlet:
            parts.append(self.outlet)
        if self.paragraph:
            parts.append(f"¶ {self.paragraph}")
        return ", ".join(parts)


@dataclass(frozen=True)
class SentenceSupport:
    """One sentence of a model's answer and what backs it: the [n] it shows, how it was judged."""

    text: str  # as shown, markers included
    citations: tuple[int, ...]  # the Citation numbers it shows
    cited: tuple[int, ...]  # the source numbers the model wrote (before narrowing)
    overlap: float  # share of its content words in the cited spans
    similarity: float | None  # embedding cosine with the best cited span (None: no stored vector)


@dataclass(frozen=True)
class DroppedSentence:
    """A sentence the model wrote that the cited passages do not back: never shown as an answer."""

    text: str
    reason: str
    cited: tuple[int, ...] = ()


@dataclass
class Answer:
    """What `Assistant.ask` returns."""

    text: str
    abstained: bool
    citations: list[Citation]
    query: str  # the query actually retrieved (rewritten from history when needed)
    question: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    passages: list[Passage] = field(default_factory=list)
    answerer: str = "extractive"
    # A model's answer: each shown sentence with its support, the ones dropped as unsupported, and
    # a notice when the model failed or was not trusted and the extractive answer stands instead.
    sentences: list[SentenceSupport] = field(default_factory=list)
    dropped: list[DroppedSentence] = field(default_factory=list)
    notice: str = ""
    mode: str = ""  # "phrase" or "read" for a model's answer

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (`assistant ask --json`)."""
        return {
            "question": self.question, "query": self.query, "text": self.text,
            "abstained": self.abstained, "answerer": self.answerer,
            "citations": [asdict(c) for c in self.citations],
            "passages": [p.to_dict() for p in self.passages],
            "timings": dict(self.timings),
            "mode": self.mode, "notice": self.notice,
            "sentences": [asdict(x) for x in self.sentences],
            "dropped": [asdict(x) for x in self.dropped],
        }


def as_sentence(quote: str) -> str:
    """A quote as a sentence of an answer: one line, ending in punctuation, no stray [n]."""
    # Headings and bullet labels read as fragments; a final period makes the answer read cleanly.
    # A quoted footnote marker ("[7]") would read as one of our citations: drop it from the text.
    q = " ".join(_MARKER.sub("", quote).split())
    return q if q[-1:] in ".!?…\"”'’)" else q + "."


def abstention_text(question: str, n_docs: int, unknown: list[str] | None = None) -> str:
    """The plain refusal shown when the documents do not answer; it names what they never mention."""
    single = n_docs <= 1
    head = "The article does not say." if single else "The documents do not say."
    if unknown:
        never = ", ".join(f"“{n}”" for n in unknown)
        return f"{head} {'It never mentions' if single else 'They never mention'} {never}."
    q = " ".join(question.split())
    return f"{head} {'None of its passages answers' if single else 'None of their passages answer'} “{q}”."


def make_citation(n: int, doc: Document, span: Span, score: float) -> Citation:
    """A citation for a span, with its paragraph number and section heading."""
    block = doc.block_at(span.start)
    return Citation(
        n=n, doc_id=doc.id, start=span.start, end=span.end, quote=doc.text[span.start : span.end],
        score=round(score, 4), title=doc.title, source=doc.source,
        outlet=str(doc.metadata.get("outlet", "")),
        paragraph=block.number if block else None, section=doc.heading_before(span.start),
    )



def check_citations(answer: Answer, docs: list[Document]) -> list[str]:
    """Problems with an answer's citations ([] when every contract holds)."""
    problems = []
    by_id = {d.id: d for d in docs}
    numbers = [c.n for c in answer.citations]
    if numbers != list(range(1, len(numbers) + 1)):
        problems.append(f"citations are not numbered 1..n in order: {numbers}")
    for c in answer.citations:
        doc = by_id.get(c.doc_id)
        if doc is None:
            problems.append(f"[{c.n}] cites unknown document {c.doc_id!r}")
        elif not (0 <= c.start < c.end <= len(doc.text)) or doc.text[c.start : c.end] != c.quote:
            problems.append(f"[{c.n}] quote is not document.text[{c.start}:{c.end}]")
    markers = {int(m) for m in _MARKER.findall(answer.text)}
    if markers - set(numbers):
        problems.append(f"markers without citations: {sorted(markers - set(numbers))}")
    if set(numbers) - markers:
        problems.append(f"citations never marked in the text: {sorted(set(numbers) - markers)}")
    if answer.abstained and answer.citations:
        problems.append("an abstention carries citations")
    if not answer.abstained and not answer.citations:
        problems.append("an answer without a single citation")
    return problems
