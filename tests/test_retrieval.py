"""Hybrid retrieval: rank fusion, BM25, and the LangChain retriever contract."""

from __future__ import annotations

import pytest
from conftest import ARTICLE_PATH, isolated
from fakes import CountingEmbeddings
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.documents import Document as LCDocument
from langchain_core.retrievers import BaseRetriever

from assistant.api import Assistant
from assistant.chunking import Passage, Span
from assistant.documents import load_file
from assistant.question import parse
from assistant.retrieval import HybridRetriever, LexicalIndex, rrf
from assistant.text import as_documents_spell, tokenize


# -- rrf -------------------------------------------------------------------------------
def test_rrf_known_scores():
    fused = rrf([["a", "b", "c"], ["c", "d"]], k=60)
    assert fused == pytest.approx({
        "a": 1 / 61, "b": 1 / 62, "c": 1 / 63 + 1 / 61, "d": 1 / 62,
    })


def test_rrf_item_in_both_lists_beats_items_in_one():
    fused = rrf([["a", "both"], ["b", "both"]], k=60)
    assert max(fused, key=fused.get) == "both"


@pytest.mark.parametrize("rankings", [[], [[]], [[], []]])
def test_rrf_empty(rankings):
    assert rrf(rankings) == {}


def test_rrf_k_controls_how_fast_ranks_decay():
    assert rrf([["a", "b"]], k=0) == pytest.approx({"a": 1.0, "b": 0.5})


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.sampled_from("abcdefgh"), unique=True), max_size=4))
def test_rrf_properties(rankings):
    fused = rrf(rankings)
    assert set(fused) == {x for r in rankings for x in r}
    for item, score in fused.items():
        appearances = sum(item in r for r in rankings)
        assert 0 < score <= appearances / 61 + 1e-12
    # Within one ranking (and absent elsewhere), a better rank never scores lower.
    if len(rankings) == 1:
        scores = [fused[x] for x in rankings[0]]
        assert scores == sorted(scores, reverse=True)


# -- BM25 ------------------------------------------------------------------------------
SPANS = [
    Span("d", 0, 10, "Cats sleep for sixteen hours a day."),
    Span("d", 10, 20, "Dogs were domesticated from wolves."),
    Span("d", 20, 30, "Parrots can imitate human speech."),
    Span("d", 30, 40, "Goldfish have a memory longer than three seconds."),
]


def test_lexical_index_finds_exact_terms():
    lex = LexicalIndex(SPANS)
    hits = lex.search("wolves", k=4)
    assert hits[0][0] == 1
    assert all(score > 0 for _, score in hits)
    assert [pos for pos, _ in lex.search("parrots speech", k=4)][0] == 2


def test_lexical_index_stems():
    assert LexicalIndex(SPANS).search("imitating", k=4)[0][0] == 2
    assert tokenize(["sleeping sleeps"]) == [["sleep", "sleep"]]


def test_a_lower_case_acronym_plural_finds_the_documents_spelling():
    # Snowball keeps "tpus" (typed in lower case) apart from "tpu" ("TPUs" folded before stemming).
    lex = LexicalIndex([Span("d", 0, 30, "Google designs TPUs for training."), Span("d", 30, 50, "Cats sleep.")])
    assert tokenize(["tpus"]) == [["tpus"]]
    assert [pos for pos, _ in lex.search("which tpus", k=2)] == [0]


def test_as_documents_spell_only_drops_an_s_the_documents_lack():
    vocabulary = {"tpu", "status", "bus"}
    assert as_documents_spell(["tpus", "status", "bus", "cats"], vocabulary) == ["tpu", "status", "bus", "cats"]


@pytest.mark.parametrize("query", ["", "what does the article say about it", "zebra"])
def test_lexical_index_returns_nothing_without_matching_terms(query):
    assert LexicalIndex(SPANS).search(query, k=4) == []


def test_lexical_index_empty():
    assert LexicalIndex([]).search("cats", k=3) == []


def test_lexical_index_k_larger_than_corpus():
    assert len(LexicalIndex(SPANS).search("cats dogs parrots goldfish", k=50)) == 4


# -- the hybrid retriever ---------------------------------------------------------------
@pytest.fixture(scope="module")
def bot(tmp_path_factory):
    # Read-only tests share one index: building it per test would dominate the run time.
    with isolated(tmp_path_factory.mktemp("home")):
        return Assistant.from_documents([load_file(ARTICLE_PATH)], index_dir=tmp_path_factory.mktemp("idx"),
                                        embeddings=CountingEmbeddings())


