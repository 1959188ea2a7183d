"""The generative answerer: a model phrases the quotes, and only sentences the quotes back survive."""

from __future__ import annotations

import pytest
from conftest import isolated
from fakes import CountingEmbeddings, FixedAnswerer, ScriptedChat

from assistant.answer import Answer, check_citations, make_citation
from assistant.api import Assistant
from assistant.chunking import Span
from assistant.documents import Document
from assistant.errors import ConfigError
from assistant.extractive import ExtractiveAnswerer
from assistant.generative import GenerativeAnswerer, LlamaCppChat, grounded, prompt, support
from assistant.question import parse

TPU = Document("tpu", "Google builds TPUs. TPUs are custom accelerators built for machine learning. "
                      "OpenAI uses the v4 and v5e generations.", title="TPUs")


def cite(n: int, text: str):
    start = TPU.text.index(text)
    return make_citation(n, TPU, Span(TPU.id, start, start + len(text), text), 0.9)


ACCEL = cite(1, "TPUs are custom accelerators built for machine learning.")
GENS = cite(2, "OpenAI uses the v4 and v5e generations.")


@pytest.mark.parametrize("draft", [
    "TPUs are accelerators built for machine learning. [1]",
    "TPUs are accelerators built for machine learning [1].",
    "TPUs are accelerators built for machine learning[1]",
    "TPUs are accelerators built for machine learning.",  # no marker: the best quote is found
    "TPUs are accelerators built for machine learning. [7]",  # a quote it was never given
    "TPUs are accelerators built for machine learning. [2]",  # the wrong quote
])
def test_a_sentence_is_kept_with_the_quote_that_backs_it(draft):
    kept = grounded(draft, [ACCEL, GENS])
    assert [(body.rstrip("."), cited) for body, cited in kept] == [("TPUs are accelerators built for machine learning", [1])]


@pytest.mark.parametrize(("draft", "why"), [
    ("OpenAI uses the v6 generation. [2]", "a figure the quote lacks"),
    ("OpenAI uses the v4 and v5e generations of TPUs. [2]", "an acronym the quote lacks"),
    ("Microsoft uses the v4 and v5e generations. [2]", "a name the quote lacks"),
    ("The weather was lovely and warm that summer.", "words no quote has"),
])
def test_sentences_no_quote_backs_are_dropped(draft, why):
    assert grounded(draft, [ACCEL, GENS]) == [], why


def test_each_sentence_is_judged_on_its_own():
    draft = "OpenAI uses the v4 and v5e generations [2]. It also bought 9000 GPUs [2]. TPUs are for machine learning."
    assert [n for _, n in grounded(draft, [ACCEL, GENS])] == [[2], [1]]


def test_support_is_the_share_of_content_words_in_the_quote():
    quote = "TPUs are custom accelerators built for machine learning."
    assert support("TPUs are accelerators for machine learning", quote) == 1.0
    assert 0 < support("TPUs are fast accelerators", quote) < 1
    assert support("TPUs are cheap, popular and widely sold everywhere", quote) < 0.6
    assert support("Google TPUs are accelerators", quote) == 0.0  # a name the quote lacks
    assert support("", quote) == 0.0


def test_the_prompt_gives_the_quotes_and_asks_the_question():
    messages = prompt("What are TPUs?", [ACCEL, GENS])
    assert messages[0]["role"] == "system"
    user = messages[1]["content"]
    assert ACCEL.quote in user and GENS.quote in user
    assert user.rstrip().endswith("Question: What are TPUs?")


def base_answer(*citations) -> Answer:
    text = " ".join(f"{c.quote} [{c.n}]" for c in citations)
    return Answer(text, False, list(citations), "q", "q")


def test_the_kept_sentences_are_the_answer_and_their_quotes_renumbered():
    model = ScriptedChat("OpenAI uses v4 and v5e [2]. Bananas are blue [1].")
    gen = GenerativeAnswerer(FixedAnswerer(base_answer(ACCEL, GENS)), model)
    answer = gen.answer(parse("Which TPUs?"), [], [TPU])
    assert answer.text == "OpenAI uses v4 and v5e. [1]"
    assert [(c.n, c.quote) for c in answer.citations] == [(1, GENS.quote)]
    assert answer.answerer == "generative"
    assert check_citations(answer, [TPU]) == []
    assert len(model.sent) == 1


def test_an_ungrounded_draft_falls_back_to_the_extractive_answer():
    base = base_answer(ACCEL)
    gen = GenerativeAnswerer(FixedAnswerer(base), ScriptedChat("TPUs were invented in 1850 by Edison [1]."))
    answer = gen.answer(parse("What are TPUs?"), [], [TPU])
    assert (answer.text, answer.citations) == (base.text, base.citations)
    assert check_citations(answer, [TPU]) == []


def test_an_abstention_never_reaches_the_model():
    model = ScriptedChat("Anything [1].")
    gen = GenerativeAnswerer(FixedAnswerer(Answer("The article does not say.", True, [], "q", "q")), model)
    answer = gen.answer(parse("Who is the CEO?"), [], [TPU])
    assert answer.abstained and answer.text == "The article does not say." and model.sent == []


def test_the_generative_answerer_on_a_real_extractive_one(tmp_path):
    """The extractive answerer's real citations, phrased by a scripted model."""
    with isolated(tmp_path / "home"):
        plain = Assistant.from_documents([TPU], index_dir=tmp_path / "idx", embeddings=CountingEmbeddings())
    quote = "OpenAI uses the v4 and v5e generations."
    gen = GenerativeAnswerer(ExtractiveAnswerer(plain.index, plain.index.embeddings),
                             ScriptedChat("OpenAI uses both the v4 and v5e generations [1]."))
    bot = Assistant(plain.index, plain.settings, gen)
    answer = bot.ask("Which generations does OpenAI use?")
    assert not answer.abstained and [c.quote for c in answer.citations] == [quote]
    assert answer.text == "OpenAI uses both the v4 and v5e generations. [1]"
    assert check_citations(answer, bot.documents) == []


def test_a_missing_model_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="no GGUF model at .*none.gguf"):
        LlamaCppChat(tmp_path / "none.gguf")


@pytest.mark.integration
def test_smollm2_answers_within_the_contract(article, tmp_path):
    """The real SmolLM2 through llama-cpp-python: whatever it writes, the contract holds."""
    with isolated(tmp_path / "home"):
        bot = Assistant.from_documents([article], index_dir=tmp_path / "idx", answerer="generative")
    model = bot.answerer.model
    assert isinstance(model, LlamaCppChat)
    assert model.complete(prompt("What are TPUs?", [ACCEL]), 40).strip()  # it runs and says something
    answer = bot.ask("Which TPU generations is OpenAI using?")
    assert not answer.abstained and answer.answerer == "generative"
    assert any("v4 and v5e" in c.quote for c in answer.citations), answer.text
    assert check_citations(answer, bot.documents) == []
    refusal = bot.ask("Who is OpenAI's CEO?")
    assert refusal.abstained and refusal.citations == []
