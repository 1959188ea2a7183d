"""The article gold set: cases as data, the assistant run over them, every gold-set metric."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..answer import DROP_CODES
from ..config import PROJECT_ROOT
from ..documents import Document
from ..errors import ConfigError
from . import metrics as m
from .common import read_jsonl

DEFAULT_DATASET = PROJECT_ROOT / "corpus" / "eval" / "article.jsonl"


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
    from ..verify import claim_of, unbacked

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
        "dropped": [{"text": d.text, "reason": d.reason, "code": d.code} for d in answer.dropped],
        "invented_reached": reached, "invented_anywhere": anywhere,
        "first_sentence": answer.timings.get("first_sentence", answer.timings.get("total", 0.0)),
    }


def drop_kind(code: str) -> str:
    """A dropped sentence's code (answer.DROP_CODES) as the label its count is reported under."""
    return DROP_CODES.get(code, code or "unknown")


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
        kinds[drop_kind(d.get("code", ""))] += 1
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
