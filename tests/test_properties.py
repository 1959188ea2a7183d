"""Property tests (hypothesis) for the edges: Unicode clean-up, question checks, citation markers,
HTML rendering and span offsets. Together about 10,000 examples a run (SECURITY.md)."""

from __future__ import annotations

import unicodedata
from html.parser import HTMLParser

import pytest
from assistant_ui import render
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant.api import check_question
from assistant.chunking import chunks, sentences
from assistant.documents import Document
from assistant.errors import ConfigError
from assistant.sanitize import clean

FAST = settings(max_examples=2500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Any code point, lone surrogates included: what a broken client can send.
ANY_TEXT = st.text(st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF), max_size=80)
MARKED_TEXT = st.lists(st.one_of(ANY_TEXT, st.integers(0, 99).map(lambda n: f"[{n}]")), max_size=6).map("".join)


@FAST
@given(ANY_TEXT)
def test_clean_leaves_only_storable_visible_text_and_is_idempotent(text):
    out = clean(text)
    out.encode("utf-8")  # no lone surrogate survives
    assert not [ch for ch in out if unicodedata.category(ch) == "Cf"]
    assert not [ch for ch in out if unicodedata.category(ch) == "Cc" and ch not in "\t\n\r"]
    assert clean(out) == out


@FAST
@given(ANY_TEXT)
def test_check_question_either_answers_one_clean_line_or_says_why(text):
    try:
        question = check_question(text)
    except ConfigError as exc:
        assert "question" in str(exc)
        return
    assert question == " ".join(question.split()) and question
    assert clean(question) == question


class Tags(HTMLParser):
    """The tags and the visible text of an HTML fragment."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text.append(data)


@FAST
@given(MARKED_TEXT, st.integers(1, 50))
def test_chat_html_links_every_marker_and_escapes_everything_else(text, turn):
    html = render.chat_html(text, turn)
    parsed = Tags(html)
    assert set(parsed.tags) <= {"div", "a"}  # nothing from the text became a tag
    assert "".join(parsed.text) == text
    markers = render.MARKER.findall(text)
    assert parsed.tags.count("a") == len(markers)
    for n in markers:
        assert f'href="#cite-{turn}-{int(n)}"' in html


@FAST
@given(ANY_TEXT)
def test_a_question_renders_as_its_escaped_text(question):
    html = render.user_html(question)
    parsed = Tags(html)
    assert parsed.tags == ["div"]
    assert "".join(parsed.text) == question


WORDS = st.sampled_from(["Cats", "sleep", "a", "lot.", "Dr.", "Smith", "said", "so!", "U.S.", "3.5",
                         "chips", "-", "•", "e.g.", "\n", "\n\n", "(see", "below)", "“quoted”", "v4"])
DOC_TEXT = st.lists(WORDS, min_size=1, max_size=60).map(" ".join).filter(lambda t: t.strip())


@SLOW
@given(DOC_TEXT)
def test_every_sentence_and_chunk_is_exactly_its_offsets(text):
    doc = Document("d", text)
    for span in [*sentences(doc), *chunks(doc, chunk_size=80, chunk_overlap=20)]:
        assert doc.text[span.start:span.end] == span.text
        assert 0 <= span.start < span.end <= len(doc.text)


@pytest.mark.parametrize("marker", ["[1]", "[12]", "[0]"])
def test_the_marker_pattern_matches_bracketed_numbers_only(marker):
    assert render.MARKER.fullmatch(marker)
    assert not render.MARKER.search(marker.replace("[", "("))
