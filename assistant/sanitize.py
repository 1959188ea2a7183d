"""Text from outside (a question, a history turn), made safe once at the edge.

What people paste carries invisible baggage: a zero-width space inside "Open\u200bAI", terminal
colour codes, a byte-order mark, a lone UTF-16 surrogate from a broken client. Each would reach
the tokenizer or the word matcher as if it were text. `clean` removes them, the same way for the
API, the CLI and the UI, before anything else reads the question.
"""

from __future__ import annotations

import re
import unicodedata

# ANSI escape sequences: CSI ("\x1b[31m"), OSC ("\x1b]0;title\x07"), and two-byte escapes.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
_KEEP_CONTROLS = {"\t", "\n", "\r"}


def clean(text: str) -> str:
    """NFKC-normalized text without escape codes, invisible format marks or control characters.

    Lone surrogates become U+FFFD; a pair written as two code points becomes its character.
    Format marks (zero-width, bidi, BOM, soft hyphen) are removed so the word they split joins
    again; other control characters become a space.
    """
    # "surrogatepass" lets a str holding surrogate code points through; decoding then pairs the
    # valid ones and replaces the lone ones.
    text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    text = _ANSI.sub("", text)
    text = unicodedata.normalize("NFKC", text)
    out = []
    for ch in text:
        category = unicodedata.category(ch)
        if category == "Cf":
            continue
        if category == "Cc" and ch not in _KEEP_CONTROLS:
            out.append(" ")
            continue
        out.append(ch)
    return "".join(out)
