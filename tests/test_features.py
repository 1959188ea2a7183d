"""The answerer's pure feature functions: soft term matching, regimes, answer types, coverage."""

from __future__ import annotations

import numpy as np
import pytest

from assistant import features
from assistant.chunking import item_label
from assistant.embeddings import HashingEmbeddings, TokenVectors, token_vectors
from assistant.extractive import REGIMES, by_regime, crowding, regime_names

STOP = {"what", "is", "the", "of", "a"}


def tv(*rows: tuple[str, list[float]]) -> TokenVectors:
    vectors = np.array([v for _, v in rows], dtype=np.float32)
    return TokenVectors(tuple(t for t, _ in rows), vectors / np.linalg.norm(vectors, axis=1, keepdims=True))


def test_content_rows_drop_specials_punctuation_and_stop_words_but_keep_word_pieces():
    rows = features.content_rows(["[CLS]", "what", "is", "tensor", "##s", "?", "[SEP]"], STOP)
    assert rows.tolist() == [False, False, False, True, True, False, False]


def test_soft_match_is_mean_and_weakest_of_best_similarities():
    question = tv(("[CLS]", [1, 0, 0]), ("what", [0, 1, 0]), ("chips", [1, 0, 0]), ("signed", [0, 0, 1]))
    sentence = tv(("[CLS]", [0, 0, 1]), ("chips", [1, 0, 0]), ("fast", [0, 1, 0]))
    mean, weakest = features.soft_match(question, sentence, STOP)
    # "chips" is matched exactly (1.0); "signed" has no counterpart (0.0); [CLS] and "what" do not count.
    assert mean == pytest.approx(0.5) and weakest == pytest.approx(0.0)


def test_soft_match_of_a_question_of_stop_words_only_is_zero():
    question = tv(("what", [1, 0]), ("is", [0, 1]))
    assert features.soft_match(question, tv(("chips", [1, 0])), STOP) == (0.0, 0.0)


def test_token_vectors_fall_back_to_word_vectors_for_any_embeddings():
    q, s = token_vectors(HashingEmbeddings(), ["Which chips?", "The chips are fast."])
    assert q.tokens == ("which", "chips") and s.tokens == ("the", "chips", "are", "fast")
    mean, weakest = features.soft_match(q, s, {"which"})
    assert mean == pytest.approx(1.0) and weakest == pytest.approx(1.0)  # "chips" in both


def test_token_vectors_of_an_empty_text():
    (empty,) = token_vectors(HashingEmbeddings(), [""])
    assert empty.tokens == () and features.soft_match(empty, empty, STOP) == (0.0, 0.0)


def test_by_regime_copies_features_per_setting():
    one = by_regime({"dense": 0.7}, ("dense",), {"many": crowding(1), "whole": 1.0})
    many = by_regime({"dense": 0.7}, ("dense",), {"many": crowding(600), "whole": 0.0})
    assert one == {"dense": 0.7, "dense*many": 0.0, "many": 0.0, "dense*whole": 0.7, "whole": 1.0}
    assert many == {"dense": 0.7, "dense*many": 0.7, "many": 1.0, "dense*whole": 0.0, "whole": 0.0}
    assert set(regime_names(("dense",))) == set(many) and REGIMES == ("many", "whole")


def test_crowding_rises_on_a_log_scale_and_saturates():
    assert crowding(1) == 0.0 and crowding(10) == pytest.approx(0.5)
    assert crowding(100) == crowding(5000) == 1.0


def test_has_type():
    assert features.has_type("It cost $10 billion.", "number")
    assert not features.has_type("It was expensive.", "number")
    assert features.has_type("Google's v4 and v5e TPUs.", "identifier")
    assert features.has_type("anything", "")


def test_has_type_reads_product_style_names():
    assert features.has_type("models like ChatGPT and DALL-E", "identifier")
    assert features.has_type("sold on eBay", "identifier")
    assert not features.has_type("AI models built by Google", "identifier")


def test_has_type_ignores_what_the_question_already_names():
    question = "Which OpenAI models are named?"
    assert not features.has_type("OpenAI trains large models.", "identifier", question)
    assert features.has_type("OpenAI built ChatGPT.", "identifier", question)
    assert not features.has_type("It runs 4 TPUs.", "number", "Does it run 4 TPUs?")
    assert features.has_type("It runs 4 TPUs.", "number", "How many TPUs does it run?")


def test_fuzzy_match_and_coverage():
    assert features.fuzzy_match("efficent", {"efficiency"})  # typo shares a 5-letter prefix
    assert not features.fuzzy_match("tpu", {"tpus"})  # short words must match exactly
    assert features.coverage({"tpu": 2.0, "ceo": 1.0}, {"tpu"}) == pytest.approx(2 / 3)
    assert features.coverage({}, {"tpu"}) == 0.0


@pytest.mark.parametrize(("item", "label"), [
    ("Superior Efficiency: They are engineered for maximum performance per watt.", "Superior Efficiency"),
    ("**Massive Scalability**: Google Cloud scales.", "Massive Scalability"),
    ("The company said what it wanted, which was this: more chips.", ""),  # a sentence, not a label
    ("Ratios like 3:1 are common.", ""),  # no space after the colon
    ("No label here.", ""),
])
def test_item_label(item, label):
    assert item_label(item) == label


def test_known_allows_one_slip_in_long_words_only():
    vocabulary = {"microsoft", "gpu", "jam"}
    assert features.known("microsoft", vocabulary)
    assert features.known("microsfot", vocabulary)  # a typo
    assert not features.known("gpt", vocabulary)  # short words must match exactly
    assert not features.known("jax", vocabulary)
    assert not features.known("nvidia", vocabulary)
