"""The offline default answerer: quotes the retrieved sentences that best support the question.

A softmax ranker over sentence features picks what to quote and a logistic gate says whether the
documents answer at all, each weight with a copy per setting (one article / a crowded collection /
one short passage), all fitted by `scripts/calibrate.py`. Questions about the document itself cite
its title, source line or last paragraph; summary questions get its central sentences; lists and
pronoun-led sentences are read through the document's structure (`chunking.py`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from . import features, summary
from .answer import Answer, AnswererBase, abstention_text, as_sentence, make_citation
from .chunking import (
    DocSpans,
    Passage,
    Span,
    block_span,
    list_after,
    list_run,
    list_start,
    referent,
)
from .documents import Document
from .embeddings import TokenVectors, model_id, token_vectors
from .question import Question
from .reader import TOP as READ_TOP
from .reader import Reader, p_answer, reader_text
from .text import as_documents_spell, stopword_set, tokenize

CALIBRATION_FILE = Path(__file__).with_name("calibration.json")


class SpanSource(Protocol):
    """What an answerer needs from the index: documents, their sentences, sentence vectors."""

    def spans(self, doc_id: str) -> DocSpans: ...
    def sentence_vectors(self, spans: list[Span]) -> dict[str, np.ndarray]: ...


FEATURES = ("dense", "dense_question", "lex", "lex_question", "lex_context", "chunk_dense",
            "rank_prior", "heading", "typed", "type_match", "soft", "soft_question", "reader")

_SOFT = ("soft", "soft_question")  # computed last, for the candidates that survive the prefilter
_BASE = tuple(f for f in FEATURES if f not in _SOFT)

# Question-level features for the answer/abstain gate, read off the scored candidates.
GATE_FEATURES = ("best_logit", "gap", "best_dense", "best_lex", "dense_peak", "lex_peak",
                 "top_chunk_dense", "type_missing", "top_soft", "top_soft_weakest", "soft_peak",
                 "reader_best", "reader_p")

# The same scores mean different things in different settings, so every feature also gets a
# copy per setting ("name*many", "name*whole") that is zero outside it:
# - many: among hundreds of documents an unanswerable question still finds some document's
#   close match (scaled by how crowded the index is, see crowding());
# - whole: when retrieval returns every chunk there is (one short passage), it has told
#   nothing apart, and the gate must judge the sentences alone.
REGIMES = ("many", "whole")


def crowding(n_docs: int, full: int = 100) -> float:
    """0 for a single document, rising on a log scale to 1 at `full` documents and beyond."""
    return min(1.0, math.log(max(n_docs, 1)) / math.log(full))


def by_regime(features: dict[str, float], names: tuple[str, ...], regimes: dict[str, float]) -> dict[str, float]:
    """The features plus one copy per setting, scaled by how much that setting holds."""
    out = dict(features)
    for regime, value in regimes.items():
        out.update({f"{n}*{regime}": features[n] * value for n in names})
        out[regime] = value
    return out


def regime_names(names: tuple[str, ...]) -> tuple[str, ...]:
    """Every weight name a calibrated model may carry."""
    return names + tuple(f"{n}*{r}" for r in REGIMES for n in names) + REGIMES


# Hand-set weights for a model nobody calibrated: fitted weights lean on the scale of one
# model's similarities, so another model (or a test's hashing fake) starts from plain rules:
# rank by how well a sentence covers the question, answer when it covers every question term.
_DEFAULT_WEIGHTS = {"dense_question": 2.0, "lex_question": 2.0, "soft_question": 2.0, "lex_context": 0.5,
                    "rank_prior": 0.5, "type_match": 1.0}
_DEFAULT_GATE = {"top_soft_weakest": 3.0, "best_lex": 3.0, "type_missing": -1.0}


@dataclass(frozen=True)
class Params:
    """Two small linear models: a softmax over sentences ranks them, a logistic gate says
    whether the documents answer at all."""

    weights: dict[str, float] = field(default_factory=lambda: dict(_DEFAULT_WEIGHTS))
    gate_weights: dict[str, float] = field(default_factory=lambda: dict(_DEFAULT_GATE))
    gate_bias: float = -3.0
    threshold: float = 0.5  # P(answerable) below this -> abstain
    # Each setting has its own operating point: the threshold moves by shift * regime value.
    threshold_shift: dict[str, float] = field(default_factory=dict)
    margin: float = 0.15  # extra sentences must be within this softmax share of the best one
    max_sentences: int = 3

    @classmethod
    def load(cls, path: Path = CALIBRATION_FILE, model: str | None = None, reader: str | None = None) -> Params:
        """The calibrated parameters shipped with the package; the hand-set defaults when the
        file is absent or was fitted for another embedding model than `model` or another
        reader (adapter hash) than `reader`."""
        if not path.exists():
            return cls()
        data = json.loads(path.read_text(encoding="utf-8"))
        if model is not None and data.get("model") not in (None, model):
            return cls()
        if data.get("reader") != reader:
            return cls()
        return cls(**{k: v for k, v in data.get("params", {}).items() if k in cls.__dataclass_fields__})

    def logit(self, features: dict[str, float]) -> float:
        """Linear score of one candidate's features."""
        return sum(w * features.get(f, 0.0) for f, w in self.weights.items())

    def shares(self, cands: list[Candidate]) -> list[float]:
        """Softmax over the candidates: each sentence's share of the belief that it answers."""
        z = np.array([self.logit(c.features) for c in cands])
        e = np.exp(z - z.max())
        return (e / e.sum()).tolist()

    def cutoff(self, features: dict[str, float]) -> float:
        """The abstention threshold in the setting these features come from."""
        return self.threshold + sum(v * features.get(r, 0.0) for r, v in self.threshold_shift.items())

    def answerable(self, gate: dict[str, float]) -> float:
        """P(the documents answer the question), from question-level features."""
        return _sigmoid(self.gate_bias + sum(w * gate.get(f, 0.0) for f, w in self.gate_weights.items()))


