"""External runner for SQuAD 2.0 whole articles, compared with the naive LangChain baseline.

The product setting: one article. Each article gets its own index and every question is asked
of its own article alone. The articles are split into folds by file position so that a fit
(`scripts/calibrate.py`) and this measurement never see the same article:

    >>> [fold_of(i) for i in range(6)], [part_of(i) for i in range(3)]
    ([0, 1, 2, 0, 1, 2], ['fit', 'fit', 'test'])
"""

from __future__ import annotations

import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ..documents import Document
from ..errors import ConfigError, DocumentError
from . import clapnq
from . import metrics as m
from .baseline import NaiveBaseline, uncached
from .common import FORMAT_HINT, benchmarks_dir, progress_bar, read_jsonl, thin
from .gold import answer_checks, generative_metrics

ARTICLES_FILE = "squad2_dev15_articles.jsonl"
QUESTIONS_FILE = "squad2_dev15_questions.jsonl"

# Article at file position i belongs to fold i % FOLDS; TEST_FOLD is never fitted on.
FOLDS = 3
TEST_FOLD = 2
PARTS = ("test", "fit", "all")

T = TypeVar("T")


def squad_files(folder: Path | None = None) -> tuple[Path, Path]:
    """(articles, questions) paths inside folder (default: `benchmarks_dir()`)."""
    folder = Path(folder) if folder else benchmarks_dir()
    return folder / ARTICLES_FILE, folder / QUESTIONS_FILE


@dataclass(frozen=True)
class SquadCase:
    """One SQuAD 2.0 question; `answer_starts` are the answers' offsets in the whole article."""

    doc_id: str
    qid: str
    question: str
    answers: tuple[str, ...]
    answer_starts: tuple[int, ...]
    impossible: bool
    para_index: int = 0

    @property
    def spans(self) -> list[tuple[int, int]]:
        """Where each gold answer sits in the article text."""
        return [(s, s + len(a)) for a, s in zip(self.answers, self.answer_starts, strict=True)]


def load_squad(articles_path: Path, questions_path: Path) -> tuple[list[Document], list[SquadCase]]:
    """Articles (in file order: the order defines the folds) and their questions."""
    docs: dict[str, Document] = {}
    for lineno, row in read_jsonl(articles_path, "SQuAD articles file", "a SQuAD article", FORMAT_HINT):
        try:
            if row["doc_id"] in docs:
                raise ValueError(f"doc_id {row['doc_id']!r} appears twice")
            docs[row["doc_id"]] = Document(id=row["doc_id"], text=row["context"], title=row.get("title", ""),
                                           source=row.get("source", ""),
                                           metadata={"outlet": "SQuAD 2.0"})
        except (KeyError, TypeError, ValueError, DocumentError) as exc:
            raise ConfigError(f"{articles_path}:{lineno}: not a SQuAD article ({exc})") from None
    cases = []
    for lineno, row in read_jsonl(questions_path, "SQuAD questions file", "a SQuAD question", FORMAT_HINT):
        try:
            case = SquadCase(row["doc_id"], str(row["qid"]), row["question"], tuple(row.get("answers") or ()),
                             tuple(int(s) for s in row.get("answer_starts_in_doc") or ()),
                             _bool(row["is_impossible"]), int(row.get("para_index", 0)))
            _check_case(case, docs)
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{questions_path}:{lineno}: not a SQuAD question ({exc})") from None
        cases.append(case)
    return list(docs.values()), cases


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"'is_impossible' must be true or false, got {value!r}")
    return value


def _check_case(case: SquadCase, docs: dict[str, Document]) -> None:
    if case.doc_id not in docs:
        raise ValueError(f"doc_id {case.doc_id!r} is not in the articles file")
    if not isinstance(case.question, str) or not case.question.strip():
        raise ValueError("empty question")
    if len(case.answers) != len(case.answer_starts):
        raise ValueError(f"{len(case.answers)} answers but {len(case.answer_starts)} answer_starts_in_doc")
    if not case.impossible and not case.answers:
        raise ValueError("an answerable question needs at least one answer")
    text = docs[case.doc_id].text
    for answer, (s, e) in zip(case.answers, case.spans, strict=True):
        if text[s:e] != answer:
            raise ValueError(f"answer {answer!r} is not at offset {s} of {case.doc_id!r}")


# -- the split ------------------------------------------------------------------------


def fold_of(position: int) -> int:
    """The fold of the article at this 0-based file position."""
    if position < 0:
        raise ValueError(f"an article position is 0 or more, got {position}")
    return position % FOLDS


def part_of(position: int) -> str:
    """'test' (measured, never fitted on) or 'fit' for the article at this position."""
    return "test" if fold_of(position) == TEST_FOLD else "fit"


def split_articles(docs: Sequence[T]) -> tuple[list[T], list[T]]:
    """(fit articles, test articles), each in file order."""
    fit = [d for i, d in enumerate(docs) if part_of(i) == "fit"]
    test = [d for i, d in enumerate(docs) if part_of(i) == "test"]
    return fit, test


def select(docs: Sequence[Document], cases: Sequence[SquadCase], part: str = "test"
           ) -> tuple[list[Document], list[SquadCase]]:
    """The articles of one part ('test', 'fit' or 'all') and their questions, in file order."""
    if part not in PARTS:
        raise ConfigError(f"unknown part {part!r}; use one of {', '.join(PARTS)}")
    fit, test = split_articles(docs)
    chosen = list(docs) if part == "all" else (test if part == "test" else fit)
    keep = {d.id for d in chosen}
    return chosen, [c for c in cases if c.doc_id in keep]


# -- scoring --------------------------------------------------------------------------


