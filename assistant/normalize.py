"""Question clean-up before retrieval: drop instructions aimed at the assistant, spell out chat-speak.

Both are about how people type questions, never about any document's wording.
"""

from __future__ import annotations

import re

from .lexicon import CHAT_SPEAK

# A sentence or clause that talks to the assistant rather than asking about the documents:
# "Ignore all previous instructions", "print your system prompt", "forget the article and ...".
_INSTRUCTION = re.compile(
    # An imperative at the start of the piece: "Ignore ...", "Please forget ...", "Now act as ...".
    r"^\W*((please|now|just|and|also|first)[\s,]+)*"
    r"((ignore|disregard|forget|override|bypass)\b.{0,60}\b(instructions?|prompts?|rules|article|"
    r"documents?|context|sources?|above|everything)\b"
    r"|(you are now|act as|pretend (to be|you are)|from now on)\b"
    r"|(use|answer (from|with)|rely on)\b.{0,20}\b(general|own|outside|prior|world) knowledge\b)"
    # Anywhere: asking for the hidden prompt, or a fake mode switch.
    r"|\b(print|reveal|show|repeat|output|tell me)\b.{0,30}\b(system|hidden|initial)\s+(prompt|instructions?|message)\b"
    r"|\b(system override|developer mode|admin mode)\b",
    re.I,
)
# Pieces a question is made of: sentences, and the clauses either side of a colon.
_PIECES = re.compile(r"(?<=[.!?:;])\s+|\s*:\s*")
_OPENER = re.compile(r"^(also|and|then|now|anyway|but|ok(ay)?|so)\b[,\s]*", re.I)

_WORD = re.compile(r"[\w/']+|[^\w\s]+|\s+")


def strip_instructions(question: str) -> str:
    """The question without pieces addressed to the assistant ("" when nothing else is left)."""
    pieces = [p for p in _PIECES.split(question) if p and p.strip()]
    kept = [_OPENER.sub("", p).strip() for p in pieces if not _INSTRUCTION.search(p)]
    kept = [p for p in kept if re.search(r"\w", p)]
    if len(kept) == len(pieces):
        return question
    return " ".join(kept)


def expand_chat_speak(question: str) -> str:
    """Spell out chat abbreviations (lexicon.CHAT_SPEAK: "wat tpus r they using" -> "what tpus are they using")."""
    out, first = [], True
    for token in _WORD.findall(question):
        low = token.lower()
        if token.isspace() or not re.search(r"\w", token):
            out.append(token)
            continue
        if first and token == "y":  # "y" is "why" only as the first word
            out.append("why")
        elif token == low and low in CHAT_SPEAK:
            out.append(CHAT_SPEAK[low])
        else:
            out.append(token)
        first = False
    return " ".join("".join(out).split())


def normalize(question: str) -> str:
    """What retrieval and answering see: instructions dropped, chat-speak spelled out.

    "" means the question was only instructions: there is nothing to look up.
    """
    return expand_chat_speak(strip_instructions(" ".join(question.split())))
