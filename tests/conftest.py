"""Shared fixtures: every test runs against temp state, offline, with the real article at hand."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from assistant.documents import Document, load_file

REPO = Path(__file__).resolve().parents[1]
ARTICLE_PATH = REPO / "corpus" / "openai-google-cloud-tpus.txt"


def isolate(mp: pytest.MonkeyPatch, home: Path) -> None:
    """Point the assistant at a temp home, offline, ignoring the developer's ASSISTANT_* vars."""
    for name in list(os.environ):
        # A stray ASSISTANT_K or ASSISTANT_CHROMA_URL would silently change what is tested.
        if name.startswith("ASSISTANT_"):
            mp.delenv(name)
    mp.setenv("ASSISTANT_HOME", str(home))
    mp.setenv("HF_HUB_OFFLINE", "1")


@contextmanager
def isolated(home: Path) -> Iterator[None]:
    """`isolate` for fixtures wider than one test (monkeypatch is function-scoped)."""
    mp = pytest.MonkeyPatch()
    isolate(mp, home)
    try:
        yield
    finally:
        mp.undo()


@pytest.fixture(autouse=True)
def _temp_home(tmp_path, monkeypatch):
    isolate(monkeypatch, tmp_path / "home")


@pytest.fixture
def article() -> Document:
    """The real article, loaded the way production loads it."""
    return load_file(ARTICLE_PATH)


@pytest.fixture(scope="session")
def real_bot(tmp_path_factory):
    """The article behind the real MiniLM model (integration tests only: it loads torch)."""
    from assistant.api import Assistant

    with isolated(tmp_path_factory.mktemp("home")):
        bot = Assistant.from_documents([load_file(ARTICLE_PATH)], index_dir=tmp_path_factory.mktemp("idx"))
    return bot