def score_case(case: SquadCase, text: str, abstained: bool, cited: Sequence[tuple[str, int, int]],
               read: Sequence[tuple[str, int, int]]) -> dict[str, Any]:
    """Per-question outcomes, averaged by `summarise`. `cited` and `read` hold (doc_id, start,
    end): the cited spans and the passages the system read (for the baseline, its top k chunks)."""
    gold = case.spans
    norm = m.normalize(text)
    on_gold = lambda spans: any(d == case.doc_id and any(m.overlaps((s, e), g) for g in gold)  # noqa: E731
                                for d, s, e in spans)
    return {
        "impossible": case.impossible, "abstained": abstained,
        "gold_in_answer": not abstained and any(m.normalize(a) in norm for a in case.answers if a.strip()),
        "gold_in_citation": not abstained and on_gold(cited),
        "gold_in_passages": on_gold(read),
        "chars": 0 if abstained else len(text),
    }


def summarise(rows: list[dict[str, Any]], latencies: list[float]) -> dict[str, Any]:
    """Rates over answerable / impossible questions, mean answer length, latency (ClapNQ's names);
    with answer_checks in the rows, what a model's sentences did too (fact recall: gold in answer)."""
    out = clapnq.summarise(rows, latencies, retrieval=("gold_in_passages", "gold_in_passages"))
    if rows and "sentences" in rows[0]:
        out.update(generative_metrics([{**r, "answerable": not r["impossible"], "fact": float(r["gold_in_answer"])}
                                       for r in rows]))
    return out


# -- the runner -----------------------------------------------------------------------


def run_squad(articles_path: Path | None = None, questions_path: Path | None = None, part: str = "test",
              limit: int | None = None, baseline: bool = True, progress: bool = False,
              embeddings=None, llm: str | None = None, llm_mode: str | None = None) -> dict[str, Any]:
    """Ask the chosen questions, each of its own article alone, with this project and the naive
    baseline; both summaries, in the shape `report.flat_table` prints. `llm` and `llm_mode`
    override the settings' answerer (a llamacpp model is loaded once, see llm.chat_model).

        >>> run_squad(limit=300)["systems"]["article-assistant"]["gold_in_citation"]  # doctest: +SKIP
    """
    from ..api import Assistant
    from ..config import Settings
    from ..embeddings import get_embeddings

    default_articles, default_questions = squad_files()
    docs, cases = load_squad(articles_path or default_articles, questions_path or default_questions)
    docs, cases = select(docs, cases, part)
    chosen = thin(cases, limit)
    by_doc: dict[str, list[SquadCase]] = defaultdict(list)
    for case in chosen:
        by_doc[case.doc_id].append(case)
    asked = [d for d in docs if d.id in by_doc]
    emb = embeddings or get_embeddings(Settings.load().embedding_model)
    base_emb = uncached(emb)
    rows: dict[str, list[dict[str, Any]]] = {"article-assistant": [], "naive-langchain": []}
    lat: dict[str, list[float]] = {"article-assistant": [], "naive-langchain": []}
    details = []
    bar = progress_bar(len(chosen) * (2 if baseline else 1), progress)
    mode = ""
    with tempfile.TemporaryDirectory(prefix="assistant-squad-") as tmp:
        for i, doc in enumerate(asked):
            bot = Assistant.from_documents([doc], index_dir=Path(tmp) / f"article-{i}", embeddings=emb,
                                           llm=llm, llm_mode=llm_mode)
            bot.warm_up()  # latency describes a warm assistant, not the article's first load
            mode = getattr(bot.answerer, "mode", "")  # "auto" resolved
            for case in by_doc[doc.id]:
                ans = bot.ask(case.question)
                lat["article-assistant"].append(ans.timings["total"])
                row = score_case(case, ans.text, ans.abstained,
                                 [(c.doc_id, c.start, c.end) for c in ans.citations],
                                 [(p.doc_id, p.start, p.end) for p in ans.passages])
                checks = answer_checks(ans, [doc])
                rows["article-assistant"].append({**row, **checks})
                details.append({"qid": case.qid, "doc_id": case.doc_id, "question": case.question,
                                "answers": list(case.answers), "text": ans.text,
                                "cited": [[c.doc_id, c.start, c.end] for c in ans.citations],
                                "read": sorted({p.doc_id for p in ans.passages}), **row, **checks})
                bar.update(1)
            if baseline:
                base = NaiveBaseline([doc], base_emb, Path(tmp) / f"baseline-{i}")
                for case in by_doc[doc.id]:
                    t0 = time.perf_counter()
                    hits = base.search(case.question)
                    lat["naive-langchain"].append(time.perf_counter() - t0)
                    top = hits[0]
                    rows["naive-langchain"].append(score_case(
                        case, top["text"], False, [(top["doc_id"], top["start"], top["end"])],
                        [(h["doc_id"], h["start"], h["end"]) for h in hits]))
                    bar.update(1)
    bar.close()
    names = ["article-assistant"] + (["naive-langchain"] if baseline else [])
    return {
        "dataset": f"SQuAD 2.0 ({part} part)", "part": part, "questions": len(chosen),
        "llm": llm or "extractive", "llm_mode": mode,
        "impossible": sum(c.impossible for c in chosen), "documents": len(asked),
        "setting": "in one index each, every question asked of its own article alone",
        "chart": ["gold_in_answer", "gold_in_citation", "abstain_on_impossible", "false_abstention"],
        "systems": {n: summarise(rows[n], lat[n]) for n in names},
        "latencies_ms": {n: [1000 * x for x in lat[n]] for n in names},
        "cases": details,
    }
