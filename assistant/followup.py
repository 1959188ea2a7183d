"""Follow-ups: whether a question leans on the conversation before it, and the question made
self-contained against that conversation (`rewrite`).

question.parse calls these; this module reads one question only through naming.py and text.py,
never through question.py, so the two do not import each other.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from .lexicon import (
    DEFINITE_NOUNS,
    DEMONSTRATIVES,
    ELLIPTICAL_OPENERS,
    ITEM_NOUNS,
    LEANS_ON_TURN,
    ORDINALS,
    PRONOUNS,
)
from .markers import MARKER, MARKER_RUN
from .naming import WORD, document_field, names
from .text import stopword_set

History = Sequence[tuple[str, str]]  # (question, answer text) pairs, oldest first

# -- is it a follow-up? ----------------------------------------------------------------------

# A follow-up leans on an earlier turn: a pronoun, a demonstrative, or an elliptical opener.
# chunking's pronouns and demonstratives (what a sentence leans on), plus words that only lean
# on a conversation (lexicon.LEANS_ON_TURN).
_ANAPHOR = re.compile(rf"\b({'|'.join(PRONOUNS + DEMONSTRATIVES + LEANS_ON_TURN)})\b", re.I)
# "The deal" leans on an earlier turn only when the question names nothing of its own: "How did
# Microsoft react to the deal?" is about Microsoft, whatever the turn before asked.
_DEFINITE = re.compile(rf"\bthe ({'|'.join(DEFINITE_NOUNS)})\b", re.I)
_ELLIPSIS = re.compile(rf"^\s*({'|'.join(ELLIPTICAL_OPENERS)})\b", re.I)

# is_follow_up counts a question's content words (its words that are not stop words); past
# these counts a question names a topic of its own and stands alone.
# An elliptical opener leans on the turn before while the question stays this short ("And why?",
# "What about the cost?"); "And why did Google build its own chips?" stands on its own.
ELLIPSIS_MAX_WORDS = 4
# A question of this many content words or fewer asks nothing by itself ("Why?", "Pricing?").
BARE_MAX_WORDS = 1
# A question pointing at a list item ("Tell me more about the 2nd point") leans on the list
# just quoted while it stays this short.
ITEM_MAX_WORDS = 3


def is_follow_up(question: str) -> bool:
    """Whether a question only makes sense with the turns before it."""
    if document_field(question):  # "What is the headline of the article?" stands on its own
        return False
    content = [w for w in re.findall(r"\w+", question.lower()) if w not in stopword_set()]
    return (
        bool(_ANAPHOR.search(question))  # "What do they cost?"
        or (bool(_DEFINITE.search(question)) and not names(question))  # "Why did the deal happen?"
        or (bool(_ELLIPSIS.match(question)) and len(content) <= ELLIPSIS_MAX_WORDS)  # "And why?"
        or len(content) <= BARE_MAX_WORDS  # "Pricing?"
        or (_item_number(question) is not None and len(content) <= ITEM_MAX_WORDS)  # "the 2nd point"
    )


# -- what the last answers said --------------------------------------------------------------

# An answer's text is its quotes, each followed by its marker: "quote one. [1] quote two. [2]".
# answer.abstention_text: a refusal quotes nothing the next turn could lean on.
_ABSTAINED = re.compile(r"^\s*The (article does|documents do) not say\.")

# Borrowed words stay fewer than a question usually has, so the question keeps the lead in
# BM25 (which sums over every query term) and in the mean-pooled dense vector alike.
MAX_ANSWER_WORDS = 4

_ORDINAL = re.compile(rf"\b(the\s+)?({'|'.join(ORDINALS)}|\d{{1,2}}(?:st|nd|rd|th))\b(?:\s+([\w’'-]+))?", re.I)


def is_abstention(answer: str) -> bool:
    """Whether an answer text is the assistant's refusal (see answer.abstention_text)."""
    return bool(_ABSTAINED.match(answer))


def quotes(answer: str) -> list[str]:
    """An answer's quotes in the order of their markers, the markers removed ([] for a refusal)."""
    if not answer or is_abstention(answer):
        return []
    parts = MARKER_RUN.split(answer)
    by_n: dict[int, list[str]] = {}
    for text, markers in zip(parts[::2], parts[1::2], strict=False):
        if text.strip():
            by_n.setdefault(int(MARKER.search(markers).group(1)), []).append(" ".join(text.split()))
    return [" ".join(by_n[n]) for n in sorted(by_n)]


def content_words(text: str) -> list[str]:
    """The words that carry a topic: no function words, no bare numbers."""
    stop = stopword_set()
    return [w for w in WORD.findall(text) if w.lower() not in stop and not w.isdigit()]


