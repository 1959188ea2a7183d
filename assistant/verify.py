"""Sentence-level verification of a model's answer against the passages it cites.

A model's draft is cut into sentences as it streams (`split_draft`), each with the source numbers
its markers name: `[2]`, `[1, 3]`, `[2-4]`, `[1][2]`. `Verifier.check` then judges one sentence:

- it picks the sentences of the cited passages that back it best (its names, figures and
  content words covered, then the embedding similarity with the vectors the index holds),
  which narrows each citation to exact sentence spans;
- every figure and every capitalised name of the sentence must occur in those spans (an
  invented number or name is the likeliest harm: "The CEO of OpenAI is Elon Musk.");
- most of its content words must occur there too, or fewer of them with a close embedding.

A sentence that cites nothing, or cites a passage that does not back it, is tried against every
passage before it is dropped, so a small model that cannot number its sources still gets credit
for what the passages say.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .chunking import Span
from .markers import DRAFT_MARKER_RUN, draft_cited, remove_draft
from .text import stopword_set, tokenize

# A stop followed by a run of markers in the draft grammar (markers.py): "… TPUs. [1]".
_AFTER_STOP = re.compile(rf"([.!?])({DRAFT_MARKER_RUN.pattern})")
# A sentence ends at . ! or ? before a space, unless a citation marker follows (it belongs to it).
_BOUNDARY = re.compile(r"(?<=[.!?])\s+(?=[^\s\[])")
_LIST_NUMBER = re.compile(r"\s*\d{1,2}[.)]")
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")
# Attribution openers models add ("According to the article, …"): not claims of their own.
_ATTRIBUTION = re.compile(r"^(?:according to|as stated in|based on) (?:the )?(?:article|text|sources?|passages?)"
                          r"(?:\s*\[[^\]]*\])?,?\s*", re.IGNORECASE)
_FIGURE = re.compile(r"\b\w*\d[\w.,]*\w|\b\d\b")
_CAPITAL = re.compile(r"\b[A-Z][\w'-]*")


@dataclass(frozen=True)
class Drafted:
    """One sentence of a model's draft: its text without markers, and the sources it cites."""

    text: str
    cited: tuple[int, ...]


def _drafted(piece: str) -> Drafted | None:
    numbers = draft_cited(piece)
    body = remove_draft(piece)
    body = _BULLET.sub("", body.replace("**", "").replace("__", "")).strip(" #\t")
    body = re.sub(r"\s+([.!?,;:])", r"\1", " ".join(body.split()))
    return Drafted(body, tuple(dict.fromkeys(numbers))) if any(ch.isalnum() for ch in body) else None


def split_draft(buffer: str, final: bool = False) -> tuple[list[Drafted], str]:
    """The finished sentences of a streamed draft, and the unfinished rest to keep reading.

    With final=True the rest is a sentence too. A sentence ends at . ! ? (markers right after it
    are moved before it: "… TPUs. [1]" cites like "… TPUs [1].") or at a line break.
    """
    lines = buffer.split("\n")
    tail = "" if final else lines.pop()
    pieces: list[str] = []
    for line in lines:
        pieces += _split_line(line)
    rest = ""
    if tail:
        parts = _split_line(tail)
        pieces += parts[:-1]
        rest = parts[-1]
    return [d for d in map(_drafted, pieces) if d], rest


def _split_line(line: str) -> list[str]:
    parts = _BOUNDARY.split(_AFTER_STOP.sub(r"\2\1", line))
    # "1. The first point": a list number is not a sentence of its own.
    merged: list[str] = []
    for part in parts:
        lead = re.search(r":\s*(\d{1,2}[.)])$", merged[-1]) if merged else None
        if lead:  # "The points are: 1." then "TPUs are fast."
            merged[-1] = merged[-1][: lead.start(1)].rstrip()
            part = f"{lead.group(1)} {part}"
        if merged and _LIST_NUMBER.fullmatch(merged[-1]):
            merged[-1] = f"{merged[-1]} {part}"
        else:
            merged.append(part)
    return merged


def _folded(text: str) -> str:
    return text.replace("’", "'").replace("‘", "'")


