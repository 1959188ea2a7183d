"""The pipeline as a LangChain runnable: rewrite -> retrieve -> answer.

The rewrite step cleans the question first (instructions to the assistant dropped, chat-speak
spelled out, see normalize.py) and then makes a follow-up self-contained.

Any answerer with `answer(question, query, passages, docs) -> Answer` plugs into the same chain.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.runnables import Runnable, RunnableLambda

from .features import document_field, names
from .normalize import normalize
from .retrieval import Passage, rrf, stopword_set

History = Sequence[tuple[str, str]]

# A follow-up leans on an earlier turn: a pronoun, a demonstrative, or an elliptical opener.
_ANAPHOR = re.compile(
    r"\b(it|its|it's|they|them|their|theirs|this|that|these|those|he|him|his|she|her|hers|"
    r"there|one|ones|such|same|former|latter)\b",
    re.I,
)
# "The deal" leans on an earlier turn only when the question names nothing of its own: "How did
# Microsoft react to the deal?" is about Microsoft, whatever the turn before asked.
_DEFINITE = re.compile(r"\bthe (company|partnership|deal|firm|alliance)\b", re.I)
_ELLIPSIS = re.compile(r"^\s*(and|also|but|so|then|what about|how about|why|how come|and why)\b", re.I)


def is_follow_up(question: str) -> bool:
    """Whether a question only makes sense with the turns before it."""
    if document_field(question):  # "What is the headline of the article?" stands on its own
        return False
    content = [w for w in re.findall(r"\w+", question.lower()) if w not in stopword_set()]
    return bool(_ANAPHOR.search(question)) or (bool(_DEFINITE.search(question)) and not names(question)) \
        or (bool(_ELLIPSIS.match(question)) and len(content) <= 4) or len(content) <= 1 \
        or (_item_number(question) is not None and len(content) <= 3)  # "Tell me more about the 2nd point"


# An answer's text is its quotes, each followed by its marker: "quote one. [1] quote two. [2]".
_MARKERS = re.compile(r"((?:\s*\[\d+\])+)")
_MARKER_N = re.compile(r"\[(\d+)\]")
# answer.abstention_text: a refusal quotes nothing the next turn could lean on.
_ABSTAINED = re.compile(r"^\s*The (article does|documents do) not say\.")
_WORD = re.compile(r"[\w’'-]*\w")

# Borrowed words stay fewer than a question usually has, so the question keeps the lead in
# BM25 (which sums over every query term) and in the mean-pooled dense vector alike.
MAX_ANSWER_WORDS = 4

_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
             "eighth": 8, "ninth": 9, "tenth": 10, "last": -1, "final": -1}
_ORDINAL = re.compile(rf"\b(the\s+)?({'|'.join(_ORDINALS)}|\d{{1,2}}(?:st|nd|rd|th))\b(?:\s+([\w’'-]+))?", re.I)
# What a list's item is called when it is not called by the list's own noun ("the second advantage").
_ITEM_NOUNS = {"one", "ones", "point", "points", "item", "items", "thing", "option", "step", "part",
               "bullet", "entry", "example", "reason", "answer", "quote", "sentence", "bit", "mentioned"}


def is_abstention(answer: str) -> bool:
    """Whether an answer text is the assistant's refusal (see answer.abstention_text)."""
    return bool(_ABSTAINED.match(answer))


def quotes(answer: str) -> list[str]:
    """An answer's quotes in the order of their markers, the markers removed ([] for a refusal)."""
    if not answer or is_abstention(answer):
        return []
    parts = _MARKERS.split(answer)
    by_n: dict[int, list[str]] = {}
    for text, markers in zip(parts[::2], parts[1::2], strict=False):
        if text.strip():
            by_n.setdefault(int(_MARKER_N.search(markers).group(1)), []).append(" ".join(text.split()))
    return [" ".join(by_n[n]) for n in sorted(by_n)]


def _content(text: str) -> list[str]:
    """The words that carry a topic: no function words, no bare numbers."""
    stop = stopword_set()
    return [w for w in _WORD.findall(text) if w.lower() not in stop and not w.isdigit()]


def _has_digit_name(word: str) -> bool:
    # "v5e", "H100": a code names a thing; a bare count ("2") does not.
    return any(c.isdigit() for c in word) and any(c.isalpha() for c in word)


def _topic_start(past: Sequence[str]) -> int:
    """The latest question that stood on its own: where the current topic began."""
    return next((i for i in range(len(past) - 1, -1, -1) if not is_follow_up(past[i])), 0)


def _ordinal(question: str, history: History) -> str | None:
    """The quote a question such as "And the third?" points at in the latest list the assistant
    quoted on this topic, or None when the question points at no such list."""
    # A single quote is no list: "the first one" would mean something else.
    lists = [(q, items) for q, a in history[_topic_start([q for q, _a in history]):]
             if len(items := quotes(a)) >= 2]
    if not lists:
        return None
    asked, items = lists[-1]
    n = _item_number(question, {w.lower() for w in _WORD.findall(asked)})
    if n is None:
        return None
    return items[-1] if n == -1 else items[n - 1] if n <= len(items) else None


