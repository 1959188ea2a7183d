"""The quality bar on the real article with the real MiniLM model.

Questions are phrased in our own words, not copied from the article: some cited span must
hold the fact (or one of the listed alternatives, where two passages answer). Questions the article does not answer must abstain. These define "good enough".
"""

from __future__ import annotations

import numpy as np
import pytest
from fakes import counting_subclass

from assistant.answer import Answer, check_citations
from assistant.api import Assistant
from assistant.embeddings import SentenceTransformerEmbeddings, minilm_path, model_id

pytestmark = pytest.mark.integration

ANSWERABLE = [
    ("Which TPU generations is OpenAI using?", "v4 and v5e"),
    ("Which generations of Google's chips will OpenAI train on?", "v4 and v5e"),
    ("What kind of math are TPUs built to speed up?", "matrix calculations"),
    ("Which cloud platform is OpenAI using?", "Google Cloud Platform"),
    ("Why are TPUs considered energy efficient?", "performance per watt"),
    ("What does the abbreviation TPU stand for?", "Tensor Processing Units"),
    ("Which well-known products come from OpenAI?", "ChatGPT and DALL-E"),
    ("What sort of workloads were TPUs custom-designed for?", "machine learning workloads"),
    ("How has Google Cloud arranged its TPUs to reach huge scale?", "supercomputers"),
    # Two passages answer this one; either is a correct citation.
    ("What can OpenAI's researchers concentrate on thanks to the deal?",
     ("pushing the frontiers of AI", "expertise in AI research")),
    ("What does the partnership aim to prevent from slowing discovery down?", "computational bottlenecks"),
    ("Can ordinary off-the-shelf hardware keep up with frontier AI models?", "surpassed the capabilities"),
    ("How do TPUs affect the time needed to train big models?", "reducing the time it takes to train"),
    ("How does Google protect sensitive data and intellectual property?", "secure-by-design"),
    ("What lesson does the article draw about cloud infrastructure?", "Infrastructure is Not a Commodity"),
]

UNANSWERABLE = [
    "Who is OpenAI's CEO?",
    "How much is the deal worth?",
    "When was the agreement signed?",
    "How many TPUs will OpenAI get?",
    "Does OpenAI also buy Nvidia GPUs?",
    "What was Alphabet's revenue last quarter?",
]


def show(answer: Answer) -> str:
    """The answer as a failure message: what was said and what was cited."""
    cites = "\n".join(f"  [{c.n}] ({c.score}) {c.quote}" for c in answer.citations)
    return f"\nquery: {answer.query}\nabstained: {answer.abstained}\ntext: {answer.text}\n{cites}"


# The bar: the issue asks for at least 12 of 15 answerable questions citing their fact and 4 of 6
# silent ones abstaining. Measured 2026-12-03 with the general fit (scripts/calibrate.py, which
# never saw these questions): 15 of 15 and 4 of 6 ("When was the agreement signed?" and one more
# are answered with the nearest sentence). The 2026-11-29 fit reached 13 and 5, in-sample.
MIN_CITED = 13
MIN_ABSTAINED = 4


@pytest.fixture(scope="module")
def answers(real_bot):
    return {q: real_bot.ask(q) for q in [q for q, _ in ANSWERABLE] + UNANSWERABLE}


@pytest.mark.parametrize("question", [q for q, _ in ANSWERABLE] + UNANSWERABLE)
def test_every_answer_keeps_the_citation_contract(real_bot, answers, question):
    answer = answers[question]
    assert check_citations(answer, real_bot.documents) == [], show(answer)
    assert answer.abstained == (answer.citations == []), show(answer)


def test_answerable_questions_cite_their_fact(answers):
    cited, missed = [], []
    for question, fact in ANSWERABLE:
        facts = (fact,) if isinstance(fact, str) else fact
        answer = answers[question]
        ok = not answer.abstained and any(f in c.quote for c in answer.citations for f in facts)
        (cited if ok else missed).append(f"{question}{show(answer)}")
    assert len(cited) >= MIN_CITED, f"{len(cited)}/{len(ANSWERABLE)} cite their fact; missed:\n" + "\n".join(missed)