def figures(text: str) -> set[str]:
    """Numbers and codes in a text: 2024, v5e, 3.5, 1,000."""
    return {f.rstrip(".,") for f in _FIGURE.findall(text)}


def names(text: str) -> set[str]:
    """Capitalised words that are not stop words: Google, TPUs, OpenAI, Elon (not "Google's").

    A sentence's first word followed by a comma ("Furthermore, …", "However, …") is an opener,
    not a name.
    """
    stop = stopword_set()
    text = _folded(text).strip()
    opener = re.match(r"[A-Z][\w-]*,", text)
    out = set()
    for m in _CAPITAL.finditer(text):
        if opener and m.start() == 0:
            continue
        word = re.sub(r"'s$", "", m.group(0)).strip("'")
        if word and word.lower() not in stop:
            out.add(word)
    return out


def _occurs(word: str, text_lower: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(word.lower())}(?!\w)", text_lower) is not None


def claim_of(sentence: str) -> str:
    """A sentence as the verifier judges it: no [n] markers, no "According to the article," opener."""
    return _ATTRIBUTION.sub("", " ".join(remove_draft(sentence).split()))


def unbacked(claim: str, text: str) -> list[str]:
    """The figures and names of a claim that occur nowhere in text (the verifier's string test,
    without its demand that they occur together)."""
    low = _folded(text).lower()
    return sorted(k for k in figures(claim) | names(claim) if not _occurs(k, low))


@dataclass(frozen=True)
class Source:
    """A numbered passage the model was given: an exact span of one document."""

    n: int
    doc_id: str
    start: int
    end: int
    text: str


@dataclass
class Verdict:
    """How well the spans chosen for one sentence back it."""

    supported: bool
    spans: list[Span]
    overlap: float
    similarity: float | None
    reason: str = ""  # for people; `code` is for counting (answer.DROP_CODES)
    sources: tuple[int, ...] = ()  # the source numbers the spans came from
    missing: list[str] = field(default_factory=list)
    code: str = ""


