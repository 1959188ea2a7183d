"""Answerers: one citation contract for all of them, plus abstention and the answer types."""

from __future__ import annotations

import json
import re
from dataclasses import fields, replace

import pytest
from conftest import isolated
from fakes import CountingEmbeddings

from assistant.answer import (
    Answer,
    Citation,
    abstention_text,
    check_citations,
    make_citation,
)
from assistant.api import Assistant
from assistant.chunking import Span
from assistant.documents import Document
from assistant.extractive import ExtractiveAnswerer, Params
from assistant.question import parse

CATS = Document("cats", """Cat Care Basics

Cats sleep for sixteen hours every day. Domestic cats hunt mice at dawn and dusk.
A cat grooms its fur with a rough tongue covered in tiny hooks.
Kittens open their eyes about one week after birth.

Feeding

- Adult cats need two meals a day.
- Fresh water should always be available.
""", title="Cat Care Basics", source="https://cats.example/care", metadata={"outlet": "Cat Gazette"})
BIRDS = Document("birds", """Garden Birds

Robins sing loudly at sunrise to defend their territory. Sparrows nest under roof tiles.
Blue tits feed caterpillars to their chicks in spring.
""", title="Garden Birds")
DOCS = [CATS, BIRDS]

ANSWERED = [
    ("How many hours do cats sleep every day?", "sixteen hours"),
    ("When do domestic cats hunt mice?", "dawn and dusk"),
    ("What do blue tits feed their chicks?", "caterpillars"),
    ("When do kittens open their eyes?", "one week after birth"),
    ("How many meals do adult cats need?", "two meals"),
    ("Why do robins sing at sunrise?", "defend their territory"),
]
UNRELATED = [
    "What is quantum chromodynamics?",
    "What is the gluon mass in quantum chromodynamics?",
    "Who won the 1998 football world cup?",
]

# Every answerer name make_answerer knows; a new answerer joins the contract by being listed.
# The generative one runs the real SmolLM2 (the `llm` extra), so it counts as an integration test.
ANSWERERS = ["extractive", pytest.param("generative", marks=pytest.mark.integration)]


@pytest.fixture(scope="module", params=ANSWERERS)
def bot(request, tmp_path_factory) -> Assistant:
    with isolated(tmp_path_factory.mktemp("home")):
        return Assistant.from_documents(DOCS, index_dir=tmp_path_factory.mktemp("idx"),
                                        embeddings=CountingEmbeddings(), answerer=request.param)


def assert_contract(answer: Answer, docs: list[Document]) -> None:
    """The contract every answerer must satisfy, written out independently of check_citations."""
    by_id = {d.id: d for d in docs}
    for c in answer.citations:
        assert by_id[c.doc_id].text[c.start : c.end] == c.quote
    markers = {int(m) for m in re.findall(r"\[(\d+)\]", answer.text)}
    assert markers <= {c.n for c in answer.citations}
    assert {c.n for c in answer.citations} <= markers
    assert answer.abstained == (not answer.citations)
    assert check_citations(answer, docs) == []


@pytest.mark.parametrize(("question", "fact"), ANSWERED)
def test_answers_cite_exact_spans(bot, question, fact):
    answer = bot.ask(question)
    assert not answer.abstained, answer.text
    assert_contract(answer, bot.documents)
    assert any(fact in c.quote for c in answer.citations), answer.text
    assert answer.question == question
    # A model's answer names its backend ("llamacpp:smollm2"), the extractive one "extractive".
    assert answer.answerer == bot.answerer.name


@pytest.mark.parametrize("question", UNRELATED)
def test_abstains_on_unrelated_questions(bot, question):
    answer = bot.ask(question)
    assert answer.abstained, answer.text
    assert answer.citations == []
    assert answer.text == abstention_text(question, 2)
    assert_contract(answer, bot.documents)