def test_silent_questions_abstain(answers):
    answered = [f"{q}{show(answers[q])}" for q in UNANSWERABLE if not answers[q].abstained]
    assert len(UNANSWERABLE) - len(answered) >= MIN_ABSTAINED, "answered:\n" + "\n".join(answered)


def test_the_readme_examples(answers):
    """The two examples the README and the issue show must hold exactly."""
    tpus = answers["Which TPU generations is OpenAI using?"]
    assert not tpus.abstained and any("v4 and v5e" in c.quote for c in tpus.citations), show(tpus)
    ceo = answers["Who is OpenAI's CEO?"]
    assert ceo.abstained and ceo.text.startswith("The article does not say"), show(ceo)


def test_follow_up_conversation(real_bot):
    history: list[tuple[str, str]] = []
    first = real_bot.ask("What are Google's TPUs?", history=history)
    assert check_citations(first, real_bot.documents) == [], show(first)
    assert any("Tensor Processing Units" in c.quote for c in first.citations), show(first)
    history.append(("What are Google's TPUs?", first.text))

    second = real_bot.ask("What are they optimized for?", history=history)
    assert "TPUs" in second.query, second.query  # the follow-up was made self-contained
    assert check_citations(second, real_bot.documents) == [], show(second)
    assert any("matrix calculations" in c.quote for c in second.citations), show(second)
    history.append(("What are they optimized for?", second.text))

    third = real_bot.ask("And which generations is OpenAI using?", history=history)
    assert check_citations(third, real_bot.documents) == [], show(third)
    assert any("v4 and v5e" in c.quote for c in third.citations), show(third)


def test_retrieval_finds_the_v4_v5e_paragraph(real_bot):
    passages = real_bot.retrieve("Which TPU generations is OpenAI using?", k=3)
    assert any("v4 and v5e" in p.text for p in passages)


def test_reingesting_the_article_embeds_nothing(tmp_path, article):
    counting = counting_subclass(SentenceTransformerEmbeddings)
    first = counting(minilm_path())
    assert model_id(first) == model_id(SentenceTransformerEmbeddings(minilm_path()))
    bot = Assistant.from_documents([article], index_dir=tmp_path / "idx", embeddings=first)
    assert first.calls > 0
    assert len(first.texts) == sum(bot.index.counts().values())

    second = counting(minilm_path())
    again = Assistant.from_documents([article], index_dir=tmp_path / "idx", embeddings=second)
    report = again.ingest(documents=[article])
    assert second.calls == 0 and second.texts == []
    assert report.embedded == 0 and report.reused == sum(again.index.counts().values())


def test_query_vector_and_token_vectors_come_from_one_forward_pass(real_bot):
    emb = real_bot.index.embeddings
    text = "How do TPUs compare with ordinary hardware for one forward pass?"
    query = np.asarray(emb.embed_query(text))
    assert np.allclose(query, np.asarray(emb.embed_documents([text])[0]), atol=1e-5)
    (tokens,) = emb.embed_tokens([text])  # already cached by embed_query
    assert tokens.tokens[0] == "[CLS]" and tokens.vectors.shape == (len(tokens.tokens), len(query))
    assert np.allclose(np.linalg.norm(tokens.vectors, axis=1), 1.0, atol=1e-5)


def test_the_token_cache_drops_the_oldest_texts_beyond_its_budget(real_bot, monkeypatch):
    import assistant.embeddings as embeddings

    emb = real_bot.index.embeddings.without_cache()  # same model, an empty cache of its own
    a, b, c = "TPUs are fast.", "Google builds TPUs.", "OpenAI trains models."
    (ta,), (tb,) = emb.embed_tokens([a]), emb.embed_tokens([b])
    monkeypatch.setattr(embeddings, "_TOKEN_ROWS", len(ta.tokens) + len(tb.tokens))
    assert emb.embed_tokens([b, c])[0] is tb  # b was cached; c pushes the oldest (a) out
    assert list(emb._token_cache) == [b, c]
    assert emb._token_rows == sum(len(t.tokens) for t in emb._token_cache.values())
    assert emb.embed_tokens([a])[0].tokens == ta.tokens  # recomputed the same
