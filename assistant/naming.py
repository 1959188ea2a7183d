"""What a question names: the document itself (`document_field`), or things by name (`names`).

The two readers both the intent parser (question.py) and the follow-up test (followup.py) need:
here, below both, so neither imports the other's module back.
"""

from __future__ import annotations

import re

from .lexicon import (
    AUTHOR_NOUNS,
    DOC_NOUNS,
    DOC_REFERENCES,
    LINK_NOUNS,
    OUTLET_NOUNS,
    PUBLISH_VERBS,
)

# -- the document itself ---------------------------------------------------------------------

# Questions about the document itself rather than what it reports: its headline, who wrote it,
# when, where it is from (outlet, link) and how it ends. Each pattern needs the document named
# ("the article", "this", "it") or a noun only a document has ("the author", "the byline"), so
# "When did OpenAI sign the deal?" or "Who leads Google Cloud?" stay content questions.
_DOC_WORD = rf"({'|'.join(DOC_REFERENCES)})"
_DOC_NOUN = rf"({'|'.join(DOC_NOUNS)})"  # not "it": "When was it released?" may ask about a product
_THE = r"(the |this )?"
_AUTHOR = rf"({'|'.join(AUTHOR_NOUNS)})s?"
_OUTLET = rf"({'|'.join(OUTLET_NOUNS)})"
_LINK = rf"({'|'.join(LINK_NOUNS)})"
_PUBLISHED = rf"({'|'.join(PUBLISH_VERBS)})"
_DOC_FIELDS = [
    ("title", re.compile(rf"\bheadline\b|\b(title|name) of {_THE}{_DOC_WORD}\b|"
                         rf"\bwhat is {_THE}{_DOC_WORD} (called|titled|named)\b", re.I)),
    # "Who wrote the article?", "Who is the author?" (the noun last: "the author of Dune" is a book's).
    ("author", re.compile(rf"\b{_AUTHOR} (of|for|behind) {_THE}{_DOC_WORD}\b|\b{_DOC_WORD}['’]s {_AUTHOR}\b|"
                          rf"\bwho (wrote|authored|penned|reported) {_THE}{_DOC_WORD}\b|\bbyline\b|"
                          rf"\b(who|what|name)\b.{{0,20}}\bthe {_AUTHOR}(['’]s name)?\W*$", re.I)),
    # "When was it published?", "How old is the article?" ("When was it signed?" is content).
    ("date", re.compile(rf"\b(when|what (date|day|month|year)) (was|were|is|did|does) {_THE}{_DOC_WORD}\b"
                        rf".{{0,20}}\b({_PUBLISHED}|from\W*$)|"
                        rf"\bwhen (was|did) {_THE}{_DOC_NOUN}\b.{{0,20}}\b(released|come out|came out|appear(ed)?)\b|"
                        rf"\b(date|dateline) (of|on|for) {_THE}{_DOC_WORD}\b|\b{_DOC_NOUN}['’]s (publication )?date\b|"
                        rf"\bpublication date\b|\bdate of publication\b|\bhow (old|recent) is {_THE}{_DOC_NOUN}\b", re.I)),
    # Its outlet and link: "What is the link to the article?", "What outlet published this?",
    # "Where can I read the original?".
    ("meta", re.compile(rf"\b({_OUTLET}|{_LINK}) (of|for|to) {_THE}{_DOC_WORD}\b|"
                        rf"\bwhere\b.{{0,20}}\b{_DOC_WORD}\b.{{0,20}}\b(come from|came from|published|appeared?|"
                        rf"originally)\b|\bwhere (is|was|does|did) {_THE}{_DOC_WORD} (come )?from\W*$|"
                        rf"\bwho (published|publishes|ran|carried|printed|posted) {_THE}{_DOC_WORD}\b|"
                        rf"\b(which|what) {_OUTLET}\b.{{0,20}}\b(published|publishes|ran|runs|carried|printed|posted)"
                        rf" {_THE}{_DOC_WORD}\b|\b(which|what) {_OUTLET}\b.{{0,20}}\b{_DOC_WORD} (from|in|on)\W*$|"
                        rf"\bwhere (can|could|do|should) (i|we|you|one) (read|find|see|get|view)\b.{{0,10}}"
                        rf"\b(original|full|whole|complete|source)(\W*$| (version|text|{_DOC_NOUN})\b)|"
                        rf"^\W*(what['’]?s|what (is|was)|give me|share|send( me)?|show me|where['’]?s|where is|"
                        rf"can i (get|have)|do you have)\b.{{0,12}}\b{_LINK}\W*$", re.I)),
    # "How does it sum up?" asks for a summary (asks_for_summary), "how does it wrap up / end" for the ending.
    ("conclusion", re.compile(rf"\b{_DOC_WORD}\b.{{0,30}}\b(wrap|wraps|wrapped) (\w+ ){{0,3}}up\b|"
                              rf"\b{_DOC_WORD}('s)? (conclusion|final (thought|point|word)s?)\b|"
                              rf"\bhow does {_THE}{_DOC_WORD} (end|conclude|close)\b|"
                              rf"\bwhat does {_THE}{_DOC_WORD} conclude\s*\??\s*$", re.I)),
]

def document_field(question: str) -> str:
    """'title', 'author', 'date', 'meta' (outlet, link: the source line) or 'conclusion' when the
    question asks about the document itself, else ''."""
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
