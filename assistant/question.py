"""A question parsed once: the one place that reads a question's wording.

`parse` cleans the question (normalize.py), makes a follow-up self-contained against the
conversation (`rewrite`), and reads what the wording asks for: an answer type, a field of the
document, a list, a summary, the names it mentions. Retrieval and the answerers get the `Question`.

Usage:
    >>> q = parse("And the third?", [("What advantages do TPUs have?", "Speed. [1] Scale. [2] Cost. [3]")])
    >>> q.follow_up, q.item, q.query
    (True, 'Cost.', 'Cost.')
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .chunking import DEMONSTRATIVES, PRONOUNS
from .normalize import normalize
from .retrieval import stopword_set

History = Sequence[tuple[str, str]]


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
    document_field: str  # "title", "meta" or "conclusion" when it asks about the document itself
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
        item = _ordinal(clean, turns) if turns else None
    else:
        query = answer_query = ""
        item = None
    # "And the third?" means the third thing just quoted: the answerer judges that item, the way
    # retrieval looks it up ("third" itself is a word no document answers). A question of
    # instructions only is judged as asked (it is refused, naming what was asked).
    text = query if item is not None else clean or question
    return Question(
        asked=question, clean=clean, text=text, query=query, answer_query=answer_query,
        follow_up=bool(clean) and is_follow_up(clean), item=item, topic_words=tuple(_content(text)),
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


# Questions about the document itself rather than what it reports: its headline, where it is
# from, how it ends.
_DOC_WORD = r"(article|story|piece|post|document|report|page|text|it|this)"
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


# Nouns that name several things at once: a question asking for them wants a whole list.
_LIST_NOUNS = (r"advantages|benefits|lessons|takeaways|reasons|ways|features|factors|steps|examples|types|kinds|"
               r"challenges|risks|problems|issues|points|tips|principles|goals|components|parts|elements|"
               r"strengths|weaknesses|implications|consequences|effects|uses|applications|options|pros|cons")
_LIST_QUESTION = re.compile(rf"\b(what|which|list|name)\b.*\b(?P<noun>{_LIST_NOUNS})\b|^\s*(list|name|enumerate)\b",
                            re.I)


def asks_for_list(question: str) -> bool:
    """Whether a question asks for several things ("What advantages do TPUs have?")."""
    return bool(_LIST_QUESTION.search(question))


_ACRONYM = re.compile(r"\b([A-Z][A-Z0-9]{1,5})s?\b")
# A named thing in a question: an acronym (CEO, FLOPS), a code with digits (GPT-5, v6, H100),
# or a capitalised word inside the sentence (Microsoft). Ordinals and decades ("15th", "1980s")
# are dates, not names.
_CODE = re.compile(r"^(?=.*\d)(?=.*[A-Za-z])(?!\d+(st|nd|rd|th|s)$)[\w-]+$")
_WORD = re.compile(r"[\w’'-]*\w")
_SENTENCE_START = ".?!:;\"“‘(—–-"


def names(question: str) -> list[str]:
    """The named things a question is about: acronyms, codes and capitalised words mid-sentence.

    Capitals carry no signal in Title Case (only acronyms and codes count there) nor in SHOUTED
    text (only codes count).
    """
    words = [(re.sub(r"[’']s$", "", m.group()), m.start()) for m in _WORD.finditer(question)]
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


# -- overview questions ----------------------------------------------------------------------

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


# -- follow-ups ------------------------------------------------------------------------------

# A follow-up leans on an earlier turn: a pronoun, a demonstrative, or an elliptical opener.
# chunking's pronouns and demonstratives (what a sentence leans on), plus words that only lean
# on a conversation: object forms ("him", "them"), "there", and "one", "same", "the former".
_LEANS_ON_TURN = ("it's", "them", "theirs", "him", "hers", "there", "one", "ones", "same", "former", "latter")
_ANAPHOR = re.compile(rf"\b({'|'.join(PRONOUNS + DEMONSTRATIVES + _LEANS_ON_TURN)})\b", re.I)
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