def _item_number(question: str, list_words: set[str] = frozenset()) -> int | None:
    """Which item of a list a question points at (1-based, -1 for the last), or None.

    "And the third?", "the second one", "3rd?", "the last point"; "the second advantage" when the
    list answered a question with that noun (`list_words`). "Who was the first CEO?" asks about a
    first something, and "Which came first?" about an order: neither points at an item.
    """
    bare = len(_content(question)) <= 1
    for m in _ORDINAL.finditer(question):
        word, noun = m.group(2).lower(), (m.group(3) or "").lower()
        if noun:
            if noun not in _ITEM_NOUNS and not {noun, noun + "s", noun.removesuffix("s")} & list_words:
                continue
        elif not m.group(1) and not bare:
            continue
        n = _ORDINALS.get(word) or int(re.match(r"\d+", word).group())
        if n:  # "0th" is no item
            return n
    return None


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
    item = _ordinal(question, history)
    if item is not None:
        own = [w for w in _content(_ORDINAL.sub(" ", question)) if w.lower() not in _ITEM_NOUNS]
        return " ".join([*own, item])
    if not is_follow_up(question):
        return question
    have = {w.lower() for w in _WORD.findall(question) + re.findall(r"\w+", question)}

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
    topic = new(_content(history[start][0]))
    # What the conversation is about is also what was answered since then: the latest answer
    # that quoted something (a refusal quotes nothing; an answer to an older topic is another topic).
    said: list[str] = []
    for _q, answer in reversed(history[start:] if borrow else []):
        if said := quotes(answer):
            break
    answered = _telling(new(_content(" ".join(said))), frequency, MAX_ANSWER_WORDS)
    extra = " ".join(w for w in (" ".join(topic), " ".join(answered)) if w)
    return f"{question} ({extra})" if extra else question


def prepare(question: str, history: History | None,
            frequency: Callable[[str], int] | None = None, borrow: bool = True) -> tuple[str, str]:
    """(cleaned question, query to retrieve): what the answerer and the retriever get."""
    clean = normalize(question)
    if not clean:
        return "", ""
    history = [(normalize(q), a) for q, a in history or []]
    query = rewrite(clean, history, frequency, borrow)
    # "And the third?" means the third thing just quoted: the answerer judges that item, the way
    # retrieval looks it up ("third" itself is a word no document answers).
    return (query if _ordinal(clean, history) is not None else clean), query


OWN_WORDS = 2  # content words a follow-up needs before its own words are searched too


def fuse(rankings: list[list[Passage]]) -> list[Passage]:
    """Passage lists fused by reciprocal rank, ties to the earlier list; as long as the longest."""
    keyed = [[((p.doc_id, p.start, p.end), p) for p in ranking] for ranking in rankings]
    first: dict[tuple[str, int, int], Passage] = {}
    for ranking in keyed:
        for key, p in ranking:
            first.setdefault(key, p)
    scores = rrf([[key for key, _p in ranking] for ranking in keyed])
    order = {key: i for i, key in enumerate(first)}
    best = sorted(scores, key=lambda key: (-scores[key], order[key]))
    return [first[key] for key in best[: max(map(len, rankings), default=0)]]


def _timed(name: str, fn: Callable[[dict[str, Any]], dict[str, Any]]) -> Runnable:
    def step(state: dict[str, Any]) -> dict[str, Any]:
        t0 = time.perf_counter()
        out = fn(state)
        out["timings"] = {**state.get("timings", {}), name: time.perf_counter() - t0}
        return out

    return RunnableLambda(step, name=name)


def build_chain(retriever, answerer, documents: Callable[[], list]) -> Runnable:
    """rewrite -> retrieve -> answer; input {"question", "history", "k"}, output an Answer."""

    def do_rewrite(s):
        lexical = getattr(retriever, "lexical", None)  # its document frequencies choose borrowed words
        clean, query = prepare(s["question"], s.get("history"), lexical().frequency if lexical else None)
        # The answer's words steer retrieval only: the answerer's scores and gate were fitted on
        # queries without them, and a query holding the last answer's words favours quoting it again.
        told = prepare(s["question"], s.get("history"), borrow=False)[1]
        return {**s, "clean": clean, "query": query, "answer_query": told}

    def do_retrieve(s):
        query, clean, k = s["query"], s["clean"], s.get("k")
        if not query:  # only instructions to the assistant ("reveal your prompt"): nothing to look up
            passages = []
        elif query == clean or len(_content(clean)) < OWN_WORDS:
            # "Which versions?" names too little to be looked up alone.
            passages = retriever.search(query, k)
        else:
            # A follow-up that names things of its own keeps what its own words find: later turns
            # often bring a new subject, and the words borrowed from the history would drown it.
            passages = fuse([retriever.search(query, k), retriever.search(clean, k)])
        return {**s, "passages": passages}

    def do_answer(s):
        question = s["clean"] or s["question"]
        # The answerer also reads the document's title (retrieval ranks it after the content).
        return {**s, "answer": answerer.answer(question, s["answer_query"], retriever.with_title(s["passages"]),
                                               documents())}

    def finish(s):
        answer = s["answer"]
        answer.question = s["question"]  # as the user asked it
        answer.query = s["query"]  # what retrieval looked up
        answer.passages = s["passages"]  # what retrieval returned
        answer.timings = {**s["timings"], "total": sum(s["timings"].values())}
        return answer

    return (
        _timed("rewrite", do_rewrite)
        | _timed("retrieve", do_retrieve)
        | _timed("answer", do_answer)
        | RunnableLambda(finish, name="finish")
    )
