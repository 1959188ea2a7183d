"""Sentence-level verification: markers parsed, each sentence judged against the spans it cites."""

from __future__ import annotations

import pytest
from fakes import CountingEmbeddings

from assistant.api import Assistant
from assistant.markers import draft_numbers
from assistant.verify import Drafted, Source, Verifier, figures, names, split_draft


@pytest.mark.parametrize(("inside", "numbers"), [
    ("1", [1]), ("1, 3", [1, 3]), ("2-4", [2, 3, 4]), ("2 – 4", [2, 3, 4]), ("1 and 2", [1, 2]),
    ("3, 1, 3", [3, 1]), ("1-400", []),  # a range that long is no citation
])
def test_draft_numbers(inside, numbers):
    assert draft_numbers(inside) == numbers


@pytest.mark.parametrize(("draft", "expected"), [
    ("TPUs are fast. [1]", [("TPUs are fast.", (1,))]),
    ("TPUs are fast [1].", [("TPUs are fast.", (1,))]),
    ("TPUs are fast[1][2]", [("TPUs are fast", (1, 2))]),
    ("TPUs are fast [1, 3]. Google sells them [2-4].", [("TPUs are fast.", (1, 3)), ("Google sells them.", (2, 3, 4))]),
    ("- **Speed** [1]\n- Scale [2]", [("Speed", (1,)), ("Scale", (2,))]),
    ("No marker at all.", [("No marker at all.", ())]),
    ("[1]", []),  # a marker alone says nothing
])
def test_a_finished_draft_splits_into_cited_sentences(draft, expected):
    sentences, rest = split_draft(draft, final=True)
    assert [(d.text, d.cited) for d in sentences] == expected and rest == ""


def test_a_streamed_sentence_waits_for_the_marker_that_may_follow_it():
    done, rest = split_draft("TPUs are fast. ")
    assert done == []  # "[1]" may still come
    done, rest = split_draft(rest + "[1")
    assert done == []
    done, rest = split_draft(rest + "] Google sells")
    assert done == [Drafted("TPUs are fast.", (1,))] and rest == "Google sells"


@pytest.mark.parametrize("chunk", [1, 2, 3, 7])
def test_streaming_in_any_pieces_gives_the_sentences_of_the_whole(chunk):
    draft = "OpenAI uses TPUs [1]. Google builds them. [2] They are fast [1, 2].\nDone."
    buffer, got = "", []
    for i in range(0, len(draft), chunk):
        done, buffer = split_draft(buffer + draft[i : i + chunk])
        got += done
    got += split_draft(buffer, final=True)[0]
    assert got == split_draft(draft, final=True)[0]


def test_figures_and_names():
    assert figures("OpenAI uses v5e and 3.5 and 1,000 TPUs in 2024.") == {"v5e", "3.5", "1,000", "2024"}
    assert names("The CEO of OpenAI is Elon Musk.") == {"CEO", "OpenAI", "Elon", "Musk"}
    assert names("Google’s TPUs.") == {"Google", "TPUs"}
    assert names("Furthermore, TPUs are fast.") == {"TPUs"}  # an opener is not a name


@pytest.fixture(scope="module")
def article_bot(tmp_path_factory):
    from conftest import ARTICLE_PATH, isolated

    from assistant.documents import load_file

    with isolated(tmp_path_factory.mktemp("home")):
        return Assistant.from_documents([load_file(ARTICLE_PATH)], index_dir=tmp_path_factory.mktemp("idx"),
                                        embeddings=CountingEmbeddings())


def whole(bot) -> list[Source]:
    doc = bot.documents[0]
    return [Source(1, doc.id, 0, len(doc.text), doc.text)]


def test_the_issue_s_two_inventions_are_caught(article_bot):
    v = Verifier(article_bot.index, article_bot.index.embeddings)
    musk = v.check("The CEO of OpenAI is Elon Musk.", whole(article_bot), [1])
    assert not musk.supported and "Elon" in musk.reason and "Musk" in musk.reason
    assert musk.code == "not_in_passages"
    # Every word of it is somewhere in the article ("GCP", "general-purpose", "computing"), never together.
    gcp = v.check("GCP stands for General Purpose Computing.", whole(article_bot), [1])
    assert not gcp.supported and "together" in gcp.reason and gcp.code == "not_together"


@pytest.mark.parametrize("claim", [
    "OpenAI uses Google's v4 and v5e TPUs.",
    "TPUs are custom-designed accelerators built for machine learning workloads.",
    "OpenAI is leveraging Google Cloud Platform.",
])
def test_a_faithful_sentence_is_backed_by_narrow_exact_spans(article_bot, claim):
    v = Verifier(article_bot.index, article_bot.index.embeddings)
    verdict = v.check(claim, whole(article_bot), [1])
    doc = article_bot.documents[0]
    assert verdict.supported, verdict.reason
    assert 1 <= len(verdict.spans) <= 2
    for span in verdict.spans:
        assert doc.text[span.start : span.end] == span.text
        assert len(span.text) < 400  # a sentence, not the whole article it was given


@pytest.mark.parametrize(("claim", "why"), [
    ("The deal was signed in 2025.", "2025"),
    ("Google's TPUs are cheaper than Nvidia GPUs.", "Nvidia"),
    ("the fruit tastes sweetest when picked early in summer.", "words"),
])
def test_unbacked_sentences_say_why(article_bot, claim, why):
    verdict = Verifier(article_bot.index, article_bot.index.embeddings).check(claim, whole(article_bot), [1])
    assert not verdict.supported and why in verdict.reason


def test_a_sentence_citing_the_wrong_source_is_moved_to_the_right_one(article_bot):
    doc = article_bot.documents[0]
    a = doc.text.index("By utilizing")
    b = doc.text.index("Ultimately")
    sources = [Source(1, doc.id, a, a + 150, doc.text[a : a + 150]), Source(2, doc.id, b, b + 120, doc.text[b : b + 120])]
    verdict = Verifier(article_bot.index, article_bot.index.embeddings).check(
        "OpenAI uses the v4 and v5e TPUs.", sources, [2])
    assert verdict.supported and verdict.sources == (1,)


def test_a_source_number_never_given_is_named(article_bot):
    doc = article_bot.documents[0]
    verdict = Verifier(article_bot.index, article_bot.index.embeddings).check(
        "The weather was lovely.", [Source(1, doc.id, 0, 200, doc.text[:200])], [7])
    assert not verdict.supported and "[7]" in verdict.reason


def test_a_numbered_list_keeps_its_numbers_with_the_items():
    sentences, _ = split_draft("The points are: 1. TPUs are fast [1]. 2. They scale [2].\n3) Cheap.", final=True)
    assert [d.text for d in sentences] == ["The points are:", "TPUs are fast.", "They scale.", "Cheap."]
