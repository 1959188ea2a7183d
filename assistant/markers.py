"""The `[n]` citation-marker grammar, in one place.

An answer shows each citation as `[n]` after the sentence it backs: "TPUs are fast. [1]", several
as a run: "[1][2]" or "[1] [2]". That is the grammar the answerers write and every reader of an
answer (the citation check, the chat, the follow-up reader, the streaming API) reads.

A model's draft is read more loosely (`DRAFT_MARKER`): a model numbers its sources in many styles,
"[1, 3]", "[2-4]", "[2–4]", "[1 and 2]", and verify.py reads them all; what the user then sees is
written again in the `[n]` grammar. The two grammars are kept apart on purpose: widening the
shown one would make a quoted "[1, 3]" footnote read as a citation.

(The browser side, ui/static/cite.js, parses no markers: it follows the links ui/render.py makes
of `MARKER`.)

    >>> numbers("TPUs are fast. [1] They scale. [2][1]")
    [1, 2, 1]
    >>> numbers(marks([3, 1]))
    [3, 1]
    >>> draft_numbers("1, 3-5")
    [1, 3, 4, 5]
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# -- the shown grammar: "[n]" ----------------------------------------------------------------

_SHOWN = r"\[\d+\]"  # one marker as an answer shows it

# One shown marker, its number captured: the citation check (answer.py), the chat's links
# (ui/render.py) and the follow-up reader (followup.quotes).
MARKER = re.compile(r"\[(\d+)\]")
# A run of shown markers with the whitespace before them, the whole run captured so that
# `re.split` keeps it: an answer cut into (quote, markers) pairs (followup.quotes).
MARKER_RUN = re.compile(rf"((?:\s*{_SHOWN})+)")
# One shown marker with the whitespace before it: removed from a past answer before a model reads
# it (generative.rewrite_messages). Unlike `remove`, it leaves no space where the marker stood.
SPACED_MARKER = re.compile(rf"\s*{_SHOWN}")
# A sentence of an answer up to and including its run of markers (which must end at a space or
# the end), else the unmarked rest of the text: how the API streams an answer it got whole.
MARKED_SENTENCE = re.compile(rf".+?(?:{_SHOWN})+(?=\s|$)|.+$")


def numbers(text: str) -> list[int]:
    """The numbers of the shown markers in a text, in order, repeats kept."""
    return [int(n) for n in MARKER.findall(text)]


def marks(ns: Iterable[int]) -> str:
    """Citation numbers as shown markers: [1, 3] -> "[1][3]"."""
    return "".join(f"[{n}]" for n in ns)


def remove(text: str) -> str:
    """The text without its shown markers; the whitespace around them stays."""
    return MARKER.sub("", text)


def remove_spaced(text: str) -> str:
    """The text without its shown markers and the whitespace just before each."""
    return SPACED_MARKER.sub("", text)


def split_marked_sentences(text: str) -> list[str]:
    """An answer's sentences, each with its markers ([text] when nothing matches)."""
    return MARKED_SENTENCE.findall(text) or [text]


# -- the draft grammar: what a model writes --------------------------------------------------

# One marker as a model may write it: "[1]", "[1, 3]", "[2-4]", "[2–4]", "[1 and 2]", spaces
# inside allowed; the inside is captured (read it with draft_numbers).
DRAFT_MARKER = re.compile(r"\[\s*(\d+(?:\s*(?:,|-|–|and)\s*\d+)*)\s*\]")
# A run of draft markers with the whitespace before them.
DRAFT_MARKER_RUN = re.compile(rf"(?:\s*{DRAFT_MARKER.pattern})+")
MAX_RANGE = 10  # "[1-400]" is not a citation


def draft_numbers(inside: str) -> list[int]:
    """The source numbers of one draft marker's inside: "1, 3" -> [1, 3]; "2-4" -> [2, 3, 4]."""
    out: list[int] = []
    for part in re.split(r"\s*(?:,|\band\b)\s*", inside.strip()):
        span = re.fullmatch(r"(\d+)\s*[-–]\s*(\d+)", part)
        if span and 0 <= int(span[2]) - int(span[1]) < MAX_RANGE:
            out.extend(range(int(span[1]), int(span[2]) + 1))
        elif part.isdigit():
            out.append(int(part))
    return list(dict.fromkeys(out))


def draft_cited(text: str) -> list[int]:
    """Every source number the draft markers in a text name, in order, repeats kept."""
    return [n for m in DRAFT_MARKER.finditer(text) for n in draft_numbers(m.group(1))]


def remove_draft(text: str) -> str:
    """The text without its draft markers and the whitespace before them."""
    return DRAFT_MARKER_RUN.sub("", text)