def _peak(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[-1] - ordered[len(ordered) // 2]


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(z, 30.0), -30.0)))


def gate_features(cands: list[Candidate], p: Params) -> dict[str, float]:
    """What the gate sees: how strong and how clear-cut the best sentence is."""
    logits = [p.logit(c.features) for c in cands]
    order = sorted(range(len(cands)), key=lambda i: -logits[i])
    shares = p.shares(cands)
    best = cands[order[0]].features
    top = [cands[i] for i in order[:3]]
    gate = {
        "best_logit": logits[order[0]],
        "gap": shares[order[0]] - (shares[order[1]] if len(order) > 1 else 0.0),
        "best_dense": max(c.features["dense_question"] for c in cands),
        "best_lex": max(c.features["lex_question"] for c in cands),
        # An answer stands out from its neighbours; an on-topic but unanswered question
        # matches many sentences about equally.
        "dense_peak": _peak([c.features["dense_question"] for c in cands]),
        "lex_peak": _peak([c.features["lex_question"] for c in cands]),
        "soft_peak": _peak([c.features["soft_own"] for c in cands]),
        "top_chunk_dense": max(c.features["chunk_dense"] for c in cands),
        "type_missing": 1.0 if best["typed"] and not any(c.features["type_match"] for c in top) else 0.0,
        # The question term the chosen sentence covers worst: "signed" in "When was it signed?"
        # finds no counterpart in a sentence that otherwise matches the topic.
        "top_soft": best["soft_own"],
        "top_soft_weakest": best["soft_weakest"],
        # What the reader says: its best logit, and P(some candidate answers) against its
        # "none of these" slot.
        "reader_best": max(c.features["reader"] for c in cands),
        "reader_p": p_answer([c.features["reader"] for c in cands]) if cands[0].features["read"] else 0.0,
    }
    return by_regime(gate, GATE_FEATURES, {r: best[r] for r in REGIMES})


@dataclass
class Candidate:
    """A sentence the answerer might cite, with the features its score is made of."""

    span: Span
    features: dict[str, float]
    context: str = ""  # what the reader reads beside the sentence: title, the sentence it leans on

    @property
    def heading(self) -> bool:
        return self.features["heading"] > 0


# -- the decision: one pure function, used at run time and by calibration alike ----------------


