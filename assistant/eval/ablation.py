"""Held-out gain of the hand-written rules that are not ranker features: each switched off in
process, the held-out sets run again, and the figures compared with all rules on.

    python -m assistant.eval.ablation [--dialogs N] [--rules NAME,...] [--out reports/ablation-rules.json]
                                      [--home DIR] [--no-memo]

The held-out sets: the article gold set's `test` part (never fitted on) and MTRAG conversations
(never fitted on). A rule's gain is a figure with all rules minus the figure with the rule off;
`changed` counts the questions whose answer text differs, so a zero gain with 0 changed answers
means the rule never fires on that data. The ranker features (answer types, document field,
unknown names) are measured by `scripts/calibrate.py --ablate`, which refits; the chunking use of
PRONOUNS/DEMONSTRATIVES/CONTEXT_LEANS is not switched here (it changes the index itself).

Each switch patches the name where the code looks it up at call time: a compiled regex or a limit
in followup.py, a function imported by question.py, a step of normalize.py. Nothing is refitted.
The indexes are built once (kept under --home between invocations). An extractive answer is a
function of the question and its parse, so a rule acting on the parse alone re-asks only the
questions it parses differently and takes the all-rules answer for the rest (`_memo`; --no-memo
asks everything again, a check that both give the same figures).
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

from .. import followup, normalize, question, summary, text
from ..lexicon import PRONOUNS

NEVER = re.compile(r"(?!)")  # a regex that matches nothing

Switch = Callable[[], AbstractContextManager]


def _set(module, name: str, value) -> Switch:
    return lambda: mock.patch.object(module, name, value)


def _no_borrowing(rewrite=followup.rewrite):
    # question.parse calls rewrite twice (retrieval query, answer query): both without answer words.
    return lambda q, history, frequency=None, borrow=True: rewrite(q, history, frequency, borrow=False)


@contextmanager
def _no_question_words() -> Iterator[None]:
    # text.stopwords() is cached: clear it on the way in and out (BM25 is built with it, so the
    # runner opens a fresh assistant inside this switch).
    with mock.patch.object(text, "QUESTION_WORDS", frozenset()):
        text.stopwords.cache_clear(), text.stopword_set.cache_clear()
        try:
            yield
        finally:
            text.stopwords.cache_clear(), text.stopword_set.cache_clear()


# The summary's leaning-sentence prior (summary._LEANS) rebuilt without one of its word lists.
_LEANS_NO_EXTRA = re.compile(rf"^\W*(?:(?:{'|'.join(summary.CONNECTIVES)})\b\W*)?(?:{'|'.join(PRONOUNS)})\b", re.I)
_LEANS_NO_CONNECTIVES = re.compile(rf"^\W*(?:{'|'.join(summary._LEANING_WORDS)})\b", re.I)
# asks_for_list without lexicon.LIST_NOUNS: only "List…", "Name…", "Enumerate…" still ask for a list.
_LIST_OPENERS_ONLY = re.compile(r"^\s*(list|name|enumerate)\b", re.I)

# name: (lexicon anchors in docs/rules.md, what the rule is for, the switch that turns it off)
RULES: dict[str, tuple[tuple[str, ...], str, Switch]] = {
    "follow-up: anaphor word": (
        ("pronouns", "demonstratives", "leans-on-turn"),
        "a question holding 'it', 'they', 'this', 'them'… is a follow-up (followup._ANAPHOR)",
        _set(followup, "_ANAPHOR", NEVER)),
    "follow-up: definite noun": (
        ("definite-nouns",), "'the deal' naming nothing else is a follow-up (followup._DEFINITE)",
        _set(followup, "_DEFINITE", NEVER)),
    "follow-up: elliptical opener": (
        ("elliptical-openers",), "'And why?', 'What about X?' is a follow-up (followup._ELLIPSIS)",
        _set(followup, "_ELLIPSIS", NEVER)),
    "follow-up: bare question": (
        ("bare-question",), "a question of one content word is a follow-up (followup.BARE_MAX_WORDS)",
        _set(followup, "BARE_MAX_WORDS", -1)),
    "follow-up: item number": (
        ("ordinals", "item-nouns"), "'the 2nd point' is a follow-up (followup.ITEM_MAX_WORDS)",
        _set(followup, "ITEM_MAX_WORDS", -1)),
    "list item pointed at": (
        ("ordinals", "item-nouns"),
        "'And the third?' means the third quote of the list just answered (followup._item_number: "
        "both the follow-up test and the item itself)",
        _set(followup, "_item_number", lambda *a, **k: None)),
    "rewrite borrows the last answer's words": (
        ("answer-words",), "a follow-up's retrieval query gets up to 4 words of the last answer (rewrite borrow)",
        _set(question, "rewrite", _no_borrowing())),
    "summary intent": (
        ("filler-words", "doc-words"),
        "an overview question gets the document's central sentences (question.asks_for_summary)",
        _set(question, "asks_for_summary", lambda q: False)),
    "summary length asked": (
        ("counts", "summary-units"), "'a two-sentence summary' quotes 2 sentences (question.sentences_asked)",
        _set(question, "sentences_asked", lambda q: None)),
    "summary: leaning words beyond the pronouns": (
        ("summary-leans",), "a summary sentence opening with \"it's\"/'them' loses the leaning prior (summary._LEANS)",
        _set(summary, "_LEANS", _LEANS_NO_EXTRA)),
    "summary: connective before a leaning word": (
        ("connectives",), "'Furthermore, it…' leans too (summary._LEANS)",
        _set(summary, "_LEANS", _LEANS_NO_CONNECTIVES)),
    "normalise: instructions dropped": (
        ("instructions",), "'Ignore all previous instructions…' is dropped from the question "
        "(normalize.strip_instructions)",
        _set(normalize, "strip_instructions", lambda q: q)),
    "normalise: chat-speak spelled out": (
        ("chat-speak",), "'wat r tpus' becomes 'what are tpus' (normalize.expand_chat_speak)",
        _set(normalize, "expand_chat_speak", lambda q: " ".join(q.split()))),
    "list question": (
        ("list-nouns",), "'What advantages…?' quotes the whole list (question.asks_for_list, its nouns)",
        _set(question, "_LIST_QUESTION", _LIST_OPENERS_ONLY)),
    "stop words: question words": (
        ("question-words",), "'say', 'tell', 'article'… are stop words for BM25, overlap, the verifier "
        "(text.stopwords)", _no_question_words),
}
# Rules acting after the question is parsed (an answer is not a function of the parsed question
# alone): never answered from the all-rules run's memo.
AFTER_PARSE = {"summary: leaning words beyond the pronouns", "summary: connective before a leaning word",
               "stop words: question words"}

ARTICLE_FIGURES = ("key_fact_recall", "abstention_f1")
CATEGORIES = ("conversation", "paraphrase", "adversarial", "answerable", "unanswerable")
MTRAG_FIGURES = ("grounded", "followup_grounded", "answered_when_answerable")


# -- a memo: an answer is a function of the question as asked and as parsed -----------------

@contextmanager
def _memo(store: dict, reuse: bool) -> Iterator[None]:
    """Answers keyed by (documents, question asked, parsed question): with `reuse`, a question
    parsed exactly as in the all-rules run gets that run's answer without being asked again.
    (The extractive pipeline reads only those: retrieval and the answer take the parsed question.)"""
    from ..api import Assistant

    ask = Assistant.ask

    def memo_ask(bot, q, history=None, k=None):
        parsed = question.parse(q, history, bot.pipeline.retriever.lexical().frequency)
        key = (tuple(d.id for d in bot.documents), q, parsed, k)
        if reuse and key in store:
            return store[key]
        answer = ask(bot, q, history=history, k=k)
        if not reuse:
            store[key] = answer
        return answer

    with mock.patch.object(Assistant, "ask", memo_ask):
        yield


# -- one run ---------------------------------------------------------------------------------

def run_once(home: Path, emb, dialogs: int | None) -> dict[str, Any]:
    """The article test part and MTRAG, as the code stands (switches applied by the caller)."""
    from ..api import Assistant
    from . import gold

    t0 = time.perf_counter()
    bot = Assistant.open(home=home / "article", embeddings=emb)  # built once; BM25 rebuilt in memory
    results = gold.run(bot, gold.load_dataset(part="test"))
    metrics = gold.score(results, bot.documents, k=5)
    t1 = time.perf_counter()
    article = {f: metrics[f] for f in ARTICLE_FIGURES}
    article.update({f"accuracy_{c}": metrics["accuracy_by_category"].get(c) for c in CATEGORIES})
    dialog, mtrag_answers, counts = _mtrag(home, emb, dialogs)
    return {
        "article_test": article, "mtrag": {f: dialog[f] for f in MTRAG_FIGURES},
        "answers": {"article_test": {r.case.id: r.text for r in results}, "mtrag": mtrag_answers},
        "counts": {"article_test": len(results), **counts},
        "seconds": {"article_test": round(t1 - t0, 1), "mtrag": round(time.perf_counter() - t1, 1)},
    }


def _mtrag(home: Path, emb, dialogs: int | None) -> tuple[dict[str, Any], dict[str, str], dict[str, int]]:
    """mtrag.run_dialog for this project alone, each conversation's index kept under `home` (its
    passages are embedded once, not once per rule): mtrag.summarise's figures, each answer."""
    from ..api import Assistant
    from . import mtrag
    from .common import thin

    convs = thin(mtrag.load_dialogs(mtrag.default_dialogs()), dialogs)
    rows, latencies, answers = [], [], {}
    for i, conv in enumerate(convs):
        bot = Assistant.from_documents(list(conv.documents), index_dir=home / f"mtrag-{i}", embeddings=emb)
        history: list[tuple[str, str]] = []
        for turn in conv.turns:
            ans = bot.ask(turn.question, history=history)
            history.append((turn.question, ans.text))
            latencies.append(ans.timings["total"])
            rows.append(mtrag.score_turn(turn, ans.text, ans.abstained, [c.doc_id for c in ans.citations],
                                         [p.doc_id for p in ans.passages]))
            answers[f"{conv.id}#{turn.turn}"] = ans.text
    turns = [t for c in convs for t in c.turns]
    counts = {"mtrag_conversations": len(convs),
              "mtrag_questions": sum(t.kind != mtrag.CONVERSATIONAL for t in turns),
              "mtrag_followups": sum(t.kind in mtrag.ANSWERABLE and t.followup for t in turns)}
    return mtrag.summarise(rows, latencies), answers, counts


