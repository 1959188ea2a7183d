"""The gold set as data, the scorers over it, the gate, the report and feedback drafts (no model)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ARTICLE_PATH

from assistant.answer import Answer, Citation
from assistant.documents import Document
from assistant.errors import ConfigError
from assistant.eval import gold, report
from assistant.eval import metrics as m
from assistant.eval.drafts import drafts_from_feedback
from assistant.feedback import FeedbackStore, feedback_record

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# -- the real gold set -----------------------------------------------------------------


@pytest.fixture(scope="module")
def groups() -> list[list[gold.Case]]:
    return gold.load_dataset()


@pytest.fixture(scope="module")
def cases(groups) -> list[gold.Case]:
    return [c for g in groups for c in g]


def test_default_dataset_is_the_article_gold_set():
    assert ARTICLE_PATH.parent / "eval" / "article.jsonl" == gold.DEFAULT_DATASET
    assert gold.DEFAULT_DATASET.exists()


def test_the_gold_set_is_split_once_into_fit_and_test(groups):
    fit, test = gold.load_dataset(part="fit"), gold.load_dataset(part="test")
    # Every case is in exactly one part, and a conversation is never split across the two.
    assert len(fit) + len(test) == len(groups)
    assert all(len({c.part for c in g}) == 1 for g in groups)
    assert {g[0].id for g in fit}.isdisjoint({g[0].id for g in test})
    # Every category is in both parts, in near-equal shares.
    for category in {g[0].category for g in groups}:
        n_fit = sum(g[0].category == category for g in fit)
        n_test = sum(g[0].category == category for g in test)
        assert n_fit >= 1 and n_test >= 1, category
        assert abs(n_fit - n_test) <= 1, category


def test_load_dataset_refuses_an_unknown_part():
    with pytest.raises(ConfigError, match="unknown part 'train'"):
        gold.load_dataset(part="train")


def test_every_evidence_string_occurs_verbatim_in_the_article(cases, article):
    raw = ARTICLE_PATH.read_text(encoding="utf-8")
    missing = [(c.id, ev_) for c in cases for ev_ in c.evidence if ev_ not in raw]
    assert missing == []
    # And in the Document the scorer searches (load_file must not have altered the text).
    assert all(gold.gold_spans(c, [article]) for c in cases if c.evidence)
    for c in cases:
        for doc_id, s, e in gold.gold_spans(c, [article]):
            assert doc_id == article.id
            assert article.text[s:e] in c.evidence


def test_every_key_fact_occurs_in_its_evidence(cases):
    stray = [(c.id, f) for c in cases for f in c.key_facts
             if m.normalize(f) not in m.normalize(" ".join(c.evidence))]
    assert stray == []
    # So quoting the evidence earns full key-fact credit, which is what the scorer measures.
    assert all(m.key_fact_recall(" ".join(c.evidence), c.key_facts) == 1.0 for c in cases)


def test_answerable_cases_have_evidence_and_facts_unanswerable_have_none(cases):
    assert [c.id for c in cases if c.answerable and not (c.evidence and c.key_facts)] == []
    assert [c.id for c in cases if not c.answerable and (c.evidence or c.key_facts)] == []


def test_ids_are_unique(cases):
    row_ids = [json.loads(line)["id"] for line in gold.DEFAULT_DATASET.read_text(encoding="utf-8").splitlines()
               if line.strip()]
    assert [i for i, n in Counter(row_ids).items() if n > 1] == []
    assert len({c.id for c in cases}) == len(cases)


def test_the_uis_example_questions_are_gold_questions(groups):
    # corpus/examples/questions.txt was written down from the gold set: its first four answerable
    # questions and its first unanswerable one. The UI reads the file, never the gold set.
    from assistant.documents import example_questions

    single = [g[0] for g in groups if not g[0].conversation]
    expected = ([c.question for c in single if c.category == "answerable"][:4]
                + [c.question for c in single if c.category == "unanswerable"][:1])
    assert example_questions(ARTICLE_PATH.parent) == expected


def test_category_counts_meet_the_minimums(groups):
    by_category = Counter(g[0].category for g in groups)
    assert by_category["answerable"] >= 40
    assert by_category["unanswerable"] >= 15
    assert by_category["paraphrase"] >= 10
    assert by_category["adversarial"] >= 5
    conversations = [g for g in groups if g[0].category == "conversation"]
    assert len([g for g in conversations if len(g) >= 3]) >= 8
    kinds = {c.kind for g in groups for c in g if c.category == "adversarial"}
    assert {"injection", "ignore_article", "false_premise"} <= kinds
    # False premises and ignore-the-article requests must be refused.
    assert all(not c.answerable for g in groups for c in g if c.kind in ("false_premise", "ignore_article"))


def test_conversations_are_grouped_in_turn_order(groups):
    conversations = [g for g in groups if g[0].conversation]
    assert conversations
    for g in conversations:
        assert [c.turn for c in g] == list(range(len(g)))
        assert {c.conversation for c in g} == {g[0].conversation}
        assert [c.id for c in g] == [f"{g[0].conversation}#{i}" for i in range(len(g))]
    # Single questions are dialogues of one turn with no conversation id.
    singles = [g for g in groups if not g[0].conversation]
    assert singles and all(len(g) == 1 and g[0].turn == 0 for g in singles)


# -- load_dataset on hand-written files ------------------------------------------------


def write_lines(path: Path, rows: list[object]) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n",
                    encoding="utf-8")
    return path


GOOD_ROW = {"id": "q1", "category": "answerable", "question": "Which TPUs?", "answerable": True,
            "evidence": ["v4 and v5e"], "key_facts": ["v4"]}


def test_load_dataset_parses_single_cases_and_conversations(tmp_path):
    path = write_lines(tmp_path / "gold.jsonl", [
        GOOD_ROW,
        "",  # blank lines are skipped
        {"id": "c1", "category": "conversation", "turns": [
            {"question": "Which TPUs?", "answerable": True, "evidence": ["v4"], "key_facts": ["v4"]},
            {"question": "Who is the CEO?", "answerable": False},
        ]},
        {"id": "a1", "category": "adversarial", "kind": "false_premise", "question": "Why did it stop?",
         "answerable": False},
    ])
    groups = gold.load_dataset(path)
    assert groups == [
        [gold.Case("q1", "answerable", "Which TPUs?", True, ("v4 and v5e",), ("v4",))],
        [gold.Case("c1#0", "conversation", "Which TPUs?", True, ("v4",), ("v4",), "", "c1", 0),
         gold.Case("c1#1", "conversation", "Who is the CEO?", False, (), (), "", "c1", 1)],
        [gold.Case("a1", "adversarial", "Why did it stop?", False, kind="false_premise")],
    ]


@pytest.mark.parametrize("bad", [
    '{"id": "q2", "category": "answerable", "question": "x"',  # not JSON
    '{"id": "q2", "question": "x", "answerable": false}',  # no category
    '{"id": "q2", "category": "conversation", "turns": [{"answerable": true}]}',  # turn without question
    '["not", "an", "object"]',
])
def test_load_dataset_names_the_malformed_line(tmp_path, bad):
    path = write_lines(tmp_path / "gold.jsonl", [GOOD_ROW, "", bad])
    with pytest.raises(ConfigError, match=r"gold\.jsonl:3: not a valid case"):
        gold.load_dataset(path)


def test_load_dataset_missing_file_says_what_to_pass(tmp_path):
    with pytest.raises(ConfigError, match="--dataset"):
        gold.load_dataset(tmp_path / "nope.jsonl")


# -- score on hand-built results -------------------------------------------------------

# Sentence spans: [0,15) [16,31) [32,47) [48,64)
TEXT = "Alpha is first. Beta is second. Gamma is third. Delta is fourth."
DOC = Document(id="d", text=TEXT, title="Letters")
S1, S2, S3, S4 = ("d", 0, 15), ("d", 16, 31), ("d", 32, 47), ("d", 48, 64)

C1 = gold.Case("c1", "answerable", "Which is first?", True, ("Alpha is first.",), ("alpha", "first"))
C2 = gold.Case("c2", "answerable", "Which is third?", True, ("Gamma is third.",), ("Gamma", "third"))
C3 = gold.Case("c3", "unanswerable", "Who is CEO?", False)
C4 = gold.Case("c4", "adversarial", "Why did Alpha stop?", False, kind="false_premise")


def result(case, text="", cited=(), retrieved=(), abstained=False, exact=None, total=0.01):
    cited = list(cited)
    return gold.Result(case, text, abstained, case.question, cited,
                     [True] * len(cited) if exact is None else exact, list(retrieved),
                     {"retrieve": total / 2, "total": total})


def test_spans_of_the_hand_built_document():
    for doc_id, s, e in (S1, S2, S3, S4):
        assert doc_id == DOC.id and TEXT[s:e].endswith(".") and TEXT[s].isupper()
    assert gold.gold_spans(C1, [DOC]) == [S1]
    assert gold.gold_spans(C2, [DOC]) == [S3]
    assert gold.gold_spans(C3, [DOC]) == []


def perfect() -> list[gold.Result]:
    return [
        result(C1, "Alpha is first. [1]", [S1], [S1, S2], total=0.010),
        result(C2, "Gamma is third. [1]", [S3], [S2, S3], total=0.030),  # hit at rank 2
        result(C3, "The article does not say.", abstained=True, retrieved=[S4], total=0.020),
        result(C4, "The article does not say.", abstained=True, retrieved=[S1], total=0.040),
    ]


def test_score_of_a_perfect_result_set():
    got = gold.score(perfect(), [DOC])
    assert got["cases"] == 4
    assert got["recall_at_5"] == 1.0
    assert got["mrr"] == pytest.approx((1 + 1 / 2) / 2)
    assert got["citation_precision"] == 1.0
    assert got["citation_recall"] == 1.0
    assert got["key_fact_recall"] == 1.0
    assert (got["abstention_precision"], got["abstention_recall"], got["abstention_f1"]) == (1.0, 1.0, 1.0)
    assert got["false_premise_handled"] == 1.0
    assert got["quote_exactness"] == 1.0
    assert got["answer_chars"] == pytest.approx(19.0)  # both answers are 19 characters
    assert got["accuracy_by_category"] == {"adversarial": 1.0, "answerable": 1.0, "unanswerable": 1.0}
    # Nearest rank over totals [10, 20, 30, 40] ms: p50 -> 2nd, p95 -> 4th.
    assert got["latency_ms"]["total"] == pytest.approx({"p50": 20.0, "p95": 40.0})
    assert got["latency_ms"]["retrieve"] == pytest.approx({"p50": 10.0, "p95": 20.0})


def test_an_extra_wrong_citation_lowers_precision_but_not_recall():
    rs = perfect()
    rs[1] = result(C2, "Gamma is third. [1] Delta is fourth. [2]", [S3, S4], [S2, S3])
    got = gold.score(rs, [DOC])
    assert got["citation_precision"] == pytest.approx(2 / 3)  # 2 of 3 cited spans on gold
    assert got["citation_recall"] == 1.0
    assert got["accuracy_by_category"]["answerable"] == 1.0  # still cites the evidence


def test_a_wrong_sentence_lowers_precision_recall_facts_and_accuracy():
    rs = perfect()
    rs[1] = result(C2, "Beta is second. [1]", [S2], [S2, S3])
    got = gold.score(rs, [DOC])
    assert got["citation_precision"] == pytest.approx(1 / 2)
    assert got["citation_recall"] == pytest.approx(1 / 2)
    assert got["key_fact_recall"] == pytest.approx(1 / 2)  # c1 has both facts, c2 none
    assert got["accuracy_by_category"]["answerable"] == pytest.approx(1 / 2)
    assert got["recall_at_5"] == 1.0  # retrieval was fine


def test_citing_a_span_touching_the_evidence_is_not_a_hit():
    rs = perfect()
    rs[0] = result(C1, "Beta is second. [1]", [("d", 15, 31)], [S1])  # starts where S1 ends
    assert gold.score(rs, [DOC])["citation_precision"] == pytest.approx(1 / 2)


def test_a_citation_in_another_document_is_not_a_hit():
    other = Document(id="e", text=TEXT)
    rs = perfect()
    rs[0] = result(C1, "Alpha is first. [1]", [("e", 0, 15)], [("e", 0, 15)])
    got = gold.score(rs, [DOC, other])  # "Alpha is first." is gold in both documents
    assert got["citation_precision"] == 1.0
    got = gold.score(rs, [DOC])
    assert got["citation_precision"] == pytest.approx(1 / 2)
    assert got["mrr"] == pytest.approx((0 + 1 / 2) / 2)


def test_abstaining_everywhere():
    rs = [result(r.case, "The article does not say.", abstained=True, retrieved=r.retrieved)
          for r in perfect()]
    got = gold.score(rs, [DOC])
    assert got["key_fact_recall"] == 0.0
    assert got["citation_precision"] == 0.0  # nothing cited is not precise
    assert got["citation_recall"] == 0.0
    # tp=2, fp=2, fn=0 -> p=1/2, r=1, f1=2/3
    assert got["abstention_precision"] == pytest.approx(1 / 2)
    assert got["abstention_recall"] == 1.0
    assert got["abstention_f1"] == pytest.approx(2 / 3)
    assert got["answer_chars"] == 0.0
    assert got["recall_at_5"] == 1.0  # retrieval does not depend on the answerer


def test_answering_an_unanswerable_question():
    rs = perfect()
    rs[3] = result(C4, "Alpha is first. [1]", [S1], [S1])  # accepted the false premise
    got = gold.score(rs, [DOC])
    assert got["false_premise_handled"] == 0.0
    # tp=1, fp=0, fn=1 -> p=1, r=1/2, f1=2/3
    assert got["abstention_precision"] == 1.0
    assert got["abstention_recall"] == pytest.approx(1 / 2)
    assert got["abstention_f1"] == pytest.approx(2 / 3)
    assert got["accuracy_by_category"]["adversarial"] == 0.0
    assert got["citation_precision"] == 1.0  # only answerable cases count towards precision


def test_inexact_quotes_lower_quote_exactness():
    rs = perfect()
    rs[1] = result(C2, "Gamma is third. [1] Delta. [2]", [S3, S4], [S3], exact=[True, False])
    assert gold.score(rs, [DOC])["quote_exactness"] == pytest.approx(2 / 3)


def test_retrieval_rank_past_k_is_a_miss():
    rs = perfect()
    rs[0] = result(C1, "Alpha is first. [1]", [S1], [S2, S3, S4, S2, S3, S1])  # hit at rank 6
    got = gold.score(rs, [DOC], k=5)
    assert got["recall_at_5"] == pytest.approx(1 / 2)
    assert got["mrr"] == pytest.approx((1 / 6 + 1 / 2) / 2)
    assert gold.score(rs, [DOC], k=6)["recall_at_5"] == 1.0  # the key keeps its name; k moves


def test_case_correct():
    assert gold.case_correct(perfect()[0], [DOC])
    assert not gold.case_correct(result(C1, "Beta. [1]", [S2]), [DOC])
    assert not gold.case_correct(result(C1, "no", abstained=True), [DOC])
    assert gold.case_correct(result(C3, "no", abstained=True), [DOC])
    assert not gold.case_correct(result(C3, "Alpha. [1]", [S1]), [DOC])


# -- thresholds and the gate -----------------------------------------------------------


def test_failures_lists_metrics_below_threshold_and_missing_ones():
    metrics = {"a": 0.5, "b": 0.8, "d": 0.0}
    got = report.failures(metrics, {"a": 0.5, "b": 0.9, "c": 0.1})
    assert got == ["b = 0.800 is below its threshold 0.900", "c: missing from the metrics"]
    assert report.failures(metrics, {}) == []
    assert report.failures(metrics, {"a": 0.5, "d": 0.0}) == []  # equal to the minimum passes


def test_failures_on_scored_results():
    metrics = gold.score(perfect(), [DOC])
    assert report.failures(metrics, {"recall_at_5": 1.0, "citation_precision": 1.0, "abstention_f1": 1.0}) == []
    worse = perfect()
    worse[1] = result(C2, "Beta is second. [1]", [S2], [S2, S3])
    problems = report.failures(gold.score(worse, [DOC]), {"citation_precision": 0.9, "recall_at_5": 0.9})
    assert problems == ["citation_precision = 0.500 is below its threshold 0.900"]


def test_real_thresholds_file_reads_and_names_real_metrics():
    import tomllib

    from assistant.eval import mtrag, squad
    from assistant.eval.clapnq import summarise

    assert report.DEFAULT_THRESHOLDS.exists()
    data = tomllib.loads(report.DEFAULT_THRESHOLDS.read_text(encoding="utf-8"))
    assert "article" in data
    article = report.load_thresholds()
    assert article and all(isinstance(v, float) for v in article.values())
    assert article == {k: float(v) for k, v in data["article"].items()}
    # A threshold on a name the scorer never produces would fail the gate forever.
    known = set(gold.score(perfect(), [DOC])) | set(summarise([], [])) | set(squad.summarise([], [])) \
        | set(mtrag.summarise([], []))
    for section in data:
        limits = report.load_thresholds(report.DEFAULT_THRESHOLDS, section)
        assert set(limits) <= known, section
        assert all(0.0 <= v <= 1.0 for k, v in limits.items() if k != "mean_answer_chars"), section


def test_load_thresholds_sections_and_errors(tmp_path):
    path = tmp_path / "t.toml"
    path.write_text("[article]\nrecall_at_5 = 0.9\nmrr = 1\n\n[clapnq]\ngold_in_citation = 0.25\n",
                    encoding="utf-8")
    assert report.load_thresholds(path) == {"recall_at_5": 0.9, "mrr": 1.0}
    assert report.load_thresholds(path, "clapnq") == {"gold_in_citation": 0.25}
    assert report.load_thresholds(path, "absent") == {}
    with pytest.raises(ConfigError, match="cannot read thresholds"):
        report.load_thresholds(tmp_path / "none.toml")
    path.write_text("[article\nrecall = ", encoding="utf-8")
    with pytest.raises(ConfigError, match="t.toml"):
        report.load_thresholds(path)


# -- report ----------------------------------------------------------------------------


def test_write_report_writes_markdown_json_and_png(tmp_path):
    rs = perfect()
    metrics = gold.score(rs, [DOC])
    out = tmp_path / "report"
    paths = report.write_report(metrics, rs, out, "Gold set on letters", {"recall_at_5": 0.9})
    assert paths == [out / "report.md", out / "metrics.json", out / "chart.png"]
    md = (out / "report.md").read_text(encoding="utf-8")
    assert md.startswith("# Gold set on letters")
    assert "| recall_at_5 | 1.000 | ≥ 0.90 |" in md
    assert "| mrr | 0.750 |  |" in md
    assert "| answerable | 1.000 |" in md
    assert "| total | 20.0 | 40.0 |" in md
    assert "![scores and latency](chart.png)" in md
    payload = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert payload["metrics"] == json.loads(json.dumps(metrics))  # floats round-trip exactly
    assert payload["thresholds"] == {"recall_at_5": 0.9}
    assert [c["id"] for c in payload["cases"]] == ["c1", "c2", "c3", "c4"]
    assert payload["cases"][1]["cited"] == [list(S3)]
    png = (out / "chart.png").read_bytes()
    assert png.startswith(PNG_MAGIC) and len(png) > 1000


def test_write_report_without_results_or_metrics(tmp_path):
    paths = report.write_report({}, None, tmp_path / "empty", "Nothing")
    assert all(p.exists() for p in paths)
    assert json.loads(paths[1].read_text(encoding="utf-8"))["metrics"] == {}
    assert "cases" not in json.loads(paths[1].read_text(encoding="utf-8"))
    assert paths[2].read_bytes().startswith(PNG_MAGIC)


# -- feedback -> draft cases -----------------------------------------------------------


def cite(article: Document, sentence: str, n: int = 1) -> Citation:
    start = article.text.index(sentence)
    return Citation(n, article.id, start, start + len(sentence), sentence, 0.9, article.title)


V4 = "By utilizing Google’s v4 and v5e TPUs"


def test_drafts_from_feedback(tmp_path, article):
    sentence = next(s for s in article.text.split("\n") if V4 in s).split(", OpenAI")[0]
    c = cite(article, sentence)
    liked = Answer(f"{sentence}. [1]", False, [c], "which tpus", "Which TPUs does OpenAI use?")
    disliked = Answer(f"{sentence}. [1]", False, [c], "ceo", "Who is the CEO?")
    refused = Answer("The article does not say.", True, [], "price", "How much is the deal?")
    path = tmp_path / "fb" / "feedback.jsonl"
    store = FeedbackStore(path)
    store.append(feedback_record(liked, "up"))
    store.append(feedback_record(disliked, "down", comment="  wrong paragraph  "))
    store.append(feedback_record(refused.to_dict(), "up"))

    up, down, abstained = drafts_from_feedback(path)
    assert up == {
        "id": "fb-001", "category": "answerable", "question": "Which TPUs does OpenAI use?",
        "answerable": True, "evidence": [sentence], "key_facts": [],
        "review": "confirmed by a thumbs-up", "source_answer": f"{sentence}. [1]",
    }
    assert up["evidence"][0] in article.text  # a quote is verbatim, so it is valid gold evidence
    assert down["id"] == "fb-002"
    assert down["evidence"] == [] and down["answerable"] is True
    assert down["review"] == "thumbs-down: find the right evidence; comment: wrong paragraph"
    assert abstained["category"] == "unanswerable"
    assert abstained["answerable"] is False and abstained["evidence"] == []

    # Drafts are cases: once reviewed they load like any other line of the gold set.
    drafts = write_lines(tmp_path / "drafts.jsonl", [up, down, abstained])
    loaded = [c for g in gold.load_dataset(drafts) for c in g]
    assert [(c.id, c.answerable, c.evidence) for c in loaded] == [
        ("fb-001", True, (sentence,)), ("fb-002", True, ()), ("fb-003", False, ())]


def test_drafts_from_missing_feedback_is_empty(tmp_path):
    assert drafts_from_feedback(tmp_path / "none.jsonl") == []


def test_cli_eval_from_feedback_prints_one_draft_a_line(tmp_path, article):
    path = tmp_path / "feedback.jsonl"
    ans = Answer("x [1]", False, [cite(article, V4)], "q", "Which TPUs?")
    FeedbackStore(path).append(feedback_record(ans, "up", comment="exact"))
    from assistant.cli import main

    got = CliRunner().invoke(main, ["eval", "--from-feedback", str(path)])
    assert got.exit_code == 0, got.output
    lines = got.output.strip().splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["evidence"] == [V4]
    assert json.loads(lines[0])["review"] == "confirmed by a thumbs-up; comment: exact"
