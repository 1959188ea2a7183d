"""A question parsed once: the one place that reads a question's wording.

`parse` cleans the question (normalize.py), makes a follow-up self-contained against the
conversation (`rewrite`, followup.py), and reads what the wording asks for: an answer type, a field
of the document (naming.py), a list, a summary, the names it mentions (naming.py). Retrieval and
the answerers get the `Question`.

Usage:
    >>> q = parse("And the third?", [("What advantages do TPUs have?", "Speed. [1] Scale. [2] Cost. [3]")])
    >>> q.follow_up, q.item, q.query
    (True, 'Cost.', 'Cost.')
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .followup import History, content_words, is_follow_up, pointed_item, rewrite
from .lexicon import COUNTS, DOC_NOUNS, DOC_WORDS, FILLER_WORDS, LIST_NOUNS, SUMMARY_UNITS
from .naming import document_field, names
from .normalize import normalize


@dataclass(frozen=True)
class Question:
    """What a question asks, read once from its wording and the conversation before it."""

    asked: str  # as the user typed it
    clean: str  # instructions to the assistant dropped, chat-speak spelled out ("" if nothing is left)
    text: str  # what the answerer judges: the clean question, or the quote "And the third?" points at
    query: str  # what retrieval looks up: a follow-up made self-contained ("" when nothing to look up)
    answer_query: str  # the query without the last answer's words: what the answerer was fitted on
    follow_up: bool  # its wording leans on the turns before it
    item: str | None  # the quote of the list just answered that it points at ("And the third?")
    topic_words: tuple[str, ...]  # the words of `text` that carry a topic
    answer_type: str  # "number", "time", "person", "identifier", "place" or ""
    document_field: str  # "title", "meta", "author", "date" or "conclusion" when it asks about the document itself
    query_field: str  # the same read off the query: a follow-up's borrowed topic may name one ("headline")
    asks_for_list: bool
    asks_for_summary: bool
    sentences_asked: int | None  # "a two-sentence summary" -> 2
    names: tuple[str, ...]  # "Microsoft", "GPT-5": what it is about, by name


def parse(question: str, history: History | None = None,
          frequency: Callable[[str], int] | None = None) -> Question:
    """Parse a question asked after `history` ((question, answer text) pairs, oldest first).

    `frequency(word)`, how many passages hold a word, chooses which of the last answer's words
    the retrieval query borrows (see rewrite).
    """
    clean = normalize(question)
    turns = [(normalize(q), a) for q, a in history or []]
    if clean:
        query = rewrite(clean, turns, frequency)
        # The answer's words steer retrieval only: the answerer's scores and gate were fitted on
        # queries without them, and a query holding the last answer's words favours quoting it again.
        answer_query = rewrite(clean, turns, borrow=False)
        item = pointed_item(clean, turns) if turns else None
    else:
        query = answer_query = ""
        item = None
    # "And the third?" means the third thing just quoted: the answerer judges that item, the way
    # retrieval looks it up ("third" itself is a word no document answers). A question of
    # instructions only is judged as asked (it is refused, naming what was asked).
    text = query if item is not None else clean or question
    return Question(
        asked=question, clean=clean, text=text, query=query, answer_query=answer_query,
        follow_up=bool(clean) and is_follow_up(clean), item=item, topic_words=tuple(content_words(text)),
        answer_type=answer_type(text), document_field=document_field(text), query_field=document_field(query),
        asks_for_list=asks_for_list(text),
        asks_for_summary=asks_for_summary(text), sentences_asked=sentences_asked(text),
        names=tuple(names(text)),
    )


# -- what kind of answer it wants ------------------------------------------------------------

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


def answer_type(question: str) -> str:
    """'number', 'time', 'person', 'identifier', 'place' or '' when the wording does not say."""
    for name, pattern in _TYPES:
        if pattern.search(question):
            return name
    return ""


# A question asking for lexicon.LIST_NOUNS (several things at once) wants a whole list.
_LIST_QUESTION = re.compile(rf"\b(what|which|list|name)\b.*\b(?P<noun>{'|'.join(LIST_NOUNS)})\b|"
                            r"^\s*(list|name|enumerate)\b", re.I)


def asks_for_list(question: str) -> bool:
    """Whether a question asks for several things ("What advantages do TPUs have?")."""
    return bool(_LIST_QUESTION.search(question))


# -- overview questions ----------------------------------------------------------------------

_NUM = r"\d{1,2}|" + "|".join(COUNTS)
_UNIT = "|".join(f"{unit}s?" for unit in SUMMARY_UNITS)

# Wording that asks for an overview. Each cue alone is not enough: "What is the TPU about?" and
# "Summarize the advantages of TPUs" name a topic inside the document (see asks_for_summary).
_CUE = re.compile(
    r"\bsummar(y|ies|i[sz]e[sd]?|i[sz]ing|i[sz]ation)\b|\bsums?\b.{0,25}\bup\b|\bsummed up\b|"
    r"\b(overview|gist|recap|rundown|synopsis|outline|abstract|tl\W{0,2}dr)\b|"
    r"\bin a nutshell\b|\bin (short|brief)\b|\bboil(s|ed)? (it |this )?down\b|"
    r"\b(main|key|major|central|core) (points?|takeaways?|ideas?|messages?|themes?|arguments?)\b|"
    r"\babout\W*$|"  # "What's it about?" (the question ends there)
    # The nouns of the document (lexicon.DOC_NOUNS; the alternation's order is irrelevant here:
    # no noun is a prefix of another, and a word boundary follows).
    rf"\b(tell|talk) (me |us )?about (the |this )?({'|'.join(DOC_NOUNS)})\b|"
    r"\bwhat does (the |this )?\w+ (cover|discuss|describe|say|tell( us| me)?)\W*$",
    re.I,
)

# Words an overview question may hold besides its cue and the document's name (lexicon.FILLER_WORDS,
# lexicon.DOC_WORDS). Any other word is a topic.
_FILLER = frozenset(FILLER_WORDS.split()) | DOC_WORDS


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
    return int(n) if n.isdigit() else COUNTS[n]

