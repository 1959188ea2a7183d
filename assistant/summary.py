"""The extractive summary that answers an overview question ("What's this piece about?", "TL;DR",
read in question.py): a document's most central sentences, by the centroid of its sentence vectors,
favouring the lead and the sentences that name its main actors (its most frequent proper names).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from .chunking import Span
from .documents import Document
from .lexicon import CONNECTIVES, PRONOUNS, SUMMARY_LEANS
from .text import stopword_set

# A sentence too short to stand alone in a summary: a list label, a heading-like fragment.
MIN_WORDS = 6


def summary_candidates(doc: Document, sentences: Sequence[Span]) -> list[Span]:
    """The sentences a summary may quote: body text (paragraphs and list items), not the title,
    headings or source line, nor a fragment too short to say anything (a list label alone), nor a
    lead-in that only announces a list ("…several key advantages:")."""
    out = []
    for s in sentences:
        block = doc.block_at(s.start)
        if block is None or block.kind not in ("paragraph", "item"):
            continue
        if len(re.findall(r"\w+", s.text)) < MIN_WORDS or s.text.rstrip().endswith(":"):
            continue
        out.append(s)
    return out


def _unit(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=-1, keepdims=True)
    return rows / np.where(norms == 0, 1.0, norms)


def centrality(vectors: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """Each vector's cosine to the mean of all of them (the document's centroid)."""
    rows = _unit(np.asarray(vectors, dtype=np.float32))
    if len(rows) == 0:
        return np.zeros(0, dtype=np.float32)
    return rows @ _unit(rows.mean(axis=0))


# A sentence that opens by leaning on the one before ("Furthermore, it underscores…", "They
# are…") reads as a non sequitur once quoted apart from it.
# The leaning words are lexicon.PRONOUNS plus SUMMARY_LEANS, after an optional connective.
_LEANING_WORDS = PRONOUNS + SUMMARY_LEANS
_LEANS = re.compile(rf"^\W*(?:(?:{'|'.join(CONNECTIVES)})\b\W*)?"
                    rf"(?:{'|'.join(_LEANING_WORDS)})\b", re.I)


# -- the main actors ---------------------------------------------------------------------------

MAIN_NAMES = 5  # how many of a document's names count as its main actors
_WORD = re.compile(r"[\w’'-]*\w")


def _capitalised(text: str) -> list[str]:
    """The capitalised words of a text ("OpenAI", "TPUs", "Google’s" as "Google")."""
    words = (re.sub(r"[’']s$", "", m.group()) for m in _WORD.finditer(text))
    return [w for w in words if w[:1].isupper()]


def main_names(doc: Document, sentences: Sequence[Span], top: int = MAIN_NAMES) -> list[str]:
    """A document's main actors by name: its `top` most frequent proper names in its title and
    `sentences` (its body), most frequent first.

    A proper name is a word met at least twice, always capitalised: "The", "Battery" open
    sentences but are written in lower case elsewhere, and a Title Case word of the title the body
    writes in lower case ("Powering") is none either. So a name met once in the title and once in
    the lead, even opening it, is a main actor.
    """
    texts = [doc.title, *(s.text for s in sentences)]
    lower = {m.group() for t in texts for m in _WORD.finditer(t) if m.group()[:1].islower()}
    counts: dict[str, int] = {}
    for w in (w for t in texts for w in _capitalised(t)):
        if w.lower() not in lower and w.lower() not in stopword_set():
            counts[w] = counts.get(w, 0) + 1
    ranked = sorted((w for w, c in counts.items() if c >= 2), key=lambda w: -counts[w])  # stable: first met wins ties
    return ranked[:top]


def mentions(text: str, names: Sequence[str]) -> float:
    """The share of `names` a sentence mentions (0.0 when there are none)."""
    if not names:
        return 0.0
    found = set(_capitalised(text))
    return sum(n in found for n in names) / len(names)


def overview_prior(doc: Document, sentences: Sequence[Span], central: np.ndarray) -> np.ndarray:
    """What each of a document's body sentences gains in an overview besides its centrality
    (`central`, in document order): the share of the main actors it names, plus 1/(1+i) for the
    i-th sentence, both in units of the spread (standard deviation) of the centrality scores.

    An overview says who did what, and news says it first; the centroid alone favours the
    generalities every section echoes. Naming every main actor, or opening the document, is worth
    one standard deviation of centrality whatever the embedding model's cosine scale; the lead's
    weight halves by the second sentence, so it decides near ties without crowding out the rest.
    """
    names = main_names(doc, sentences)
    named = np.array([mentions(s.text, names) for s in sentences], dtype=np.float32)
    lead = 1.0 / (1.0 + np.arange(len(sentences), dtype=np.float32))
    return float(np.std(central)) * (named + lead) if len(sentences) else np.zeros(0, dtype=np.float32)


# -- the choice ----------------------------------------------------------------------------------


def central_sentences(sentences: Sequence[Span], vectors: Sequence[np.ndarray] | np.ndarray, n: int = 4,
                      redundancy: float = 0.3, leaning: float = 0.1, lead: float = 0.05,
                      duplicate: float = 0.9, prior: Sequence[float] | np.ndarray | None = None) -> list[Span]:
    """The n most central sentences (cosine to the centroid of all the sentence vectors), in
    document order.

    Picked greedily, MMR-style: each pick's centrality minus `redundancy` times its highest
    cosine to a sentence already picked, so a second sentence saying the same thing loses to one
    that adds something; one at `duplicate` cosine or closer to a pick is skipped while any other
    is left. Two small priors: a sentence leaning on the one before it (opening with
    "it", "they", "Furthermore, it…") loses `leaning`, and a sentence gains up to `lead` by how
    early it comes (news states its point first; the centroid alone favours the closing
    generalities every section echoes). `vectors[i]` belongs to `sentences[i]`, in document order.
    `prior[i]`, when given, is added to sentence i's score (summarize gives `overview_prior`,
    which holds a lead prior of its own, with `lead` off).
    """
    if len(sentences) != len(vectors):
        raise ValueError(f"one vector per sentence: {len(sentences)} sentences, {len(vectors)} vectors")
    if n < 1 or not len(sentences):
        return []
    rows = _unit(np.asarray(vectors, dtype=np.float32))
    early = 1.0 - np.arange(len(rows)) / max(len(rows) - 1, 1)
    base = centrality(rows) + lead * early - leaning * np.array([bool(_LEANS.match(s.text)) for s in sentences])
    if prior is not None:
        if len(prior) != len(sentences):
            raise ValueError(f"one prior per sentence: {len(sentences)} sentences, {len(prior)} priors")
        base = base + np.asarray(prior, dtype=np.float32)
    picked: list[int] = []
    closest = np.full(len(rows), -1.0, dtype=np.float32)  # each sentence's max cosine to a pick
    while len(picked) < min(n, len(rows)):
        score = base - redundancy * np.maximum(closest, 0.0)
        score[closest >= duplicate] -= 1e3  # a restatement: only when nothing else is left
        score[picked] = -np.inf
        best = int(np.argmax(score))
        picked.append(best)
        closest = np.maximum(closest, rows @ rows[best])
    return sorted((sentences[i] for i in picked), key=lambda s: (s.doc_id, s.start))


SENTENCES = 4  # an overview's length when the question does not say
MAX_SENTENCES = 10  # the most a question may ask for


def summarize(source, doc_id: str, n: int = SENTENCES) -> list[tuple[Span, float]]:
    """The central sentences of one indexed document with their centrality, in document order,
    favouring the lead and those naming its main actors (`overview_prior`).

    `source` is what the answerer reads the index through (its `spans` and `sentence_vectors`).
    """
    spans = source.spans(doc_id)
    body = summary_candidates(spans.doc, spans.sentences)
    found = source.sentence_vectors(body)
    cands = [s for s in body if s.id in found]
    if not cands:
        return []
    vectors = np.array([found[s.id] for s in cands])
    central = centrality(vectors)
    score = dict(zip((s.id for s in cands), central.tolist(), strict=True))
    # The overview prior holds the lead's weight: the linear `lead` would count it twice.
    prior = overview_prior(spans.doc, cands, central)
    picked = central_sentences(cands, vectors, min(n, MAX_SENTENCES), lead=0.0, prior=prior)
    return [(s, score[s.id]) for s in picked]