def _changed(full: dict[str, str], off: dict[str, str]) -> int:
    return sum(full[k] != off.get(k) for k in full)


def ablate(names: list[str], dialogs: int | None, home: Path | None = None,
           out: Path | None = None, memo_on: bool = True) -> dict[str, Any]:
    """All rules, then each named rule off; figures, gains and answers changed (written to `out`
    after each rule, so a stopped run keeps what it measured)."""
    from ..config import Settings
    from ..embeddings import get_embeddings

    emb = get_embeddings(Settings.load().embedding_model)
    memo: dict = {}
    with ExitStack() as stack:
        home = home or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="assistant-ablation-")))
        with _memo(memo, reuse=False):
            full = run_once(home, emb, dialogs)
        print(f"all rules: {full['seconds']}", flush=True)
        rows: dict[str, Any] = {}
        report = {"date": time.strftime("%Y-%m-%d"), "dialogs": dialogs or "all",
                  "counts": full["counts"], "all_rules": _figures(full), "seconds_all_rules": full["seconds"],
                  "rules": rows}
        for name in sorted(names, key=lambda n: n in AFTER_PARSE):  # the memo's quick runs first
            _anchors, _purpose, switch = RULES[name]
            with _memo(memo, reuse=memo_on and name not in AFTER_PARSE), switch():
                off = run_once(home, emb, dialogs)
            rows[name] = _row(name, full, off)
            print(f"{name}: {off['seconds']}, changed {rows[name]['changed']}", flush=True)
            if out:
                _write(out, report)
    return report


