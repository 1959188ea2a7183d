"""External runner for MTRAG conversations, compared with the naive LangChain baseline.

Each conversation gets one index holding its reference passages (one Document each); its turns
are asked in order, each with the assistant's own earlier answers as history. A turn is grounded
when a citation falls in one of the passages its reference answer rests on.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..documents import Document
from ..errors import ConfigError, DocumentError
from . import metrics as m
from .baseline import NaiveBaseline, uncached
from .common import FORMAT_HINT, benchmarks_dir, progress_bar, read_jsonl, thin

DIALOGS_FILE = "mtrag_conversations.jsonl"
ANSWERABLE = ("ANSWERABLE", "PARTIAL")  # scored for grounding and false abstention
UNANSWERABLE = "UNANSWERABLE"  # should be refused
CONVERSATIONAL = "CONVERSATIONAL"  # asked (it is part of the history), never scored


def default_dialogs() -> Path:
    """The shared MTRAG file."""
    return benchmarks_dir() / DIALOGS_FILE


@dataclass(frozen=True)
class Turn:
    """One user turn; `kind` is ANSWERABLE, PARTIAL, UNANSWERABLE or CONVERSATIONAL."""

    turn: int
    question: str
    kind: str
    references: tuple[str, ...]
    multi_turn: tuple[str, ...] = ()
    task_id: str = ""

    @property
    def followup(self) -> bool:
        """A turn that leans on the earlier ones ("Follow-up" in MTRAG's multi_turn labels)."""
        return "Follow-up" in self.multi_turn


@dataclass(frozen=True)
class Dialog:
    """A conversation over its own passages."""

    id: str
    collection: str
    documents: tuple[Document, ...]
    turns: tuple[Turn, ...]


def turn_kind(answerability: Sequence[str]) -> str:
    """One label per turn; a refusal label wins over an answerable one."""
    labels = [str(a).upper() for a in answerability]
    for kind in (UNANSWERABLE, CONVERSATIONAL, "PARTIAL", "ANSWERABLE"):
        if kind in labels:
            return kind
    raise ValueError(f"answerability {list(answerability)!r} is none of ANSWERABLE, PARTIAL, "
                     "UNANSWERABLE, CONVERSATIONAL")


def load_dialogs(path: Path) -> list[Dialog]:
    """Every conversation, its passages as Documents (id = passage_id, text = context[start:end])."""
    dialogs = []
    for lineno, row in read_jsonl(path, "MTRAG conversations file", "an MTRAG conversation", FORMAT_HINT):
        try:
            dialogs.append(_dialog(row))
        except (KeyError, TypeError, ValueError, DocumentError) as exc:
            raise ConfigError(f"{path}:{lineno}: not an MTRAG conversation ({exc})") from None
    return dialogs


def _dialog(row: dict[str, Any]) -> Dialog:
    context = row["context"]
    docs: dict[str, Document] = {}
    for p in row["passages"]:
        start, end = int(p["start"]), int(p["end"])
        if not 0 <= start < end <= len(context):
            raise ValueError(f"passage {p['passage_id']!r} spans {start}..{end}, outside the "
                             f"{len(context)}-character context")
        if p["passage_id"] in docs:
            raise ValueError(f"passage_id {p['passage_id']!r} appears twice")
        docs[p["passage_id"]] = Document(id=p["passage_id"], text=context[start:end], title=p.get("title", ""),
                                         source=row.get("collection", ""),
                                         metadata={"outlet": row.get("collection", "")})
    if not docs:
        raise ValueError("no passages")
    turns = []
    for t in row["turns"]:
        refs = tuple(t.get("reference_passage_ids") or ())
        unknown = [r for r in refs if r not in docs]
        if unknown:
            raise ValueError(f"turn {t.get('turn')}: reference passage {unknown[0]!r} is not among its passages")
        if not isinstance(t["question"], str) or not t["question"].strip():
            raise ValueError(f"turn {t.get('turn')}: empty question")
        turns.append(Turn(int(t["turn"]), t["question"], turn_kind(t["answerability"]), refs,
                          tuple(t.get("multi_turn") or ()), str(t.get("task_id", ""))))
    if not turns:
        raise ValueError("no turns")
    return Dialog(row["doc_id"], row.get("collection", ""), tuple(docs.values()), tuple(turns))


# -- scoring --------------------------------------------------------------------------


def score_turn(turn: Turn, text: str, abstained: bool, cited: Sequence[str], read: Sequence[str]
               ) -> dict[str, Any]:
    """Per-turn outcomes, averaged by `summarise`. `cited` and `read` are document (= passage)
    ids: what the answer cites and what the system read (the baseline's top k chunks)."""
    refs = set(turn.references)
    return {
        "kind": turn.kind, "followup": turn.followup, "abstained": abstained,
        "grounded": not abstained and any(d in refs for d in cited),
        "reference_in_passages": any(d in refs for d in read),
        "chars": 0 if abstained else len(text),
    }


def summarise(rows: list[dict[str, Any]], latencies: list[float]) -> dict[str, Any]:
    """Rates over answerable (and partial) turns, their follow-ups, and unanswerable turns;
    conversational turns are left out of every rate."""
    ans = [r for r in rows if r["kind"] in ANSWERABLE]
    follow = [r for r in ans if r["followup"]]
    imp = [r for r in rows if r["kind"] == UNANSWERABLE]
    rate = lambda rs, key: m.mean([1.0 if r[key] else 0.0 for r in rs])  # noqa: E731
    return {
        "grounded": rate(ans, "grounded"),
        "reference_in_passages": rate(ans, "reference_in_passages"),
        "false_abstention": rate(ans, "abstained"),
        "answered_when_answerable": 1.0 - rate(ans, "abstained") if ans else 0.0,  # gateable form
        "followup_grounded": rate(follow, "grounded"),
        "followup_false_abstention": rate(follow, "abstained"),
        "abstain_on_impossible": rate(imp, "abstained"),
        "mean_answer_chars": m.mean([r["chars"] for r in rows if not r["abstained"] and r["kind"] != CONVERSATIONAL]),
        "latency_ms": {"p50": 1000 * m.percentile(latencies, 50), "p95": 1000 * m.percentile(latencies, 95)},
    }


# -- the runner -----------------------------------------------------------------------


def run_dialog(path: Path | None = None, limit: int | None = None, baseline: bool = True,
               progress: bool = False, embeddings=None) -> dict[str, Any]:
    """Ask every turn of (`limit` evenly spread) conversations in order with the history, with this
    project and the naive baseline (which reads the turn alone); both summaries.

        >>> run_dialog()["systems"]["article-assistant"]["followup_grounded"]  # doctest: +SKIP
    """
    from ..api import Assistant
    from ..config import Settings
    from ..embeddings import get_embeddings

    path = Path(path) if path else default_dialogs()
    dialogs = thin(load_dialogs(path), limit)
    emb = embeddings or get_embeddings(Settings.load().embedding_model)
    base_emb = uncached(emb)
    rows: dict[str, list[dict[str, Any]]] = {"article-assistant": [], "naive-langchain": []}
    lat: dict[str, list[float]] = {"article-assistant": [], "naive-langchain": []}
    details = []
    n_turns = sum(len(d.turns) for d in dialogs)
    bar = progress_bar(n_turns * (2 if baseline else 1), progress)
    with tempfile.TemporaryDirectory(prefix="assistant-dialog-") as tmp:
        for i, dialog in enumerate(dialogs):
            bot = Assistant.from_documents(list(dialog.documents), index_dir=Path(tmp) / f"dialog-{i}",
                                           embeddings=emb)
            bot.warm_up()
            history: list[tuple[str, str]] = []
            for turn in dialog.turns:
                ans = bot.ask(turn.question, history=history)
                history.append((turn.question, ans.text))
                lat["article-assistant"].append(ans.timings["total"])
                row = score_turn(turn, ans.text, ans.abstained, [c.doc_id for c in ans.citations],
                                 [p.doc_id for p in ans.passages])
                rows["article-assistant"].append(row)
                details.append({"dialog": dialog.id, "turn": turn.turn, "question": turn.question,
                                "query": ans.query, "references": list(turn.references),
                                "cited": [c.doc_id for c in ans.citations], "text": ans.text, **row})
                bar.update(1)
            if baseline:
                base = NaiveBaseline(list(dialog.documents), base_emb, Path(tmp) / f"baseline-{i}")
                for turn in dialog.turns:
                    t0 = time.perf_counter()
                    hits = base.search(turn.question)  # the turn alone: a plain RAG keeps no history
                    lat["naive-langchain"].append(time.perf_counter() - t0)
                    rows["naive-langchain"].append(score_turn(
                        turn, hits[0]["text"], False, [hits[0]["doc_id"]], [h["doc_id"] for h in hits]))
                    bar.update(1)
    bar.close()
    turns = [t for d in dialogs for t in d.turns]
    names = ["article-assistant"] + (["naive-langchain"] if baseline else [])
    return {
        "dataset": f"MTRAG ({path.name})", "conversations": len(dialogs),
        "questions": sum(t.kind != CONVERSATIONAL for t in turns),
        "impossible": sum(t.kind == UNANSWERABLE for t in turns),
        "followups": sum(t.kind in ANSWERABLE and t.followup for t in turns),
        "documents": sum(len(d.documents) for d in dialogs),
        "setting": f"in {len(dialogs)} conversations, one index each, turns asked in order with the history",
        "chart": ["grounded", "followup_grounded", "abstain_on_impossible", "false_abstention"],
        "systems": {n: summarise(rows[n], lat[n]) for n in names},
        "latencies_ms": {n: [1000 * x for x in lat[n]] for n in names},
        "cases": details,
    }
