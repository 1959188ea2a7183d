"""Evaluation metrics as small pure functions (each unit-tested)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

Span = tuple[int, int]

_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "—": "-", "–": "-", "`": "'"})


def normalize(text: str) -> str:
    """Lower case, straight quotes, plain dashes, single spaces (for containment checks)."""
    return re.sub(r"\s+", " ", text.translate(_QUOTES).lower()).strip()


def overlaps(a: Span, b: Span) -> bool:
    """Whether two half-open spans share at least one character."""
    return a[0] < a[1] and b[0] < b[1] and a[0] < b[1] and b[0] < a[1]


def find_spans(text: str, needles: Sequence[str]) -> list[Span]:
    """Spans of each needle's first exact occurrence in text (missing needles are skipped)."""
    out = []
    for needle in needles:
        at = text.find(needle)
        if at >= 0:
            out.append((at, at + len(needle)))
    return out


def first_hit_rank(retrieved: Sequence[Span], gold: Sequence[Span]) -> int | None:
    """1-based rank of the first retrieved span overlapping any gold span."""
    for rank, span in enumerate(retrieved, start=1):
        if any(overlaps(span, g) for g in gold):
            return rank
    return None


def recall_at_k(retrieved: Sequence[Span], gold: Sequence[Span], k: int) -> float:
    """1.0 when one of the first k retrieved spans overlaps gold evidence."""
    rank = first_hit_rank(retrieved, gold)
    return 1.0 if rank is not None and rank <= k else 0.0


def reciprocal_rank(retrieved: Sequence[Span], gold: Sequence[Span]) -> float:
    """1/rank of the first retrieved span overlapping gold evidence (0 when none)."""
    rank = first_hit_rank(retrieved, gold)
    return 1.0 / rank if rank else 0.0


def citation_hits(cited: Sequence[Span], gold: Sequence[Span]) -> tuple[int, int]:
    """(cited spans that overlap gold evidence, cited spans)."""
    return sum(1 for c in cited if any(overlaps(c, g) for g in gold)), len(cited)


def citation_recall(cited: Sequence[Span], gold: Sequence[Span]) -> float:
    """Share of gold evidence spans that some citation overlaps."""
    if not gold:
        return 1.0
    return sum(1 for g in gold if any(overlaps(c, g) for c in cited)) / len(gold)


def key_fact_recall(answer_text: str, key_facts: Sequence[str]) -> float:
    """Share of key facts the answer text contains (normalised)."""
    if not key_facts:
        return 1.0
    text = normalize(answer_text)
    return sum(1 for f in key_facts if normalize(f) in text) / len(key_facts)


def prf(predicted: Sequence[bool], expected: Sequence[bool]) -> dict[str, float]:
    """Precision, recall and F1 of the positive class (here: 'abstain')."""
    tp = sum(1 for p, e in zip(predicted, expected, strict=True) if p and e)
    fp = sum(1 for p, e in zip(predicted, expected, strict=True) if p and not e)
    fn = sum(1 for p, e in zip(predicted, expected, strict=True) if not p and e)
    precision = tp / (tp + fp) if tp + fp else (1.0 if not fn else 0.0)
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered) / 100))  # q/100 first would round 7/100*100 up to 8
    return ordered[rank - 1]


def mean(values: Sequence[float]) -> float:
    """Arithmetic mean; 0.0 for no values."""
    return sum(values) / len(values) if values else 0.0
