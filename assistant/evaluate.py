"""Gold-set evaluation: cases as data, scores from `metrics`, thresholds in one TOML file."""

from __future__ import annotations

import json
import tomllib
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import metrics as m
from .config import PROJECT_ROOT
from .documents import Document
from .errors import ConfigError

DEFAULT_DATASET = PROJECT_ROOT / "corpus" / "eval" / "article.jsonl"
DEFAULT_THRESHOLDS = PROJECT_ROOT / "corpus" / "eval" / "thresholds.toml"


@dataclass(frozen=True)
class Case:
    """One question with its gold evidence; conversation turns carry their conversation id."""

    id: str
    category: str
    question: str
    answerable: bool
    evidence: tuple[str, ...] = ()
    key_facts: tuple[str, ...] = ()
    kind: str = ""
    conversation: str = ""
    turn: int = 0
    part: str = ""  # "fit" (calibration may see it) or "test" (reported, never fitted on)


def read_jsonl(path: Path, kind: str, what: str, hint: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; a clear error for anything else."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"no {kind} at {path}; {hint}")
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{lineno}: not {what} (invalid JSON: {exc})") from None
        if not isinstance(row, dict):
            raise ConfigError(f"{path}:{lineno}: not {what} (each line must be a JSON object)")
        yield lineno, row


PARTS = ("fit", "test")


def load_dataset(path: Path = DEFAULT_DATASET, part: str | None = None) -> list[list[Case]]:
    """Cases grouped into dialogues (a single question is a dialogue of one turn); only the
    `fit` or `test` part when `part` is given."""
    if part is not None and part not in PARTS:
        raise ConfigError(f"unknown part {part!r}; use one of {', '.join(PARTS)}")
    groups = []
    for lineno, row in read_jsonl(path, "dataset", "a valid case", "pass --dataset with a JSONL file of cases"):
        try:
            turns = row.get("turns") or [row]
            if any(not isinstance(t.get("answerable"), bool) for t in turns):
                raise TypeError("'answerable' must be true or false")
            groups.append([
                Case(
                    id=f"{row['id']}#{i}" if "turns" in row else row["id"],
                    category=row["category"], question=t["question"],
                    answerable=bool(t["answerable"]), evidence=tuple(t.get("evidence", ())),
                    key_facts=tuple(t.get("key_facts", ())), kind=row.get("kind", ""),
                    conversation=row["id"] if "turns" in row else "", turn=i,
                    part=row.get("part", ""),
                )
                for i, t in enumerate(turns)
            ])
        except (KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"{path}:{lineno}: not a valid case ({exc})") from None
    return [g for g in groups if part is None or g[0].part == part]


@dataclass
class Result:
    """What the assistant did on one case, reduced to what the metrics need."""

    case: Case
    text: str
    abstained: bool
    query: str
    cited: list[tuple[str, int, int]]  # (doc_id, start, end)
    quotes_exact: list[bool]
    retrieved: list[tuple[str, int, int]]
    timings: dict[str, float] = field(default_factory=dict)
    checks: dict[str, Any] = field(default_factory=dict)  # answer_checks: what a model's sentences did

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form for metrics.json."""
        return {"id": self.case.id, "category": self.case.category, "question": self.case.question,
                "answerable": self.case.answerable, "abstained": self.abstained, "text": self.text,
                "query": self.query, "cited": self.cited, "timings": self.timings, **self.checks}


# -- what a model's answer did (every answerer is scored alike) --------------------------


def answer_checks(answer, docs: list[Document]) -> dict[str, Any]:
    """Counts for `generative_metrics`, and the sentences themselves for a reader of metrics.json.

    A shown sentence is "invented" when it holds a figure or capitalised name (verify.figures,
    verify.names) that occurs nowhere in the quotes of the citations it shows (`invented_reached`)
    or nowhere in the documents (`invented_anywhere`). This is the verifier's own string test (it
    asks more: the names and figures together in one or two adjacent sentences), so
    `invented_reached` catches what slips past the verifier (a bug, a path around it), not where
    the verifier is wrong. An extractive answer shows no model sentence, so both are 0.
    """
    from .verify import claim_of, unbacked

    quotes = {c.n: c.quote for c in answer.citations}
    whole = "\n".join(d.text for d in docs)
    reached, anywhere = [], []
    for s in answer.sentences:
        claim = claim_of(s.text)
        if unbacked(claim, " ".join(quotes.get(n, "") for n in s.citations)):
            reached.append(s.text)
        if unbacked(claim, whole):
            anywhere.append(s.text)
    return {
        "mode": answer.mode, "notice": answer.notice,
        "sentences": [s.text for s in answer.sentences],
        "quotes": {str(n): q for n, q in quotes.items()},
        "dropped": [{"text": d.text, "reason": d.reason} for d in answer.dropped],
        "invented_reached": reached, "invented_anywhere": anywhere,
        "first_sentence": answer.timings.get("first_sentence", answer.timings.get("total", 0.0)),
    }


def drop_kind(reason: str) -> str:
    """A dropped sentence's reason reduced to its kind, for counting."""
    if "repeats" in reason:
        return "repeat"
    if "not in the cited passages" in reason:
        return "figure or name not in the passages"
    if "never occur together" in reason:
        return "figures and names not together in one passage sentence"
    if "of its words are in the passages" in reason:
        return "too few of its words in the passages"
    if "no content words" in reason:
        return "no content words"
    return reason or "unknown"