def test_a_name_no_document_mentions_is_refused_by_name(bot):
    answer = bot.ask("How did Microsoft react to the advice on feeding cats?")
    assert answer.abstained, answer.text
    assert answer.text == abstention_text("", 2, ["Microsoft"])
    assert_contract(answer, bot.documents)
    # Names the documents do mention, even with a slip, leave the question to the gate.
    known = getattr(bot.answerer, "extractive", bot.answerer).unknown_names
    assert known(parse("What does Cat Care Basics say about feeding Kitens?"), bot.documents) == []
    assert known(parse("Do Robins or Sparrows sing at Dawn?"), bot.documents) == []
    assert known(parse("Do Robins or Parrots sing at Dawn?"), bot.documents) == ["Parrots"]


def test_citation_provenance(bot):
    answer = bot.ask("How many meals do adult cats need?")
    c = next(c for c in answer.citations if "two meals" in c.quote)
    assert (c.doc_id, c.title, c.source, c.outlet) == (
        "cats", "Cat Care Basics", "https://cats.example/care", "Cat Gazette")
    assert c.section == "Feeding"
    assert c.paragraph == CATS.block_at(c.start).number
    assert c.label() == f"“Cat Care Basics”, Cat Gazette, ¶ {c.paragraph}"
    assert not c.quote.startswith("-")


def test_footnote_numbers_in_quotes_are_not_markers(tmp_path):
    wiki = Document("wiki", "Cat\n\nCats sleep for sixteen hours every day.[7] Domestic cats hunt "
                    "mice at dawn and dusk.[8]\n", title="Cat")
    bot = Assistant.from_documents([wiki], index_dir=tmp_path / "idx", embeddings=CountingEmbeddings())
    answer = bot.ask("How many hours do cats sleep every day?")
    assert not answer.abstained
    assert check_citations(answer, bot.documents) == []


def test_idf_follows_same_length_edits(tmp_path):
    doc = Document("cats", "Cats\n\nCats sleep for sixteen hours every day. Domestic cats hunt mice at dawn.\n")
    bot = Assistant.from_documents([doc], index_dir=tmp_path / "idx", embeddings=CountingEmbeddings())
    bot.ask("When do cats hunt mice?")
    edited = Document("cats", doc.text.replace("mice", "rats"))
    assert len(edited.text) == len(doc.text)
    bot.ingest(documents=[edited])
    idf = bot.answerer.idf(bot.documents)
    assert "rat" in idf and "mice" not in idf


# -- check_citations catches broken answers ---------------------------------------------
def good_citation(n: int = 1) -> Citation:
    start = CATS.text.index("Cats sleep")
    end = CATS.text.index("day.") + len("day.")
    return Citation(n, "cats", start, end, CATS.text[start:end], 0.9, title=CATS.title)


BROKEN = {
    "wrong quote": (Answer("Cats sleep. [1]", False, [replace(good_citation(), quote="Cats nap.")], "q"),
                    "quote is not document.text"),
    "offsets out of range": (Answer("x [1]", False, [replace(good_citation(), end=10**6)], "q"),
                             "quote is not document.text"),
    "unknown document": (Answer("x [1]", False, [replace(good_citation(), doc_id="nope")], "q"),
                         "unknown document 'nope'"),
    "marker without citation": (Answer("Cats sleep. [1] [2]", False, [good_citation()], "q"),
                                "markers without citations: [2]"),
    "citation never marked": (Answer("Cats sleep.", False, [good_citation()], "q"),
                              "never marked"),
    "bad numbering": (Answer("Cats sleep. [2]", False, [good_citation(2)], "q"),
                      "not numbered 1..n"),
    "abstention with citations": (Answer("The article does not say. [1]", True, [good_citation()], "q"),
                                  "abstention carries citations"),
    "answer without citations": (Answer("Cats sleep a lot.", False, [], "q"), "without a single citation"),
}


