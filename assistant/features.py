"""Sentence features for the extractive answerer: term coverage, answer types, novelty.

Pure functions over strings and term weights, so each is easy to test and reason about.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from functools import lru_cache

import numpy as np

# The kind of thing a question asks for, read from its wording (classic factoid-QA typing).
_TYPES = [
    ("number", re.compile(r"\b(how (many|much|long|big|large|often|far|fast|old)|what (percentage|number|amount|size)|"
                          r"what is the (value|cost|price|number)|how much (money|did|does|is|will))\b", re.I)),
    ("time", re.compile(r"\b(when|what (year|date|day|month|time)|which (year|date|month)|since when|how long ago)\b", re.I)),
    ("person", re.compile(r"\b(who|whom|whose)\b", re.I)),
    ("identifier", re.compile(r"\b(which|what) (\w+ )?(versions?|generations?|models?|editions?|releases?|"
                              r"series|chips?|numbers?)\b", re.I)),
    ("place", re.compile(r"\b(where|which (country|city|state|region|location)|what (country|city|state|location))\b", re.I)),
]
_NUMBER_WORDS = r"one|two|three|four|five|six|seven|eight|nine|ten|hundred|thousand|million|billion|trillion|dozen|half|twice"
_HAS = {
    "number": re.compile(rf"\b\d|\b({_NUMBER_WORDS})\b|%|\$|€|£", re.I),
    "time": re.compile(r"\b(1[0-9]{3}|20[0-9]{2})s?\b|\b(january|february|march|april|may|june|july|august|"
                       r"september|october|november|december|monday|tuesday|wednesday|thursday|friday|"
                       r"saturday|sunday|century|decade|years?|months?|weeks?|days?|ago|since|until|"
                       r"today|yesterday|recently|later|earlier|season|era|period)\b", re.I),
    # A capitalised word that does not start the sentence: a name, a company, a place.
    "person": re.compile(r"(?<=[\w,;:] )[A-Z][a-z]+|\b(he|she|his|her|founder|ceo|president|author|king|queen|"
                         r"actor|actress|singer|player|director|leader|chief)\b"),
    # A code-like token: letters and digits together (v4, GPT-4, A100, 3.5), or a product-style
    # name: a capital inside a word (ChatGPT, iPhone) or capitals joined by a hyphen (DALL-E).
    "identifier": re.compile(r"\b(?=\w*\d)(?=\w*[A-Za-z])[\w.-]+\b|\b\d+(\.\d+)+\b|"
                             r"\b[A-Z][a-z]+[A-Z]\w*|\b[a-z]+[A-Z]\w*|\b[A-Z]{2,}-[A-Z]\w*"),
    "place": re.compile(r"(?<=[\w,;:] )[A-Z][a-z]+|\b(in|at|near|from) the\b"),
}


def answer_type(question: str) -> str:
    """'number', 'time', 'person', 'identifier', 'place' or '' when the wording does not say."""
    for name, pattern in _TYPES:
        if pattern.search(question):
            return name
    return ""


def has_type(sentence: str, kind: str, question: str = "") -> bool:
    """Whether a sentence contains something of the asked-for type that the question does not name."""
    if not kind:
        return True
    # "Which OpenAI models…": "OpenAI" is the question's own word, not an answer to it.
    asked = _words(question)
    return any(m.group(0).lower() not in asked for m in _HAS[kind].finditer(sentence))


@lru_cache(maxsize=64)
def _words(text: str) -> frozenset[str]:
    # Cached: has_type asks about one question once per candidate sentence.
    return frozenset(w.lower() for w in re.findall(r"[\w.-]+", text))


# Questions about the document itself rather than what it reports: its headline, where it is
# from, how it ends.
_DOC_WORD = r"(article|story|piece|post|document|report|page|text|it|this)"
_DOC_FIELDS = [
    ("title", re.compile(rf"\bheadline\b|\b(title|name) of (the |this )?{_DOC_WORD}\b|"
                         rf"\bwhat is (the |this )?{_DOC_WORD} (called|titled|named)\b", re.I)),
    ("meta", re.compile(rf"\b(source|outlet|publisher|url|link|website|site) (of|for) (the |this )?{_DOC_WORD}\b|"
                        rf"\bwhere\b.{{0,20}}\b{_DOC_WORD}\b.{{0,20}}\b(come from|came from|published|appeared?|"
                        rf"originally)\b|\bwho published (the |this )?{_DOC_WORD}\b", re.I)),
    # "How does it sum up?" asks for a summary (summary.py), "how does it wrap up / end" for the ending.
    ("conclusion", re.compile(rf"\b{_DOC_WORD}\b.{{0,30}}\b(wrap|wraps|wrapped) (\w+ ){{0,3}}up\b|"
                              rf"\b{_DOC_WORD}('s)? (conclusion|final (thought|point|word)s?)\b|"
                              rf"\bhow does (the |this )?{_DOC_WORD} (end|conclude|close)\b|"
                              rf"\bwhat does (the |this )?{_DOC_WORD} conclude\s*\??\s*$", re.I)),
]


def document_field(question: str) -> str:
    """'title', 'meta' (source line) or 'conclusion' when the question asks about the document
    itself, else ''."""
    for kind, pattern in _DOC_FIELDS:
        if pattern.search(question):
            return kind
    return ""


_DEFINITION = re.compile(r"\b(stands? for|short for|acronym|abbreviation|meaning of|definition of|define)\b|"
                         r"\bwhat does \w+ mean\b|^\s*what (is|are) (an? |the )?[\w-]+\s*\??\s*$", re.I)


def definition_pattern(question: str) -> re.Pattern | None:
    """For a definitional question ("What does TPU stand for?"), a pattern that finds one of its
    acronyms spelled out: "Tensor Processing Units (TPUs)" or "TPU (Tensor Processing Unit)".
    None for any other question."""
    found = acronyms(question)
    if not found or not _DEFINITION.search(question):
        return None
    a = "|".join(sorted(map(re.escape, found)))
    return re.compile(rf"\(\s*({a})s?\s*\)|\b({a})s?\s*\((?!\s*({a})s?\b)[A-Za-z]", re.I)


# Nouns that name several things at once: a question asking for them wants a whole list.
_LIST_NOUNS = (r"advantages|benefits|lessons|takeaways|reasons|ways|features|factors|steps|examples|types|kinds|"
               r"challenges|risks|problems|issues|points|tips|principles|goals|components|parts|elements|"
               r"strengths|weaknesses|implications|consequences|effects|uses|applications|options|pros|cons")
_LIST_QUESTION = re.compile(rf"\b(what|which|list|name)\b.*\b(?P<noun>{_LIST_NOUNS})\b|^\s*(list|name|enumerate)\b",
                            re.I)


def asks_for_list(question: str) -> bool:
    """Whether a question asks for several things ("What advantages do TPUs have?")."""
    return bool(_LIST_QUESTION.search(question))


def list_noun(question: str) -> str:
    """The plural noun a list question asks for ("advantages"), or ''."""
    found = _LIST_QUESTION.search(question)
    return (found.group("noun") or "").lower() if found else ""


# "Superior Efficiency: They are engineered for…": a short run of words and a colon opening a
# list item names what the item is about.
_LABEL = re.compile(r"^\W*(?P<label>[^.!?:\n]{1,60}?)[\s*_]*:\s+\S")


def item_label(text: str, max_words: int = 6) -> str:
    """The label opening a list item ("Superior Efficiency"), or '' when it has none."""
    found = _LABEL.match(text)
    if not found or len(found.group("label").split()) > max_words:
        return ""
    return found.group("label")


def fuzzy_match(term: str, vocabulary: Iterable[str]) -> bool:
    """Exact term, or a shared 5-letter prefix for longer words (stems and typos: 'efficent')."""
    vocab = vocabulary if isinstance(vocabulary, set | frozenset | dict) else set(vocabulary)
    if term in vocab:
        return True
    return len(term) >= 5 and any(len(v) >= 5 and v[:5] == term[:5] for v in vocab)


def coverage(query_weights: dict[str, float], terms: set[str]) -> float:
    """Share of the query's term weight that the terms cover (fuzzily)."""
    total = sum(query_weights.values())
    if not total:
        return 0.0
    return sum(w for t, w in query_weights.items() if fuzzy_match(t, terms)) / total


