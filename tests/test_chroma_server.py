"""The index against a real Chroma server (`chroma run`), the way a shared deployment runs it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from fakes import CountingEmbeddings

from assistant.api import Assistant
from assistant.config import Settings
from assistant.errors import IndexStoreError
from assistant.eval import chroma_server
from assistant.eval.chroma_server import free_port
from assistant.eval.chroma_server import stop as stop_server
from assistant.index import Index

pytestmark = pytest.mark.integration


def start_server(data: Path, port: int) -> subprocess.Popen:
    """`chroma run` on 127.0.0.1:port over data, once its heartbeat answers; fails the test if it does not."""
    try:
        return chroma_server.start(data, port)[0]
    except RuntimeError as e:
        pytest.fail(str(e))


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory):
    """A real Chroma server on a free port, stopped (terminate, then kill) after the module."""
    port = free_port()
    proc = start_server(tmp_path_factory.mktemp("chroma-data"), port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_server(proc)


@pytest.fixture
def server(chroma_url):
    import chromadb

    return chromadb.HttpClient(host="127.0.0.1", port=int(chroma_url.rsplit(":", 1)[1]))


def test_ingest_and_ask_against_the_server(tmp_path, chroma_url, server, article):
    emb = CountingEmbeddings()
    bot = Assistant.from_documents([article], index_dir=tmp_path / "idx", chroma_url=chroma_url,
                                   embeddings=emb, collection="served")
    assert bot.settings.chroma_url == chroma_url
    assert not (tmp_path / "idx" / "chroma").exists()  # no embedded store beside the registry

    spans = bot.index.spans(article.id)
    chunks = server.get_collection("served-chunks")
    sents = server.get_collection("served-sentences")
    assert set(chunks.get(include=[])["ids"]) == {s.id for s in spans.chunks}
    assert set(sents.get(include=[])["ids"]) == {s.id for s in spans.sentences}
    stored = sents.get(ids=[spans.sentences[0].id], include=["embeddings", "documents", "metadatas"])
    assert stored["documents"][0] == spans.sentences[0].text
    assert stored["metadatas"][0] == {"doc_id": article.id, "start": spans.sentences[0].start,
                                      "end": spans.sentences[0].end}
    assert len(stored["embeddings"][0]) == 256
    assert chunks.metadata["model"] == "CountingEmbeddings"

    answer = bot.ask("What are TPUs optimized for?")
    assert answer.passages and all(article.text[p.start : p.end] == p.text for p in answer.passages)
    assert any(p.dense_score is not None for p in answer.passages)  # the server answered the query

    again = CountingEmbeddings()
    report = Assistant.from_documents([article], index_dir=tmp_path / "idx", chroma_url=chroma_url,
                                      embeddings=again, collection="served").ingest(documents=[article])
    assert again.calls == 0
    assert report.embedded == 0


def test_a_new_machine_reuses_vectors_already_on_the_server(tmp_path, chroma_url, article):
    Assistant.from_documents([article], index_dir=tmp_path / "a", chroma_url=chroma_url,
                             embeddings=CountingEmbeddings(), collection="shared")
    fresh = CountingEmbeddings()
    bot = Assistant.from_documents([article], index_dir=tmp_path / "b", chroma_url=chroma_url,
                                   embeddings=fresh, collection="shared")
    assert fresh.calls == 0
    assert bot.documents == [article]


def test_update_and_remove_on_the_server(tmp_path, chroma_url, server, article):
    from assistant.documents import Document

    settings = Settings.load(index_dir=tmp_path / "idx", chroma_url=chroma_url, collection="edits")
    index = Index(settings, CountingEmbeddings())
    index.add([article, Document("cats", "Cats\n\nCats sleep for sixteen hours every day.\n")])
    edited = Document(article.id, article.text.replace("matrix calculations", "matrix math"),
                      title=article.title)
    index.add([edited])
    stored = set(server.get_collection("edits-sentences").get(where={"doc_id": article.id},
                                                               include=[])["ids"])
    assert stored == {s.id for s in index.spans(article.id).sentences}
    index.remove("cats")
    assert server.get_collection("edits-chunks").get(where={"doc_id": "cats"}, include=[])["ids"] == []


def test_unreachable_server_is_a_clear_error(tmp_path, article):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(IndexStoreError) as exc:
        Assistant.from_documents([article], index_dir=tmp_path / "idx", chroma_url=url,
                                 embeddings=CountingEmbeddings())
    message = str(exc.value)
    assert f"cannot reach the Chroma server at {url}" in message
    assert "chroma run --host 127.0.0.1 --port 8000" in message
    assert "unset ASSISTANT_CHROMA_URL" in message
