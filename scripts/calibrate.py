"""Fit the extractive answerer's sentence scorer and abstention threshold on data.

Data: the article's gold set (corpus/eval/article.jsonl) and the even rows of the external
ClapNQ set (the odd rows stay held out for `assistant eval --flat`). Every retrieved sentence
is a training example, labelled by whether it overlaps gold evidence; a logistic regression
over the answerer's features gives P(sentence answers), and the threshold on the best
sentence's probability is chosen to maximise the mean per-question accuracy of both sets
(answered, credited by the share of its citations on gold evidence, or abstained when the
question has no answer).

    .venv/bin/python scripts/calibrate.py            # writes assistant/calibration.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant import Assistant  # noqa: E402
from assistant import evaluate as ev  # noqa: E402
from assistant import metrics as m  # noqa: E402
from assistant.answer import CALIBRATION_FILE, FEATURES, GATE_FEATURES, Params, gate_features  # noqa: E402
from assistant.chain import rewrite  # noqa: E402
from assistant.documents import load_path  # noqa: E402
from assistant.flat import load_flat  # noqa: E402

CLAPNQ = ROOT.parent / "shared" / "benchmarks" / "clapnq_dev.jsonl"


def questions_article(bot):
    """(question, query, answerable, gold spans) for every turn of the gold set."""
    docs = bot.documents
    for group in ev.load_dataset():
        history = []
        for case in group:
            yield case.question, rewrite(case.question, history), case.answerable, \
                [(d, s, e) for d, s, e in ev.gold_spans(case, docs)]
            history.append((case.question, ""))


def questions_flat(docs_by_id, cases):
    for c in cases:
        doc = docs_by_id[c.doc_id]
        gold = [] if c.impossible else [(doc.id, s, e) for s, e in m.find_spans(doc.text, [g.strip() for g in c.gold_sentences])]
        if not c.impossible and not gold:
            continue  # gold sentence not found verbatim: cannot label this row
        yield c.question, c.question, not c.impossible, gold


def collect(bot, rows, k):
    """Candidates with features and labels, grouped per question."""
    out = []
    docs = bot.documents
    for question, query, answerable, gold in rows:
        passages = bot.retriever.search(query, k)
        cands = bot.answerer.candidates(question, query, passages, docs)
        labels = [any(d == c.span.doc_id and m.overlaps((c.span.start, c.span.end), (s, e)) for d, s, e in gold)
                  for c in cands]
        out.append({"answerable": answerable, "cands": cands, "labels": labels})
    return out


def accuracy(groups, params: Params) -> dict[str, float]:
    from assistant.answer import ExtractiveAnswerer

    picker = ExtractiveAnswerer.__new__(ExtractiveAnswerer)
    picker.params = params
    right = answered_right = false_abst = abst_ok = 0
    n_ans = sum(g["answerable"] for g in groups)
    n_una = len(groups) - n_ans
    for g in groups:
        chosen = picker.select(g["cands"], params)
        label = {id(c): lab for c, lab in zip(g["cands"], g["labels"], strict=True)}
        if g["answerable"]:
            # Credit is the share of cited sentences that are gold: extra citations cost.
            ok = sum(label[id(c)] for c in chosen) / len(chosen) if chosen else 0.0
            answered_right += ok
            false_abst += not chosen
        else:
            ok = not chosen
            abst_ok += ok
        right += ok
    return {"accuracy": right / len(groups), "citation_precision_weighted_answers": answered_right / max(n_ans, 1),
            "false_abstention": false_abst / max(n_ans, 1), "abstained_when_unanswerable": abst_ok / max(n_una, 1),
            "questions": len(groups), "answerable": n_ans, "unanswerable": n_una}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=ROOT / ".assistant" / "calibration")
    ap.add_argument("--flat", type=Path, default=CLAPNQ)
    ap.add_argument("-k", type=int, default=5)
    ap.add_argument("--article-weight", type=float, default=1.0,
                    help="weight of the article set against ClapNQ when choosing the threshold")
    ap.add_argument("--out", type=Path, default=CALIBRATION_FILE)
    args = ap.parse_args()

    article = Assistant.from_documents(load_path(ROOT / "corpus"), index_dir=args.cache / "article")
    flat_docs, flat_cases = load_flat(args.flat)
    flat = Assistant.from_documents(flat_docs, index_dir=args.cache / "flat", embeddings=article.index.embeddings)
    data = {
        "article": collect(article, list(questions_article(article)), args.k),
        "clapnq_even_rows": collect(flat, list(questions_flat({d.id: d for d in flat_docs}, flat_cases[0::2])), args.k),
    }

    # Each set weighs the same in the fit, however many sentences it contributes.
    X, y, w = [], [], []
    for groups in data.values():
        n = sum(len(g["cands"]) for g in groups)
        for g in groups:
            for c, lab in zip(g["cands"], g["labels"], strict=True):
                X.append([c.features[f] for f in FEATURES])
                y.append(int(lab))
                w.append(1.0 / n)
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=1.0, max_iter=2000)
    model.fit(np.array(X), np.array(y), sample_weight=np.array(w) * len(w))
    weights = {f: round(float(v), 4) for f, v in zip(FEATURES, model.coef_[0], strict=True)}
    params = Params(weights=weights, bias=round(float(model.intercept_[0]), 4))

    # The gate: P(answerable) from question-level features, each set weighing the same.
    G, gy, gw = [], [], []
    for groups in data.values():
        usable = [g for g in groups if g["cands"]]
        for g in usable:
            feats = gate_features(g["cands"], params)
            G.append([feats[f] for f in GATE_FEATURES])
            gy.append(int(g["answerable"]))
            gw.append(1.0 / len(usable))
    gate = LogisticRegression(C=1.0, max_iter=2000)
    gate.fit(np.array(G), np.array(gy), sample_weight=np.array(gw) * len(gw))
    params = replace(params, gate_weights={f: round(float(v), 4) for f, v in zip(GATE_FEATURES, gate.coef_[0], strict=True)},
                     gate_bias=round(float(gate.intercept_[0]), 4))

    best = None
    for threshold in np.arange(0.05, 0.95, 0.01):
        for margin, novel_limit in itertools.product((0.0, 0.02, 0.05, 0.1, 0.15, 0.2), (0.2, 0.3, 0.4, 0.5, 1.01)):
            p = replace(params, threshold=round(float(threshold), 2), margin=margin, novel_limit=novel_limit)
            scores = {name: accuracy(groups, p) for name, groups in data.items()}
            objective = (args.article_weight * scores["article"]["accuracy"] + scores["clapnq_even_rows"]["accuracy"]) / (1 + args.article_weight)
            if best is None or objective > best[0] + 1e-9:
                best = (objective, p, scores)
    objective, params, scores = best
    payload = {
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "how": "scripts/calibrate.py: logistic regression over sentence features, threshold by grid search",
        "params": {"weights": params.weights, "bias": params.bias, "gate_weights": params.gate_weights,
                   "gate_bias": params.gate_bias, "threshold": params.threshold,
                   "novel_limit": params.novel_limit,
                   "margin": params.margin, "max_sentences": params.max_sentences},
        "measured": {name: {k: round(v, 4) if isinstance(v, float) else v for k, v in s.items()}
                     for name, s in scores.items()},
        "objective_mean_accuracy": round(objective, 4),
    }
    args.out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