_ACRONYM = re.compile(r"\b([A-Z][A-Z0-9]{1,5})s?\b")


def acronyms(text: str) -> set[str]:
    """Upper-case acronyms in a text, singular and lower-cased ("CEO", "TPUs" -> "ceo", "tpu")."""
    return {a.lower() for a in _ACRONYM.findall(text)}


def novelty(query_weights: dict[str, float], corpus_terms: dict[str, float],
            keep_short: set[str] = frozenset()) -> float:
    """Share of the query's term weight on terms no document contains.

    Short terms only count when they are acronyms (keep_short): "CEO" is a topic, "wat" is chat-speak.
    """
    total = sum(query_weights.values())
    if not total:
        return 0.0
    unseen = [t for t in query_weights
              if (len(t) > 3 or t in keep_short) and not fuzzy_match(t, corpus_terms)]
    return sum(query_weights[t] for t in unseen) / total


# A named thing in a question: an acronym (CEO, FLOPS), a code with digits (GPT-5, v6, H100),
# or a capitalised word inside the sentence (Microsoft). Ordinals and decades ("15th", "1980s")
# are dates, not names.
_CODE = re.compile(r"^(?=.*\d)(?=.*[A-Za-z])(?!\d+(st|nd|rd|th|s)$)[\w-]+$")
_WORDS = re.compile(r"[\w’'-]*\w")
_SENTENCE_START = ".?!:;\"“‘(—–-"


