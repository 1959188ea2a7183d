"""User feedback on answers: one JSON line per rating, appended to <home>/feedback.jsonl.

    >>> store = FeedbackStore(bot.settings.home / "feedback.jsonl")
    >>> store.append(feedback_record(answer, "up", comment="exact quote, thanks"))
    >>> store.read()[-1]["rating"]
    'up'
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .errors import ConfigError, DocumentError

RATINGS = ("up", "down")
MAX_COMMENT_CHARS = 2000

# One lock per process: the UI serves several sessions from threads that share the file.
_LOCK = threading.Lock()


def feedback_record(answer: Any, rating: str, comment: str = "", now: datetime | None = None
                    ) -> dict[str, Any]:
    """The record stored for a rating of an Answer (or of its `to_dict()`)."""
    if rating not in RATINGS:
        raise ConfigError(f"rating must be 'up' or 'down', got {rating!r}")
    comment = (comment or "").strip()
    if len(comment) > MAX_COMMENT_CHARS:
        raise ConfigError(
            f"the comment is {len(comment)} characters long; keep it under {MAX_COMMENT_CHARS}"
        )
    data = answer if isinstance(answer, dict) else answer.to_dict()
    return {
        "timestamp": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
        "rating": rating,
        "comment": comment,
        "question": data.get("question", ""),
        "query": data.get("query", ""),
        "answer": data.get("text", ""),
        "abstained": bool(data.get("abstained", False)),
        "citations": list(data.get("citations", [])),
    }


class FeedbackStore:
    """An append-only JSONL file of feedback records."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def append(self, record: dict[str, Any]) -> None:
        """Add one record as one line; the directory is created when missing."""
        line = json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # A single write of a whole line under a lock: concurrent sessions never interleave.
        with _LOCK, self.path.open("a", encoding="utf-8") as f:
            f.write(line)

    def read(self) -> list[dict[str, Any]]:
        """Every record, oldest first ([] when nothing was stored yet)."""
        if not self.path.exists():
            return []
        records = []
        with self.path.open(encoding="utf-8") as f:
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    raise DocumentError(
                        f"{self.path}:{number} is not valid JSON; fix or delete that line"
                    ) from None
        return records
