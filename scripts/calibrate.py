"""Fit the extractive answerer on training data only, and report it on data the fit never saw.

The command line of assistant/eval/calibration.py (what is fitted on what, and how, is told there).
Deterministic: the same code and data give the same calibration.json (no timestamp in it).

    .venv/bin/python scripts/calibrate.py                # writes assistant/calibration.json
    .venv/bin/python scripts/calibrate.py --check        # exit 1 when the shipped file differs
    .venv/bin/python scripts/calibrate.py --sample 8 --out corpus/eval/calibration_check.json
    .venv/bin/python scripts/calibrate.py --sample 8 --out corpus/eval/calibration_check.json --check

The last two are CI's check (`make calibrate-check`): the same fit on every 8th question, so a
change to the code, the data or the reader shows in 8.5 min, where the full fit with a reader
takes 32 min (2 cores, 2026-12-06). The check also asks that calibration.json names the same model, reader and
data as the sample computed today.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant import Assistant  # noqa: E402
from assistant.documents import load_path  # noqa: E402
from assistant.embeddings import model_id  # noqa: E402
from assistant.eval.calibration import (  # noqa: E402
    BENCHMARKS,
    INPUTS,
    Group,
    OutOfFold,
    ablation,
    article_rows,
    close,
    collect,
    collect_squad,
    collect_squad_moved,
    differences,
    digest,
    fit,
    flat_rows,
    moved_rows,
    report,
)
from assistant.eval.clapnq import load_flat  # noqa: E402
from assistant.eval.gold import DEFAULT_DATASET  # noqa: E402
from assistant.eval.squad import FOLDS, TEST_FOLD, squad_files  # noqa: E402
from assistant.extractive import CALIBRATION_FILE  # noqa: E402
from assistant.reader import OUT_OF_FOLD_DIR, Reader  # noqa: E402


def fit_readers(shipped, folder: Path):
    """With a reader, who reads each question (calibration.OutOfFold); None without one."""
    if shipped is None:
        return None
    halves = [folder / f"half{h}" for h in (0, 1)]
    missing = [str(h) for h in halves if not (h / "adapter_model.safetensors").exists()]
    if missing:
        sys.exit(f"the calibration of a reader fits on out-of-fold scores, and {', '.join(missing)} "
                 "holds no adapter: run `make train-reader` (it trains the shipped reader and both halves)")
    return OutOfFold(shipped, [Reader(h) for h in halves])


def main() -> None:
    # Some features sum over sets of words, whose order follows Python's string hashing: the last
    # digits, and so a threshold now and then, would change from run to run. One hash seed makes
    # the fit a function of the code and the data (`--check` depends on it).
    if os.environ.get("PYTHONHASHSEED") != "0":
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "PYTHONHASHSEED": "0"})
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=ROOT / ".assistant" / "calibration")
    ap.add_argument("-k", type=int, default=5)
    ap.add_argument("--tolerance", type=float, default=0.005,
                    help="accuracy within this (or one question, if more) of the best counts as a tie; "
                         "ties go to answering more")
    ap.add_argument("--out", type=Path, default=CALIBRATION_FILE)
    ap.add_argument("--sample", type=int, default=1,
                    help="use every N-th question of each set: a quick look while developing (the shipped file uses all)")
    ap.add_argument("--ablate", type=Path, default=None,
                    help="also refit with each hand-written rule switched off; write the held-out table here (JSON)")
    ap.add_argument("--out-of-fold", type=Path, default=OUT_OF_FOLD_DIR,
                    help="the half-trained readers (half0/, half1/) whose scores the fit data gets, with a reader")
    ap.add_argument("--fit-moved", action=argparse.BooleanOptionalAction, default=True,
                    help="also fit on fit questions moved to another document: the silence readers meet "
                         "(default; --no-fit-moved for the fit without them)")
    ap.add_argument("--check", action="store_true",
                    help="recompute and exit 1 when the shipped file is not what today's code produces")
    args = ap.parse_args()
    t0 = time.perf_counter()

    clapnq = BENCHMARKS / "clapnq_dev.jsonl"
    article = Assistant.from_documents(load_path(ROOT / "corpus"), index_dir=args.cache / "article")
    emb = article.index.embeddings
    flat_docs, flat_cases = load_flat(clapnq)
    flat = Assistant.from_documents(flat_docs, index_dir=args.cache / "flat", embeddings=emb)
    by_id = {d.id: d for d in flat_docs}
    even = list(flat_rows(by_id, flat_cases[0::2]))[::args.sample]
    odd = list(flat_rows(by_id, flat_cases[1::2]))[::args.sample]
    readers = fit_readers(article.answerer.reader, args.out_of_fold)
    squad = collect_squad(args.cache, emb, args.k, args.sample, readers=readers)
    # The silence readers meet: questions asked of a document they were not written for. Reported;
    # fitted on too (the fit folds' questions, and ClapNQ's even rows) unless --no-fit-moved.
    moved = collect_squad_moved(args.cache, emb, args.k, args.sample * 2,
                                folds=tuple(range(FOLDS)) if args.fit_moved else (TEST_FOLD,), readers=readers)
    print(f"collected in {time.perf_counter() - t0:.0f} s", file=sys.stderr)

    one_article_fit = collect(article, list(article_rows(article, "fit")), args.k, readers=readers)
    held = {
        "article_test": collect(article, list(article_rows(article, "test")), args.k),
        "squad_test_fold": [g for g in squad if g.fold == TEST_FOLD],
        "clapnq_odd_rows": collect(flat, odd, args.k),
        "clapnq_odd_rows_alone": collect(flat, odd, args.k, alone=True),
        "squad_test_fold_moved": [g for g in moved if g.fold == TEST_FOLD],
        "clapnq_odd_rows_moved": collect(flat, moved_rows(odd), args.k, alone=True),
    }
    # The SQuAD articles share the news article's setting (one document, a handful of its chunks
    # retrieved), so they share its threshold; each ClapNQ setting has data and a threshold of its
    # own. Every set weighs the same: 3,000 SQuAD questions would otherwise drown the article's 50.
    settings = {"article_fit": None, "squad_fit": None,
                "clapnq_even_rows": "many", "clapnq_even_rows_alone": "whole"}
    clap_fit = {"clapnq_even_rows": collect(flat, even, args.k, readers=readers),
                "clapnq_even_rows_alone": collect(flat, even, args.k, alone=True, readers=readers)}
    if args.fit_moved:
        settings |= {"squad_moved_fit": None, "clapnq_even_rows_moved": "whole"}
        clap_fit["clapnq_even_rows_moved"] = collect(flat, moved_rows(even), args.k, alone=True, readers=readers)


    def train(without_fold: int) -> dict[str, list[Group]]:
        moved_fit = {"squad_moved_fit": [g for g in moved if g.fold != without_fold]} if args.fit_moved else {}
        return {"article_fit": one_article_fit, "squad_fit": [g for g in squad if g.fold != without_fold],
                **moved_fit, **clap_fit}

    params = fit(train(TEST_FOLD), settings, args.tolerance)
    fitted = {name: report(groups, params) for name, groups in train(TEST_FOLD).items()}
    held_out = {name: report(groups, params) for name, groups in held.items()}
    # Cross-validation by article: each SQuAD fold scored by a fit that never saw its articles.
    folds = {}
    for f in range(FOLDS):
        p = fit(train(f), settings, args.tolerance)
        folds[f"fold_{f}"] = report([g for g in squad if g.fold == f], p)
    folds["mean_accuracy"] = round(sum(v["accuracy"] for v in folds.values()) / FOLDS, 4)

    payload = {
        "how": "scripts/calibrate.py: listwise softmax ranker, logistic gate, threshold per setting by grid search",
        "model": model_id(emb),  # the weights hold for this embedding model only
        "reader": article.answerer.reader.id if article.answerer.reader else None,  # ... and this reader
        # ... whose gate and ranker were fitted on these half-trained readers' scores
        **({"reader_out_of_fold": [r.id for r in readers.halves]} if readers else {}),
        "data": digest([DEFAULT_DATASET, clapnq, *squad_files(BENCHMARKS)]),
        "params": {"weights": params.weights, "gate_weights": params.gate_weights,
                   "gate_bias": params.gate_bias, "threshold": params.threshold,
                   "threshold_shift": params.threshold_shift,
                   "margin": params.margin, "max_sentences": params.max_sentences},
        "fit_data_in_sample": fitted,
        "held_out": held_out,
        "cross_validation_by_squad_article": folds,
    }
    if args.ablate:
        table = ablation(train(TEST_FOLD), held, settings, args.tolerance)
        args.ablate.parent.mkdir(parents=True, exist_ok=True)
        args.ablate.write_text(json.dumps(table, indent=2) + "\n", encoding="utf-8")
    text = json.dumps(payload, indent=2) + "\n"
    print(f"done in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    if args.check:
        shipped = json.loads(args.out.read_text(encoding="utf-8")) if args.out.exists() else {}
        if not close(shipped, payload, tol=2e-4):
            # Keep what was computed, and name the values that differ, so a mismatch can be traced.
            computed = ROOT / "reports" / "calibration.computed.json"
            computed.parent.mkdir(parents=True, exist_ok=True)
            computed.write_text(text, encoding="utf-8")
            diff = [f"{path}: shipped {a}, computed {b}" for path, a, b in differences(shipped, payload, 2e-4)]
            sys.exit(f"{args.out} is not what scripts/calibrate.py produces from today's code and data "
                     f"(computed: {computed}); run `make calibrate` and commit the file. Differences:\n  "
                     + "\n  ".join(diff[:20]))
        if args.out.resolve() != CALIBRATION_FILE.resolve():
            full = json.loads(CALIBRATION_FILE.read_text(encoding="utf-8")) if CALIBRATION_FILE.exists() else {}
            stale = [k for k in INPUTS if full.get(k) != payload.get(k)]
            if stale:
                sys.exit(f"{CALIBRATION_FILE} was fitted for other inputs than today's ({', '.join(stale)}); "
                         "run `make calibrate` and commit both files")
        print(f"{args.out} matches today's code and data")
        return
    args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
