"""Overview questions ("What's this piece about?", "TL;DR") and the extractive summary that
answers them: a document's most central sentences, by the centroid of its sentence vectors.

Usage:
    >>> asks_for_summary("Give me a two-sentence summary."), sentences_asked("Give me a two-sentence summary.")
    (True, 2)
    >>> asks_for_summary("What is the TPU about?")
    False
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from .chunking import Span
from .documents import Document

# The words that name the document itself rather than something it reports on.
DOC_WORDS = frozenset({"article", "articles", "piece", "story", "post", "text", "document", "report", "page",
                       "this", "it", "that"})

_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
            "nine": 9, "ten": 10, "single": 1, "couple": 2, "few": 3}
_NUM = r"\d{1,2}|" + "|".join(_NUMBERS)
_UNIT = r"sentences?|lines?|points?|bullets?|bullet points?|takeaways?|ideas?"

# Wording that asks for an overview. Each cue alone is not enough: "What is the TPU about?" and
# "Summarize the advantages of TPUs" name a topic inside the document (see asks_for_summary).
_CUE = re.compile(
    r"\bsummar(y|ies|i[sz]e[sd]?|i[sz]ing|i[sz]ation)\b|\bsums?\b.{0,25}\bup\b|\bsummed up\b|"
    r"\b(overview|gist|recap|rundown|synopsis|outline|abstract|tl\W{0,2}dr)\b|"
    r"\bin a nutshell\b|\bin (short|brief)\b|\bboil(s|ed)? (it |this )?down\b|"
    r"\b(main|key|major|central|core) (points?|takeaways?|ideas?|messages?|themes?|arguments?)\b|"
    r"\babout\W*$|"  # "What's it about?" (the question ends there)
    r"\b(tell|talk) (me |us )?about (the |this )?(article|piece|story|post|text|document|report|page)\b|"
    r"\bwhat does (the |this )?\w+ (cover|discuss|describe|say|tell( us| me)?)\W*$",
    re.I,
)

# Words an overview question may hold besides its cue and the document's name: question and
# function words, politeness, and how long the summary should be. Any other word is a topic.
_FILLER_WORDS = """
a an the of in on for to from with by at as about into up out is are was were be been being am do does did
done has have had can could would will should shall may might must please pls kindly just quick quickly
briefly brief short shortly simple simply very really basically mainly mostly overall general
generally whole entire all everything thing things stuff what whats which how who why where when s
me us you your i we my our give gives tell tells show get got let lets provide want need like love
so ok okay hey hi hello then now again and or but also too some any its this that these those there
here say says said talk talks talking discuss discusses cover covers describe describes explain explains
summary summaries summarize summarise summarized summarised summarizing summarising summarization
summarisation sum sums summed overview gist recap rundown synopsis outline abstract tl dr tldr nutshell
boil boils boiled down main key major central core point points takeaway takeaways idea ideas message
messages theme themes argument arguments sentence sentences line lines bullet bullets word words
paragraph form version few couple single one two three four five six seven eight nine ten
"""
_FILLER = frozenset(_FILLER_WORDS.split()) | DOC_WORDS


def asks_for_summary(question: str) -> bool:
    """Whether a question asks what the document as a whole says ("What's this piece about?",
    "Summarize it", "TL;DR", "key takeaways"), not about a topic inside it."""
    if not _CUE.search(question):
        return False
    words = re.findall(r"[a-z]+|\d+", question.lower().replace("’", "'"))
    # "What is the TPU about?", "Summarize the advantages of TPUs": a topic of its own is a
    # question about that topic, answered from the passages that discuss it.
    return all(w in _FILLER or w.isdigit() for w in words)


_COUNT = re.compile(rf"\b(?P<n>{_NUM})[\s-]+(?:\w+[\s-]+)?(?:{_UNIT})\b", re.I)


def sentences_asked(question: str) -> int | None:
    """How many sentences an overview question asks for ("two-sentence summary" -> 2), else None."""
    m = _COUNT.search(question)
    if not m:
        return None
    n = m.group("n").lower()
    return int(n) if n.isdigit() else _NUMBERS[n]


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
_LEANS = re.compile(r"^\W*(?:(?:furthermore|moreover|additionally|also|however|but|and|so|thus|"
                    r"therefore|still|yet|similarly|likewise|in addition|as a result)\b\W*)?"
                    r"(?:it|its|it's|it’s|they|them|their|he|she|his|her)\b", re.I)


def central_sentences(sentences: Sequence[Span], vectors: Sequence[np.ndarray] | np.ndarray, n: int = 4,
                      redundancy: float = 0.3, leaning: float = 0.1, lead: float = 0.05,
                      duplicate: float = 0.9) -> list[Span]:
    """The n most central sentences (cosine to the centroid of all the sentence vectors), in
    document order.

    Picked greedily, MMR-style: each pick's centrality minus `redundancy` times its highest
    cosine to a sentence already picked, so a second sentence saying the same thing loses to one
    that adds something; one at `duplicate` cosine or closer to a pick is skipped while any other
    is left. Two small priors: a sentence leaning on the one before it (opening with
    "it", "they", "Furthermore, it…") loses `leaning`, and a sentence gains up to `lead` by how
    early it comes (news states its point first; the centroid alone favours the closing
    generalities every section echoes). `vectors[i]` belongs to `sentences[i]`, in document order.
    """
    if len(sentences) != len(vectors):
        raise ValueError(f"one vector per sentence: {len(sentences)} sentences, {len(vectors)} vectors")
    if n < 1 or not len(sentences):
        return []
    rows = _unit(np.asarray(vectors, dtype=np.float32))
    early = 1.0 - np.arange(len(rows)) / max(len(rows) - 1, 1)
    base = centrality(rows) + lead * early - leaning * np.array([bool(_LEANS.match(s.text)) for s in sentences])
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
    """The central sentences of one indexed document with their centrality, in document order.

    `source` is what the answerer reads the index through (its `spans` and `sentence_vectors`).
    """
    spans = source.spans(doc_id)
    body = summary_candidates(spans.doc, spans.sentences)
    found = source.sentence_vectors(body)
    cands = [s for s in body if s.id in found]
    if not cands:
        return []
    vectors = np.array([found[s.id] for s in cands])
    score = dict(zip((s.id for s in cands), centrality(vectors).tolist(), strict=True))
    return [(s, score[s.id]) for s in central_sentences(cands, vectors, min(n, MAX_SENTENCES))]
