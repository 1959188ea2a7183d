"""The index: content-hash upserts, nothing re-embedded twice, nothing stored ever lost."""

from __future__ import annotations

import json

import pytest
from fakes import CountingEmbeddings, EncoderCrashed, OtherEmbeddings

from assistant.config import Settings
from assistant.documents import Document
from assistant.errors import IndexStoreError
from assistant.index import Index

CATS = Document("cats", "Cats\n\nCats sleep for sixteen hours a day. They hunt at dawn and dusk.\n"
                "A cat grooms itself with a rough tongue.\n", title="Cats")
DOGS = Document("dogs", "Dogs\n\nDogs were domesticated from wolves. They bark at strangers.\n",
                title="Dogs")


def settings_for(tmp_path, **kw) -> Settings:
    return Settings.load(index_dir=tmp_path / "idx", **kw)


@pytest.fixture
def emb() -> CountingEmbeddings:
    return CountingEmbeddings()


@pytest.fixture
def index(tmp_path, emb) -> Index:
    return Index(settings_for(tmp_path), emb)


def encoded(span) -> str:
    """The text the index sends to the encoder for a span (it may prepend context)."""
    return getattr(span, "embed_text", span.text)


def stored_ids(col, doc_id: str | None = None) -> set[str]:
    where = {"doc_id": doc_id} if doc_id else None
    return set(col.get(where=where, include=[])["ids"])


def expected_ids(index: Index, doc_id: str) -> tuple[set[str], set[str]]:
    spans = index.spans(doc_id)
    return {s.id for s in spans.chunks}, {s.id for s in spans.sentences}


def test_index_lives_under_the_given_dir(tmp_path, index):
    index.add([CATS])
    assert (tmp_path / "idx" / "documents.json").exists()
    assert (tmp_path / "idx" / "chroma").is_dir()


def test_add_embeds_every_span_once(index, emb):
    report = index.add([CATS, DOGS])
    n_chunks = sum(len(index.spans(d).chunks) for d in ("cats", "dogs"))
    n_sents = sum(len(index.spans(d).sentences) for d in ("cats", "dogs"))
    assert report.embedded == n_chunks + n_sents == len(emb.texts)
    assert index.counts() == {"chunks": n_chunks, "sentences": n_sents}
    assert (report.documents, report.reused, report.removed) == (2, 0, 0)
    assert report.doc_ids == ["cats", "dogs"]
    assert [d.id for d in index.documents] == ["cats", "dogs"]


def test_second_add_of_unchanged_documents_embeds_nothing(index, emb):
    first = index.add([CATS, DOGS])
    emb.reset()
    second = index.add([CATS, DOGS])
    assert emb.calls == 0 and emb.texts == []
    assert second.embedded == 0
    assert second.reused == first.embedded
    assert second.removed == 0


def test_unchanged_documents_are_not_re_embedded_after_reopening(tmp_path, emb):
    Index(settings_for(tmp_path), emb).add([CATS])
    again = CountingEmbeddings()
    report = Index(settings_for(tmp_path), again).add([CATS])
    assert again.calls == 0
    assert report.embedded == 0


def test_changed_document_replaces_its_spans(index, emb):
    index.add([CATS, DOGS])
    old_chunks, old_sents = expected_ids(index, "cats")
    dogs_before = stored_ids(index.chunk_col, "dogs") | stored_ids(index.sentence_col, "dogs")
    changed = Document("cats", CATS.text.replace("sixteen hours", "twelve hours")
                       + "Kittens open their eyes after a week.\n", title="Cats")
    emb.reset()
    report = index.add([changed])
    new_chunks, new_sents = expected_ids(index, "cats")
    assert stored_ids(index.chunk_col, "cats") == new_chunks
    assert stored_ids(index.sentence_col, "cats") == new_sents
    assert not (old_chunks - new_chunks) & stored_ids(index.chunk_col)
    assert not (old_sents - new_sents) & stored_ids(index.sentence_col)
    # Only what changed went to the encoder; unchanged spans kept their vectors.
    fresh = [s for s in index.spans("cats").chunks if s.id not in old_chunks] + [
        s for s in index.spans("cats").sentences if s.id not in old_sents]
    assert sorted(emb.texts) == sorted(encoded(s) for s in fresh)
    assert report.embedded == len(fresh)
    assert report.reused == len(old_chunks & new_chunks) + len(old_sents & new_sents) > 0
    assert report.removed == len(old_chunks - new_chunks) + len(old_sents - new_sents) > 0
    assert index.documents[0].text == changed.text
    # The other document is untouched.
    assert stored_ids(index.chunk_col, "dogs") | stored_ids(index.sentence_col, "dogs") == dogs_before


