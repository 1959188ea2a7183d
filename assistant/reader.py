"""The reader: a cross-encoder that reads a question and a candidate sentence together.

Overlap features cannot tell a sentence that answers from one that merely shares the question's
words; a model that attends across both can. The reader is all-MiniLM-L6-v2 (the packaged
embedding model) with a sequence-classification head and a LoRA adapter trained here
(`make train-reader`, assistant/eval/train_reader.py): listwise, a softmax over one question's
candidates plus a fixed "none of these" logit, so its scores say both which sentence answers and
whether any does. Only the adapter ships (assistant/reader_adapter/, under 10 MB); the base weights load
from the package; nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import numpy as np

READER_DIR = Path(__file__).with_name("reader_adapter")
# Two more adapters, each trained on half the fit data: the calibration fits the gate and ranker on
# their scores of the half they never saw (scripts/calibrate.py). Not used at run time.
OUT_OF_FOLD_DIR = READER_DIR / "out_of_fold"
ADAPTER_FILE = "adapter_model.safetensors"
# The logit of the "none of these sentences answers" slot the reader was trained against.
NO_ANSWER = 0.0
# Word pieces per (question, candidate) pair: 19 in 20 pairs of the training data fit whole;
# a longer one loses the end of its context (padding to the longest pair sets a batch's cost).
MAX_LENGTH = 96
# Candidates the reader reads per question, the best first by a cheap prefilter
# (extractive.prefilter): it reads them in one batch of this size.
TOP = 12


def reader_text(sentence: str, context: str = "") -> str:
    """What the reader reads for a candidate: the sentence, then what it needs to be understood
    (the document's title, the sentence a pronoun leans on), after a separator."""
    return f"{sentence} | {context}" if context else sentence


def p_answer(logits) -> float:
    """P(some candidate answers): one minus the "none of these" slot's softmax share."""
    z = np.concatenate([[NO_ANSWER], np.asarray(logits, dtype=np.float64)])
    z = z - z.max()
    e = np.exp(z)
    return float(1.0 - e[0] / e.sum())


def base_model(path: Path | None = None):
    """all-MiniLM-L6-v2 with a one-logit classification head (the head starts random: seed first)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from .embeddings import minilm_path

    hf_logging.set_verbosity_error()  # "some weights are newly initialized": the head, on purpose
    path = path or minilm_path()
    model = AutoModelForSequenceClassification.from_pretrained(str(path), num_labels=1)
    return model, AutoTokenizer.from_pretrained(str(path))


def adapter_id(adapter_dir: Path = READER_DIR) -> str | None:
    """A short content hash of the shipped adapter (calibration.json is fitted for one reader)."""
    f = adapter_dir / ADAPTER_FILE
    return hashlib.sha256(f.read_bytes()).hexdigest()[:12] if f.exists() else None


class Reader:
    """Scores (question, candidate) pairs; loads lazily, once, on first use."""

    def __init__(self, adapter_dir: Path = READER_DIR, batch_size: int = TOP) -> None:
        self.adapter_dir = adapter_dir
        self.batch_size = batch_size
        self.id = adapter_id(adapter_dir)
        self._model = None
        self._tokenizer = None
        self._lock = threading.Lock()  # UI sessions share one reader; torch inference is CPU-bound

    @classmethod
    def shipped(cls) -> Reader | None:
        """The reader in the package, or None when no adapter ships (a checkout before training)."""
        return cls() if adapter_id() else None

    def _load(self) -> None:
        if self._model is None:
            import torch
            from peft import PeftModel

            torch.manual_seed(0)  # the head's random start is overwritten by the adapter's copy
            model, tokenizer = base_model()
            model = PeftModel.from_pretrained(model, str(self.adapter_dir)).merge_and_unload()
            model.eval()
            self._model, self._tokenizer = model, tokenizer

    def scores(self, question: str, texts: list[str]) -> np.ndarray:
        """One logit per candidate text: higher means it answers the question."""
        if not texts:
            return np.zeros(0, dtype=np.float32)
        import torch

        with self._lock:
            self._load()
            out = []
            with torch.inference_mode():
                for i in range(0, len(texts), self.batch_size):
                    batch = texts[i : i + self.batch_size]
                    enc = self._tokenizer([question] * len(batch), batch, truncation="longest_first",
                                          max_length=MAX_LENGTH, padding=True, return_tensors="pt")
                    out.append(self._model(**enc).logits[:, 0].float().numpy())
        return np.concatenate(out)
