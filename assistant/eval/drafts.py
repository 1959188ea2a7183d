"""Feedback -> draft gold cases, for a person to review before they join corpus/eval/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..feedback import FeedbackStore


def drafts_from_feedback(path: Path) -> list[dict[str, Any]]:
    """One draft case per rated answer; thumbs-up keeps the cited quotes as evidence."""
    drafts = []
    for i, rec in enumerate(FeedbackStore(path).read(), start=1):
        liked = rec.get("rating") == "up"
        quotes = [c.get("quote", "") for c in rec.get("citations", []) if c.get("quote")]
        drafts.append({
            "id": f"fb-{i:03d}",
            "category": "unanswerable" if liked and rec.get("abstained") else "answerable",
            "question": rec.get("question", ""),
            "answerable": not (liked and rec.get("abstained")),
            "evidence": quotes if liked else [],
            "key_facts": [],
            "review": ("confirmed by a thumbs-up" if liked else "thumbs-down: find the right evidence")
                      + (f"; comment: {rec['comment']}" if rec.get("comment") else ""),
            "source_answer": rec.get("answer", ""),
        })
    return drafts