def generative_metrics(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """answered, refused, fact recall and what verification did, over rows of
    {"answerable", "abstained", "fact", **answer_checks} (missing checks count as an extractive answer).

    first_sentence is the time from the request to the first verified model sentence, or to the
    whole answer when no model sentence was shown (extractive answers, fallbacks, refusals)."""
    ans = [r for r in rows if r["answerable"]]
    imp = [r for r in rows if not r["answerable"]]
    shown = sum(len(r.get("sentences", ())) for r in rows)
    dropped = [d for r in rows for d in r.get("dropped", ())]
    first = [r["first_sentence"] for r in rows if "first_sentence" in r]
    kinds: dict[str, int] = defaultdict(int)
    for d in dropped:
        kinds[drop_kind(d["reason"])] += 1
    return {
        "answered": m.mean([0.0 if r["abstained"] else 1.0 for r in ans]),
        "refused": m.mean([1.0 if r["abstained"] else 0.0 for r in imp]),
        "fact_recall": m.mean([r["fact"] for r in ans]),
        "model_sentences_shown": shown,
        "dropped_rate": len(dropped) / (shown + len(dropped)) if shown + len(dropped) else 0.0,
        "fallbacks": m.mean([1.0 if r.get("notice") else 0.0 for r in rows]),
        "invented_reached": sum(len(r.get("invented_reached", ())) for r in rows),
        "invented_anywhere": sum(len(r.get("invented_anywhere", ())) for r in rows),
        "first_sentence_p50": m.percentile(first, 50),
        "first_sentence_p95": m.percentile(first, 95),
        "drop_reasons": dict(sorted(kinds.items(), key=lambda kv: -kv[1])),
    }


def run(bot, groups: list[list[Case]]) -> list[Result]:
    """Ask every case; a dialogue's later turns get the assistant's own earlier answers as history."""
    results = []
    docs = {d.id: d for d in bot.documents}
    bot.warm_up()  # latency percentiles describe a warm assistant, not the model load
    for group in groups:
        history: list[tuple[str, str]] = []
        for case in group:
            ans = bot.ask(case.question, history=history)
            history.append((case.question, ans.text))
            results.append(Result(
                case, ans.text, ans.abstained, ans.query,
                [(c.doc_id, c.start, c.end) for c in ans.citations],
                [c.doc_id in docs and docs[c.doc_id].text[c.start:c.end] == c.quote for c in ans.citations],
                [(p.doc_id, p.start, p.end) for p in ans.passages],
                dict(ans.timings), answer_checks(ans, bot.documents),
            ))
    return results


def gold_spans(case: Case, docs: list[Document]) -> list[tuple[str, int, int]]:
    """Where each evidence string sits, in whichever document holds it."""
    out = []
    for ev in case.evidence:
        for d in docs:
            for s, e in m.find_spans(d.text, [ev]):
                out.append((d.id, s, e))
    return out


def _spans_in(doc_spans: list[tuple[str, int, int]], doc_id: str) -> list[tuple[int, int]]:
    return [(s, e) for d, s, e in doc_spans if d == doc_id]


def _hits(spans: list[tuple[str, int, int]], gold: list[tuple[str, int, int]]) -> list[bool]:
    return [any(d == gd and m.overlaps((s, e), (gs, ge)) for gd, gs, ge in gold) for d, s, e in spans]


def case_correct(r: Result, docs: list[Document]) -> bool:
    """Answerable: answered with a citation on gold evidence. Unanswerable: abstained."""
    if not r.case.answerable:
        return r.abstained
    return not r.abstained and any(_hits(r.cited, gold_spans(r.case, docs)))


def score(results: list[Result], docs: list[Document], k: int = 5) -> dict[str, Any]:
    """Every gold-set metric, plus per-category accuracy and per-stage latency."""
    answerable = [r for r in results if r.case.answerable]
    recall, rr, cite_recall, facts = [], [], [], []
    cite_hit = cite_total = 0
    for r in answerable:
        gold = gold_spans(r.case, docs)
        hits = _hits(r.retrieved, gold)
        recall.append(1.0 if any(hits[:k]) else 0.0)
        rr.append(next((1.0 / (i + 1) for i, h in enumerate(hits) if h), 0.0))
        if not r.abstained:
            cited_hits = _hits(r.cited, gold)
            cite_hit += sum(cited_hits)
            cite_total += len(cited_hits)
        covered = [g for g in gold if any(d == g[0] and m.overlaps((s, e), g[1:]) for d, s, e in r.cited)]
        cite_recall.append(len(covered) / len(gold) if gold else 1.0)
        facts.append(0.0 if r.abstained else m.key_fact_recall(r.text, r.case.key_facts))
    abst = m.prf([r.abstained for r in results], [not r.case.answerable for r in results])
    false_premise = [r.abstained for r in results if r.case.kind == "false_premise"]
    quotes = [q for r in results for q in r.quotes_exact]
    by_category: dict[str, list[bool]] = defaultdict(list)
    for r in results:
        by_category[r.case.category].append(case_correct(r, docs))
    stages = sorted({s for r in results for s in r.timings})
    generative = generative_metrics([
        {"first_sentence": r.timings.get("first_sentence", r.timings.get("total", 0.0)), **r.checks,
         "answerable": r.case.answerable, "abstained": r.abstained,
         "fact": 0.0 if r.abstained else m.key_fact_recall(r.text, r.case.key_facts)}  # as key_fact_recall
        for r in results
    ])
    return {
        "cases": len(results),
        "recall_at_5": m.mean(recall),
        "mrr": m.mean(rr),
        "citation_precision": cite_hit / cite_total if cite_total else 0.0,
        "citation_recall": m.mean(cite_recall),
        "key_fact_recall": m.mean(facts),
        "abstention_precision": abst["precision"],
        "abstention_recall": abst["recall"],
        "abstention_f1": abst["f1"],
        **({"false_premise_handled": m.mean([1.0 if a else 0.0 for a in false_premise])} if false_premise else {}),
        "quote_exactness": m.mean([1.0 if q else 0.0 for q in quotes]) if quotes else 1.0,
        "answer_chars": m.mean([len(r.text) for r in results if not r.abstained]),
        **generative,
        "accuracy_by_category": {c: m.mean([1.0 if x else 0.0 for x in v]) for c, v in sorted(by_category.items())},
        "latency_ms": {
            s: {"p50": 1000 * m.percentile([r.timings[s] for r in results if s in r.timings], 50),
                "p95": 1000 * m.percentile([r.timings[s] for r in results if s in r.timings], 95)}
            for s in stages
        },
    }


def load_thresholds(path: Path = DEFAULT_THRESHOLDS, section: str = "article") -> dict[str, float]:
    """Minimum values per metric, from one TOML file."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read thresholds from {path} ({exc})") from None
    return {k: float(v) for k, v in data.get(section, {}).items()}


def failures(metrics: dict[str, Any], thresholds: dict[str, float]) -> list[str]:
    """One line per metric below its threshold."""
    out = []
    for name, minimum in thresholds.items():
        value = metrics.get(name)
        if value is None:
            out.append(f"{name}: missing from the metrics")
        elif value < minimum:
            out.append(f"{name} = {value:.3f} is below its threshold {minimum:.3f}")
    return out


def write_report(metrics: dict[str, Any], results: list[Result] | None, out_dir: Path,
                 title: str, thresholds: dict[str, float] | None = None,
                 flat: dict[str, Any] | None = None) -> list[Path]:
    """report.md, metrics.json and chart.png in out_dir."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    payload = {"generated": stamp, "metrics": metrics, "thresholds": thresholds or {}}
    if flat:
        payload["flat"] = flat
    if results is not None:
        payload["cases"] = [r.to_dict() for r in results]
    (out_dir / "metrics.json").write_text(json.dumps(payload, indent=2, ensure_ascii=False), encoding="utf-8")
    lines = [f"# {title}", "", f"Generated {stamp}.", ""]
    if metrics:
        lines += ["| metric | value | threshold |", "|---|---|---|"]
        for name, value in metrics.items():
            if isinstance(value, float | int):
                t = (thresholds or {}).get(name)
                lines.append(f"| {name} | {_number(value)} | {'' if t is None else f'≥ {t:.2f}'} |")
        lines += ["", "| category | accuracy |", "|---|---|"]
        lines += [f"| {c} | {v:.3f} |" for c, v in metrics.get("accuracy_by_category", {}).items()]
        lines += ["", "| stage | p50 ms | p95 ms |", "|---|---|---|"]
        lines += [f"| {s} | {v['p50']:.1f} | {v['p95']:.1f} |" for s, v in metrics.get("latency_ms", {}).items()]
    if flat:
        lines += ["", flat_table(flat)]
    lines += ["", "![scores and latency](chart.png)", ""]
    (out_dir / "report.md").write_text("\n".join(lines), encoding="utf-8")
    chart(metrics, results, out_dir / "chart.png", flat)
    return [out_dir / "report.md", out_dir / "metrics.json", out_dir / "chart.png"]


def flat_table(flat: dict[str, Any]) -> str:
    """Markdown table: this project vs the naive baseline on a flat QA set."""
    systems = list(flat["systems"])
    rows = ["| metric | " + " | ".join(systems) + " |", "|---|" + "---|" * len(systems)]
    for name, first in flat["systems"][systems[0]].items():
        if not isinstance(first, int | float):  # latency_ms, drop_reasons: below, or in metrics.json
            continue
        vals = [flat["systems"][s].get(name) for s in systems]
        rows.append(f"| {name} | " + " | ".join(_number(v) for v in vals) + " |")
    for s in systems:
        lat = flat["systems"][s].get("latency_ms", {})
        rows.append(f"| {s} latency p50 / p95 ms | {lat.get('p50', 0):.1f} / {lat.get('p95', 0):.1f} |"
                    + " |" * (len(systems) - 1))
    head = (f"{flat['dataset']}: {flat['questions']} questions ({flat['impossible']} unanswerable) over "
            f"{flat['documents']} documents {flat.get('setting', 'in one index')}")
    return head + "\n\n" + "\n".join(rows)


def _number(v: Any) -> str:
    if v is None:
        return ""
    return str(v) if isinstance(v, int) and not isinstance(v, bool) else f"{v:.3f}"


def chart(metrics: dict[str, Any], results: list[Result] | None, path: Path,
          flat: dict[str, Any] | None = None) -> None:
    """Scores per category and the latency distribution, side by side."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        from .errors import missing

        raise missing("matplotlib", "eval") from None
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    if metrics.get("accuracy_by_category"):
        cats = metrics["accuracy_by_category"]
        left.barh(list(cats), list(cats.values()), color="#4C72B0")
        left.set_xlim(0, 1)
        left.set_title("accuracy per category")
    elif flat:
        names = flat.get("chart") or ["gold_in_answer", "gold_in_citation", "abstain_on_impossible", "false_abstention"]
        width = 0.8 / len(flat["systems"])
        for i, (system, vals) in enumerate(flat["systems"].items()):
            left.barh([j + i * width for j in range(len(names))], [vals.get(n, 0) for n in names],
                      height=width, label=system)
        left.set_yticks([j + width / 2 for j in range(len(names))], names)
        left.set_xlim(0, 1)
        left.legend()
        left.set_title("flat QA: this project vs naive baseline")
    if results:
        totals = [1000 * r.timings.get("total", 0.0) for r in results]
        right.hist(totals, bins=20, color="#55A868")
        right.set_xlabel("ask latency (ms)")
        right.set_title("latency distribution")
    elif flat and flat.get("latencies_ms"):
        for system, values in flat["latencies_ms"].items():
            right.hist(values, bins=20, alpha=0.6, label=system)
        right.set_xlabel("latency (ms)")
        right.legend()
        right.set_title("latency distribution")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