def test_counts_equal_spans_after_many_edits(index):
    text = CATS.text
    for i in range(4):
        text += f"Fact number {i} is about whiskers.\n"
        index.add([Document("cats", text, title="Cats")])
    chunks, sents = expected_ids(index, "cats")
    assert index.counts() == {"chunks": len(chunks), "sentences": len(sents)}


def test_remove(index):
    index.add([CATS, DOGS])
    dog_chunks, dog_sents = expected_ids(index, "dogs")
    index.remove("cats")
    assert [d.id for d in index.documents] == ["dogs"]
    assert stored_ids(index.chunk_col, "cats") == set() == stored_ids(index.sentence_col, "cats")
    assert stored_ids(index.chunk_col) == dog_chunks
    assert stored_ids(index.sentence_col) == dog_sents
    with pytest.raises(IndexStoreError, match="no document 'cats'"):
        index.remove("cats")


def test_remove_persists(tmp_path, index, emb):
    index.add([CATS, DOGS])
    index.remove("dogs")
    assert [d.id for d in Index(settings_for(tmp_path), emb).documents] == ["cats"]


def test_clear(tmp_path, index, emb):
    index.add([CATS, DOGS])
    index.clear()
    assert index.documents == []
    assert index.counts() == {"chunks": 0, "sentences": 0}
    assert Index(settings_for(tmp_path), emb).documents == []
    # The index is usable again after clearing.
    index.add([DOGS])
    assert stored_ids(index.chunk_col) == expected_ids(index, "dogs")[0]


def test_registry_reopen(tmp_path, index, emb):
    index.add([CATS, DOGS])
    reopened = Index(settings_for(tmp_path), emb)
    assert reopened.documents == [CATS, DOGS]
    assert reopened.documents[0].title == "Cats"
    assert reopened.counts() == index.counts()
    assert {s.id for s in reopened.all_chunks()} == stored_ids(reopened.chunk_col)


def test_registry_keeps_metadata(tmp_path, index, emb):
    doc = Document("m", "Some text here.", title="T", source="https://x.example",
                   metadata={"outlet": "Paper", "date": "2024-05-01"})
    index.add([doc])
    again = Index(settings_for(tmp_path), emb).documents[0]
    assert (again.title, again.source, again.metadata) == ("T", "https://x.example", doc.metadata)


def test_damaged_registry_is_moved_aside_not_fatal(tmp_path, index, emb):
    index.add([CATS])
    index.registry_path.write_text("{ half a file", encoding="utf-8")
    reopened = Index(settings_for(tmp_path), emb)
    assert reopened.documents == []
    broken = list(index.registry_path.parent.glob("documents.json.broken-*"))
    assert [b.read_text(encoding="utf-8") for b in broken] == ["{ half a file"]  # kept, not deleted
    assert "was damaged" in reopened.recovered[0] and str(broken[0]) in reopened.recovered[0]
    # The vectors of the documents it lost are orphans now: dropped, and named for re-ingesting.
    assert reopened.counts() == {"chunks": 0, "sentences": 0}
    assert "(cats)" in reopened.recovered[1]


def test_duplicate_ids_rejected(index, emb):
    with pytest.raises(IndexStoreError, match=r"duplicate document ids \['cats'\]"):
        index.add([CATS, DOGS, Document("cats", "Other text.")])
    assert emb.calls == 0
    assert index.documents == []


def test_model_change_forces_re_embedding(tmp_path, index):
    index.add([CATS])
    other = OtherEmbeddings()
    reopened = Index(settings_for(tmp_path), other)
    # Vectors of another model are dropped; the documents themselves survive in the registry.
    assert reopened.counts() == {"chunks": 0, "sentences": 0}
    assert [d.id for d in reopened.documents] == ["cats"]
    report = reopened.add([CATS])
    chunks, sents = expected_ids(reopened, "cats")
    assert report.embedded == len(chunks) + len(sents) == len(other.texts)
    assert reopened.chunk_col.metadata["model"] == "OtherEmbeddings"


def test_embedding_dim_change_is_a_model_change(tmp_path, index):
    # HashingEmbeddings(128) and (256) have different ids; Chroma would reject mixed dims.
    from assistant.embeddings import HashingEmbeddings

    index.add([CATS])
    reopened = Index(settings_for(tmp_path), HashingEmbeddings(128))
    reopened.add([CATS, DOGS])
    assert len(reopened.chunk_col.get(limit=1, include=["embeddings"])["embeddings"][0]) == 128