def prefilter(cands: list[Candidate], top: int = READ_TOP) -> list[Candidate]:
    """The candidates the reader reads, in their order: the `top` best by meaning and words
    (bi-encoder similarity plus term coverage: hand-set, so calibration fits on what comes out),
    and any the question asks about by name (field_match)."""
    best = sorted(cands, key=lambda c: -(c.features["dense_question"] + c.features["lex_question"]))[:top]
    keep = {id(c) for c in best} | {id(c) for c in cands if c.features.get("field_match")}
    return [c for c in cands if id(c) in keep]


def should_answer(about_document, unknown_name, p_answerable, cutoff):
    """Answer (True) or refuse, in this order: a question about the document itself is answered;
    one naming what no document mentions is refused; otherwise the gate's P(answerable) must
    reach the setting's cutoff. Works elementwise on numpy arrays too (calibration's threshold
    search asks it for thousands of questions at once)."""
    return np.logical_or(about_document, np.logical_and(np.logical_not(unknown_name), p_answerable >= cutoff))


def choose(cands: list[Candidate], p: Params) -> list[Candidate]:
    """The sentences to quote once the question is answered, in document order: the best one,
    and up to `max_sentences` within `margin` of its softmax share."""
    if not cands:
        return []
    # A question about the document itself ("What is the headline?") is answered by its
    # title, source line or last paragraph: content scores cannot weigh it.
    about_doc = [c for c in cands if c.features.get("field_match")]
    if about_doc:
        return [max(about_doc, key=lambda c: c.features["rank_prior"])]
    scored = sorted(zip(p.shares(cands), cands, strict=True), key=lambda x: -x[0])
    floor = scored[0][0] - p.margin
    chosen = [c for prob, c in scored[: p.max_sentences] if prob >= floor]
    # A heading is a weak answer when a body sentence also qualifies.
    body = [c for c in chosen if not c.heading]
    chosen = body or chosen
    return sorted(chosen, key=lambda c: (c.span.doc_id, c.span.start))


def decide(cands: list[Candidate], p: Params) -> list[Candidate]:
    """The sentences to quote; [] means refuse."""
    if not cands:
        return []
    first = cands[0].features
    about = any(c.features.get("field_match") for c in cands)
    cutoff = p.cutoff(first)
    # The gate need not be computed when its answer cannot matter.
    gated = not about and not first["unknown_name"] and cutoff > 0
    p_answerable = p.answerable(gate_features(cands, p)) if gated else 1.0
    if not should_answer(about, bool(first["unknown_name"]), p_answerable, cutoff):
        return []
    return choose(cands, p)


