"""Overview questions and the extractive summary: the intent, the sentence choice, the answer."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ARTICLE_PATH, isolated
from fakes import CountingEmbeddings

from assistant.answer import check_citations
from assistant.api import Assistant
from assistant.chunking import Span
from assistant.documents import Document, load_file
from assistant.question import asks_for_summary, sentences_asked
from assistant.summary import (
    central_sentences,
    centrality,
    main_names,
    mentions,
    overview_prior,
    summary_candidates,
)

SUMMARY_QUESTIONS = [
    "What's this piece about?",
    "What’s this article about?",
    "What is the story about?",
    "what is it about",
    "What's it all about?",
    "What is this report mainly about?",
    "Summarize the article",
    "Summarise it for me, please.",
    "Can you summarize this in three sentences?",
    "Give me a two-sentence summary.",
    "A quick summary of the article?",
    "Sum it up",
    "Can you sum up the piece?",
    "How does the article sum the whole thing up?",
    "Give me an overview",
    "What's the gist?",
    "give me the gist of this post",
    "TL;DR?",
    "tldr",
    "What are the main points?",
    "What are the key points of the article?",
    "What are the key takeaways?",
    "The article in a nutshell?",
    "What does the article cover?",
    "What does this text say?",
    "Tell me about this article.",
]

CONTENT_QUESTIONS = [
    "What is the TPU about?",
    "What is the partnership about?",
    "What is it about TPUs that makes them fast?",
    "Summarize the advantages of TPUs",
    "Give me a summary of the security benefits.",
    "What's the gist of the TPU section?",
    "What are the key points about security?",
    "What are the key takeaways for businesses?",
    "Who are the article’s takeaways aimed at?",
    "What is a TPU, in a nutshell?",
    "How do I sum up two numbers?",
    "What does the report conclude?",
    "How does the story end?",
    "What is the headline of the article?",
    "Which TPU generations is OpenAI using?",
    "What does OpenAI say about Google?",
    "What does the deal cover?",
    "How many sentences does the article have about chips?",
]


@pytest.mark.parametrize("question", SUMMARY_QUESTIONS)
def test_overview_wording_asks_for_a_summary(question):
    assert asks_for_summary(question)


@pytest.mark.parametrize("question", CONTENT_QUESTIONS)
def test_a_topic_inside_the_document_is_not_a_summary(question):
    assert not asks_for_summary(question)


@pytest.mark.parametrize(("question", "n"), [
    ("Give me a two-sentence summary.", 2),
    ("Summarize the article in 3 sentences", 3),
    ("Sum it up in one line", 1),
    ("What are the five main points?", 5),
    ("Summarize it in two short sentences.", 2),
    ("Summarize the article", None),
    ("TL;DR?", None),
])
def test_sentences_asked(question, n):
    assert sentences_asked(question) == n


def _spans(n: int, text: str = "A plain sentence that says one thing clearly.") -> list[Span]:
    return [Span("d", 100 * i, 100 * i + len(text), text) for i in range(n)]


def _vec(*xs: float) -> np.ndarray:
    return np.array(xs, dtype=np.float32)


def test_the_most_central_sentences_win():
    # Three sentences on the document's main axis, one off on its own: the odd one is least central.
    vectors = [_vec(1, 0.1, 0), _vec(1, 0, 0.1), _vec(0, 0, 1), _vec(1, 0.05, 0.05)]
    spans = _spans(4)
    picked = central_sentences(spans, vectors, n=3, redundancy=0.0, duplicate=1.1, lead=0.0)
    assert spans[2] not in picked and len(picked) == 3


def test_a_near_duplicate_loses_to_a_sentence_that_adds_something():
    # 0 and 1 say the same thing and are the most central; 2 and 3 each add something.
    vectors = [_vec(1, 0, 0), _vec(1, 0.01, 0), _vec(0.7, 0.7, 0), _vec(0.7, 0, 0.7)]
    spans = _spans(4)
    assert central_sentences(spans, vectors, n=2, redundancy=0.0, duplicate=1.1, lead=0.0) == spans[:2]
    for picked in (central_sentences(spans, vectors, n=2, redundancy=0.0, lead=0.0),  # skipped as a restatement
                   central_sentences(spans, vectors, n=2, redundancy=0.7, duplicate=1.1, lead=0.0)):  # penalised
        assert len(picked) == 2 and not (spans[0] in picked and spans[1] in picked)
    # Nothing else left: a restatement is still better than fewer sentences than asked.
    assert len(central_sentences(spans[:2], vectors[:2], n=2)) == 2


def test_picks_come_back_in_document_order_and_n_is_respected():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(8, 16)) + 2.0  # a shared direction: every sentence is on topic
    spans = _spans(8)
    for n in (1, 2, 4, 8, 20):
        picked = central_sentences(spans, vectors, n=n)
        assert len(picked) == min(n, 8)
        assert [s.start for s in picked] == sorted(s.start for s in picked)
    assert central_sentences(spans, vectors, n=0) == []
    assert central_sentences([], np.zeros((0, 16)), n=3) == []
    with pytest.raises(ValueError, match="one vector per sentence"):
        central_sentences(spans, vectors[:3])


def test_a_sentence_leaning_on_the_one_before_is_penalised():
    # Same vectors: only the wording differs, and "Furthermore, it…" needs the sentence before it.
    plain = Span("d", 0, 40, "The alliance joins research and compute.")
    leaning = Span("d", 100, 140, "Furthermore, it underscores collaboration.")
    picked = central_sentences([leaning, plain], [_vec(1, 0), _vec(1, 0)], n=1, lead=0.0)
    assert picked == [plain]


DOC = Document("d", """Chips for Models