@pytest.mark.parametrize("case", BROKEN, ids=list(BROKEN))
def test_check_citations_catches_broken_answers(case):
    answer, needle = BROKEN[case]
    problems = check_citations(answer, DOCS)
    assert any(needle in p for p in problems), problems


def test_check_citations_accepts_a_hand_built_good_answer():
    assert check_citations(Answer("Cats sleep. [1]", False, [good_citation()], "q"), DOCS) == []
    assert check_citations(Answer(abstention_text("q", 1), True, [], "q"), DOCS) == []


# -- the abstention threshold ---------------------------------------------------------
def test_a_threshold_above_any_support_always_abstains(tmp_path):
    base = Assistant.from_documents(DOCS, index_dir=tmp_path / "idx", embeddings=CountingEmbeddings())
    strict = ExtractiveAnswerer(base.index, base.index.embeddings, Params(threshold=1e9))
    bot = Assistant(base.index, base.settings, answerer=strict)
    for question, _ in ANSWERED:
        answer = bot.ask(question)
        assert answer.abstained and answer.citations == []
        assert check_citations(answer, bot.documents) == []


def test_the_answerer_has_no_candidates_without_passages(tmp_path):
    bot = Assistant.from_documents(DOCS, index_dir=tmp_path / "idx", embeddings=CountingEmbeddings())
    answer = bot.answerer.answer(parse("How long do cats sleep?"), [], DOCS)
    assert answer.abstained and answer.citations == []


# -- the small types -------------------------------------------------------------------
def test_params_load_reads_json(tmp_path):
    path = tmp_path / "calibration.json"
    path.write_text(json.dumps({"params": {"threshold": 0.61, "margin": 0.02, "unknown": 1},
                                "fitted_on": "x"}), encoding="utf-8")
    p = Params.load(path)
    assert (p.threshold, p.margin) == (0.61, 0.02)
    for f in fields(Params):  # unspecified fields keep their defaults
        if f.name not in ("threshold", "margin"):
            assert getattr(p, f.name) == getattr(Params(), f.name)


def test_params_load_defaults_when_absent(tmp_path):
    assert Params.load(tmp_path / "missing.json") == Params()


def test_answer_to_dict_is_json(bot):
    answer = bot.ask("When do kittens open their eyes?")
    data = json.loads(json.dumps(answer.to_dict()))
    assert data["question"] == "When do kittens open their eyes?"
    assert data["abstained"] is False
    assert data["citations"][0]["quote"] == answer.citations[0].quote
    assert {"start", "end", "doc_id", "n", "paragraph", "section"} <= set(data["citations"][0])
    assert len(data["passages"]) == len(answer.passages) > 0
    # A model's answer also times its first verified sentence.
    assert set(data["timings"]) - {"first_sentence"} == {"rewrite", "retrieve", "answer", "total"}


@pytest.mark.parametrize(
    ("citation", "label"),
    [
        (Citation(1, "d", 0, 1, "x", 1.0, title="T", outlet="O", paragraph=3), "“T”, O, ¶ 3"),
        (Citation(1, "d", 0, 1, "x", 1.0, title="T"), "“T”"),
        (Citation(1, "doc-7", 0, 1, "x", 1.0, paragraph=2), "doc-7, ¶ 2"),
        (Citation(1, "d", 0, 1, "x", 1.0, title="T", paragraph=None, outlet="O"), "“T”, O"),
    ],
)
def test_citation_label(citation, label):
    assert citation.label() == label


def test_make_citation_of_the_article(article):
    start = article.text.index("By utilizing Google’s v4")
    end = article.text.index("than ever before.") + len("than ever before.")
    c = make_citation(2, article, Span(article.id, start, end, article.text[start:end]), 0.87654)
    assert c.quote == article.text[start:end]
    assert (c.n, c.paragraph, c.score, c.outlet) == (2, 10, 0.8765, "datacenters.com")
    assert c.section == "The Power of Google’s Tensor Processing Units (TPUs)"
    assert c.label() == f"“{article.title}”, datacenters.com, ¶ 10"


