"""Tokens and stop words: one tokenizer for BM25 (retrieval.py), lexical overlap (extractive.py),
the verifier (verify.py) and the question readers (question.py, followup.py).
"""

from __future__ import annotations

import re
from functools import lru_cache

from .lexicon import QUESTION_WORDS


@lru_cache(maxsize=1)
def stemmer():
    """The English Snowball stemmer (PyStemmer), made once."""
    import Stemmer

    return Stemmer.Stemmer("english")


# Snowball keeps "TPUs" as "tpus" while "TPU" stems to "tpu": fold acronym plurals first.
_ACRONYM_PLURAL = re.compile(r"\b([A-Z][A-Z0-9]+)s\b")


def fold(text: str) -> str:
    """Acronym plurals folded to their singular ("TPUs" -> "TPU"), before stemming."""
    return _ACRONYM_PLURAL.sub(r"\1", text)


@lru_cache(maxsize=1)
def stopwords() -> list[str]:
    """bm25s's extended English list plus question-framing words."""
    from bm25s.stopwords import STOPWORDS_EN_PLUS

    return sorted(set(STOPWORDS_EN_PLUS) | QUESTION_WORDS)


@lru_cache(maxsize=1)
def stopword_set() -> frozenset[str]:
    """The same words as stopwords(), for membership tests."""
    return frozenset(stopwords())


def tokenize(texts: list[str]) -> list[list[str]]:
    """Lower-cased, stop-worded, stemmed tokens (the same for BM25 and lexical overlap)."""
    import bm25s

    return bm25s.tokenize([fold(t) for t in texts], stopwords=stopwords(), stemmer=stemmer(), return_ids=False,
                          show_progress=False)


def as_documents_spell(tokens: list[str], vocabulary) -> list[str]:
    """Query tokens spelled as the documents spell them: a plural the stemmer keeps, such as a
    lower-case acronym ("tpus" typed for "TPUs"), becomes the documents' singular ("tpu")."""
    return [t[:-1] if t not in vocabulary and t.endswith("s") and t[:-1] in vocabulary else t for t in tokens]
