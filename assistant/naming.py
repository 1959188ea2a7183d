"""What a question names: the document itself (`document_field`), or things by name (`names`).

The two readers both the intent parser (question.py) and the follow-up test (followup.py) need:
here, below both, so neither imports the other's module back.
"""

from __future__ import annotations

import re

from .lexicon import DOC_REFERENCES

# -- the document itself ---------------------------------------------------------------------

# Questions about the document itself rather than what it reports: its headline, where it is
# from, how it ends.
_DOC_WORD = rf"({'|'.join(DOC_REFERENCES)})"
_DOC_FIELDS = [
    ("title", re.compile(rf"\bheadline\b|\b(title|name) of (the |this )?{_DOC_WORD}\b|"
                         rf"\bwhat is (the |this )?{_DOC_WORD} (called|titled|named)\b", re.I)),
    ("meta", re.compile(rf"\b(source|outlet|publisher|url|link|website|site) (of|for) (the |this )?{_DOC_WORD}\b|"
                        rf"\bwhere\b.{{0,20}}\b{_DOC_WORD}\b.{{0,20}}\b(come from|came from|published|appeared?|"
                        rf"originally)\b|\bwho published (the |this )?{_DOC_WORD}\b", re.I)),
    # "How does it sum up?" asks for a summary (asks_for_summary), "how does it wrap up / end" for the ending.
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


# -- things by name --------------------------------------------------------------------------

_ACRONYM = re.compile(r"\b([A-Z][A-Z0-9]{1,5})s?\b")
# A named thing in a question: an acronym (CEO, FLOPS), a code with digits (GPT-5, v6, H100),
# or a capitalised word inside the sentence (Microsoft). Ordinals and decades ("15th", "1980s")
# are dates, not names.
_CODE = re.compile(r"^(?=.*\d)(?=.*[A-Za-z])(?!\d+(st|nd|rd|th|s)$)[\w-]+$")
WORD = re.compile(r"[\w’'-]*\w")  # a word of a question, apostrophes and hyphens inside it
_SENTENCE_START = ".?!:;\"“‘(—–-"


def names(question: str) -> list[str]:
    """The named things a question is about: acronyms, codes and capitalised words mid-sentence.

    Capitals carry no signal in Title Case (only acronyms and codes count there) nor in SHOUTED
    text (only codes count).
    """
    words = [(re.sub(r"[’']s$", "", m.group()), m.start()) for m in WORD.finditer(question)]
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
