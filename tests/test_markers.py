"""The [n] citation-marker grammar (assistant/markers.py): the shown grammar and the draft one."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assistant import markers as mk

NUMBERS = st.lists(st.integers(0, 10_000), max_size=8)
# Text with no brackets and no digits: nothing in it can read as a marker or join one.
PLAIN = st.text(st.characters(blacklist_characters="[]0123456789", blacklist_categories=("Cs",)), max_size=20)


# -- the shown grammar -------------------------------------------------------------------------

@pytest.mark.parametrize("marker", ["[1]", "[12]", "[0]"])
def test_a_shown_marker_is_a_bracketed_number(marker):
    assert mk.MARKER.fullmatch(marker)
    assert not mk.MARKER.search(marker.replace("[", "("))


@pytest.mark.parametrize("written", ["[1, 3]", "[2-4]", "[2–4]", "[1 and 2]", "[ 1 ]"])
def test_the_shown_grammar_reads_no_list_or_range_and_the_draft_grammar_does(written):
    # The difference is on purpose (markers.py): a quoted "[1, 3]" is no citation of ours.
    assert not mk.MARKER.search(written)
    assert mk.DRAFT_MARKER.fullmatch(written)


def test_numbers_are_read_in_order_with_repeats():
    assert mk.numbers("TPUs are fast. [1] They scale. [3][1]") == [1, 3, 1]
    assert mk.numbers("No marker, [a] nor (2).") == []


def test_remove_keeps_the_spaces_and_remove_spaced_does_not():
    assert mk.remove("TPUs. [1] Fast [2].") == "TPUs.  Fast ."
    assert mk.remove_spaced("TPUs. [1] Fast [2].") == "TPUs. Fast."


def test_a_run_of_markers_is_split_off_whole():
    assert mk.MARKER_RUN.split("One. [1] Two. [2] [3]") == ["One.", " [1]", " Two.", " [2] [3]", ""]


def test_marked_sentences_end_at_their_markers():
    text = "TPUs are fast. [1] They scale [2][3] well. No marker"
    assert mk.split_marked_sentences(text) == ["TPUs are fast. [1]", " They scale [2][3]", " well. No marker"]
    assert mk.split_marked_sentences("No marker at all") == ["No marker at all"]
    assert mk.split_marked_sentences("") == [""]


# -- the draft grammar -------------------------------------------------------------------------

@pytest.mark.parametrize(("inside", "expected"), [
    ("1", [1]), ("1, 3", [1, 3]), ("2-4", [2, 3, 4]), ("2–4", [2, 3, 4]), ("1 and 2", [1, 2]),
    ("3, 3", [3]), ("1 and 3, 2, 4-5", [1, 3, 2, 4, 5]),
    ("1-400", []),  # a range this long is no citation (MAX_RANGE)
    ("4-2", []),  # nor one running backwards
])
def test_draft_numbers(inside, expected):
    assert mk.draft_numbers(inside) == expected


def test_draft_markers_are_read_and_removed():
    text = "TPUs are fast [1, 3]. Also [2-4] [5]."
    assert mk.draft_cited(text) == [1, 3, 2, 3, 4, 5]
    assert mk.remove_draft(text) == "TPUs are fast. Also."


# -- properties --------------------------------------------------------------------------------

@given(NUMBERS)
def test_shown_numbers_round_trip(ns):
    assert mk.numbers(mk.marks(ns)) == ns


@given(st.lists(st.tuples(PLAIN, NUMBERS), max_size=5))
def test_numbers_round_trip_through_an_answer_text(parts):
    text = "".join(f"{words} {mk.marks(ns)}" for words, ns in parts)
    assert mk.numbers(text) == [n for _, ns in parts for n in ns]
    assert not mk.MARKER.search(mk.remove(text))

    def squeezed(s: str) -> str:
        return "".join(s.split())

    # Both remove the same markers, and nothing else but whitespace.
    assert squeezed(mk.remove(text)) == squeezed(mk.remove_spaced(text)) == squeezed("".join(w for w, _ in parts))
    assert mk.remove(text).split() == "".join(w + " " for w, _ in parts).split()


@given(NUMBERS)
def test_the_draft_grammar_reads_shown_markers_alike(ns):
    assert mk.draft_cited(mk.marks(ns)) == ns


@given(st.lists(st.integers(0, 99), min_size=1, max_size=6))
def test_a_draft_list_marker_reads_its_numbers_once_each(ns):
    assert mk.draft_cited("[" + ", ".join(map(str, ns)) + "]") == list(dict.fromkeys(ns))