Acme Cloud will rent its custom chips to the Lab for training large models.
The deal gives the Lab faster training and lower energy use on Acme Cloud chips.

Why It Matters

- Speed: Acme chips train large models much faster than general processors do.
- Cost: energy use per model falls sharply.
- Note:

The Lab says the deal with Acme Cloud helps it train models at a larger scale.
Source: https://example.com/chips
""", title="Chips for Models", source="https://example.com/chips")


def test_summary_candidates_are_body_sentences_that_stand_alone():
    from assistant.chunking import sentences

    texts = [s.text for s in summary_candidates(DOC, sentences(DOC))]
    assert not any(t in ("Chips for Models", "Why It Matters") or t.startswith("Source:") for t in texts)
    assert not any(t.strip("-* ") == "Note:" for t in texts)  # a list label alone
    assert any("rent its custom chips" in t for t in texts)
    assert any(t.startswith("Speed:") or "Speed:" in t for t in texts)


@pytest.fixture(scope="module")
def chips_bot(tmp_path_factory) -> Assistant:
    with isolated(tmp_path_factory.mktemp("home")):
        return Assistant.from_documents([DOC], index_dir=tmp_path_factory.mktemp("idx"), embeddings=CountingEmbeddings())


@pytest.mark.parametrize("question", ["What's this piece about?", "Summarize the article", "TL;DR",
                                      "Give me a two-sentence summary.", "What are the key takeaways?"])
def test_a_summary_cites_central_sentences_and_never_abstains(chips_bot, question):
    answer = chips_bot.ask(question)
    assert not answer.abstained
    assert check_citations(answer, chips_bot.documents) == []
    assert 2 <= len(answer.citations) <= 4
    assert len(answer.citations) == (sentences_asked(question) or len(answer.citations))
    body = {(s.start, s.end) for s in summary_candidates(DOC, chips_bot.index.spans("d").sentences)}
    assert all((c.start, c.end) in body for c in answer.citations)
    assert [c.start for c in answer.citations] == sorted(c.start for c in answer.citations)


def test_a_summary_asked_as_a_follow_up_still_summarises(chips_bot):
    first = chips_bot.ask("What will Acme Cloud rent to the Lab?")
    answer = chips_bot.ask("What's it about?", history=[("What will Acme Cloud rent to the Lab?", first.text)])
    assert not answer.abstained and 2 <= len(answer.citations) <= 4
    assert check_citations(answer, chips_bot.documents) == []


def test_a_content_question_is_still_answered_by_the_ranker(chips_bot):
    answer = chips_bot.ask("What will Acme Cloud rent to the Lab?")
    assert len(answer.citations) < 4 and "custom chips" in answer.text


@pytest.mark.integration
@pytest.mark.parametrize("question", ["What's this piece about?", "Give me a TL;DR"])
def test_the_real_article_summary(real_bot, question):
    article = load_file(ARTICLE_PATH)
    answer = real_bot.ask(question)
    assert not answer.abstained
    assert check_citations(answer, real_bot.documents) == []
    assert 2 <= len(answer.citations) <= 4
    title = next(b for b in article.blocks if b.kind == "title")
    assert all(not (title.start <= c.start < title.end) for c in answer.citations)
    assert all(c.quote.strip() != article.title for c in answer.citations)


# -- the main actors -----------------------------------------------------------------------------

DEAL = Document("deal", """Acme Buys Zenith Labs