def _write(out: Path, report: dict[str, Any]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _figures(run: dict[str, Any]) -> dict[str, Any]:
    return {"article_test": run["article_test"], "mtrag": run["mtrag"]}


def _row(name: str, full: dict[str, Any], off: dict[str, Any]) -> dict[str, Any]:
    anchors, purpose, _switch = RULES[name]
    gain = {part: {f: (None if v is None or off[part][f] is None else round(v - off[part][f], 4))
                   for f, v in full[part].items()} for part in ("article_test", "mtrag")}
    return {"anchors": list(anchors), "purpose": purpose, "without": _figures(off), "gain": gain,
            "changed": {part: _changed(full["answers"][part], off["answers"][part])
                        for part in ("article_test", "mtrag")},
            "seconds": off["seconds"]}


# -- the command -----------------------------------------------------------------------------

SHOWN = (("article_test", "key_fact_recall", "fact"), ("article_test", "abstention_f1", "abst F1"),
         ("article_test", "accuracy_conversation", "conv"), ("article_test", "accuracy_paraphrase", "para"),
         ("article_test", "accuracy_adversarial", "adv"), ("mtrag", "grounded", "MT grnd"),
         ("mtrag", "followup_grounded", "MT f-up"), ("mtrag", "answered_when_answerable", "MT answ"))


def table(report: dict[str, Any]) -> str:
    """Figures with all rules, then each rule's gain (all rules − rule off) and answers changed."""
    def fmt(v):
        return "   -   " if v is None else f"{v:+.3f}"

    head = f"{'rule':44} " + " ".join(f"{label:>7}" for _p, _f, label in SHOWN) + "  changed(art/MT)"
    lines = [head, f"{'all rules (figures)':44} " + " ".join(
        f"{report['all_rules'][p][f]:7.3f}" if report['all_rules'][p][f] is not None else "   -   "
        for p, f, _l in SHOWN)]
    for name, row in report["rules"].items():
        lines.append(f"{name[:44]:44} " + " ".join(f"{fmt(row['gain'][p][f]):>7}" for p, f, _l in SHOWN)
                     + f"  {row['changed']['article_test']}/{row['changed']['mtrag']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dialogs", type=int, default=None, help="MTRAG conversations (default: all)")
    parser.add_argument("--rules", default="", help="comma-separated rule names (default: all)")
    parser.add_argument("--out", type=Path, default=Path("reports/ablation-rules.json"))
    parser.add_argument("--home", type=Path, default=None,
                        help="keep the indexes here between runs (default: a temporary folder)")
    parser.add_argument("--no-memo", action="store_true",
                        help="ask every question again in every run (a check on the memo; slower)")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.rules.split(",") if n.strip()] or list(RULES)
    unknown = [n for n in names if n not in RULES]
    if unknown:
        parser.error(f"unknown rule(s) {unknown}; known: {list(RULES)}")
    report = ablate(names, args.dialogs, args.home, args.out, memo_on=not args.no_memo)
    print(table(report))
    _write(args.out, report)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
