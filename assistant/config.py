"""One typed settings object; precedence: argument > ASSISTANT_* environment > default."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from .errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Settings:
    """Every knob of the assistant, with the default used by `make run`."""

    home: Path = PROJECT_ROOT / ".assistant"  # index, feedback, reports
    corpus_dir: Path = PROJECT_ROOT / "corpus"
    embedding_model: str = "minilm"  # "minilm" (packaged), a local path, or "hashing"
    chroma_url: str = ""  # empty: embedded PersistentClient; else http://host:port
    # Seconds one request to a Chroma server may take: chromadb's own client waits forever, so a
    # server that accepts and never answers would hang every caller (the UI's too).
    chroma_timeout: int = 30
    collection: str = "assistant"
    # How wide Chroma's HNSW search looks (its ef_search; Chroma's default is 100) once the chunks
    # outgrow the exact search. On 30 k chunks with MiniLM vectors 100 found 0.957 of the exact
    # top 10 and 800 0.963; with the scale bench's synthetic vectors 0.72 and 0.84, for about 2 ms
    # more per search (docs/speed.md). An existing index takes a changed width when next opened.
    hnsw_ef_search: int = 800
    k: int = 5  # passages returned by retrieve() and shown to the answerer
    chunk_size: int = 600
    chunk_overlap: int = 100
    answerer: str = "extractive"  # "generative" is the older name of llm="llamacpp:smollm2"
    llm: str = "extractive"  # or openai:<model>, ollama:<model>, llamacpp:<path.gguf|smollm2> (llm.py)
    llm_mode: str = "auto"  # "phrase", "read", or "auto": phrase for a small local model, else read
    llm_timeout: int = 60  # seconds a model may take over one answer before the extractive one stands
    # Backends `Assistant.with_llm` may switch to beyond extractive, the configured one and the
    # packaged SmolLM2 (comma-separated): a UI visitor must not load files or spend the key.
    ui_llms: str = ""
    # The cross-encoder that reads question and sentence together (reader.py): "shipped" (the
    # adapter `make train-reader` writes into the package), "none" (the overlap features alone),
    # or an adapter folder. calibration.json is fitted for one reader; another one (or none)
    # falls back to hand-set weights until `make calibrate`.
    reader: str = "shipped"
    # Visitors of the web UI may add and remove documents; 0 serves a read-only library.
    ui_uploads: bool = True
    upload_max_mb: int = 10  # one uploaded file
    upload_total_mb: int = 50  # all the files of one upload together
    index_dir: Path | None = None  # default: <home>/index

    def __post_init__(self) -> None:
        object.__setattr__(self, "home", Path(self.home).expanduser())
        object.__setattr__(self, "corpus_dir", Path(self.corpus_dir).expanduser())
        if self.index_dir is None:
            object.__setattr__(self, "index_dir", self.home / "index")
        else:
            object.__setattr__(self, "index_dir", Path(self.index_dir).expanduser())
        if self.k < 1:
            raise ConfigError(f"k must be at least 1, got {self.k}; pass e.g. -k 5")
        if self.chunk_size < 50:
            raise ConfigError(f"chunk_size must be at least 50 characters, got {self.chunk_size}")
        if not 0 <= self.chunk_overlap < self.chunk_size:
            raise ConfigError(
                f"chunk_overlap must be in [0, chunk_size), got {self.chunk_overlap}"
            )
        if self.llm_timeout < 1:
            raise ConfigError(f"ASSISTANT_LLM_TIMEOUT must be at least 1 second, got {self.llm_timeout}")
        if self.hnsw_ef_search < 10:
            raise ConfigError(f"ASSISTANT_HNSW_EF_SEARCH must be at least 10, got {self.hnsw_ef_search}")
        if self.chroma_timeout < 1:
            raise ConfigError(f"ASSISTANT_CHROMA_TIMEOUT must be at least 1 second, got {self.chroma_timeout}")
        if self.upload_max_mb < 1 or self.upload_total_mb < self.upload_max_mb:
            raise ConfigError(
                "ASSISTANT_UPLOAD_MAX_MB must be at least 1 and ASSISTANT_UPLOAD_TOTAL_MB at least as "
                f"large, got {self.upload_max_mb} and {self.upload_total_mb}"
            )
        if self.chroma_url and not self.chroma_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"ASSISTANT_CHROMA_URL must look like http://127.0.0.1:8000, got {self.chroma_url!r}"
            )

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Defaults, then ASSISTANT_<FIELD> variables, then non-None keyword arguments."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = os.environ.get(f"ASSISTANT_{f.name.upper()}")
            if raw is not None and raw != "":
                values[f.name] = _coerce(f.name, raw, f.type)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def with_(self, **changes: Any) -> Settings:
        """A copy with some fields changed (index_dir follows a new home unless given)."""
        if "home" in changes and "index_dir" not in changes:
            changes["index_dir"] = None
        return replace(self, **changes)


_FLAGS = {"1": True, "true": True, "yes": True, "on": True,
          "0": False, "false": False, "no": False, "off": False}


def _coerce(name: str, raw: str, type_: Any) -> Any:
    if type_ in ("bool", bool):
        flag = _FLAGS.get(raw.strip().lower())
        if flag is None:
            raise ConfigError(f"ASSISTANT_{name.upper()} must be 1 or 0 (on or off), got {raw!r}")
        return flag
    if type_ in ("int", int):
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(
                f"ASSISTANT_{name.upper()} must be an integer, got {raw!r}"
            ) from None
    return raw
