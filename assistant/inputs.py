"""A request checked at the door: the question, the history and k, each with an error naming the fix."""

from __future__ import annotations

from typing import Any

from .errors import ConfigError
from .sanitize import clean

MAX_QUESTION_CHARS = 2000


def check_question(question: Any) -> str:
    """The question cleaned (sanitize.clean) on one line; a clear error when it is not a
    string, empty or too long."""
    if isinstance(question, bytes | bytearray):
        raise ConfigError("the question is bytes; decode it to a str first (e.g. data.decode('utf-8'))")
    if question is not None and not isinstance(question, str):
        raise ConfigError(f"the question must be a str, got {type(question).__name__}")
    question = clean(question or "")
    if not question.strip():
        raise ConfigError("the question is empty; ask something about the article")
    if len(question) > MAX_QUESTION_CHARS:
        raise ConfigError(
            f"the question is {len(question)} characters long; keep it under {MAX_QUESTION_CHARS}"
        )
    return " ".join(question.split())


def check_k(k: Any) -> int:
    """k as a positive int; a clear error otherwise."""
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ConfigError(f"k must be a positive integer, got {k!r}")
    return k


def check_history(history: Any) -> list[tuple[str, str]]:
    """(question, answer) pairs; chat "messages" ({"role", "content"} dicts) are paired up too."""
    if history is None:
        return []
    items = list(history) if isinstance(history, list | tuple) else None
    if items and all(isinstance(m, dict) for m in items):
        pairs, question = [], None
        for m in items:
            if m.get("role") == "user":
                question = clean(str(m.get("content", "")))
            elif m.get("role") == "assistant" and question is not None:
                pairs.append((question, clean(str(m.get("content", "")))))
                question = None
        return pairs
    try:
        if items is None or any(isinstance(p, str | dict) or len(p) != 2 for p in items):
            raise TypeError
        return [(clean(str(q)), clean(str(a))) for q, a in items]
    except TypeError:
        raise ConfigError(
            "history must be a list of (question, answer_text) pairs or of {'role', 'content'} messages"
        ) from None
