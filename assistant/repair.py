"""Repairs an index needs after a crash or a damaged file: recognise a corrupt SQLite database,
move a damaged file aside (never delete it), salvage the documents a damaged registry still holds,
and drop chromadb's cached handle on a store that failed to start.

`Index` decides when (on open, see index.py's module docstring); these are the how.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from .documents import Document
from .errors import DocumentError


def is_corrupt(exc: BaseException) -> bool:
    """Whether a store error says the embedded database is unreadable."""
    # SQLite's SQLITE_NOTADB (26) and SQLITE_CORRUPT (11), as the Rust bindings word them. Only
    # these mean "unreadable": a locked or read-only database must not be moved aside.
    text = str(exc)
    return any(s in text for s in ("(code: 26)", "(code: 11)", "not a database", "malformed"))


def forget_system(path: Path) -> None:
    """Drop chromadb's per-process cache entry for an embedded store that failed to start."""
    from chromadb.api.shared_system_client import SharedSystemClient

    # chromadb caches one System per path, even one whose start failed; a new client for the
    # same path would get that broken System back. Its public clear_system_cache() would also
    # drop every other open index of this process, so only this path's entry goes.
    SharedSystemClient._identifier_to_system.pop(str(path), None)
    SharedSystemClient._identifier_to_refcount.pop(str(path), None)


def move_aside(path: Path) -> Path:
    """Rename a damaged file or folder to <name>.broken-<time> (never delete what the user had)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.broken-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.broken-{stamp}-{n}")
    path.rename(target)
    return target


def salvage(text: str) -> dict[str, Document]:
    """The documents a truncated or damaged registry still holds whole, in order."""
    decoder = json.JSONDecoder()
    start = text.find("[", text.find('"documents"') + 1)
    docs: dict[str, Document] = {}
    pos = start + 1 if start >= 0 else len(text)
    while pos < len(text):
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        try:
            item, pos = decoder.raw_decode(text, pos)
            doc = Document.from_dict(item)
        except (ValueError, KeyError, TypeError, AttributeError, DocumentError):
            break  # the first damaged entry: everything after it is suspect too
        docs[doc.id] = doc
    return docs