def test_hybrid_retriever_is_a_langchain_retriever(bot):
    assert isinstance(bot.retriever, HybridRetriever)
    assert isinstance(bot.retriever, BaseRetriever)


@pytest.mark.parametrize("k", [1, 3, 5, 8])
def test_search_returns_k_exact_passages(bot, article, k):
    passages = bot.retriever.search("TPUs matrix calculations", k)
    assert len(passages) == k
    assert all(isinstance(p, Passage) for p in passages)
    for p in passages:
        assert p.doc_id == article.id
        assert article.text[p.start : p.end] == p.text
    scores = [p.score for p in passages]
    assert scores == sorted(scores, reverse=True)
    assert len({(p.start, p.end) for p in passages}) == k


def test_search_k_beyond_the_number_of_chunks(bot):
    n = len(bot.index.all_chunks())
    assert len(bot.retriever.search("OpenAI Google Cloud", n + 10)) == n


def test_search_ranks_the_exact_match_first(bot):
    top = bot.retriever.search("v4 and v5e TPUs", 3)[0]
    assert "v4 and v5e" in top.text
    assert top.bm25_score is not None and top.bm25_score > 0
    assert top.dense_score is not None


def test_the_title_ranks_after_the_content(bot, article):
    # The title repeats the topic every question shares; it must not crowd out the passages.
    title = article.field_blocks("title")[0]
    words = article.text[title.start : title.end]
    top = bot.retriever.search(words, 3)
    assert all(not (p.start <= title.start < p.end) for p in top)
    everything = bot.retriever.search(words, 100)
    assert everything[-1].start <= title.start < everything[-1].end


def test_with_title_adds_the_best_documents_title_once(bot, article):
    title = article.field_blocks("title")[0]
    passages = bot.retriever.search("TPUs matrix calculations", 3)
    context = bot.retriever.with_title(passages)
    assert context[:3] == passages
    assert [(p.start, p.end) for p in context[3:]] == [(title.start, title.end)]
    headline = bot.retriever.search("What is the headline of the article?", 3, field="title")
    assert bot.retriever.with_title(headline) == headline  # already there
    assert bot.retriever.with_title([]) == []
    # A retriever that has not searched yet knows the titles too.
    assert HybridRetriever(index=bot.index).with_title(passages) == context


@pytest.mark.parametrize(("question", "field"), [
    ("What is the headline of the article?", "title"),
    ("Where was the article originally published?", "meta"),
    ("How does the article wrap it all up?", "conclusion"),
])
def test_a_question_about_the_document_retrieves_that_part_first(bot, article, question, field):
    # No similarity finds "the headline"; the document's structure does.
    block = article.field_blocks(field)[0]
    passages = bot.retriever.search(question, 3, field=parse(question).document_field)
    assert passages[0].start <= block.start < passages[0].end
    assert bot.retrieve(question, 3) == passages  # the API reads the question for the retriever
    first = bot.retriever.invoke(question)[0].metadata  # so does LangChain's plain-string entry
    assert first["start"] <= block.start < first["end"]
    assert len({(p.start, p.end) for p in passages}) == 3


def test_invoke_returns_langchain_documents(bot, article):
    docs = bot.retriever.invoke("performance per watt")
    assert len(docs) == bot.settings.k == 5
    for d in docs:
        assert isinstance(d, LCDocument)
        meta = d.metadata
        assert meta["doc_id"] == article.id
        assert article.text[meta["start"] : meta["end"]] == d.page_content
        assert {"score", "dense_score", "bm25_score"} <= set(meta)
    assert "performance per watt" in docs[0].page_content


def test_retriever_k_is_respected_by_invoke(bot):
    retriever = HybridRetriever(index=bot.index, k=2)
    assert len(retriever.invoke("Google Cloud")) == 2


def test_lexical_side_follows_index_changes(tmp_path, article):
    from assistant.documents import Document

    bot = Assistant.from_documents([article], index_dir=tmp_path / "idx", embeddings=CountingEmbeddings())
    assert not any("platypus" in p.text for p in bot.retrieve("platypus", k=3))
    extra = Document("zoo", "Zoo news\n\nThe platypus lays eggs and hunts underwater.\n")
    bot.ingest(documents=[extra])
    top = bot.retrieve("platypus", k=3)[0]
    assert top.doc_id == "zoo" and "platypus" in top.text