class Verifier:
    """Judges model sentences against the passages' sentences (the spans and vectors an index holds)."""

    def __init__(self, index, embeddings, min_overlap: float = 0.6, paraphrase_overlap: float = 0.3,
                 min_similarity: float = 0.6, max_spans: int = 3) -> None:
        self.index = index
        self.embeddings = embeddings
        self.min_overlap = min_overlap  # content words found, alone enough
        self.paraphrase_overlap = paraphrase_overlap  # ... or this many with a close embedding
        self.min_similarity = min_similarity
        self.max_spans = max_spans

    def sentence_spans(self, source: Source) -> list[Span]:
        """The index's sentence spans inside a source (the source itself when none is)."""
        try:
            spans = self.index.spans(source.doc_id).sentences
        except KeyError:
            spans = []
        inside = [s for s in spans if s.start < source.end and s.end > source.start]
        return inside or [Span(source.doc_id, source.start, source.end, source.text)]

    def check(self, sentence: str, sources: Sequence[Source], cited: Sequence[int] = ()) -> Verdict:
        """The verdict on one sentence: against the sources it cites, else against all of them."""
        by_n = {s.n: s for s in sources}
        claim = _ATTRIBUTION.sub("", sentence)
        vector = self._embed(claim)
        first = None
        wanted = [n for n in cited if n in by_n]
        if wanted:
            first = self._judge(claim, vector, [by_n[n] for n in wanted])
            if first.supported:
                return first
        verdict = self._judge(claim, vector, list(sources))
        if verdict.supported:
            return verdict
        if first is not None:
            return first
        if cited and not wanted:
            verdict.reason = f"cites {', '.join(f'[{n}]' for n in cited)}, which it was never given; " + verdict.reason
        return verdict

    def _embed(self, text: str) -> np.ndarray | None:
        try:
            v = np.asarray(self.embeddings.embed_query(text), dtype=np.float32)
        except Exception:  # noqa: BLE001 - similarity is one signal of three; the others still judge
            return None
        norm = float(np.linalg.norm(v))
        return v / norm if norm else None

    def _judge(self, claim: str, vector: np.ndarray | None, sources: list[Source]) -> Verdict:
        words = set(tokenize([claim])[0])
        keys = {k.lower() for k in figures(claim) | names(claim)}
        cands = [(src.n, span) for src in sources for span in self.sentence_spans(src)]
        if not cands:
            return Verdict(False, [], 0.0, None, "no passage to check it against", code="no_passage")
        sims = self._similarities(vector, [span for _, span in cands])
        lows = [_folded(span.text).lower() for _, span in cands]
        got_words = [words & set(tokenize([span.text])[0]) for _, span in cands]
        # The names and figures must occur together: in one sentence, or in two sentences that
        # follow each other ("GCP" in one place and "general-purpose" in another back nothing).
        windows = [[i] for i in range(len(cands))] + [
            [i, i + 1] for i in range(len(cands) - 1) if self._adjacent(cands[i][1], cands[i + 1][1])]
        together = [w for w in windows if all(any(_occurs(k, lows[i]) for i in w) for k in keys)]
        sources_all = tuple(dict.fromkeys(n for n, _ in cands))
        if not together:
            anywhere = " ".join(lows)
            missing = sorted(k for k in figures(claim) | names(claim) if not _occurs(k.lower(), _folded(anywhere)))
            best = max(range(len(cands)), key=lambda i: (len(got_words[i]), sims[i] or 0.0))
            overlap = len(got_words[best]) / len(words) if words else 0.0
            if missing:
                what = ", ".join(f"“{m}”" for m in missing)
                return Verdict(False, [cands[best][1]], overlap, sims[best], f"{what} not in the cited passages",
                               sources_all, missing, code="not_in_passages")
            return Verdict(False, [cands[best][1]], overlap, sims[best],
                           "its names and figures never occur together in one passage sentence", sources_all,
                           code="not_together")
        # The window that carries most of its words (then the closest embedding) comes first;
        # sentences that add words it lacks follow.
        def words_of(w: list[int]) -> set[str]:
            return set().union(*(got_words[i] for i in w))

        chosen = list(max(together, key=lambda w: (len(words_of(w)), max((sims[i] or 0.0) for i in w), -len(w))))
        have = words_of(chosen)
        while len(chosen) < self.max_spans:
            # A sentence that adds a single stray word ("making") is no support for the claim.
            gains = [(len(got_words[i] - have), sims[i] or 0.0, -i) for i in range(len(cands))
                     if i not in chosen and (len(got_words[i] - have) >= 2
                                             or (got_words[i] - have and (sims[i] or 0.0) >= self.min_similarity))]
            if not gains:
                break
            best = -max(gains)[2]
            chosen.append(best)
            have |= got_words[best]
        chosen.sort(key=lambda i: (cands[i][1].doc_id, cands[i][1].start))
        spans = [cands[i][1] for i in chosen]
        overlap = len(have) / len(words) if words else 0.0
        known = [sims[i] for i in chosen if sims[i] is not None]
        similarity = max(known) if known else None
        used = tuple(dict.fromkeys(cands[i][0] for i in chosen))
        if not words:
            return Verdict(False, spans, 0.0, similarity, "no content words", used, code="no_content_words")
        if overlap >= self.min_overlap or (
            overlap >= self.paraphrase_overlap and similarity is not None and similarity >= self.min_similarity
        ):
            return Verdict(True, spans, overlap, similarity, "", used)
        sim = f", similarity {similarity:.2f}" if similarity is not None else ""
        return Verdict(False, spans, overlap, similarity,
                       f"only {overlap:.0%} of its words are in the passages{sim}", used, code="few_words")

    @staticmethod
    def _adjacent(a: Span, b: Span) -> bool:
        return a.doc_id == b.doc_id and 0 <= b.start - a.end <= 3

    def _similarities(self, vector: np.ndarray | None, spans: list[Span]) -> list[float | None]:
        if vector is None:
            return [None] * len(spans)
        try:
            stored = self.index.sentence_vectors(spans)
        except Exception:  # noqa: BLE001 - a span that is not a stored sentence has no vector
            stored = {}
        out: list[float | None] = []
        for span in spans:
            v = stored.get(span.id)
            if v is None or v.shape != vector.shape:
                out.append(None)
                continue
            norm = float(np.linalg.norm(v))
            out.append(float(v @ vector / norm) if norm else None)
        return out
