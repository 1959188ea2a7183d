"""Sentence features for the extractive answerer: term coverage, answer types found.

Pure functions over strings and term weights, so each is easy to test and reason about. What a
question asks for is read once, in question.py; these judge the sentences against it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from functools import lru_cache

import numpy as np

from .lexicon import NUMBER_WORDS, PERSON_WORDS, TIME_WORDS

_HAS = {
    "number": re.compile(rf"\b\d|\b({'|'.join(NUMBER_WORDS)})\b|%|\$|€|£", re.I),
    "time": re.compile(rf"\b(1[0-9]{{3}}|20[0-9]{{2}})s?\b|\b({'|'.join(TIME_WORDS)})\b", re.I),
    # A capitalised word that does not start the sentence: a name, a company, a place.
    "person": re.compile(rf"(?<=[\w,;:] )[A-Z][a-z]+|\b({'|'.join(PERSON_WORDS)})\b"),
    # A code-like token: letters and digits together (v4, GPT-4, A100, 3.5), or a product-style
    # name: a capital inside a word (ChatGPT, iPhone) or capitals joined by a hyphen (DALL-E).
    "identifier": re.compile(r"\b(?=\w*\d)(?=\w*[A-Za-z])[\w.-]+\b|\b\d+(\.\d+)+\b|"
                             r"\b[A-Z][a-z]+[A-Z]\w*|\b[a-z]+[A-Z]\w*|\b[A-Z]{2,}-[A-Z]\w*"),
    "place": re.compile(r"(?<=[\w,;:] )[A-Z][a-z]+|\b(in|at|near|from) the\b"),
}


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