def names(question: str) -> list[str]:
    """The named things a question is about: acronyms, codes and capitalised words mid-sentence.

    Capitals carry no signal in Title Case (only acronyms and codes count there) nor in SHOUTED
    text (only codes count).
    """
    words = [(re.sub(r"[’']s$", "", m.group()), m.start()) for m in _WORDS.finditer(question)]
    shouted = sum(w.isupper() and len(w) > 1 for w, _ in words) > len(words) / 2
    rest = [w for w, _ in words[1:] if not (_ACRONYM.fullmatch(w) or _CODE.match(w))]
    title_case = sum(w[:1].isupper() for w in rest) > sum(w[:1].islower() for w in rest)

    def named(w: str, pos: int) -> bool:
        if _CODE.match(w):
            return True
        if shouted:
            return False
        if _ACRONYM.fullmatch(w):
            return True
        starts = not question[:pos].strip() or question[:pos].rstrip()[-1] in _SENTENCE_START
        return not (title_case or starts) and len(w) > 1 and w[:1].isupper()

    return list(dict.fromkeys(w for w, pos in words if named(w, pos)))


def known(term: str, vocabulary: dict[str, float] | set[str]) -> bool:
    """Whether a stemmed term occurs in the documents, allowing one slip in a long word
    ("Beyonce" for "Beyoncé", "Microsfot")."""
    if term in vocabulary:
        return True
    similar = [v for v in vocabulary if v[:1] == term[:1] and abs(len(v) - len(term)) <= 2]
    return bool(difflib.get_close_matches(term, similar, n=1, cutoff=0.85))


_SPECIAL = {"[CLS]", "[SEP]", "<s>", "</s>", "[PAD]"}


def content_rows(tokens: Iterable[str], stop: set[str]) -> np.ndarray:
    """Which tokens carry meaning: not special, not punctuation, not a stop word."""
    keep = []
    for t in tokens:
        piece = t[2:] if t.startswith("##") else t
        keep.append(t not in _SPECIAL and bool(re.search(r"\w", piece))
                    and (t.startswith("##") or piece.lower() not in stop))
    return np.array(keep, dtype=bool)


def soft_match(question, sentence, stop: set[str]) -> tuple[float, float]:
    """How well a sentence covers the question's terms in meaning (BERTScore-style recall).

    Each content token of the question is matched to its most similar sentence token; returns the
    mean of those similarities and the weakest one (the question term the sentence covers least).
    """
    q_rows = content_rows(question.tokens, stop)
    s_rows = np.array([t not in _SPECIAL for t in sentence.tokens], dtype=bool)
    if not q_rows.any() or not s_rows.any():
        return 0.0, 0.0
    best = (question.vectors[q_rows] @ sentence.vectors[s_rows].T).max(axis=1)
    return float(best.mean()), float(best.min())
