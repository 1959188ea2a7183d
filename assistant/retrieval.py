"""Hybrid retrieval: dense (Chroma) + BM25 (bm25s), fused by reciprocal rank fusion."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LCDocument
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from .chunking import Passage, Span
from .naming import document_field
from .text import as_documents_spell, fold, stemmer, stopwords, tokenize


class LexicalIndex:
    """BM25 over chunk texts, rebuilt in memory when the index changes (it is fast)."""

    def __init__(self, spans: list[Span]) -> None:
        import bm25s

        self.spans = spans
        self.by_id = {s.id: s for s in spans}
        self.bm25 = bm25s.BM25()
        self.vocabulary: frozenset[str] = frozenset()
        self.df: dict[str, int] = {}  # chunks holding each token
        if spans:
            tokens = bm25s.tokenize([fold(s.text) for s in spans], stopwords=stopwords(),
                                    stemmer=stemmer(), show_progress=False)
            self.vocabulary = frozenset(tokens.vocab)
            self.bm25.index(tokens, show_progress=False)
            ids = {i: t for t, i in tokens.vocab.items()}
            for doc in tokens.ids:
                for i in set(doc):
                    self.df[ids[i]] = self.df.get(ids[i], 0) + 1

    def frequency(self, word: str) -> int:
        """How many chunks hold a word (its stem; 0 for a stop word or an unknown word)."""
        return max((self.df.get(t, 0) for t in tokenize([word])[0]), default=0)

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """(span position, BM25 score) of the best k spans with a positive score."""
        if not self.spans:
            return []
        tokens = [as_documents_spell(tokenize([query])[0], self.vocabulary)]
        if not tokens[0]:
            return []
        docs, scores = self.bm25.retrieve(tokens, k=min(k, len(self.spans)), show_progress=False)
        return [(int(i), float(s)) for i, s in zip(docs[0], scores[0], strict=True) if s > 0]


def rrf(rankings: list[list[str]], k: int = 60) -> dict[str, float]:
    """Reciprocal rank fusion: sum of 1 / (k + rank) over the rankings an item appears in."""
    fused: dict[str, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + 1.0 / (k + rank)
    return fused


def _ranked(scores: dict[str, float]) -> list[str]:
    return sorted(scores, key=lambda i: (-scores[i], i))


class HybridRetriever(BaseRetriever):
    """LangChain retriever over an `Index`: dense and BM25 candidates, fused by RRF."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: Any  # assistant.index.Index (Any keeps pydantic away from Chroma's types)
    k: int = 5
    fetch_k: int = 20  # candidates taken from each side before fusion
    rrf_k: int = 60
    _lexical: LexicalIndex | None = None
    _lexical_version: int = -1
    _titles: frozenset[str] = frozenset()

    def lexical(self) -> LexicalIndex:
        """The BM25 side, rebuilt only when the index changed."""
        # The version is read before the chunks: an ingest landing in between (another thread)
        # makes this build look old and rebuilt next time, never a stale build look current.
        version = self.index.version
        if self._lexical is None or version != self._lexical_version:
            chunks = self.index.all_chunks()
            self._lexical = LexicalIndex(chunks)
            self._titles = frozenset(c.id for c in chunks if self._title_only(c))
            self._lexical_version = version
        return self._lexical

    def _title_only(self, chunk: Span) -> bool:
        block = self.index.spans(chunk.doc_id).doc.block_at(chunk.start)
        return block is not None and block.kind == "title" and chunk.end <= block.end

    def search(self, query: str, k: int | None = None, field: str = "") -> list[Passage]:
        """The k best passages for a query; `field` ("title", "author", "date", "meta",
        "conclusion": what `Question.document_field` reads) puts the best document's blocks of
        that field first (Document.field_blocks: an author or date question gets its source line)."""
        k = self.k if k is None else k
        lexical = self.lexical()
        by_id = lexical.by_id
        fetch = max(self.fetch_k, k)
        dense = [(i, sim) for i, sim in self.index.dense_chunks(
            self.index.embeddings.embed_query(query), fetch) if i in by_id]
        sparse = [(lexical.spans[pos].id, score) for pos, score in lexical.search(query, fetch)]
        # A title names the whole document's topic, so it matches nearly every question about it
        # and would take a place from the passage that answers: titles are ranked apart, after
        # the content. (A question about the title itself gets it first, below.)
        content = rrf([[i for i, _ in side if i not in self._titles] for side in (dense, sparse)], self.rrf_k)
        titles = rrf([[i for i, _ in side if i in self._titles] for side in (dense, sparse)], self.rrf_k)
        fused = {**content, **titles}
        dense_score, bm25_score = dict(dense), dict(sparse)
        best = [*_ranked(content), *_ranked(titles)][:k]
        # "What is the headline?" asks about the document, not its content, and no similarity
        # finds that: the best document's title, source line or last paragraph leads the list.
        if field and best:
            spans = self.index.spans(by_id[best[0]].doc_id)
            holding = (next((c.id for c in spans.chunks if c.start <= b.start < c.end), None)
                       for b in spans.doc.field_blocks(field))
            best = list(dict.fromkeys([i for i in holding if i] + best))[:k]
        return [
            Passage(by_id[i].doc_id, by_id[i].start, by_id[i].end, by_id[i].text, fused.get(i, 0.0),
                    dense_score.get(i), bm25_score.get(i))
            for i in best
        ]

    def with_title(self, passages: list[Passage]) -> list[Passage]:
        """The passages, then the best document's title when it is not among them: it tells the
        answerer what the document is about without taking one of the k places."""
        if not passages:
            return passages
        self.lexical()  # the title ids are found with the BM25 side, for the current index
        have = {(p.doc_id, p.start) for p in passages}
        titles = [c for c in self.index.spans(passages[0].doc_id).chunks
                  if c.id in self._titles and (c.doc_id, c.start) not in have]
        return passages + [Passage(c.doc_id, c.start, c.end, c.text, 0.0) for c in titles]

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[LCDocument]:
        # LangChain hands the retriever a plain string: the document field it asks about is read here.
        return [
            LCDocument(page_content=p.text, metadata={k: v for k, v in p.to_dict().items() if k != "text"})
            for p in self.search(query, field=document_field(query))
        ]
