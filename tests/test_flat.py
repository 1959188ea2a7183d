"""The flat-QA runner (ClapNQ format): loading, sampling, scoring, and one real end-to-end run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.documents import Document
from assistant.errors import ConfigError
from assistant.eval import report
from assistant.eval.clapnq import FlatCase, load_flat, run_flat, sample, score_case, summarise

BANANA = ("The banana is an elongated, edible fruit produced by several kinds of large herbaceous "
          "flowering plants. Bananas are yellow when ripe. The largest producer of bananas is India.")
PHAROS = ("A lighthouse is a tower designed to emit light to serve as a navigational aid for maritime "
          "pilots. The Pharos of Alexandria was one of the Seven Wonders of the Ancient World. "
          "It was built in the third century BC.")
CHESS = ("Chess is a board game for two players. It is played on a square board of 64 squares "
         "arranged in an eight-by-eight grid. The rules were standardised in the nineteenth century.")

ROWS = [
    {"doc_id": "banana", "title": "Banana", "context": BANANA, "nq_id": "nq-1",
     "question": "what colour are ripe bananas", "answers": ["yellow"], "is_impossible": False,
     "gold_sentences": ["Bananas are yellow when ripe. "]},
    {"doc_id": "pharos", "title": "Lighthouse", "context": PHAROS, "nq_id": "nq-2",
     "question": "which of the seven wonders of the ancient world was a lighthouse",
     "answers": ["The Pharos of Alexandria"], "is_impossible": False,
     "gold_sentences": ["The Pharos of Alexandria was one of the Seven Wonders of the Ancient World."]},
    # The same document again: one Document, two cases.
    {"doc_id": "banana", "title": "Banana", "context": BANANA, "nq_id": "nq-3",
     "question": "which country produces the most bananas", "answers": ["India"], "is_impossible": False,
     "gold_sentences": ["The largest producer of bananas is India."]},
    {"doc_id": "chess", "title": "Chess", "context": CHESS, "nq_id": "nq-4",
     "question": "who was the first world chess champion", "answers": [], "is_impossible": True,
     "gold_sentences": []},
]


@pytest.fixture
def flat_file(tmp_path) -> Path:
    path = tmp_path / "tiny_dev.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in ROWS) + "\n\n", encoding="utf-8")
    return path


# -- load_flat -------------------------------------------------------------------------


def test_load_flat_dedupes_documents_and_parses_cases(flat_file):
    docs, cases = load_flat(flat_file)
    assert [d.id for d in docs] == ["banana", "pharos", "chess"]
    banana = docs[0]
    assert (banana.text, banana.title, banana.source) == (BANANA, "Banana", "nq-1")
    assert banana.metadata["outlet"] == "Banana"
    assert cases == [
        FlatCase("banana", "what colour are ripe bananas", ("yellow",), ("Bananas are yellow when ripe. ",), False),
        FlatCase("pharos", ROWS[1]["question"], ("The Pharos of Alexandria",), tuple(ROWS[1]["gold_sentences"]), False),
        FlatCase("banana", "which country produces the most bananas", ("India",),
                 ("The largest producer of bananas is India.",), False),
        FlatCase("chess", "who was the first world chess champion", (), (), True),
    ]


def test_load_flat_tolerates_missing_optional_fields(tmp_path):
    path = tmp_path / "min.jsonl"
    path.write_text(json.dumps({"doc_id": "d", "context": "Some text.", "question": "q?",
                                "is_impossible": True, "answers": None}) + "\n", encoding="utf-8")
    docs, cases = load_flat(path)
    assert docs == [Document(id="d", text="Some text.")]
    assert cases == [FlatCase("d", "q?", (), (), True)]


@pytest.mark.parametrize("bad", [
    '{"doc_id": "x", "context": "c", "question": "q"}',  # no is_impossible
    '{"doc_id": "x", "context": "c", "question": "q", "is_impossible": false',  # not JSON
    '{"context": "c", "question": "q", "is_impossible": false}',  # no doc_id
    '["a", "list"]',
])
def test_load_flat_malformed_row_names_the_line(flat_file, bad):
    with flat_file.open("a", encoding="utf-8") as f:
        f.write(bad + "\n")
    # 4 rows, then the blank line the fixture wrote, then the bad row.
    with pytest.raises(ConfigError, match=r"tiny_dev\.jsonl:6: not a flat QA row"):
        load_flat(flat_file)


def test_load_flat_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="no flat QA file"):
        load_flat(tmp_path / "absent.jsonl")


# -- sample ----------------------------------------------------------------------------


def numbered(n: int) -> list[FlatCase]:
    return [FlatCase("d", f"q{i}", (), (), i % 3 == 0) for i in range(n)]


def questions(cases: list[FlatCase]) -> list[str]:
    return [c.question for c in cases]


def test_sample_returns_the_odd_rows():
    assert questions(sample(numbered(10), None)) == ["q1", "q3", "q5", "q7", "q9"]
    assert questions(sample(numbered(10), 5)) == ["q1", "q3", "q5", "q7", "q9"]
    assert questions(sample(numbered(10), 50)) == ["q1", "q3", "q5", "q7", "q9"]
    assert sample(numbered(1), None) == []
    assert sample([], 3) == []


def test_sample_thins_evenly():
    # 5 held-out rows to 2: step 2.5 -> positions 0, 2; to 3: step 5/3 -> positions 0, 1, 3.
    assert questions(sample(numbered(10), 2)) == ["q1", "q5"]
    assert questions(sample(numbered(10), 3)) == ["q1", "q3", "q7"]
    # 100 held-out rows to 4: every 25th.
    assert questions(sample(numbered(200), 4)) == ["q1", "q51", "q101", "q151"]
    assert questions(sample(numbered(10), 1)) == ["q1"]


@pytest.mark.parametrize("n", [7, 20, 101, 600])
@pytest.mark.parametrize("limit", [1, 3, 10, 64])
def test_sample_is_deterministic_distinct_odd_and_ordered(n, limit):
    cases = numbered(n)
    got = sample(cases, limit)
    assert got == sample(cases, limit)
    positions = [int(c.question[1:]) for c in got]
    assert len(got) == min(limit, n // 2)
    assert all(p % 2 == 1 for p in positions)
    assert positions == sorted(set(positions))


# -- score_case and summarise ----------------------------------------------------------

DOC = Document(id="banana", text=BANANA, title="Banana")
COLOUR = FlatCase("banana", "what colour are ripe bananas", ("yellow",), ("Bananas are yellow when ripe. ",), False)
GOLD = (BANANA.index("Bananas are"), BANANA.index("Bananas are") + len("Bananas are yellow when ripe."))
LEAD = (0, BANANA.index(" Bananas are"))


def test_gold_span_of_the_hand_made_document():
    assert BANANA[GOLD[0]:GOLD[1]] == "Bananas are yellow when ripe."
    assert LEAD[1] == GOLD[0] - 1


def test_score_case_a_correct_cited_answer():
    text = "Bananas are YELLOW when ripe. [1]"
    got = score_case(DOC, COLOUR, text, False, [("banana", *GOLD, BANANA[slice(*GOLD)])], ["pharos", "banana"])
    assert got == {"impossible": False, "abstained": False, "gold_in_answer": True,
                   "gold_in_citation": True, "doc_in_top5": True, "chars": len(text)}


def test_score_case_wrong_citation_and_missing_answer():
    got = score_case(DOC, COLOUR, "The banana is an elongated fruit. [1]", False, [("banana", *LEAD, BANANA[slice(*LEAD)])],
                     ["a", "b", "c", "d", "e", "banana"])
    assert (got["gold_in_answer"], got["gold_in_citation"], got["doc_in_top5"]) == (False, False, False)
    # The right offsets in another document are not the gold sentence.
    got = score_case(DOC, COLOUR, "yellow", False, [("pharos", *GOLD, PHAROS[slice(*GOLD)])], ["banana"])
    assert (got["gold_in_answer"], got["gold_in_citation"], got["doc_in_top5"]) == (True, False, True)


def test_score_case_the_gold_sentence_quoted_from_another_document_counts():
    other = "Some say bananas are yellow when ripe. Others disagree."
    span = (9, 37)
    assert other[slice(*span)] == "bananas are yellow when ripe"
    got = score_case(DOC, COLOUR, "Bananas are yellow when ripe.", False, [("copy", *span, other[slice(*span)])], [])
    assert got["gold_in_citation"] is False  # part of the gold sentence, not all of it
    span = (9, 38)
    got = score_case(DOC, COLOUR, "Bananas are yellow when ripe.", False, [("copy", *span, other[slice(*span)])], [])
    assert got["gold_in_citation"] is True


def test_score_case_gold_sentence_in_the_answer_counts_as_answer():
    case = FlatCase("banana", "q", ("a long human answer nobody would quote",),
                    ("The largest producer of bananas is India.",), False)
    got = score_case(DOC, case, "The  largest producer of Bananas is India. [1]", False, [], [])
    assert got["gold_in_answer"] is True
    assert got["gold_in_citation"] is False


def test_score_case_abstention_earns_nothing():
    got = score_case(DOC, COLOUR, "Bananas are yellow when ripe.", True, [("banana", *GOLD, BANANA[slice(*GOLD)])], ["banana"])
    assert got["gold_in_answer"] is False and got["gold_in_citation"] is False
    assert got["abstained"] is True and got["chars"] == 0


def test_score_case_blank_answers_do_not_match_everything():
    case = FlatCase("banana", "q", ("  ",), (" ",), True)
    got = score_case(DOC, case, "anything at all", False, [("banana", 0, len(BANANA), BANANA)], [])
    assert got["gold_in_answer"] is False and got["gold_in_citation"] is False
    assert got["impossible"] is True


def row(impossible=False, abstained=False, answer=False, citation=False, top5=False, chars=0):
    return {"impossible": impossible, "abstained": abstained, "gold_in_answer": answer,
            "gold_in_citation": citation, "doc_in_top5": top5, "chars": chars}


def test_summarise_hand_computed():
    rows = [
        row(answer=True, citation=True, top5=True, chars=10),
        row(abstained=True, top5=True),
        row(answer=True, chars=20),
        row(impossible=True, abstained=True),
        row(impossible=True, chars=30),
    ]
    got = summarise(rows, [0.1, 0.3, 0.2, 0.4, 0.5])
    latency = got.pop("latency_ms")
    assert got == pytest.approx({
        "gold_in_answer": 2 / 3, "gold_in_citation": 1 / 3, "doc_recall_at_5": 2 / 3,
        "abstain_on_impossible": 1 / 2, "false_abstention": 1 / 3, "mean_answer_chars": 20.0,
        "answered_when_answerable": 2 / 3,
    })
    assert latency == pytest.approx({"p50": 300.0, "p95": 500.0})  # nearest rank: 3rd and 5th of 5


def test_summarise_empty():
    got = summarise([], [])
    assert got["latency_ms"] == {"p50": 0.0, "p95": 0.0}
    assert all(v == 0.0 for k, v in got.items() if k != "latency_ms")


# -- the flat report -------------------------------------------------------------------

FLAT = {
    "dataset": "tiny_dev.jsonl", "questions": 2, "impossible": 1, "documents": 3,
    "systems": {
        "article-assistant": {"gold_in_answer": 1.0, "abstain_on_impossible": 1.0,
                              "latency_ms": {"p50": 12.0, "p95": 20.5}},
        "naive-langchain": {"gold_in_answer": 0.5, "abstain_on_impossible": 0.0,
                            "latency_ms": {"p50": 3.0, "p95": 4.0}},
    },
    "latencies_ms": {"article-assistant": [10.0, 20.5], "naive-langchain": [3.0, 4.0]},
}


def test_flat_table():
    assert report.flat_table(FLAT).splitlines() == [
        "tiny_dev.jsonl: 2 questions (1 unanswerable) over 3 documents in one index",
        "",
        "| metric | article-assistant | naive-langchain |",
        "|---|---|---|",
        "| gold_in_answer | 1.000 | 0.500 |",
        "| abstain_on_impossible | 1.000 | 0.000 |",
        "| article-assistant latency p50 / p95 ms | 12.0 / 20.5 | |",
        "| naive-langchain latency p50 / p95 ms | 3.0 / 4.0 | |",
    ]


def test_write_report_for_flat_results(tmp_path):
    paths = report.write_report({}, None, tmp_path / "flat", "Flat QA: tiny", flat=FLAT)
    md = paths[0].read_text(encoding="utf-8")
    assert md.startswith("# Flat QA: tiny")
    assert report.flat_table(FLAT) in md
    assert json.loads(paths[1].read_text(encoding="utf-8"))["flat"] == FLAT
    assert paths[2].read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


# -- end to end with the real model ----------------------------------------------------


@pytest.mark.integration
def test_run_flat_end_to_end(flat_file, tmp_path):
    got = run_flat(flat_file, limit=None)
    assert (got["dataset"], got["questions"], got["impossible"], got["documents"]) == (
        "tiny_dev.jsonl", 2, 1, 3)
    assert list(got["systems"]) == ["article-assistant", "naive-langchain"]
    keys = {"gold_in_answer", "gold_in_citation", "doc_recall_at_5", "abstain_on_impossible",
            "false_abstention", "answered_when_answerable", "mean_answer_chars", "latency_ms"}
    for name, summary in got["systems"].items():
        assert set(summary) == keys, name
        rates = [v for k, v in summary.items() if k not in ("mean_answer_chars", "latency_ms")]
        assert all(0.0 <= v <= 1.0 for v in rates), (name, summary)
        # An answer that was given has text; only a system that answered nothing may show 0.
        assert summary["mean_answer_chars"] > 0 or summary["answered_when_answerable"] == 0.0, name
        assert 0 < summary["latency_ms"]["p50"] <= summary["latency_ms"]["p95"], name
        assert len(got["latencies_ms"][name]) == 2
    base = got["systems"]["naive-langchain"]
    # The baseline never abstains, and with 3 short documents its 4 hits hold all of them.
    assert (base["abstain_on_impossible"], base["false_abstention"], base["doc_recall_at_5"]) == (0.0, 0.0, 1.0)
    # Its top chunk is a whole document here: the answer holds the gold sentence if it found the doc.
    assert base["gold_in_answer"] == base["gold_in_citation"]
    paths = report.write_report({}, None, tmp_path / "report", "Flat QA: tiny", flat=got)
    assert paths[2].read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
