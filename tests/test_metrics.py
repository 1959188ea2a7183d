"""Every scorer in `assistant.eval.metrics`, against values worked out by hand."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assistant.eval import metrics as m

# -- normalize -------------------------------------------------------------------------


def test_normalize_straightens_quotes_dashes_and_case():
    assert m.normalize("It’s “Quoted” — A–B `y` ‘z’") == "it's \"quoted\" - a-b 'y' 'z'"


def test_normalize_collapses_and_strips_whitespace():
    assert m.normalize("  Tensor\n\tProcessing \u00a0 Units  ") == "tensor processing units"


def test_normalize_of_empty_and_blank_is_empty():
    assert m.normalize("") == ""
    assert m.normalize(" \n\t ") == ""


@given(st.text())
def test_normalize_is_idempotent(text):
    once = m.normalize(text)
    assert m.normalize(once) == once


# -- overlaps --------------------------------------------------------------------------


@pytest.mark.parametrize(("a", "b", "expected"), [
    ((0, 5), (5, 9), False),  # touching half-open spans share no character
    ((5, 9), (0, 5), False),
    ((0, 5), (4, 9), True),  # one shared character (4)
    ((0, 10), (3, 4), True),  # containment
    ((3, 4), (0, 10), True),
    ((2, 7), (2, 7), True),  # identical
    ((0, 3), (10, 20), False),  # far apart
])
def test_overlaps(a, b, expected):
    assert m.overlaps(a, b) is expected


# Non-empty spans: an empty span holds no character (see the report on empty spans).
spans = st.tuples(st.integers(0, 60), st.integers(1, 30)).map(lambda t: (t[0], t[0] + t[1]))


@given(spans, spans)
def test_overlaps_is_symmetric_and_means_a_shared_character(a, b):
    shared = set(range(*a)) & set(range(*b))
    assert m.overlaps(a, b) == m.overlaps(b, a) == bool(shared)


# -- find_spans ------------------------------------------------------------------------


def test_find_spans_first_occurrence_and_skips_missing():
    text = "TPUs are fast. GPUs are fast. TPUs are efficient."
    assert m.find_spans(text, ["TPUs", "are fast", "absent", "efficient."]) == [
        (0, 4), (5, 13), (39, 49)]
    for (s, e), needle in zip(m.find_spans(text, ["TPUs", "are fast"]), ["TPUs", "are fast"], strict=True):
        assert text[s:e] == needle


def test_find_spans_empty_inputs():
    assert m.find_spans("some text", []) == []
    assert m.find_spans("", ["x"]) == []


def test_find_spans_is_exact_not_normalised():
    # Gold evidence must be copied byte for byte: a straight quote does not find a curly one.
    assert m.find_spans("Google’s TPUs", ["Google's"]) == []
    assert m.find_spans("Google’s TPUs", ["Google’s"]) == [(0, 8)]


# -- ranks -----------------------------------------------------------------------------

GOLD = [(100, 150)]
RETRIEVED = [(0, 50), (50, 100), (120, 200), (140, 160)]  # first hit at rank 3; (50,100) only touches


def test_first_hit_rank():
    assert m.first_hit_rank(RETRIEVED, GOLD) == 3
    assert m.first_hit_rank(RETRIEVED[:2], GOLD) is None
    assert m.first_hit_rank([], GOLD) is None
    assert m.first_hit_rank(RETRIEVED, []) is None


def test_first_hit_rank_any_gold_span_counts():
    assert m.first_hit_rank([(0, 10), (30, 40)], [(35, 36), (5, 6)]) == 1


def test_recall_at_k():
    assert m.recall_at_k(RETRIEVED, GOLD, 2) == 0.0
    assert m.recall_at_k(RETRIEVED, GOLD, 3) == 1.0
    assert m.recall_at_k(RETRIEVED, GOLD, 10) == 1.0
    assert m.recall_at_k([], GOLD, 5) == 0.0
    assert m.recall_at_k(RETRIEVED, [], 5) == 0.0


def test_reciprocal_rank():
    assert m.reciprocal_rank(RETRIEVED, GOLD) == pytest.approx(1 / 3)
    assert m.reciprocal_rank([(100, 101)], GOLD) == 1.0
    assert m.reciprocal_rank(RETRIEVED[:2], GOLD) == 0.0
    assert m.reciprocal_rank([], []) == 0.0


@given(st.lists(spans, max_size=8), st.lists(spans, max_size=3), st.integers(1, 10))
def test_recall_at_k_is_monotone_in_k(retrieved, gold, k):
    assert m.recall_at_k(retrieved, gold, k) <= m.recall_at_k(retrieved, gold, k + 1)
    # Recall at k is exactly "the first hit is within k"; reciprocal rank agrees with it.
    rr = m.reciprocal_rank(retrieved, gold)
    assert m.recall_at_k(retrieved, gold, k) == (1.0 if rr >= 1 / k else 0.0)


# -- citations -------------------------------------------------------------------------


def test_citation_hits():
    gold = [(10, 20), (40, 50)]
    assert m.citation_hits([(12, 15), (20, 30), (45, 60)], gold) == (2, 3)  # (20,30) only touches
    assert m.citation_hits([], gold) == (0, 0)
    assert m.citation_hits([(0, 5)], []) == (0, 1)


def test_citation_recall():
    gold = [(10, 20), (40, 50), (70, 80)]
    assert m.citation_recall([(15, 45)], gold) == pytest.approx(2 / 3)  # one cite covers two
    assert m.citation_recall([(0, 10), (50, 70)], gold) == 0.0  # touching only
    assert m.citation_recall([], gold) == 0.0
    assert m.citation_recall([(0, 5)], []) == 1.0  # nothing to find


# -- key facts -------------------------------------------------------------------------


def test_key_fact_recall_ignores_case_quotes_and_whitespace():
    answer = "By utilizing Google’s v4 and V5E TPUs,\nOpenAI is “positioning” itself."
    assert m.key_fact_recall(answer, ["google's v4", "v5e", '"positioning"']) == 1.0
    assert m.key_fact_recall(answer, ["Google's  V4", "Nvidia", "H100", "v5e"]) == 0.5


def test_key_fact_recall_edge_cases():
    assert m.key_fact_recall("anything", []) == 1.0  # no facts asked for
    assert m.key_fact_recall("", ["v4"]) == 0.0
    assert m.key_fact_recall("nothing relevant", ["v4", "v5e", "TPU"]) == 0.0


# -- prf -------------------------------------------------------------------------------


def test_prf_all_correct():
    assert m.prf([True, False, True], [True, False, True]) == {"precision": 1.0, "recall": 1.0, "f1": 1.0}


def test_prf_hand_computed():
    # tp=2 (0,1), fp=1 (2), fn=1 (3), tn=1 (4): p=2/3, r=2/3, f1=2/3.
    got = m.prf([True, True, True, False, False], [True, True, False, True, False])
    assert got["precision"] == pytest.approx(2 / 3)
    assert got["recall"] == pytest.approx(2 / 3)
    assert got["f1"] == pytest.approx(2 / 3)
    # tp=1, fp=3, fn=0: p=1/4, r=1, f1=2*(1/4)/(5/4)=2/5.
    got = m.prf([True, True, True, True], [True, False, False, False])
    assert got == pytest.approx({"precision": 0.25, "recall": 1.0, "f1": 0.4})


def test_prf_none_predicted():
    assert m.prf([False, False], [True, False]) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    # Nothing predicted and nothing to predict: nothing was missed, nothing was wrong.
    assert m.prf([False, False], [False, False]) == {"precision": 1.0, "recall": 1.0, "f1": 1.0}


def test_prf_none_expected():
    assert m.prf([True, False], [False, False]) == {"precision": 0.0, "recall": 1.0, "f1": 0.0}


def test_prf_empty_and_mismatched():
    assert m.prf([], []) == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    with pytest.raises(ValueError):
        m.prf([True], [True, False])


# -- percentile and mean ---------------------------------------------------------------


@pytest.mark.parametrize(("q", "expected"), [(0, 15), (5, 15), (30, 20), (40, 20), (50, 35), (100, 50)])
def test_percentile_nearest_rank(q, expected):
    # The worked example of the nearest-rank method, deliberately unsorted.
    assert m.percentile([50, 15, 40, 20, 35], q) == expected


def test_percentile_edge_cases():
    assert m.percentile([], 50) == 0.0
    assert m.percentile([7.5], 0) == 7.5
    assert m.percentile([7.5], 95) == 7.5
    assert m.percentile([3, 1, 2], 50) == 2


def test_percentile_on_a_hundred_values_is_the_value_at_that_rank():
    # With values 1..100 the q-th percentile (nearest rank, ceil(q/100 * n)) is q itself.
    values = list(range(1, 101))
    assert [m.percentile(values, q) for q in (7, 14, 28, 50, 95, 100)] == [7, 14, 28, 50, 95, 100]


def test_percentile_matches_exact_integer_rank_everywhere():
    # Exhaustive, not sampled: rounding slips are rare (q/100 * n landing just above an integer).
    wrong = [(n, q) for n in range(1, 201) for q in range(101)
             if m.percentile(range(1, n + 1), q) != max(1, -(-q * n // 100))]  # exact ceil
    assert wrong == []


def test_mean():
    assert m.mean([]) == 0.0
    assert m.mean([1.0, 0.0, 0.5]) == pytest.approx(0.5)
    assert m.mean([3]) == 3