def _has_digit_name(word: str) -> bool:
    # "v5e", "H100": a code names a thing; a bare count ("2") does not.
    return any(c.isdigit() for c in word) and any(c.isalpha() for c in word)


def _topic_start(past: Sequence[str]) -> int:
    """The latest question that stood on its own: where the current topic began."""
    return next((i for i in range(len(past) - 1, -1, -1) if not is_follow_up(past[i])), 0)


def pointed_item(question: str, history: History) -> str | None:
    """The quote a question such as "And the third?" points at in the latest list the assistant
    quoted on this topic, or None when the question points at no such list."""
    # A single quote is no list: "the first one" would mean something else.
    lists = [(q, items) for q, a in history[_topic_start([q for q, _a in history]):]
             if len(items := quotes(a)) >= 2]
    if not lists:
        return None
    asked, items = lists[-1]
    n = _item_number(question, {w.lower() for w in WORD.findall(asked)})
    if n is None:
        return None
    return items[-1] if n == -1 else items[n - 1] if n <= len(items) else None


def _item_number(question: str, list_words: set[str] = frozenset()) -> int | None:
    """Which item of a list a question points at (1-based, -1 for the last), or None.

    "And the third?", "the second one", "3rd?", "the last point"; "the second advantage" when the
    list answered a question with that noun (`list_words`). "Who was the first CEO?" asks about a
    first something, and "Which came first?" about an order: neither points at an item.
    """
    bare = len(content_words(question)) <= 1
    for m in _ORDINAL.finditer(question):
        word, noun = m.group(2).lower(), (m.group(3) or "").lower()
        if noun:
            if noun not in ITEM_NOUNS and not {noun, noun + "s", noun.removesuffix("s")} & list_words:
                continue
        elif not m.group(1) and not bare:
            continue
        n = ORDINALS.get(word) or int(re.match(r"\d+", word).group())
        if n:  # "0th" is no item
            return n
    return None


# -- the question made self-contained --------------------------------------------------------

def _telling(words: list[str], frequency: Callable[[str], int] | None, limit: int) -> list[str]:
    """At most `limit` of an answer's words, those that lead onward first.

    A word other passages also hold links what was said to them, the rarer the more telling; a
    word only the quoted passage holds can only bring that passage back, so it comes after them.
    Without document statistics (`frequency` None), names and codes come first, then long words.
    """
    def key(i: int) -> tuple:
        w = words[i]
        if frequency is None:
            return (not (w[:1].isupper() or _has_digit_name(w)), -len(w), i)
        n = frequency(w)
        return (n <= 1, n, i)

    return [words[i] for i in sorted(range(len(words)), key=key)[:limit]]


def rewrite(question: str, history: History | None,
            frequency: Callable[[str], int] | None = None, borrow: bool = True) -> str:
    """Make a follow-up self-contained: the question's words first, then the topic of the latest
    question that stood on its own, then a few telling words of what the assistant last answered.

    A question pointing into a list just quoted ("And the third?") becomes that item.
    `frequency(word)`, how many passages hold a word, chooses the answer's words (see _telling);
    `borrow=False` leaves the answers out (the query form the answerer was fitted on).

        >>> rewrite("Which versions?", [("What chips does OpenAI use?", "Google’s TPUs. [1]")])
        'Which versions? (chips OpenAI use Google’s TPUs)'
    """
    question = " ".join(question.split())
    if not history:
        return question
    item = pointed_item(question, history)
    if item is not None:
        own = [w for w in content_words(_ORDINAL.sub(" ", question)) if w.lower() not in ITEM_NOUNS]
        return " ".join([*own, item])
    if not is_follow_up(question):
        return question
    have = {w.lower() for w in WORD.findall(question) + re.findall(r"\w+", question)}

    def new(words: list[str]) -> list[str]:
        out = []
        for w in words:
            if w.lower() not in have:
                out.append(w)
                have.add(w.lower())
        return out

    # The topic comes from the latest question that stood on its own; the follow-ups in
    # between carry their own intent ("how much", "why"), not the topic.
    start = _topic_start([q for q, _answer in history])
    topic = new(content_words(history[start][0]))
    # What the conversation is about is also what was answered since then: the latest answer
    # that quoted something (a refusal quotes nothing; an answer to an older topic is another topic).
    said: list[str] = []
    for _q, answer in reversed(history[start:] if borrow else []):
        if said := quotes(answer):
            break
    answered = _telling(new(content_words(" ".join(said))), frequency, MAX_ANSWER_WORDS)
    extra = " ".join(w for w in (" ".join(topic), " ".join(answered)) if w)
    return f"{question} ({extra})" if extra else question
