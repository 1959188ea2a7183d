"""article-assistant: grounded, cited answers over a news article (or any documents).

Public API only; heavy libraries (torch, sentence-transformers, chromadb) load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .documents import Document
from .errors import (
    AssistantError,
    ConfigError,
    DocumentError,
    IndexStoreError,
    MissingDependencyError,
)

if TYPE_CHECKING:
    from .answer import Answer, Answerer, Citation
    from .api import Assistant
    from .chunking import Passage
    from .config import Settings

__all__ = [
    "Answer", "Answerer", "Assistant", "AssistantError", "Citation", "ConfigError", "Document",
    "DocumentError", "IndexStoreError", "MissingDependencyError", "Passage", "Settings",
]

_LAZY = {"Assistant": "api", "Answer": "answer", "Answerer": "answer", "Citation": "answer",
         "Passage": "chunking", "Settings": "config"}


def __getattr__(name: str) -> Any:
    # Importing the package stays cheap: `assistant --help` must not pay for langchain or torch.
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'assistant' has no attribute {name!r}")