def test_failing_encoder_on_a_new_version_keeps_the_old_one(tmp_path, index):
    index.add([CATS])
    chunks_before = stored_ids(index.chunk_col)
    sents_before = stored_ids(index.sentence_col)
    crashing = Index(settings_for(tmp_path), CountingEmbeddings(fail_after=0))
    changed = Document("cats", CATS.text + "Cats have whiskers on their legs too.\n", title="Cats")
    with pytest.raises(EncoderCrashed):
        crashing.add([changed])
    assert crashing.documents == [CATS]  # the registry still describes what is stored
    assert stored_ids(crashing.chunk_col) == chunks_before
    assert stored_ids(crashing.sentence_col) == sents_before
    assert Index(settings_for(tmp_path), CountingEmbeddings()).documents == [CATS]


def test_failing_encoder_on_a_new_document_keeps_the_others(tmp_path, index):
    index.add([CATS])
    crashing = Index(settings_for(tmp_path), CountingEmbeddings(fail_after=0))
    with pytest.raises(EncoderCrashed):
        crashing.add([DOGS])
    assert crashing.documents == [CATS]
    assert stored_ids(crashing.chunk_col, "cats") == expected_ids(crashing, "cats")[0]
    assert Index(settings_for(tmp_path), CountingEmbeddings()).documents == [CATS]


def test_encoder_failing_between_collections_loses_nothing(tmp_path, index):
    index.add([CATS])
    chunks_before = stored_ids(index.chunk_col)
    sents_before = stored_ids(index.sentence_col)
    # One batch goes through (the chunks of the new version), then the encoder dies.
    crashing = Index(settings_for(tmp_path), CountingEmbeddings(fail_after=1))
    changed = Document("cats", CATS.text.replace("sixteen", "fourteen"), title="Cats")
    with pytest.raises(EncoderCrashed):
        crashing.add([changed])
    assert crashing.documents == [CATS]
    # The registry says CATS, so CATS's vectors must all still be there.
    assert chunks_before <= stored_ids(crashing.chunk_col)
    assert sents_before <= stored_ids(crashing.sentence_col)


def test_a_killed_ingest_keeps_the_documents_registered_before_it_died(tmp_path):
    """No `finally` runs on SIGKILL or power loss: the registry is written as the ingest goes."""
    import subprocess
    import sys
    from pathlib import Path

    script = """
import os, sys
sys.path.insert(0, sys.argv[2])
from fakes import CountingEmbeddings
import assistant.index as index
from assistant.config import Settings
from assistant.documents import Document

index._CHECKPOINT_S = 0.0  # write after every document
emb = CountingEmbeddings()  # the same model id as the one that reopens
embed = emb.embed_documents
def dying(texts):
    if emb.calls == 6:  # three documents of two batches each, then the process dies
        os._exit(9)
    return embed(texts)
emb.embed_documents = dying
docs = [Document(f"d{i}", f"Document {i} is about cats number {i}. It is short.", title=f"D{i}") for i in range(6)]
index.Index(Settings.load(index_dir=sys.argv[1]), emb).add(docs)
"""
    tests = Path(__file__).parent
    died = subprocess.run([sys.executable, "-c", script, str(tmp_path / "idx"), str(tests)], timeout=120)
    assert died.returncode == 9
    reopened = Index(settings_for(tmp_path), emb := CountingEmbeddings())
    assert [d.id for d in reopened.documents] == ["d0", "d1", "d2"]
    docs = [Document(f"d{i}", f"Document {i} is about cats number {i}. It is short.", title=f"D{i}") for i in range(6)]
    report = reopened.add(docs)
    assert report.reused == sum(len(set(expected_ids(reopened, f"d{i}")[0] | expected_ids(reopened, f"d{i}")[1]))
                                for i in range(3))
    assert emb.calls == 6  # the three documents left, two batches each


def test_dense_chunks_and_sentence_vectors(index, emb):
    index.add([CATS, DOGS])
    query = emb.embed_query("Dogs were domesticated from wolves")
    hits = index.dense_chunks(query, k=2)
    assert len(hits) == 2
    top_id, top_sim = hits[0]
    assert top_id in expected_ids(index, "dogs")[0]
    assert 0.0 < top_sim <= 1.0 + 1e-6
    assert hits[0][1] >= hits[1][1]
    sents = index.spans("cats").sentences
    vectors = index.sentence_vectors(sents)
    assert set(vectors) == {s.id for s in sents}
    assert all(v.shape == (256,) for v in vectors.values())
    # Stored vectors are the encoder's vectors for exactly that sentence text.
    assert vectors[sents[1].id].tolist() == pytest.approx(emb.embed_documents([encoded(sents[1])])[0], abs=1e-6)


