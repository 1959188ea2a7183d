"""External runners: SQuAD 2.0 whole articles (`assistant.eval.squad`) and MTRAG conversations
(`assistant.eval.mtrag`): loaders, the fold split, scorers, the runners end to end with the hashing
embeddings, and the CLI gate. The real benchmark files are only read."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.cli import main
from assistant.errors import ConfigError
from assistant.eval import common, mtrag, report
from assistant.eval import squad as sq

REAL_ARTICLES, REAL_QUESTIONS = sq.squad_files()
REAL_DIALOGS = mtrag.default_dialogs()

# -- SQuAD fixtures: six tiny articles, so positions 2 and 5 are the test fold ----------------

ARTICLES = [
    ("a0", "Bananas", "Bananas are yellow when ripe. The largest producer of bananas is India."),
    ("a1", "Chess", "Chess is a board game for two players. It is played on a board of 64 squares."),
    ("a2", "Lighthouses", "The Pharos of Alexandria was a lighthouse.\n\nIt was built in the third "
                          "century BC on the island of Pharos. Its height was about 100 metres."),
    ("a3", "Tea", "Tea is an aromatic beverage. It originated in southwest China."),
    ("a4", "Rivers", "The Nile is a major river in Africa. It flows north into the Mediterranean Sea."),
    ("a5", "Bridges", "The Golden Gate Bridge opened in 1937.\n\nIt spans the Golden Gate strait "
                      "in San Francisco. Its towers are painted international orange."),
]


def question(doc: str, qid: str, text: str, answers: list[str] = ()) -> dict:
    """A questions-file row whose offsets are found in the fixture article."""
    context = next(c for d, _, c in ARTICLES if d == doc)
    return {"doc_id": doc, "qid": qid, "question": text, "answers": list(answers),
            "is_impossible": not answers, "answer_starts_in_doc": [context.index(a) for a in answers],
            "para_index": 0}


QUESTIONS = [
    question("a0", "q0", "What colour are ripe bananas?", ["yellow"]),
    question("a1", "q1", "How many squares does a chess board have?", ["64"]),
    question("a2", "q2", "When was the Pharos of Alexandria built?", ["the third century BC", "third century BC"]),
    question("a2", "q3", "Who designed the Pharos of Alexandria?"),
    question("a2", "q4", "How tall was the Pharos of Alexandria?", ["about 100 metres"]),
    question("a3", "q5", "Where did tea originate?", ["southwest China"]),
    question("a5", "q6", "When did the Golden Gate Bridge open?", ["1937"]),
    question("a5", "q7", "What colour are the towers of the Golden Gate Bridge painted?", ["international orange"]),
    question("a5", "q8", "How much did the Golden Gate Bridge cost to build?"),
]


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n",
                    encoding="utf-8")
    return path


@pytest.fixture
def squad_dir(tmp_path) -> Path:
    folder = tmp_path / "bench"
    folder.mkdir()
    write_jsonl(folder / sq.ARTICLES_FILE, [{"doc_id": d, "title": t, "context": c, "source": "fixture",
                                             "paragraph_spans": []} for d, t, c in ARTICLES])
    write_jsonl(folder / sq.QUESTIONS_FILE, QUESTIONS)
    return folder


@pytest.fixture
def hashing(monkeypatch):
    monkeypatch.setenv("ASSISTANT_EMBEDDING_MODEL", "hashing")


# -- load_squad -------------------------------------------------------------------------------


def test_load_squad_reads_articles_in_file_order_and_their_questions(squad_dir):
    docs, cases = sq.load_squad(*sq.squad_files(squad_dir))
    assert [d.id for d in docs] == ["a0", "a1", "a2", "a3", "a4", "a5"]
    assert (docs[2].title, docs[2].text, docs[2].source) == ("Lighthouses", ARTICLES[2][2], "fixture")
    assert [c.qid for c in cases] == [f"q{i}" for i in range(9)]
    q2 = cases[2]
    assert (q2.doc_id, q2.impossible, q2.answers) == ("a2", False, ("the third century BC", "third century BC"))
    assert [docs[2].text[s:e] for s, e in q2.spans] == list(q2.answers)
    assert cases[3].impossible and cases[3].answers == () and cases[3].spans == []


def good_question() -> dict:
    return question("a0", "qx", "What colour are ripe bananas?", ["yellow"])


@pytest.mark.parametrize("change, needle", [
    ({"doc_id": "nowhere"}, "'nowhere' is not in the articles file"),
    ({"answer_starts_in_doc": [3]}, "'yellow' is not at offset 3 of 'a0'"),
    ({"answer_starts_in_doc": []}, "1 answers but 0 answer_starts_in_doc"),
    ({"is_impossible": "no"}, "'is_impossible' must be true or false"),
    ({"is_impossible": False, "answers": [], "answer_starts_in_doc": []}, "needs at least one answer"),
    ({"question": "  "}, "empty question"),
    ({"qid": None, "doc_id": None}, "is not in the articles file"),
])
def test_load_squad_bad_question_names_file_line_and_problem(squad_dir, change, needle):
    path = squad_dir / sq.QUESTIONS_FILE
    write_jsonl(path, [*QUESTIONS, {**good_question(), **change}])
    with pytest.raises(ConfigError, match=rf"{sq.QUESTIONS_FILE}:10: not a SQuAD question") as err:
        sq.load_squad(squad_dir / sq.ARTICLES_FILE, path)
    assert needle in str(err.value)


@pytest.mark.parametrize("bad, line, needle", [
    ('{"doc_id": "a9", "context": "x"', 7, "invalid JSON"),
    ('{"doc_id": "a9", "title": "no context"}', 7, "not a SQuAD article ('context')"),
    ('{"doc_id": "a0", "context": "again"}', 7, "doc_id 'a0' appears twice"),
    ('{"doc_id": "a9", "context": "   "}', 7, "has no text"),
    ('["a list"]', 7, "each line must be a JSON object"),
])
def test_load_squad_bad_article_names_file_and_line(squad_dir, bad, line, needle):
    path = squad_dir / sq.ARTICLES_FILE
    with path.open("a", encoding="utf-8") as f:
        f.write(bad + "\n")
    with pytest.raises(ConfigError, match=rf"{sq.ARTICLES_FILE}:{line}: ") as err:
        sq.load_squad(path, squad_dir / sq.QUESTIONS_FILE)
    assert needle in str(err.value)


def test_load_squad_missing_files(tmp_path, squad_dir):
    with pytest.raises(ConfigError, match="no SQuAD articles file at"):
        sq.load_squad(tmp_path / "none.jsonl", squad_dir / sq.QUESTIONS_FILE)
    with pytest.raises(ConfigError, match="no SQuAD questions file at"):
        sq.load_squad(squad_dir / sq.ARTICLES_FILE, tmp_path / "none.jsonl")


# -- the split --------------------------------------------------------------------------------


def test_fold_of_and_part_of():
    assert [sq.fold_of(i) for i in range(7)] == [0, 1, 2, 0, 1, 2, 0]
    assert [sq.part_of(i) for i in range(6)] == ["fit", "fit", "test", "fit", "fit", "test"]
    assert (sq.FOLDS, sq.TEST_FOLD) == (3, 2)
    with pytest.raises(ValueError):
        sq.fold_of(-1)


def test_split_articles_keeps_file_order():
    fit, test = sq.split_articles(list("abcdefg"))
    assert (fit, test) == (["a", "b", "d", "e", "g"], ["c", "f"])


def test_the_real_test_part_is_5_articles_at_positions_2_5_8_11_14():
    docs, cases = sq.load_squad(REAL_ARTICLES, REAL_QUESTIONS)
    assert len(docs) == 15
    fit, test = sq.split_articles(docs)
    assert [d.id for d in test] == [docs[i].id for i in (2, 5, 8, 11, 14)]
    assert [d.title for d in test] == ["Oxygen", "Amazon_rainforest", "Civil_disobedience", "Rhine", "Force"]
    assert len(fit) == 10 and not {d.id for d in fit} & {d.id for d in test}
    chosen, test_cases = sq.select(docs, cases, "test")
    assert chosen == test
    assert {c.doc_id for c in test_cases} == {d.id for d in test}
    _, fit_cases = sq.select(docs, cases, "fit")
    assert len(fit_cases) + len(test_cases) == len(cases) == len(sq.select(docs, cases, "all")[1])
    assert len(test_cases) == 1901


def test_select_parts_of_the_fixture(squad_dir):
    docs, cases = sq.load_squad(*sq.squad_files(squad_dir))
    test_docs, test_cases = sq.select(docs, cases)
    assert [d.id for d in test_docs] == ["a2", "a5"]
    assert [c.qid for c in test_cases] == ["q2", "q3", "q4", "q6", "q7", "q8"]
    assert [c.qid for c in sq.select(docs, cases, "fit")[1]] == ["q0", "q1", "q5"]
    with pytest.raises(ConfigError, match="unknown part 'train'"):
        sq.select(docs, cases, "train")


def test_thin_is_even_ordered_and_deterministic():
    items = list(range(10))
    assert common.thin(items, None) == items
    assert common.thin(items, 20) == items
    assert common.thin(items, 2) == [0, 5]
    assert common.thin(items, 3) == [0, 3, 6]
    assert common.thin(list(range(1901)), 300) == common.thin(list(range(1901)), 300)
    got = common.thin(list(range(1901)), 300)
    assert len(got) == len(set(got)) == 300 and got == sorted(got)


# -- SQuAD scoring ----------------------------------------------------------------------------

PHAROS = ARTICLES[2][2]
BUILT = sq.SquadCase("a2", "q2", "When?", ("the third century BC", "third century BC"),
                     (PHAROS.index("the third"), PHAROS.index("third")), False)
SENTENCE = (PHAROS.index("It was built"), PHAROS.index(" Its height"))
FIRST = (0, PHAROS.index("\n\n"))


def test_score_case_gold_in_answer_and_in_citation():
    text = "It was built in the  Third Century BC on the island of Pharos. [1]"
    got = sq.score_case(BUILT, text, False, [("a2", *SENTENCE)], [("a2", *FIRST), ("a2", *SENTENCE)])
    assert got == {"impossible": False, "abstained": False, "gold_in_answer": True, "gold_in_citation": True,
                   "gold_in_passages": True, "chars": len(text)}


def test_score_case_citation_must_overlap_the_answer_in_its_own_article():
    got = sq.score_case(BUILT, "The Pharos of Alexandria was a lighthouse. [1]", False,
                        [("a2", *FIRST)], [("a2", *FIRST)])
    assert (got["gold_in_answer"], got["gold_in_citation"], got["gold_in_passages"]) == (False, False, False)
    # The right offsets in another article are not the answer.
    got = sq.score_case(BUILT, "third century BC", False, [("a5", *SENTENCE)], [("a5", *SENTENCE)])
    assert (got["gold_in_answer"], got["gold_in_citation"], got["gold_in_passages"]) == (True, False, False)
    # One character of overlap is enough: the answer's last character.
    end = BUILT.spans[0][1]
    got = sq.score_case(BUILT, "x", False, [("a2", end - 1, end + 10)], [])
    assert got["gold_in_citation"] is True
    got = sq.score_case(BUILT, "x", False, [("a2", end, end + 10)], [])
    assert got["gold_in_citation"] is False


def test_score_case_abstention_earns_nothing_and_impossible_is_marked():
    got = sq.score_case(BUILT, "third century BC", True, [("a2", *SENTENCE)], [("a2", *SENTENCE)])
    assert (got["gold_in_answer"], got["gold_in_citation"], got["abstained"], got["chars"]) == (False, False, True, 0)
    assert got["gold_in_passages"] is True  # retrieval found it; the gate refused
    nothing = sq.SquadCase("a2", "q3", "Who designed it?", (), (), True)
    got = sq.score_case(nothing, "anything", False, [("a2", 0, len(PHAROS))], [])
    assert (got["impossible"], got["gold_in_answer"], got["gold_in_citation"]) == (True, False, False)


def srow(impossible=False, abstained=False, answer=False, citation=False, passages=False, chars=0):
    return {"impossible": impossible, "abstained": abstained, "gold_in_answer": answer,
            "gold_in_citation": citation, "gold_in_passages": passages, "chars": chars}


def test_squad_summarise_hand_computed():
    rows = [srow(answer=True, citation=True, passages=True, chars=10), srow(abstained=True, passages=True),
            srow(answer=True, chars=30), srow(impossible=True, abstained=True), srow(impossible=True, chars=50)]
    got = sq.summarise(rows, [0.1, 0.3, 0.2, 0.4, 0.5])
    assert got.pop("latency_ms") == pytest.approx({"p50": 300.0, "p95": 500.0})
    assert got == pytest.approx({
        "gold_in_answer": 2 / 3, "gold_in_citation": 1 / 3, "gold_in_passages": 2 / 3,
        "abstain_on_impossible": 1 / 2, "false_abstention": 1 / 3, "answered_when_answerable": 2 / 3,
        "mean_answer_chars": 30.0,
    })


# -- run_squad end to end (hashing embeddings) ------------------------------------------------

SQUAD_KEYS = {"gold_in_answer", "gold_in_citation", "gold_in_passages", "abstain_on_impossible",
              "false_abstention", "answered_when_answerable", "mean_answer_chars", "latency_ms"}
GENERATIVE_KEYS = {"answered", "refused", "fact_recall", "model_sentences_shown", "dropped_rate", "fallbacks",
                   "invented_reached", "invented_anywhere", "first_sentence_p50", "first_sentence_p95",
                   "drop_reasons"}


def test_run_squad_asks_each_test_question_of_its_own_article(squad_dir, hashing):
    got = sq.run_squad(*sq.squad_files(squad_dir))
    assert (got["part"], got["questions"], got["impossible"], got["documents"]) == ("test", 6, 2, 2)
    assert list(got["systems"]) == ["article-assistant", "naive-langchain"]
    for name, summary in got["systems"].items():
        assert set(summary) == SQUAD_KEYS | (GENERATIVE_KEYS if name == "article-assistant" else set()), name
        assert len(got["latencies_ms"][name]) == 6
        assert 0 < summary["latency_ms"]["p50"] <= summary["latency_ms"]["p95"]
    assert [c["qid"] for c in got["cases"]] == ["q2", "q3", "q4", "q6", "q7", "q8"]
    # One index per article: nothing is ever cited from another article.
    for case in got["cases"]:
        assert all(doc == case["doc_id"] for doc, _, _ in case["cited"]), case
        assert case["read"] == [case["doc_id"]], case
    base = got["systems"]["naive-langchain"]
    # A fixture article is one chunk: the baseline's top chunk is the whole article, and it never abstains.
    assert (base["gold_in_answer"], base["gold_in_citation"], base["gold_in_passages"]) == (1.0, 1.0, 1.0)
    assert (base["abstain_on_impossible"], base["false_abstention"]) == (0.0, 0.0)
    assert base["mean_answer_chars"] == pytest.approx((len(PHAROS) + len(ARTICLES[5][2])) / 2)
    # The project answers with sentences, not whole articles.
    project = got["systems"]["article-assistant"]
    assert project["mean_answer_chars"] < base["mean_answer_chars"]
    assert project["gold_in_passages"] == 1.0  # one short article: retrieval reads all of it


def test_run_squad_limit_and_parts(squad_dir, hashing):
    got = sq.run_squad(*sq.squad_files(squad_dir), limit=2, baseline=False)
    assert list(got["systems"]) == ["article-assistant"]
    assert [c["qid"] for c in got["cases"]] == ["q2", "q6"]  # 6 test questions thinned to 2: every 3rd
    assert got["documents"] == 2
    got = sq.run_squad(*sq.squad_files(squad_dir), part="fit", baseline=False)
    assert [c["qid"] for c in got["cases"]] == ["q0", "q1", "q5"]
    assert got["documents"] == 3  # a4 has no question: no index built for it


# -- MTRAG fixtures ---------------------------------------------------------------------------

P_TOWER = "The Eiffel Tower is a wrought-iron lattice tower in Paris. It is 330 metres tall."
P_LOUVRE = "The Louvre is the world's most-visited museum. It holds the Mona Lisa."
P_SEINE = "The Seine flows through Paris. Its length is 777 kilometres."


def conversation(doc_id="conv-1") -> dict:
    context, passages = "", []
    for pid, title, text in (("p-tower", "Eiffel Tower", P_TOWER), ("p-louvre", "Louvre", P_LOUVRE),
                             ("p-seine", "Seine", P_SEINE)):
        context += "Title: " + title + "\n"
        passages.append({"passage_id": pid, "title": title, "start": len(context), "end": len(context) + len(text)})
        context += text + "\n\n"

    def turn(n, q, kind, refs, multi=()):
        return {"turn": n, "question": q, "answers": ["ref"], "answerability": [kind],
                "is_impossible": kind == "UNANSWERABLE", "reference_passage_ids": list(refs),
                "question_type": ["Factoid"], "multi_turn": list(multi), "task_id": f"{doc_id}<::>{n}"}

    return {"doc_id": doc_id, "collection": "fixture", "context": context, "passages": passages, "turns": [
        turn(1, "Where is the Eiffel Tower?", "ANSWERABLE", ["p-tower"]),
        turn(2, "How tall is it?", "ANSWERABLE", ["p-tower"], ["Follow-up"]),
        turn(3, "thanks!", "CONVERSATIONAL", []),
        turn(4, "Which painting does the Louvre hold?", "PARTIAL", ["p-louvre"], ["Clarification"]),
        turn(5, "Who was the architect of the Louvre pyramid?", "UNANSWERABLE", []),
    ]}


@pytest.fixture
def dialog_file(tmp_path) -> Path:
    return write_jsonl(tmp_path / "mtrag_tiny.jsonl", [conversation("conv-1"), conversation("conv-2")])


def test_load_dialogs_passages_become_documents(dialog_file):
    dialogs = mtrag.load_dialogs(dialog_file)
    assert [d.id for d in dialogs] == ["conv-1", "conv-2"]
    d = dialogs[0]
    assert [(doc.id, doc.title, doc.text) for doc in d.documents] == [
        ("p-tower", "Eiffel Tower", P_TOWER), ("p-louvre", "Louvre", P_LOUVRE), ("p-seine", "Seine", P_SEINE)]
    assert [(t.turn, t.kind, t.references, t.followup) for t in d.turns] == [
        (1, "ANSWERABLE", ("p-tower",), False), (2, "ANSWERABLE", ("p-tower",), True),
        (3, "CONVERSATIONAL", (), False), (4, "PARTIAL", ("p-louvre",), False), (5, "UNANSWERABLE", (), False)]


def test_turn_kind():
    assert mtrag.turn_kind(["ANSWERABLE"]) == "ANSWERABLE"
    assert mtrag.turn_kind(["partial"]) == "PARTIAL"
    assert mtrag.turn_kind(["ANSWERABLE", "UNANSWERABLE"]) == "UNANSWERABLE"
    with pytest.raises(ValueError, match="none of"):
        mtrag.turn_kind(["MAYBE"])
    with pytest.raises(ValueError):
        mtrag.turn_kind([])


def broken(change) -> dict:
    row = conversation()
    change(row)
    return row


@pytest.mark.parametrize("change, needle", [
    (lambda r: r["turns"][1].update(reference_passage_ids=["p-nowhere"]),
     "turn 2: reference passage 'p-nowhere' is not among its passages"),
    (lambda r: r["passages"][0].update(end=10**6), "outside the"),
    (lambda r: r["passages"][1].update(passage_id="p-tower"), "'p-tower' appears twice"),
    (lambda r: r["turns"][0].update(answerability=["MAYBE"]), "none of ANSWERABLE"),
    (lambda r: r["turns"][0].update(question=" "), "turn 1: empty question"),
    (lambda r: r.pop("turns"), "'turns'"),
    (lambda r: r.update(passages=[]), "no passages"),
])
def test_load_dialogs_bad_row_names_file_line_and_problem(tmp_path, change, needle):
    path = write_jsonl(tmp_path / "bad.jsonl", [conversation(), broken(change)])
    with pytest.raises(ConfigError, match=r"bad\.jsonl:2: not an MTRAG conversation") as err:
        mtrag.load_dialogs(path)
    assert needle in str(err.value)


def test_load_dialogs_missing_file_and_bad_json(tmp_path):
    with pytest.raises(ConfigError, match="no MTRAG conversations file at"):
        mtrag.load_dialogs(tmp_path / "absent.jsonl")
    with pytest.raises(ConfigError, match=r"x\.jsonl:1: not an MTRAG conversation \(invalid JSON"):
        mtrag.load_dialogs(write_jsonl(tmp_path / "x.jsonl", ['{"doc_id": ']))


def test_the_real_dialog_file_loads():
    dialogs = mtrag.load_dialogs(REAL_DIALOGS)
    turns = [t for d in dialogs for t in d.turns]
    assert (len(dialogs), len(turns)) == (20, 159)
    kinds = [t.kind for t in turns]
    assert (kinds.count("UNANSWERABLE"), kinds.count("CONVERSATIONAL")) == (7, 2)
    assert all(doc.text.strip() for d in dialogs for doc in d.documents)


# -- MTRAG scoring ----------------------------------------------------------------------------

FOLLOW = mtrag.Turn(2, "How tall is it?", "ANSWERABLE", ("p-tower",), ("Follow-up",))


def test_score_turn_grounded_only_on_a_reference_passage():
    got = mtrag.score_turn(FOLLOW, "It is 330 metres tall. [1]", False, ["p-seine", "p-tower"], ["p-tower"])
    assert got == {"kind": "ANSWERABLE", "followup": True, "abstained": False, "grounded": True,
                   "reference_in_passages": True, "chars": len("It is 330 metres tall. [1]")}
    got = mtrag.score_turn(FOLLOW, "Its length is 777 kilometres. [1]", False, ["p-seine"], ["p-seine", "p-louvre"])
    assert (got["grounded"], got["reference_in_passages"]) == (False, False)
    got = mtrag.score_turn(FOLLOW, "The documents do not say.", True, ["p-tower"], ["p-tower"])
    assert (got["grounded"], got["abstained"], got["chars"]) == (False, True, 0)


def drow(kind="ANSWERABLE", followup=False, abstained=False, grounded=False, read=False, chars=0):
    return {"kind": kind, "followup": followup, "abstained": abstained, "grounded": grounded,
            "reference_in_passages": read, "chars": chars}


def test_dialog_summarise_hand_computed():
    rows = [
        drow(grounded=True, read=True, chars=10),
        drow(followup=True, grounded=True, read=True, chars=20),
        drow(kind="PARTIAL", followup=True, abstained=True, read=True),
        drow(followup=True, chars=30),
        drow(kind="UNANSWERABLE", abstained=True),
        drow(kind="UNANSWERABLE", chars=40),
        drow(kind="CONVERSATIONAL", followup=True, chars=1000),  # in no rate, not in the length
    ]
    got = mtrag.summarise(rows, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7])
    assert got.pop("latency_ms") == pytest.approx({"p50": 400.0, "p95": 700.0})
    assert got == pytest.approx({
        "grounded": 2 / 4, "reference_in_passages": 3 / 4, "false_abstention": 1 / 4,
        "answered_when_answerable": 3 / 4, "followup_grounded": 1 / 3, "followup_false_abstention": 1 / 3,
        "abstain_on_impossible": 1 / 2, "mean_answer_chars": 25.0,
    })


# -- run_dialog end to end (hashing embeddings) -----------------------------------------------

DIALOG_KEYS = {"grounded", "reference_in_passages", "false_abstention", "answered_when_answerable",
               "followup_grounded", "followup_false_abstention", "abstain_on_impossible",
               "mean_answer_chars", "latency_ms"}


def test_run_dialog_asks_turns_in_order_with_the_history(dialog_file, hashing):
    got = mtrag.run_dialog(dialog_file)
    assert (got["conversations"], got["questions"], got["impossible"], got["followups"], got["documents"]) == (
        2, 8, 2, 2, 6)
    assert list(got["systems"]) == ["article-assistant", "naive-langchain"]
    for name, summary in got["systems"].items():
        assert set(summary) == DIALOG_KEYS, name
        assert len(got["latencies_ms"][name]) == 10  # conversational turns are asked too
    cases = got["cases"]
    assert [(c["dialog"], c["turn"]) for c in cases] == [(f"conv-{i}", n) for i in (1, 2) for n in range(1, 6)]
    # The follow-up was rewritten with the earlier turn's topic: the history reached the assistant.
    follow = cases[1]
    assert follow["question"] == "How tall is it?" and "Eiffel" in follow["query"]
    assert cases[0]["query"] == "Where is the Eiffel Tower?"  # nothing before it
    for c in cases:
        assert set(c["cited"]) <= {"p-tower", "p-louvre", "p-seine"}
    base = got["systems"]["naive-langchain"]
    assert (base["abstain_on_impossible"], base["false_abstention"], base["answered_when_answerable"]) == (0.0, 0.0, 1.0)


def test_run_dialog_limit_thins_conversations(tmp_path, hashing):
    path = write_jsonl(tmp_path / "m.jsonl", [conversation(f"conv-{i}") for i in range(4)])
    got = mtrag.run_dialog(path, limit=2, baseline=False)
    assert got["conversations"] == 2 and list(got["systems"]) == ["article-assistant"]
    assert sorted({c["dialog"] for c in got["cases"]}) == ["conv-0", "conv-2"]


# -- the CLI gate -----------------------------------------------------------------------------


def cli(args: list[str], home: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env.update(ASSISTANT_HOME=str(home), ASSISTANT_EMBEDDING_MODEL="hashing", HF_HUB_OFFLINE="1", NO_COLOR="1")
    return CliRunner().invoke(main, args, env=env)


def thresholds(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "thresholds.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_cli_squad_gate_fails_below_threshold_and_passes_above(squad_dir, tmp_path):
    high = thresholds(tmp_path, "[squad]\nanswered_when_answerable = 1.01\n[article]\nmrr = 2.0\n")
    result = cli(["eval", "--squad", str(squad_dir), "--thresholds", str(high), "--report", str(tmp_path / "r")],
                 tmp_path / "home")
    assert result.exit_code == 1, result.output
    assert "quality gate failed" in result.output and "answered_when_answerable" in result.output
    assert "mrr" not in result.output  # only the [squad] section gates --squad
    assert "| gold_in_citation |" in result.output
    md = (tmp_path / "r" / "report.md").read_text(encoding="utf-8")
    assert md.startswith("# SQuAD 2.0 (test part)") and "one index each" in md
    low = thresholds(tmp_path, "[squad]\nanswered_when_answerable = 0.0\nabstain_on_impossible = 0.0\n")
    result = cli(["eval", "--squad", str(squad_dir), "--thresholds", str(low), "--limit", "2"], tmp_path / "home")
    assert result.exit_code == 0, result.output
    assert "2 questions" in result.output


def test_cli_dialog_gate(dialog_file, tmp_path):
    high = thresholds(tmp_path, "[dialog]\nabstain_on_impossible = 1.01\n")
    result = cli(["eval", "--dialog", str(dialog_file), "--thresholds", str(high), "--json"], tmp_path / "home")
    assert result.exit_code == 1, result.output
    assert "abstain_on_impossible" in result.output and "quality gate failed" in result.output
    printed = json.loads(result.output[:result.output.index("Error:")])
    assert set(printed) == {"article-assistant", "naive-langchain"}
    assert set(printed["article-assistant"]) == DIALOG_KEYS


def test_cli_rejects_two_benchmarks_and_bad_paths(squad_dir, dialog_file, tmp_path):
    result = cli(["eval", "--squad", "--dialog", str(dialog_file)], tmp_path / "home")
    assert result.exit_code == 2 and "use one of --squad, --dialog at a time" in result.output
    result = cli(["eval", "--squad", str(tmp_path / "nowhere")], tmp_path / "home")
    assert result.exit_code == 1
    assert "no SQuAD articles file at" in result.output and "Traceback" not in result.output


def test_cli_defaults_point_at_the_shared_benchmarks():
    assert REAL_ARTICLES.name == "squad2_dev15_articles.jsonl" and REAL_ARTICLES.is_file()
    assert REAL_QUESTIONS.is_file() and REAL_DIALOGS.is_file()
    assert REAL_ARTICLES.parent == REAL_DIALOGS.parent


def test_the_benchmark_folder_is_a_setting_else_beside_the_repo(monkeypatch, tmp_path):

    monkeypatch.setenv("ASSISTANT_BENCHMARKS", str(tmp_path))
    assert common.benchmarks_dir() == tmp_path
    assert sq.squad_files() == (tmp_path / sq.ARTICLES_FILE, tmp_path / sq.QUESTIONS_FILE)
    assert mtrag.default_dialogs() == tmp_path / mtrag.DIALOGS_FILE
    monkeypatch.delenv("ASSISTANT_BENCHMARKS")
    # Beside this checkout, or beside the checkout it was cloned from: either way the real sets.
    assert (common.benchmarks_dir() / "clapnq_dev.jsonl").is_file()


def test_a_clean_clone_finds_the_benchmarks_beside_the_checkout_it_came_from(monkeypatch, tmp_path):
    import subprocess

    monkeypatch.delenv("ASSISTANT_BENCHMARKS", raising=False)
    (tmp_path / "work" / "shared" / "benchmarks").mkdir(parents=True)
    origin = tmp_path / "work" / "main"
    subprocess.run(["git", "init", "-q", str(origin)], check=True)
    clone = tmp_path / "ci" / "clone"
    subprocess.run(["git", "clone", "-q", str(origin), str(clone)], check=True, capture_output=True)
    assert common.benchmarks_dir(clone) == tmp_path / "work" / "shared" / "benchmarks"
    assert common.benchmarks_dir(origin) == tmp_path / "work" / "shared" / "benchmarks"
    # Neither beside it nor beside its origin: the place beside it is named (the error says so).
    lone = tmp_path / "lone" / "repo"
    lone.mkdir(parents=True)
    assert common.benchmarks_dir(lone) == tmp_path / "lone" / "shared" / "benchmarks"


def test_flat_table_names_the_setting():
    table = report.flat_table({"dataset": "X", "questions": 3, "impossible": 1, "documents": 2,
                           "setting": "in one index each",
                           "systems": {"a": {"m": 0.5, "latency_ms": {"p50": 1.0, "p95": 2.0}}}})
    assert table.splitlines()[0] == "X: 3 questions (1 unanswerable) over 2 documents in one index each"


# -- the real model on the fixtures -----------------------------------------------------------


@pytest.mark.integration
def test_run_squad_with_the_real_model(squad_dir):
    got = sq.run_squad(*sq.squad_files(squad_dir))
    project, base = got["systems"]["article-assistant"], got["systems"]["naive-langchain"]
    assert set(project) == SQUAD_KEYS | GENERATIVE_KEYS and set(base) == SQUAD_KEYS
    assert (base["abstain_on_impossible"], base["false_abstention"]) == (0.0, 0.0)
    answered = [c for c in got["cases"] if not c["impossible"] and not c["abstained"]]
    # Four plain factoid questions over two short articles: the model finds most of them.
    assert sum(c["gold_in_citation"] for c in answered) >= 3, got["cases"]
    assert project["mean_answer_chars"] < base["mean_answer_chars"]


@pytest.mark.integration
def test_run_dialog_with_the_real_model(dialog_file):
    got = mtrag.run_dialog(dialog_file)
    project = got["systems"]["article-assistant"]
    assert set(project) == DIALOG_KEYS
    first = [c for c in got["cases"] if c["turn"] == 1]
    # "Where is the Eiffel Tower?" cites the tower's passage in both conversations.
    assert all(c["grounded"] for c in first), first
    follow = [c for c in got["cases"] if c["turn"] == 2]
    assert all("Eiffel" in c["query"] for c in follow), follow
