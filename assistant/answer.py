"""The contract every answerer meets: `Answer` and its `Citation`s, the text conventions they
share (a quote as a sentence, `[n]` markers, the refusal), and `check_citations`, which every
answerer's output must pass.

`Answerer` is what every answerer offers the chain, the API and the UI; `AnswererBase` gives the
defaults an answerer that needs no model takes. The answerers themselves: `extractive.py` (the
offline default), `generative.py` (opt-in).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .chunking import Passage, Span
from .documents import Document
from .markers import numbers as marker_numbers
from .markers import remove as remove_markers

if TYPE_CHECKING:
    from .question import Question


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


# Why a model's sentence was dropped: `DroppedSentence.code`, counted by the eval; the reason
# beside it is for people and may be reworded freely.
DROP_CODES = {
    "repeat": "repeat",
    "not_in_passages": "figure or name not in the passages",
    "not_together": "figures and names not together in one passage sentence",
    "few_words": "too few of its words in the passages",
    "no_content_words": "no content words",
    "no_passage": "no passage to check it against",
}


@dataclass(frozen=True)
class DroppedSentence:
    """A sentence the model wrote that the cited passages do not back: never shown as an answer."""

    text: str
    reason: str  # for people: what was missing
    cited: tuple[int, ...] = ()
    code: str = ""  # one of DROP_CODES


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
    # A streamed chunk (`chain.stream`): the text so far, no citations yet; the last chunk is whole.
    partial: bool = False

    def __add__(self, later: Answer) -> Answer:
        """Streamed chunks add up as LangChain's do; each holds the whole text so far, so the later stands."""
        return later

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


@runtime_checkable
class Answerer(Protocol):
    """What every answerer offers: the chain calls these, and nothing else."""

    name: str

    def answer(self, question: Question, passages: list[Passage], docs: list[Document]) -> Answer:
        """The whole answer, cited, or a refusal."""
        ...

    def stream(self, question: Question, passages: list[Passage], docs: list[Document]
               ) -> Iterator[str | Answer]:
        """Each shown sentence as soon as it is ready, then the Answer."""
        ...

    def rewrite_query(self, question: Question, history: Sequence[tuple[str, str]]) -> str | None:
        """A follow-up as a standalone query, or None to keep the deterministic rewrite."""
        ...

    def warm_up(self, docs: list[Document]) -> None:
        """Load what the first answer would otherwise wait for."""
        ...

    @property
    def offline(self) -> Answerer:
        """The answerer behind it that calls no model (itself when it calls none)."""
        ...


class AnswererBase:
    """Defaults for an answerer that calls no model: subclass and write `answer`."""

    name = "answerer"

    def answer(self, question: Question, passages: list[Passage], docs: list[Document]) -> Answer:
        raise NotImplementedError

    def stream(self, question: Question, passages: list[Passage], docs: list[Document]
               ) -> Iterator[str | Answer]:
        """The whole answer at once: nothing is ready before it."""
        yield self.answer(question, passages, docs)

    def rewrite_query(self, question: Question, history: Sequence[tuple[str, str]]) -> str | None:
        """No model to write a query: the deterministic rewrite stands."""
        return None

    def warm_up(self, docs: list[Document]) -> None:
        """Nothing to load."""

    @property
    def offline(self) -> Answerer:
        return self


def as_sentence(quote: str) -> str:
    """A quote as a sentence of an answer: one line, ending in punctuation, no stray [n]."""
    # Headings and bullet labels read as fragments; a final period makes the answer read cleanly.
    # A quoted footnote marker ("[7]") would read as one of our citations: drop it from the text.
    q = " ".join(remove_markers(quote).split())
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
    markers = set(marker_numbers(answer.text))
    if markers - set(numbers):
        problems.append(f"markers without citations: {sorted(markers - set(numbers))}")
    if set(numbers) - markers:
        problems.append(f"citations never marked in the text: {sorted(set(numbers) - markers)}")
    if answer.abstained and answer.citations:
        problems.append("an abstention carries citations")
    if not answer.abstained and not answer.citations:
        problems.append("an answer without a single citation")
    return problems