def test_exact_dense_search_is_chromas_ranking_without_the_approximation(tmp_path, index, emb, monkeypatch):
    docs = [Document(f"d{i}", f"Doc {i}\n\nTopic {i} is about item {i}. " + "Filler words here. " * (i % 7))
            for i in range(60)]
    index.add(docs)
    other = Index(settings_for(tmp_path / "again"), emb)
    other.add(docs)
    for q in ("item 7", "Topic 33 is about", "filler words"):
        vec = emb.embed_query(q)
        exact = index.dense_chunks(vec, k=10)
        assert exact == other.dense_chunks(vec, k=10)  # two builds, one ranking
        monkeypatch.setattr("assistant.index.EXACT_SEARCH_MAX", 0)  # a big collection: HNSW
        approx = index.dense_chunks(vec, k=10)
        monkeypatch.undo()
        assert [i for i, _ in exact][:3] == [i for i, _ in approx][:3]
        assert [s for _, s in exact] == pytest.approx([s for _, s in approx], abs=1e-5)


def test_the_approximate_search_width_is_the_configured_one_new_or_old(tmp_path, emb):
    made = Index(settings_for(tmp_path, hnsw_ef_search=123), emb)
    made.add([CATS])
    hnsw = made.chunk_col.configuration["hnsw"]
    assert (hnsw["ef_search"], hnsw["space"]) == (123, "cosine")
    # An index made with another width takes the configured one when it is opened again.
    reopened = Index(settings_for(tmp_path, hnsw_ef_search=456), emb)
    assert reopened.chunk_col.configuration["hnsw"]["ef_search"] == 456
    assert reopened.chunk_col.configuration["hnsw"]["space"] == "cosine"
    assert reopened.documents and reopened.chunk_col.count() == made.chunk_col.count()


def test_reopening_reads_the_stored_ids_in_pages_and_keeps_them_all(tmp_path, emb, monkeypatch):
    Index(settings_for(tmp_path), emb).add([CATS, DOGS])
    chunks, sentences = expected_ids(Index(settings_for(tmp_path), emb), "cats")
    monkeypatch.setattr("assistant.index._ID_PAGE", 2)  # many pages, the last one short
    calls = emb.calls
    reopened = Index(settings_for(tmp_path), emb)
    assert stored_ids(reopened.chunk_col, "cats") == chunks and stored_ids(reopened.sentence_col, "cats") == sentences
    assert [d.id for d in reopened.documents] == ["cats", "dogs"] and emb.calls == calls  # nothing re-embedded
    assert all(len(have) == col.count() for have, col in
               zip(reopened._stored_doc_ids(reopened._registered_ids()), (reopened.chunk_col, reopened.sentence_col), strict=True))


def test_reopening_a_complete_index_looks_its_ids_up_without_reading_every_row(tmp_path, emb, monkeypatch):
    """Reading every row pages by offset (20 s for 300 k sentences); a complete index needs none of it."""
    Index(settings_for(tmp_path), emb).add([CATS, DOGS])

    def no_scan(self, col):
        raise AssertionError(f"read every row of {col.name}")

    monkeypatch.setattr(Index, "_all_stored", no_scan)
    reopened = Index(settings_for(tmp_path), emb)
    assert [d.id for d in reopened.documents] == ["cats", "dogs"] and reopened.recovered == []


def test_vectors_nobody_registered_are_found_by_reading_every_row_in_pages(tmp_path, emb, monkeypatch):
    made = Index(settings_for(tmp_path), emb)
    made.add([CATS, DOGS])
    kept = stored_ids(made.chunk_col)
    # As an interrupted ingest leaves them: vectors of a document the registry never got.
    made.chunk_col.add(ids=["ghost-1", "ghost-2", "ghost-3"], embeddings=emb.embed_documents(["a", "b", "c"]),
                       metadatas=[{"doc_id": "ghost"}] * 3, documents=["a", "b", "c"])
    monkeypatch.setattr("assistant.index._ID_PAGE", 2)  # many pages, the last one short
    calls = emb.calls
    reopened = Index(settings_for(tmp_path), emb)
    assert stored_ids(reopened.chunk_col) == kept and emb.calls == calls  # the ghosts alone went
    assert "removed 3 vector(s)" in reopened.recovered[0] and "(ghost)" in reopened.recovered[0]