Acme agreed on Monday to buy Zenith Labs, the battery maker, for two billion dollars.
Battery storage is becoming a central part of the energy transition.
Demand for battery storage keeps growing as more energy comes from the sun and wind.
Cheaper battery storage makes the energy grid more flexible and more reliable.
Analysts expect battery storage costs to keep falling over the next decade.
The energy transition depends on storage that is cheap, safe and long lasting.
Grid operators say battery storage helps them balance supply and demand on the energy grid.
""", title="Acme Buys Zenith Labs")


def _body(doc: Document) -> list[Span]:
    from assistant.chunking import sentences

    return summary_candidates(doc, sentences(doc))


def test_main_names_are_the_words_always_capitalised():
    # "Acme" opens the lead and is still a name: it is never written in lower case; "Buys",
    # "Battery", "Grid" are capitalised in the title or at a sentence's start only.
    assert main_names(DEAL, _body(DEAL)) == ["Acme", "Zenith", "Labs"]
    article = load_file(ARTICLE_PATH)
    names = main_names(article, _body(article))
    assert {"OpenAI", "Google"} <= set(names) and "Powering" not in names and "The" not in names
    assert mentions("Acme will buy Zenith Labs.", ["Acme", "Zenith", "Labs", "Monday"]) == 0.75
    assert mentions("Anything at all.", []) == 0.0


def test_the_overview_prior_counts_names_and_position_in_spreads_of_centrality():
    body = _body(DEAL)
    central = np.array([0.5, 0.6, 0.7, 0.6, 0.5, 0.6, 0.7], dtype=np.float32)
    prior = overview_prior(DEAL, body, central)
    spread = float(np.std(central))
    # The lead names all three actors and opens the document; the rest name none.
    assert prior[0] == pytest.approx(2 * spread)
    assert prior[1:] == pytest.approx([spread / (1 + i) for i in range(1, len(body))])
    assert len(overview_prior(DEAL, [], np.zeros(0))) == 0


def test_a_prior_lifts_a_slightly_less_central_sentence():
    # 0 and 1 sit on the centroid; 2 is a little off it, and names every actor.
    vectors = [_vec(1, 0.05, 0), _vec(1, 0, 0.05), _vec(1, 0.3, 0), _vec(0.3, 0, 1)]
    spans = _spans(4)
    assert spans[2] not in central_sentences(spans, vectors, n=1, lead=0.0)
    spread = float(np.std(centrality(vectors)))
    assert central_sentences(spans, vectors, n=1, lead=0.0, prior=[0, 0, spread, 0]) == [spans[2]]
    with pytest.raises(ValueError, match="one prior per sentence"):
        central_sentences(spans, vectors, prior=[0.0, 1.0])


@pytest.fixture(scope="module")
def deal_bot(tmp_path_factory) -> Assistant:
    with isolated(tmp_path_factory.mktemp("home")):
        return Assistant.from_documents([DEAL], index_dir=tmp_path_factory.mktemp("idx"), embeddings=CountingEmbeddings())


def test_an_article_naming_its_actors_only_in_the_lead_gets_the_lead_quoted(deal_bot):
    lead = _body(DEAL)[0]
    assert lead.text.startswith("Acme agreed")
    # Centrality (with the old linear lead prior) prefers the battery-storage generalities every
    # sentence echoes.
    vectors = deal_bot.index.sentence_vectors(_body(DEAL))
    before = central_sentences(_body(DEAL), [vectors[s.id] for s in _body(DEAL)])
    assert lead.start not in {s.start for s in before}
    answer = deal_bot.ask("What's this piece about?")
    assert answer.citations[0].quote == lead.text and "Zenith Labs" in answer.text
    assert check_citations(answer, deal_bot.documents) == []


@pytest.fixture(scope="module")
def article_bot(tmp_path_factory) -> Assistant:
    with isolated(tmp_path_factory.mktemp("home")):
        return Assistant.from_documents([load_file(ARTICLE_PATH)], index_dir=tmp_path_factory.mktemp("idx"),
                                        embeddings=CountingEmbeddings())


@pytest.mark.parametrize("question", ["What is the article about?", "Summarize it"])
def test_the_articles_overview_names_openai_and_google(article_bot, question):
    answer = article_bot.ask(question)
    assert not answer.abstained and "OpenAI" in answer.text and "Google" in answer.text
    assert check_citations(answer, article_bot.documents) == []


@pytest.mark.integration
def test_the_real_article_overview_quotes_the_lead_naming_both_companies(real_bot):
    article = real_bot.documents[0]
    lead = next(b for b in article.blocks if b.kind == "paragraph")
    answer = real_bot.ask("What is the article about?")
    first = answer.citations[0]
    assert lead.start <= first.start < lead.end
    assert "OpenAI" in first.quote and "Google" in first.quote