def test_abstention_text():
    assert abstention_text("Who  is\nthe CEO?", 1) == (
        "The article does not say. None of its passages answers “Who is the CEO?”.")
    assert abstention_text("q", 3).startswith("The documents do not say.")
    assert abstention_text("Who is the CEO?", 1, ["CEO"]) == "The article does not say. It never mentions “CEO”."
    assert abstention_text("q", 3, ["AWS", "Azure"]) == "The documents do not say. They never mention “AWS”, “Azure”."


def test_params_fitted_for_another_model_fall_back_to_the_defaults(tmp_path):
    path = tmp_path / "calibration.json"
    path.write_text(json.dumps({"model": "st:model", "params": {"threshold": 0.61}}), encoding="utf-8")
    assert Params.load(path, model="st:model").threshold == 0.61
    assert Params.load(path, model="hashing:256") == Params()
    assert Params.load(path).threshold == 0.61  # no model named: take the file as it is


def test_the_shipped_calibration_names_the_packaged_model():
    from assistant.extractive import CALIBRATION_FILE

    assert json.loads(CALIBRATION_FILE.read_text(encoding="utf-8"))["model"] == "st:model"


def test_the_threshold_moves_with_the_setting():
    p = Params(threshold=0.5, threshold_shift={"many": 0.1, "whole": -0.2})
    assert p.cutoff({"many": 0.0, "whole": 0.0}) == pytest.approx(0.5)
    assert p.cutoff({"many": 1.0, "whole": 0.0}) == pytest.approx(0.6)
    assert p.cutoff({"many": 0.5, "whole": 1.0}) == pytest.approx(0.35)


# -- lists are read as units -----------------------------------------------------------
TIPS = Document("tips", """Keeping Cats Healthy

Vets give owners several tips for a healthy cat:

- Brush the coat weekly.
- Weigh the cat every month.
- Book a check-up each year.

Cats also enjoy climbing.
""", title="Keeping Cats Healthy")


@pytest.fixture(scope="module")
def tips_bot(tmp_path_factory) -> Assistant:
    return Assistant.from_documents([TIPS], index_dir=tmp_path_factory.mktemp("tips"), embeddings=CountingEmbeddings())


def _sentence(bot: Assistant, text: str) -> Span:
    return next(s for s in bot.index.spans("tips").sentences if text in s.text)


def _quotes(bot: Assistant, spans: list[Span]) -> list[str]:
    return [TIPS.text[s.start : s.end] for s in spans]


ITEMS = ["Brush the coat weekly.", "Weigh the cat every month.", "Book a check-up each year."]


def test_a_lead_in_ending_in_a_colon_is_quoted_as_its_list_when_several_things_are_asked(tips_bot):
    lead_in = _sentence(tips_bot, "several tips")
    assert _quotes(tips_bot, tips_bot.answerer.quoted(lead_in, parse("What tips do vets have?"))) == ITEMS
    # "Who gives the tips?" is answered by the lead-in itself.
    assert _quotes(tips_bot, tips_bot.answerer.quoted(lead_in, parse("Who gives owners tips?"))) == [
        "Vets give owners several tips for a healthy cat:"]


def test_an_item_brings_its_list_only_when_the_question_asks_for_several_things(tips_bot):
    item = _sentence(tips_bot, "Weigh the cat")
    assert _quotes(tips_bot, tips_bot.answerer.quoted(item, parse("What tips do vets give?"))) == ITEMS
    assert _quotes(tips_bot, tips_bot.answerer.quoted(item, parse("How often should the cat be weighed?"))) == ITEMS[1:2]


def test_a_plain_sentence_is_quoted_alone(tips_bot):
    plain = _sentence(tips_bot, "climbing")
    assert _quotes(tips_bot, tips_bot.answerer.quoted(plain, parse("What tips do vets give?"))) == ["Cats also enjoy climbing."]