def test_exact_dense_search_follows_changes(index, emb):
    index.add([CATS])
    vec = emb.embed_query("Dogs were domesticated from wolves")
    assert {i for i, _ in index.dense_chunks(vec, k=5)} <= expected_ids(index, "cats")[0]
    index.add([DOGS])
    assert index.dense_chunks(vec, k=1)[0][0] in expected_ids(index, "dogs")[0]
    index.remove("dogs")
    assert {i for i, _ in index.dense_chunks(vec, k=5)} <= expected_ids(index, "cats")[0]


def test_dense_chunks_on_an_empty_index(index):
    assert index.dense_chunks([0.1] * 256, k=3) == []


def test_registry_file_is_plain_json(index):
    index.add([CATS])
    data = json.loads(index.registry_path.read_text(encoding="utf-8"))
    assert [d["id"] for d in data["documents"]] == ["cats"]
    assert not list(index.registry_path.parent.glob("*.tmp"))


def test_the_model_and_its_caches_serve_one_thread_at_a_time(monkeypatch):
    """The UI answers several sessions at once over one model and one pair of LRU caches."""
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np
    from fakes import BusyModel

    import assistant.embeddings as embeddings

    emb = embeddings.SentenceTransformerEmbeddings("unused")
    emb._model = model = BusyModel()
    monkeypatch.setattr(embeddings, "_TOKEN_ROWS", 20)  # evicting all the time, while others read
    texts = [f"which tpu generation {i} does openai rent" for i in range(40)]

    def one(i: int) -> list[float]:
        emb.embed_tokens([texts[(i + 7) % len(texts)], texts[(i + 3) % len(texts)]])
        return emb.embed_query(texts[i])

    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(one, range(len(texts))))
    assert model.most_inside == 1
    alone = model.hashing.embed_documents(texts)
    assert all(np.allclose(a, b, atol=1e-6) for a, b in zip(alone, together, strict=True))
    assert emb._token_rows == sum(len(t.tokens) for t in emb._token_cache.values())


# -- span files: opening an index does not split every document again ----------------------

def _no_splitting(monkeypatch):
    import assistant.index as index_module

    def refuse(*_a, **_k):
        raise AssertionError("split again: the stored spans were not used")

    monkeypatch.setattr(index_module, "sentences", refuse)
    monkeypatch.setattr(index_module, "chunks", refuse)


def test_reopening_reads_the_spans_back_instead_of_splitting_again(tmp_path, index, emb, monkeypatch, article):
    index.add([CATS, article])
    before = {d.id: index.spans(d.id) for d in (CATS, article)}
    _no_splitting(monkeypatch)
    reopened = Index(settings_for(tmp_path), emb)
    for doc_id, spans in before.items():
        again = reopened.spans(doc_id)
        assert again.chunks == spans.chunks and again.sentences == spans.sentences  # text, offsets, context
    assert reopened.add([CATS, article]).embedded == 0


def test_a_changed_document_or_setting_is_split_again_and_old_span_files_go(tmp_path, index, emb):
    index.add([CATS])
    files = set((tmp_path / "idx" / "spans").glob("*.json"))
    assert len(files) == 1
    changed = Document("cats", CATS.text + "Cats purr when content.\n", title="Cats")
    index.add([changed])
    assert any("purr" in s.text for s in index.spans("cats").sentences)
    smaller = Index(settings_for(tmp_path, chunk_size=60, chunk_overlap=10), emb)
    assert max(len(c.text) for c in smaller.spans("cats").chunks) <= 60
    # Opening keeps only the files of the documents (and settings) in the index now.
    assert set((tmp_path / "idx" / "spans").glob("*.json")) == {smaller._span_files.path(changed)}


def test_a_damaged_span_file_is_split_again_not_fatal(tmp_path, index, emb):
    index.add([CATS])
    expected = index.spans("cats")
    for f in (tmp_path / "idx" / "spans").glob("*.json"):
        f.write_text("{not json", encoding="utf-8")
    reopened = Index(settings_for(tmp_path), emb)
    assert reopened.spans("cats").sentences == expected.sentences


def test_ingest_progress_shows_documents_and_chunks_per_second_on_a_terminal(index, monkeypatch):
    import io
    import sys

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    shown = Terminal()
    monkeypatch.setattr(sys, "stderr", shown)
    index.add([CATS, DOGS], progress=True)
    assert "2/2" in shown.getvalue() and "doc/s" in shown.getvalue() and "chunks_per_s=" in shown.getvalue()
    monkeypatch.setattr(sys, "stderr", piped := io.StringIO())  # not a terminal: nothing shown
    index.add([CATS], progress=True)
    assert piped.getvalue() == ""
