"""Sentence vectors pooled from the chunks' token vectors (late chunking, assistant/pooling.py)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from fakes import EncoderCrashed, TokenHashing
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant import chunking, pooling
from assistant.chunking import Span
from assistant.documents import Document
from assistant.embeddings import Encoded, HashingEmbeddings
from assistant.pooling import SentencePool, encode_spans


def unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    return v / np.linalg.norm(v)


def test_a_sentence_is_the_mean_of_its_own_tokens_only():
    chunk = Span("d", 10, 30, "x" * 20)
    first, second = Span("d", 10, 18, "x" * 8), Span("d", 19, 30, "x" * 11)
    tokens = np.array([[9, 9], [1, 0], [3, 0], [0, 1], [9, 9]], dtype=np.float32)
    offsets = [(0, 0), (0, 4), (5, 8), (9, 20), (0, 0)]  # [CLS], two words, one word, [SEP]
    done = dict(SentencePool([first, second], [chunk]).add(chunk, Encoded([], tokens, offsets)))
    assert np.allclose(done[first], unit([4, 0])) and np.allclose(done[second], unit([0, 1]))


def test_a_sentence_in_two_chunks_waits_for_both_and_pools_tokens_from_each():
    a, b = Span("d", 0, 20, "x" * 20), Span("d", 12, 30, "x" * 18)
    sentence = Span("d", 12, 20, "x" * 8)
    pool = SentencePool([sentence], [a, b])
    assert pool.add(a, Encoded([], np.array([[1, 0]], np.float32), [(12, 20)])) == []
    ((got, vector),) = pool.add(b, Encoded([], np.array([[0, 3]], np.float32), [(0, 8)]))
    assert got == sentence and np.allclose(vector, unit([1, 3]))


def test_offsets_after_a_context_prefix_are_shifted():
    chunk, sentence = Span("d", 100, 110, "x" * 10, "Heading"), Span("d", 100, 105, "x" * 5)
    prefix = len(chunk.embed_text) - len(chunk.text)  # "Heading\n"
    encoded = Encoded([], np.array([[1, 0], [0, 1]], np.float32), [(0, 7), (prefix, prefix + 5)])
    ((_, vector),) = SentencePool([sentence], [chunk]).add(chunk, encoded, prefix)
    assert np.allclose(vector, [0, 1])  # the heading's token is not the sentence's


def _doc(text: str, size: int = 60) -> tuple[list[Span], list[Span]]:
    doc = Document(id="d", text=text, title="T")
    return chunking.chunks(doc, size, size // 6), chunking.sentences(doc)


def _vectors(batches):
    chunks, sentences = {}, {}
    for cs, cv, ss, sv in batches:
        assert len(cs) == len(cv) and len(ss) == len(sv)
        chunks.update(zip((c.id for c in cs), cv, strict=True))
        for s, v in zip(ss, sv, strict=True):
            assert s.id not in sentences, "a sentence was given two vectors"
            sentences[s.id] = v
    return chunks, sentences


TEXT = ("Google rents its TPUs to OpenAI. They are cheaper than GPUs for inference.\n\n"
        "The deal was reported in June. Microsoft had been the only supplier of compute.")


def test_one_pass_over_the_chunks_gives_every_new_span_a_vector():
    chunks, sentences = _doc(TEXT)
    emb = TokenHashing()
    got_c, got_s = _vectors(encode_spans(emb, chunks, sentences, {c.id for c in chunks},
                                         {s.id for s in sentences}, batch=2))
    assert set(got_c) == {c.id for c in chunks} and set(got_s) == {s.id for s in sentences}
    assert emb.token_texts == [c.text for c in chunks] and emb.alone_texts == []
    # A chunk's vector is the model's vector of its text, as when it was encoded alone.
    assert all(np.allclose(got_c[c.id], emb._one(c.text)) for c in chunks)


def test_a_stored_chunk_is_read_again_only_for_a_sentence_that_still_needs_it():
    chunks, sentences = _doc(TEXT)
    last = sentences[-1]
    emb = TokenHashing()
    got_c, got_s = _vectors(encode_spans(emb, chunks, sentences, set(), {last.id}, batch=8))
    assert got_c == {} and set(got_s) == {last.id}
    assert emb.token_texts == [c.text for c in chunks if c.start < last.end and last.start < c.end]


def test_sentences_past_the_encoders_window_are_encoded_alone():
    chunks, sentences = _doc(TEXT, size=200)
    emb = TokenHashing(window=2)  # only each chunk's first two words get token vectors
    _, got_s = _vectors(encode_spans(emb, chunks, sentences, {c.id for c in chunks},
                                     {s.id for s in sentences}, batch=4))
    assert set(got_s) == {s.id for s in sentences}
    seen = [(c.start + w.start(), c.start + w.end()) for c in chunks for w in list(re.finditer(r"\w+", c.text))[:2]]
    reached = {s.id for s in sentences if any(s.start <= a and b <= s.end for a, b in seen)}
    assert 0 < len(emb.alone_texts) < len(sentences)
    assert {s.id for s in sentences if s.embed_text in emb.alone_texts} == {s.id for s in sentences} - reached


def test_a_model_without_token_vectors_encodes_every_span_on_its_own():
    chunks, sentences = _doc(TEXT)
    emb = HashingEmbeddings(64)
    got_c, got_s = _vectors(encode_spans(emb, chunks, sentences, {c.id for c in chunks},
                                         {s.id for s in sentences}, batch=3))
    assert all(np.allclose(got_s[s.id], emb._one(s.embed_text)) for s in sentences)
    assert set(got_c) == {c.id for c in chunks}
    assert pooling.sentence_model_id(emb) == "hashing:64"
    assert pooling.sentence_model_id(TokenHashing(64)).endswith("+pooled-in-chunks")


words = st.sampled_from(["TPU", "chips", "They", "rent", "Google", "it", "fast", "power", "The"])
sentence_st = st.lists(words, min_size=1, max_size=12).map(lambda ws: " ".join(ws) + ".")
text_st = st.lists(st.lists(sentence_st, min_size=1, max_size=5).map(" ".join), min_size=1, max_size=4) \
    .map("\n\n".join)


@settings(max_examples=150, deadline=None)
@given(text=text_st, window=st.integers(1, 40), batch=st.integers(1, 5),
       stored=st.sets(st.integers(0, 30), max_size=10))
def test_every_new_span_gets_exactly_one_vector(text, window, batch, stored):
    chunks, sentences = _doc(text)
    new_c = {c.id for i, c in enumerate(chunks) if i not in stored}
    new_s = {s.id for i, s in enumerate(sentences) if i not in stored}
    got_c, got_s = _vectors(encode_spans(TokenHashing(window=window), chunks, sentences, new_c, new_s, batch))
    assert set(got_c) == new_c and set(got_s) == new_s
    assert all(np.isclose(np.linalg.norm(v), 1.0, atol=1e-5) for v in got_s.values() if np.any(v))


def test_a_failed_ingest_retried_reads_only_the_chunks_it_still_needs(tmp_path):
    from assistant.config import Settings
    from assistant.index import Index

    text = "\n\n".join(" ".join(f"Chip {p}-{i} rents for {i} dollars an hour." for i in range(4)) for p in range(6))
    doc = Document(id="long", text=text, title="Long")
    settings = Settings.load(index_dir=tmp_path / "idx", chunk_size=120, chunk_overlap=20)
    encoder = TokenHashing(fail_after=2)
    index = Index(settings, encoder)
    with pytest.raises(EncoderCrashed):
        index.add([doc], batch=2)
    spans = index._split(doc)  # not registered: the failed ingest stored some of its vectors only
    stored = set(index.chunk_col.get(include=[])["ids"])
    assert len(stored) == 4 < len(spans.chunks)  # two batches of two chunks got in
    encoder.fail_after, before = None, len(encoder.token_texts)
    index.add([doc], batch=2)  # the same index, retried (an upload tried again)
    assert set(index.chunk_col.get(include=[])["ids"]) == {c.id for c in spans.chunks}
    assert set(index.sentence_col.get(include=[])["ids"]) == {s.id for s in spans.sentences}
    read_again = encoder.token_texts[before:]
    # The chunks not stored, and at most the one stored chunk a sentence spilled over from.
    assert sum(c.text in read_again for c in spans.chunks if c.id in stored) <= 1
    assert len(read_again) <= len(spans.chunks) - len(stored) + 1


@pytest.mark.integration
def test_the_index_stores_each_sentence_as_the_mean_of_its_chunk_tokens(real_bot):
    index = real_bot.index
    spans = index.spans(real_bot.documents[0].id)
    sentence = next(s for s in spans.sentences if s.text.startswith("They") or s.context)
    holders = [c for c in spans.chunks if c.start < sentence.end and sentence.start < c.end]
    encoded = index.embeddings.embed_with_tokens([c.embed_text for c in holders])
    pool = SentencePool([sentence], holders)
    (expected,) = [v for c, e in zip(holders, encoded, strict=True) for _, v in pool.add(c, e)]
    stored = index.sentence_vectors([sentence])[sentence.id]
    assert np.allclose(stored, expected, atol=1e-4)
    alone = np.asarray(index.embeddings.embed_documents([sentence.embed_text])[0])
    assert not np.allclose(stored, alone, atol=1e-2)  # not the separately encoded vector