class ExtractiveAnswerer(AnswererBase):
    """Quotes the sentences that best support the query; abstains when support is weak."""

    name = "extractive"

    def __init__(self, source: SpanSource, embeddings, params: Params | None = None,
                 reader: Reader | None | str = "shipped") -> None:
        self.source = source
        self.embeddings = embeddings
        if isinstance(reader, str):
            reader = _reader_for(embeddings, reader)
        self.reader = reader
        self.params = params or Params.load(model=model_id(embeddings), reader=reader.id if reader else None)
        self._idf: dict[str, float] = {}
        self._chunks = 0  # chunks in the documents, counted with the idf
        self._idf_key: tuple | None = None

    def warm_up(self, docs: list[Document], limit: int = 2000) -> None:
        """Load the reader, and compute every sentence's token vectors now and those of the
        sentences pronoun-led ones lean on (small corpora only: they stay cached)."""
        sentences = [s for d in docs for s in self.source.spans(d.id).sentences]
        if self.reader is not None and sentences:
            self.reader.scores(sentences[0].text, [sentences[0].text])  # loads the model now
        if hasattr(self.embeddings, "embed_tokens") and len(sentences) <= limit:
            leaned_on = [r.text for r in map(self.referent, sentences) if r is not None]
            self.embeddings.embed_tokens([s.text for s in sentences] + leaned_on)

    # -- features ----------------------------------------------------------------------
    def idf(self, docs: list[Document]) -> dict[str, float]:
        """Inverse sentence frequency of every stemmed term in the documents."""
        version = getattr(self.source, "version", None)  # an Index says when it changed
        key = (version, tuple(d.id for d in docs)) if version is not None else \
            tuple((d.id, hash(d.text)) for d in docs)
        if key != self._idf_key:
            sents = [s.text for d in docs for s in self.source.spans(d.id).sentences]
            df: dict[str, int] = {}
            for toks in tokenize(sents) if sents else []:
                for t in set(toks):
                    df[t] = df.get(t, 0) + 1
            n = max(len(sents), 1)
            self._idf = {t: math.log(1 + n / c) for t, c in df.items()}
            self._chunks = sum(len(self.source.spans(d.id).chunks) for d in docs)
            self._idf_key = key
        return self._idf

    def candidates(self, parsed: Question, passages: list[Passage], docs: list[Document]) -> list[Candidate]:
        """Every sentence inside the retrieved passages, with its features."""
        question, query = parsed.text, parsed.answer_query
        idf = self.idf(docs)
        unseen = math.log(1 + max(len(idf), 1))  # weight of a term no document has

        def weights(text: str) -> dict[str, float]:
            return {t: idf.get(t, unseen) for t in set(as_documents_spell(tokenize([text])[0], idf))}

        unknown = 1.0 if self.unknown_names(parsed, docs) else 0.0
        # Coverage counts only terms some document has: a word no sentence contains cannot
        # tell sentences apart, and would only drown the words that can.
        q_w, qq_w = ({t: w for t, w in weights(text).items() if features.fuzzy_match(t, idf)}
                     for text in (query, question))
        kind = parsed.answer_type

        # Rank of each passage's document among the retrieved documents: with many documents
        # the best-ranked one usually holds the answer; with one document it says nothing.
        doc_rank = {d: i for i, d in enumerate(dict.fromkeys(p.doc_id for p in passages))}
        found: dict[str, tuple[Span, int, Passage]] = {}
        for rank, p in enumerate(passages):
            spans = self.source.spans(p.doc_id)
            for s in spans.sentences:
                if s.start < p.end and s.end > p.start and s.id not in found:
                    block = spans.doc.block_at(s.start)
                    # Section headings label what follows; they are not claims to quote.
                    if block is None or block.kind != "heading":
                        found[s.id] = (s, rank, p)
        # "What is the headline?" asks about the document, not its content: the first sentence
        # of its title, source line or last paragraph answers (retrieval puts those chunks first).
        asked: set[str] = set()
        field = parsed.document_field
        for doc_id in doc_rank if field else ():
            spans = self.source.spans(doc_id)
            for block in spans.doc.field_blocks(field):
                s = next((s for s in spans.sentences if block.start <= s.start < block.end), None)
                if s is not None and s.id in found:
                    asked.add(s.id)
        if not found:
            return []
        spans = [s for s, _, _ in found.values()]
        vectors = self.source.sentence_vectors(spans)
        q_vec = np.asarray(self.embeddings.embed_query(query), dtype=np.float32)
        qq_vec = q_vec if question == query else np.asarray(self.embeddings.embed_query(question), dtype=np.float32)
        dense_floor = min((p.dense_score for p in passages if p.dense_score is not None), default=0.0)
        contexts = {(p.doc_id, p.start): set(tokenize([p.text])[0]) for p in passages}
        # A sentence opening with a pronoun ("They are engineered for…") is read together with
        # the sentence it leans on: that one names what "they" are.
        leans = {s.id: self.referent(s) for s in spans}
        # "whole": retrieval returned every chunk there is, so it has told nothing apart.
        returned = len({(p.doc_id, p.start) for p in passages})
        regimes = {"many": crowding(len(docs)), "whole": 1.0 if returned >= self._chunks else 0.0}
        out = []
        for s, toks in zip(spans, tokenize([s.text for s in spans]), strict=True):
            _, rank, passage = found[s.id]
            vec = vectors.get(s.id)
            terms = set(toks)
            doc = self.source.spans(s.doc_id).doc
            block = doc.block_at(s.start)
            out.append(Candidate(s, by_regime({
                "dense": float(vec @ q_vec) if vec is not None else 0.0,
                "dense_question": float(vec @ qq_vec) if vec is not None else 0.0,
                "lex": features.coverage(q_w, terms),
                "lex_question": features.coverage(qq_w, terms),
                "lex_context": features.coverage(q_w, contexts[(passage.doc_id, passage.start)]),
                "chunk_dense": passage.dense_score if passage.dense_score is not None else dense_floor,
                "rank_prior": 1.0 / (1 + doc_rank[s.doc_id]),
                "heading": 1.0 if block is not None and block.kind in ("title", "meta") else 0.0,
                "unknown_name": unknown,
                "typed": 1.0 if kind else 0.0,
                "type_match": 1.0 if kind and features.has_type(s.text, kind, question) else 0.0,
                "field_match": 1.0 if s.id in asked else 0.0,
                "reader": 0.0,
                "read": 0.0,
            }, _BASE, regimes), context=_context(doc, s, leans[s.id])))
        # With a reader only the prefiltered candidates go on: the rest are not worth the token
        # vectors below (a MiniLM pass over each sentence not seen before).
        out = prefilter(out) if self.reader is not None else out
        self.soft_match(query, question, out, leans, regimes)
        return self.read(query, out, regimes)

    def soft_match(self, query: str, question: str, cands: list[Candidate],
                   leans: dict[str, Span | None], regimes: dict[str, float]) -> None:
        """Add the soft term-matching features (features.soft_match) to these candidates."""
        if not cands:
            return
        spans = [c.span for c in cands]
        extra = list({r.id: r for r in (leans[s.id] for s in spans) if r is not None}.values())
        q_tok, qq_tok, *rest = token_vectors(self.embeddings, [query, question] + [s.text for s in spans + extra])
        ref_tok = {r.id: t for r, t in zip(extra, rest[len(spans):], strict=True)}
        stop = stopword_set()
        for c, own_tok in zip(cands, rest[: len(spans)], strict=True):
            lean = leans[c.span.id]
            # Ranking reads a pronoun-led sentence with what it leans on; the gate judges what the
            # quoted sentence says by itself (context names "they", it answers nothing more).
            s_tok = _joined(own_tok, ref_tok[lean.id]) if lean else own_tok
            soft_own, soft_weakest = features.soft_match(qq_tok, own_tok, stop)
            soft_question = soft_own if s_tok is own_tok else features.soft_match(qq_tok, s_tok, stop)[0]
            soft = features.soft_match(q_tok, s_tok, stop)[0] if query != question else soft_question
            c.features.update(by_regime({"soft": soft, "soft_question": soft_question}, _SOFT, regimes))
            c.features.update(soft_own=soft_own, soft_weakest=soft_weakest)

    def read(self, query: str, cands: list[Candidate], regimes: dict[str, float]) -> list[Candidate]:
        """The candidates with the reader's logit as a feature (unread when there is no reader)."""
        if self.reader is None or not cands:
            return cands
        logits = self.reader.scores(query, [reader_text(c.span.text, c.context) for c in cands])
        for c, z in zip(cands, logits, strict=True):
            c.features.update(by_regime({"reader": float(z)}, ("reader",), regimes))
            c.features["read"] = 1.0
        return cands

    def referent(self, span: Span) -> Span | None:
        """The sentence a pronoun-led sentence leans on (chunking.referent), None when it names
        its own subject."""
        return referent(self.source.spans(span.doc_id), span)

    def unknown_names(self, question: Question, docs: list[Document]) -> list[str]:
        """Names in the question that no document mentions ("Microsoft", "GPT-5"): documents
        that never name a thing cannot say anything about it."""
        vocabulary = self.idf(docs)
        return [n for n in question.names
                if not all(features.known(t, vocabulary) for t in tokenize([n])[0])]

    def unit(self, span: Span) -> Span:
        """What to quote for a sentence: a list item is quoted whole, it is one point."""
        spans = self.source.spans(span.doc_id)
        block = spans.doc.block_at(span.start)
        return block_span(spans, block) if block is not None and block.kind == "item" else span

    def quoted(self, span: Span, question: Question) -> list[Span]:
        """What to quote for a chosen sentence, reading the document's lists as units.

        When the question asks for several things ("What advantages do TPUs have?"), a list
        item brings the rest of its list, and a lead-in ending in a colon is quoted as the list
        it introduces. Otherwise the sentence (a list item whole).
        """
        spans = self.source.spans(span.doc_id)
        blocks = spans.doc.blocks
        block = spans.doc.block_at(span.start)
        items = []
        if block is not None and question.asks_for_list:
            i = blocks.index(block)
            if block.kind == "item":
                items = list_run(blocks, list_start(blocks, i))
            else:
                items = list_after(spans.doc, span)
        return [block_span(spans, b) for b in items[:_MAX_ITEMS]] or [self.unit(span)]

    def answer(self, parsed: Question, passages: list[Passage], docs: list[Document]) -> Answer:
        """Compose a short, fully cited answer, or a plain abstention."""
        # "Who wrote it?", "What is the link?": the document's metadata answers, not its sentences.
        from .about import about_document
        if (about_doc := about_document(parsed, passages, docs, self.name)) is not None:
            return about_doc
        question, query = parsed.text, parsed.answer_query
        by_id = {d.id: d for d in docs}
        if passages and passages[0].doc_id in by_id and parsed.asks_for_summary:
            # "What's this piece about?": the best document's central sentences. No gate: a
            # document that was retrieved can always be summarised.
            n = parsed.sentences_asked or summary.SENTENCES
            picked = summary.summarize(self.source, passages[0].doc_id, n)
            if picked:
                citations = [make_citation(i, by_id[s.doc_id], s, score) for i, (s, score) in enumerate(picked, 1)]
                text = " ".join(f"{as_sentence(c.quote)} [{c.n}]" for c in citations)
                return Answer(text, False, citations, query, question, passages=passages, answerer=self.name)
        cands = self.candidates(parsed, passages, docs)
        chosen = decide(cands, self.params)
        if not chosen:
            # Name what the documents never mention, when that is why (looked up only then).
            unknown = self.unknown_names(parsed, docs) if cands and cands[0].features["unknown_name"] else []
            text = abstention_text(question, len(docs), unknown)
            return Answer(text, True, [], query, question,
                          passages=passages, answerer=self.name)
        share = {id(c): v for c, v in zip(cands, self.params.shares(cands), strict=True)}
        units: dict[tuple[str, int, int], float] = {}
        for c in chosen:
            for span in self.quoted(c.span, parsed):
                key = (span.doc_id, span.start, span.end)
                units[key] = max(units.get(key, 0.0), share[id(c)])
        citations = [make_citation(i, by_id[d], Span(d, s, e, by_id[d].text[s:e]), score)
                     for i, ((d, s, e), score) in enumerate(sorted(units.items()), start=1)]
        text = " ".join(f"{as_sentence(c.quote)} [{c.n}]" for c in citations)
        return Answer(text, False, citations, query, question, passages=passages, answerer=self.name)