def test_a_list_answer_cites_every_item(tips_bot):
    answer = tips_bot.ask("What tips do vets give owners for a healthy cat?")
    assert not answer.abstained, answer.text
    assert check_citations(answer, tips_bot.documents) == []
    assert [c.quote for c in answer.citations] == ITEMS


def test_a_question_about_the_document_itself_cites_its_title(bot):
    answer = bot.ask("What is the headline of the article about cats sleeping?")
    assert not answer.abstained, answer.text
    assert [c.quote for c in answer.citations] == ["Cat Care Basics"]
    assert check_citations(answer, bot.documents) == []


@pytest.mark.parametrize(("question", "quote"), [
    ("Where did this article come from?", "Source: https://news.example/chips"),
    ("How does the article wrap it all up?", "In short, chips keep getting faster."),
])
def test_a_question_about_the_document_cites_its_source_line_or_last_paragraph(tmp_path, question, quote):
    doc = Document("news", "Chips Get Faster\n\nThe new chip runs twice as fast. It costs less.\n\n"
                   "Makers plan a third chip next year.\n\nIn short, chips keep getting faster. Prices fall.\n\n"
                   "Source: https://news.example/chips\n", title="Chips Get Faster")
    bot = Assistant.from_documents([doc], index_dir=tmp_path / "idx", embeddings=CountingEmbeddings())
    answer = bot.ask(question)
    assert [c.quote for c in answer.citations] == [quote], answer.text


CHIPS = Document("chips", """Chips

Custom accelerators are optimized for matrix math. This specialization brings advantages:

- Superior Efficiency: They use little power per operation.
- Fast Training: Models train in days, not weeks.

It was a good year for chip makers.
""", title="Chips")


@pytest.fixture(scope="module")
def chips_bot(tmp_path_factory) -> Assistant:
    return Assistant.from_documents([CHIPS], index_dir=tmp_path_factory.mktemp("chips"), embeddings=CountingEmbeddings())


def _chip(bot: Assistant, text: str) -> Span:
    return next(s for s in bot.index.spans("chips").sentences if text in s.text)


def test_a_pronoun_led_item_leans_on_the_lead_in_and_the_sentence_it_leans_on(chips_bot):
    referent = chips_bot.answerer.referent(_chip(chips_bot, "They use little power"))
    assert referent is not None
    assert referent.text == "Custom accelerators are optimized for matrix math. This specialization brings advantages:"
    assert referent.text == CHIPS.text[referent.start : referent.end]


def test_a_sentence_naming_its_subject_leans_on_nothing(chips_bot):
    assert chips_bot.answerer.referent(_chip(chips_bot, "Models train in days")) is None
    assert chips_bot.answerer.referent(_chip(chips_bot, "Custom accelerators")) is None


def test_a_pronoun_led_paragraph_leans_on_the_sentence_before(chips_bot):
    referent = chips_bot.answerer.referent(_chip(chips_bot, "good year"))
    assert referent is not None and referent.text == "Fast Training: Models train in days, not weeks."


def test_a_pronoun_led_sentence_is_matched_with_what_it_leans_on(chips_bot):
    # "accelerators" is only in the lead-in's paragraph: without it the item cannot cover the question.
    question = "Why are the accelerators efficient?"
    cands = chips_bot.answerer.candidates(parse(question), chips_bot.retrieve(question, k=5),
                                          chips_bot.documents)
    efficiency = next(c for c in cands if "little power" in c.span.text)
    training = next(c for c in cands if "Models train" in c.span.text)
    assert efficiency.features["soft_question"] > training.features["soft_question"]
    assert efficiency.features["soft_question"] == pytest.approx(1.0, abs=1e-3)  # every question word found
    # The gate still judges the sentence alone.
    assert efficiency.features["soft_own"] < efficiency.features["soft_question"]
