"""Fakes that plug into the same seams production uses (LangChain's `Embeddings`)."""

from __future__ import annotations

from dataclasses import replace

from langchain_core.embeddings import Embeddings
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from pydantic import Field

from assistant.answer import AnswererBase
from assistant.embeddings import HashingEmbeddings


class EncoderCrashed(RuntimeError):
    """What a failing fake encoder raises."""


class CountingEmbeddings(Embeddings):
    """HashingEmbeddings that count encoder calls and can be told to crash.

    `fail_after=n` lets n more embed_documents calls through and then raises, like a model
    that dies mid-ingest. It keeps the class (so the model id): the index must not mistake
    the crash for a model change.
    """

    def __init__(self, dim: int = 256, fail_after: int | None = None) -> None:
        self.inner = HashingEmbeddings(dim)
        self.calls = 0  # embed_documents calls that reached the encoder
        self.texts: list[str] = []  # every text encoded by embed_documents
        self.queries: list[str] = []
        self.fail_after = fail_after

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        texts = list(texts)
        if self.fail_after is not None:
            if self.fail_after <= 0:
                raise EncoderCrashed("encoder crashed (simulated)")
            self.fail_after -= 1
        if texts:
            self.calls += 1
        self.texts.extend(texts)
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        self.queries.append(text)
        return self.inner.embed_query(text)

    def reset(self) -> None:
        """Forget the counts (e.g. between a first and a second ingest)."""
        self.calls = 0
        self.texts.clear()
        self.queries.clear()


class OtherEmbeddings(CountingEmbeddings):
    """A different 'model' (another class, so another model id) with the same vectors."""


def counting_subclass(base: type[Embeddings]) -> type[Embeddings]:
    """A subclass of a real embeddings class that counts encoder calls (keeps its model id)."""

    class Counting(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.calls = 0
            self.texts: list[str] = []

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            texts = list(texts)
            if texts:
                self.calls += 1
            self.texts.extend(texts)
            return super().embed_documents(texts)

    Counting.__name__ = Counting.__qualname__ = f"Counting{base.__name__}"
    return Counting


class ScriptedChat(GenericFakeChatModel):
    """LangChain's fake chat model: replies with the given texts in turn, streamed word by word.

    It remembers every message list it was sent; `delay` pauses before each streamed piece (a
    slow model) and `fail` raises ConnectionError(fail) instead of answering (a server down).
    """

    sent: list = Field(default_factory=list)
    delay: float = 0.0
    fail: str = ""
    streamed: list = Field(default_factory=list)  # (time.perf_counter(), piece) as each piece left

    def __init__(self, *replies: str, **kwargs) -> None:
        super().__init__(messages=iter([AIMessage(r) for r in replies]), **kwargs)

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        self.sent.append(messages)
        if self.fail:
            raise ConnectionError(self.fail)
        return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)

    def _stream(self, messages, stop=None, run_manager=None, **kwargs):
        import time

        for chunk in super()._stream(messages, stop=stop, run_manager=run_manager, **kwargs):
            if self.delay:
                time.sleep(self.delay)
            self.streamed.append((time.perf_counter(), chunk.message.content))
            yield chunk


class FixedAnswerer(AnswererBase):
    """An answerer that always returns the same Answer (a copy, so callers may change it)."""

    name = "fixed"

    def __init__(self, answer) -> None:
        self.fixed = answer

    def answer(self, question, passages, docs):
        return replace(self.fixed, citations=list(self.fixed.citations))


class _Tensor:
    """Just enough of a torch tensor for `SentenceTransformerEmbeddings`: .float().numpy()."""

    def __init__(self, array) -> None:
        self.array = array

    def float(self) -> _Tensor:
        return self

    def numpy(self):
        return self.array.copy()

    def tolist(self) -> list:
        return self.array.tolist()


class BusyModel:
    """A stand-in SentenceTransformer that notes how many threads are inside it at once.

    Each encode takes `pause` seconds, so callers that are not kept apart overlap for sure.
    Vectors are HashingEmbeddings' (one per word as token vectors), so results are checkable.
    """

    def __init__(self, pause: float = 0.002) -> None:
        import threading

        self.pause = pause
        self.inside = 0
        self.most_inside = 0  # the most threads ever inside encode at the same time
        self._count = threading.Lock()
        self.hashing = HashingEmbeddings(32)
        self.tokenizer = self

    def convert_ids_to_tokens(self, ids: list[int]) -> list[str]:
        return [f"t{i}" for i in ids]

    def encode(self, texts, output_value="sentence_embedding", **_):
        import time

        import numpy as np

        with self._count:
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)
        try:
            time.sleep(self.pause)
            pooled = np.asarray(self.hashing.embed_documents(list(texts)), dtype=np.float32)
            if output_value is not None:
                return pooled
            return [{"sentence_embedding": _Tensor(v),
                     "token_embeddings": _Tensor(np.asarray(self.hashing.embed_documents(t.split()) or [v],
                                                            dtype=np.float32)),
                     "input_ids": _Tensor(np.arange(max(1, len(t.split()))))}
                    for t, v in zip(texts, pooled, strict=True)]
        finally:
            with self._count:
                self.inside -= 1


class SlowEmbeddings(HashingEmbeddings):
    """The hashing model (same model id: an index the CLI made opens without re-embedding) whose
    every embed_documents call takes `pause` seconds: an ingest that lasts long enough for chats,
    other uploads or a kill to land in the middle of it."""

    def __init__(self, pause: float = 0.05, dim: int = 256) -> None:
        super().__init__(dim)
        self.pause = pause

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        import time

        time.sleep(self.pause)
        return super().embed_documents(texts)