_MAX_ITEMS = 8  # a longer list is quoted up to here


def _context(doc: Document, span: Span, leans_on: Span | None) -> str:
    """What the reader needs beside a sentence: the heading (or title) it sits under, and the
    sentence a pronoun in it leans on."""
    heading = doc.heading_before(span.start) or doc.title
    parts = [heading] if heading and heading.strip() != span.text.strip() else []
    if leans_on is not None:
        parts.append(leans_on.text)
    return " ".join(parts)


def _reader_for(embeddings, setting: str) -> Reader | None:
    """The reader a setting names: "shipped", "none", or an adapter folder (Settings.reader)."""
    from .embeddings import SentenceTransformerEmbeddings, minilm_path
    from .errors import ConfigError
    from .reader import ADAPTER_FILE

    if setting == "none":
        return None
    # The reader is fine-tuned from the packaged MiniLM: it reads for that model's index only
    # (a test's hashing fake gets none, and the hand-set rules).
    if not (isinstance(embeddings, SentenceTransformerEmbeddings) and embeddings.path == minilm_path()):
        return None
    if setting == "shipped":
        return Reader.shipped()
    folder = Path(setting).expanduser()
    if not (folder / ADAPTER_FILE).is_file():
        raise ConfigError(f"ASSISTANT_READER={setting!r}: no {ADAPTER_FILE} there; use 'shipped', 'none' "
                          "or the folder `make train-reader` writes")
    return Reader(folder)


def _joined(a: TokenVectors, b: TokenVectors) -> TokenVectors:
    """Two texts' token vectors as one (a sentence and the sentence it leans on)."""
    return TokenVectors(a.tokens + b.tokens, np.vstack([a.vectors, b.vectors]))
