"""UI handlers and renderers over a real Assistant (hashing embeddings: fast, no model).

Which sentences get cited is the answerer's business: most tests plug in a scripted answerer
(tests/ui_fakes.py) so they can require exactly what the UI must do with two citations, one,
or an abstention. One test runs the default answerer and checks only the rendering contract.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from html.parser import HTMLParser

import gradio as gr
import pytest
from assistant_ui import render
from assistant_ui.app import (
    auth_from_env,
    build_app,
    cleared,
    rate,
    respond,
)
from fakes import CountingEmbeddings
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from ui_fakes import scripted_assistant

from assistant import Assistant, Document
from assistant.answer import check_citations
from assistant.config import Settings
from assistant.documents import example_questions
from assistant.errors import ConfigError, DocumentError
from assistant.extractive import ExtractiveAnswerer
from assistant.feedback import FeedbackStore, feedback_record
from assistant.generative import GenerativeAnswerer
from assistant.verify import Verifier

TPU_QUESTION = "What are TPUs, according to the article?"
VERSIONS_QUESTION = "Which TPU generations is OpenAI using?"
TRUE = "OpenAI is using Google's v4 and v5e TPUs"
INVENTED = "The CEO of OpenAI is Elon Musk"
EVIL = "<script>alert(1)</script>"
EVIL_IMG = "<img src=x onerror=alert(1)>"


class Tree(HTMLParser):
    """Text per mark class, every tag and attribute seen, and the text outside tags."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.marked: dict[str, str] = {}
        self.text: list[str] = []
        self._open: list[list[str]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs_d = dict(attrs)
        self.tags.append((tag, attrs_d))
        if tag in ("br", "img", "input"):
            return
        self._open.append((attrs_d.get("class") or "").split())

    def handle_endtag(self, tag):
        self._open.pop()

    def handle_data(self, data):
        self.text.append(data)
        classes = self._open[-1] if self._open else []
        for c in classes:
            if c.startswith("c-"):
                self.marked[c[2:]] = self.marked.get(c[2:], "") + data


@pytest.fixture
def bot(tmp_path, article):
    """The article behind a scripted answerer: two citations for TPU_QUESTION, one for
    "Why are they efficient?", an abstention for anything unscripted."""
    return scripted_assistant([article], tmp_path / "home")


@pytest.fixture
def default_bot(tmp_path, article, hashing):
    return Assistant.from_documents([article], index_dir=tmp_path / "idx", embeddings=hashing)


@pytest.fixture
def hashing():
    from assistant.embeddings import get_embeddings

    return get_embeddings("hashing")


def cite(n: int, doc: Document, start: int, end: int) -> dict:
    """A citation dict as answers carry it, made by the answerer's own helper."""
    from dataclasses import asdict

    from assistant.answer import make_citation
    from assistant.chunking import Span

    return asdict(make_citation(n, doc, Span(doc.id, start, end, doc.text[start:end]), 0.5))


def run(bot, question, turns=(), k=5):
    return list(respond(bot, question, list(turns), k))


# -- chat handler -----------------------------------------------------------------------
def test_a_question_from_the_browser_is_shown_cleaned(default_bot):
    *_, last = respond(default_bot, "Which TPU \ud800 chips does Open\u200bAI use?", [])
    chat = last[0]
    shown = chat[-2]["content"]
    assert "\ud800" not in shown and "\u200b" not in shown and "OpenAI" in shown
    json.dumps(chat, ensure_ascii=False).encode("utf-8")  # what Gradio sends back can be encoded


def test_respond_streams_growing_text_then_the_final_answer(bot):
    updates = run(bot, TPU_QUESTION)
    # Assistant.stream sends whole sentences: the two-sentence answer arrives as one, then both.
    assert len(updates) >= 2
    *partials, final = updates
    texts = [re.sub(r"<[^>]+>", "", u[0][-1]["content"]) for u in updates]
    assert all(len(a) < len(b) and b.startswith(a) for a, b in zip(texts, texts[1:], strict=False))
    assert all(t.endswith("]") for t in texts)  # never half a sentence
    # While streaming only the chat changes; state, panels and JSON wait for the final update.
    assert all(u[1] == gr.skip() and u[2] == gr.skip() for u in partials)
    chat, turns, panel, details, answer, box = final
    assert [m["role"] for m in chat] == ["user", "assistant"]
    assert len(turns) == 1 and answer == turns[0] and box == gr.skip()
    assert updates[0][5] == "" and all(u[5] == gr.skip() for u in updates[1:])
    assert not answer["abstained"] and check_citations(_answer(answer), bot.documents) == []
    assert [c["n"] for c in answer["citations"]] == [1, 2]
    for n in (1, 2):
        assert f'<a class="cite-ref" href="#cite-1-{n}">[{n}]</a>' in chat[-1]["content"]
        assert f'id="cite-1-{n}"' in panel and f'card-1-{n}' in panel
    assert "retrieve" in details and "bm25" in details


def test_markers_are_links_while_streaming(bot):
    partials = [u for u in run(bot, TPU_QUESTION)[:-1] if "[1]" in u[0][-1]["content"]]
    assert partials, "the [1] marker should appear before the final update"
    assert '<a class="cite-ref" href="#cite-1-1">[1]</a>' in partials[0][0][-1]["content"]
    assert 'class="answer streaming"' in partials[0][0][-1]["content"]
    final = run(bot, TPU_QUESTION)[-1][0][-1]["content"]
    assert "streaming" not in final and 'href="#cite-1-2"' in final


def test_cited_spans_highlight_exactly_the_quote(bot):
    *_, (chat, turns, panel, *_rest) = run(bot, TPU_QUESTION)
    marked = Tree(panel).marked
    assert len(turns[0]["citations"]) == 2
    for c in turns[0]["citations"]:
        doc = next(d for d in bot.documents if d.id == c["doc_id"])
        assert marked[f"1-{c['n']}"] == doc.text[c["start"] : c["end"]] == c["quote"]
    cards = [a for t, a in Tree(panel).tags if t == "li" and "cite-card" in (a.get("class") or "")]
    assert len(cards) == len(turns[0]["citations"])
    assert "datacenters.com" in panel and "¶ " in panel


def test_follow_up_uses_the_session_history(bot):
    *_, first = run(bot, TPU_QUESTION)
    *_, (chat, turns, panel, _, answer, _) = run(bot, "Why are they efficient?", first[1])
    assert len(turns) == 2 and len(chat) == 4
    assert answer["query"] != answer["question"] and "TPUs" in answer["query"]
    assert "Searched for:" in chat[-1]["content"] and 'href="#cite-2-1"' in chat[-1]["content"]
    assert 'href="#cite-1-2"' in chat[1]["content"]  # the first answer keeps its own links
    # Both turns' spans stay clickable; only the latest is numbered on top.
    assert 'id="cite-1-1"' in panel and 'id="cite-2-1"' in panel
    assert "card-2-1" in panel and "card-1-1" not in panel
    *_, (_, alone, *_r) = run(bot, "Why are they efficient?")
    assert alone[0]["query"] == "Why are they efficient?"


def test_abstention_renders_distinctly(bot):
    *_, (chat, turns, panel, *_r) = run(bot, "Who is OpenAI’s CEO?")
    assert turns[0]["abstained"] and turns[0]["citations"] == []
    html = chat[-1]["content"]
    assert 'class="abstain"' in html and render.ABSTAIN_LABEL in html
    assert 'class="answer"' not in html and "cite-ref" not in html
    assert "cite-card" not in panel


def test_the_slider_sets_how_many_passages_are_retrieved(bot):
    *_, (_, _, _, details, answer, _) = run(bot, TPU_QUESTION, k=2)
    assert len(answer["passages"]) == 2 and details.count("<td class='passage'>") == 2


def test_whatever_the_default_answerer_says_renders_consistently(default_bot):
    """The real answerer's choices are not checked here, only that the UI shows them faithfully."""
    turns: list = []
    for question in (TPU_QUESTION, "Who is OpenAI’s CEO?"):
        *_, (chat, turns, panel, *_r) = run(default_bot, question, turns)
        answer, html, n = turns[-1], chat[-1]["content"], len(turns)
        assert check_citations(_answer(answer), default_bot.documents) == []
        if answer["abstained"]:
            assert 'class="abstain"' in html and "cite-ref" not in html
            continue
        marked = Tree(panel).marked
        for c in answer["citations"]:
            assert f'href="#cite-{n}-{c["n"]}"' in html
            assert marked[f"{n}-{c['n']}"] == c["quote"]


def test_api_errors_become_gradio_errors(bot):
    with pytest.raises(gr.Error, match="question is empty"):
        run(bot, "   ")
    with pytest.raises(gr.Error, match="keep it under"):
        run(bot, "why " * 600)


def test_an_unknown_backend_is_one_clear_error_and_the_chat_goes_on(bot):
    *_, first = run(bot, TPU_QUESTION)
    with pytest.raises(gr.Error, match="unknown model backend 'gpt-9'") as info:
        list(respond(bot, "Why are they efficient?", first[1], 5, "gpt-9"))
    assert "Traceback" not in str(info.value) and "\n" not in str(info.value)
    # The session's history is untouched: the next question, on the bot's own backend, follows up.
    *_, (chat, turns, *_r) = respond(bot, "Why are they efficient?", first[1], 5, bot.llm)
    assert len(turns) == 2 and len(chat) == 4 and "TPUs" in turns[-1]["query"]


def test_the_bots_own_backend_name_or_none_keeps_the_bot(bot):
    assert bot.llm == "extractive" == bot.settings.llm
    assert bot.with_llm(None) is bot and bot.with_llm(" extractive ") is bot
    assert bot.with_llm("") is bot


def fake_model_bot(article, home, name: str = "fake", reply: str | None = None) -> Assistant:
    """The article over hashing embeddings, answered by a fake model in read mode (it reads the
    numbered passages); by default it writes one invented sentence and one true one."""
    bot = Assistant.from_documents([article], index_dir=home / "idx", embeddings=CountingEmbeddings())
    if reply is None:
        passages = bot.retriever.with_title(bot.retriever.search(VERSIONS_QUESTION, 5))
        n = next(i for i, p in enumerate(passages, start=1) if "v4 and v5e" in p.text)
        reply = f"{INVENTED} [1]. {TRUE} [{n}]."
    model = GenericFakeChatModel(messages=iter([AIMessage(reply)]))
    index = bot.index
    answerer = GenerativeAnswerer(ExtractiveAnswerer(index, index.embeddings), model,
                                  Verifier(index, index.embeddings), mode="read", name=name)
    return Assistant(index, bot.settings, answerer=answerer)


@pytest.fixture
def generative_bot(tmp_path, article):
    return fake_model_bot(article, tmp_path)


def test_another_backend_is_built_once_and_shared_over_the_same_index(tmp_path, article):
    bot = fake_model_bot(article, tmp_path, name="fake:model")
    assert bot.llm == "fake:model" and bot.with_llm("fake:model") is bot
    other = bot.with_llm("extractive")
    assert other is not bot and other.index is bot.index and other.answerer.name == "extractive"
    assert bot.with_llm(" extractive") is other  # cached: every session shares it
    *_, (_, _, _, details, answer, _) = respond(bot, VERSIONS_QUESTION, [], 5, "extractive")
    assert answer["answerer"] == "extractive" and answer["dropped"] == []
    assert "Elon Musk" not in details


def test_a_models_unsupported_sentence_never_streams_and_is_listed_as_dropped(generative_bot):
    *partials, (chat, turns, _panel, details, answer, _box) = run(generative_bot, VERSIONS_QUESTION)
    assert partials, "the verified sentence streams before the final update"
    assert all("Elon Musk" not in str(u[0]) for u in partials)
    assert "Elon Musk" not in chat[-1]["content"] and "v4 and v5e" in chat[-1]["content"]
    assert answer["answerer"] == "fake" and answer["mode"] == "read" and answer["notice"] == ""
    assert [d["text"].rstrip(".") for d in answer["dropped"]] == [INVENTED]
    dropped = Tree(details)
    assert 'class="dropped"' in details and "Elon Musk" in "".join(dropped.text)
    assert "fake" in details and "(read)" in details
    assert answer["sentences"] and f"{answer['sentences'][0]['overlap']:.2f}" in details


def test_a_failed_model_shows_its_notice_in_the_chat_and_the_details(generative_bot):
    # An exhausted fake raises on its first use, like a server that is down.
    generative_bot.answerer.model = GenericFakeChatModel(messages=iter([]))
    *_, (chat, turns, _panel, details, answer, _box) = run(generative_bot, VERSIONS_QUESTION)
    assert answer["notice"].endswith("this is the extractive answer instead.")
    # Whatever the extractive answer is (hashing embeddings may abstain), the notice is in sight.
    assert 'class="notice-note"' in chat[-1]["content"] and 'class="notice"' in details
    assert answer["notice"] in "".join(Tree(chat[-1]["content"]).text)


def test_clear_resets_every_output(bot):
    chat, turns, panel, details, answer = cleared(bot)
    assert chat == [] and turns == [] and answer is None
    assert "cite-card" not in panel and "Powering the Future of AI" in panel


def test_build_app_wires_the_public_endpoints(bot):
    demo = build_app(bot)
    names = {d.api_name for d in demo.fns.values()}
    assert {"ask", "clear", "feedback_up", "feedback_down"} <= names


# -- renderers ----------------------------------------------------------------------------
def test_chat_html_escapes_text_and_links_markers():
    html = render.chat_html(f'He said "hi" & left {EVIL} [2]', turn=3)
    assert "<script" not in html and "&lt;script&gt;" in html and "&quot;hi&quot;" in html
    assert '<a class="cite-ref" href="#cite-3-2">[2]</a>' in html
    assert "query-note" not in render.chat_html("x [1]", 1, query="q", question="q")
    note = render.chat_html("x [1]", 1, query=f"q {EVIL}", question="q")
    assert "Searched for:" in note and "&lt;script&gt;" in note and "<script" not in note
    assert render.user_html(EVIL_IMG) == '<div class="question">&lt;img src=x onerror=alert(1)&gt;</div>'


def test_source_panel_escapes_documents_and_refuses_script_links():
    doc = Document(id="evil", title=f"Title {EVIL}", source="javascript:alert(1)",
                   text=f"Headline\n\nBody {EVIL} and {EVIL_IMG} end.\n- item {EVIL_IMG}",
                   metadata={"outlet": '"><b>x'})
    html = render.source_html([doc], [[cite(1, doc, 15, 30)]])
    tags = {t for t, _ in Tree(html).tags}
    assert not tags & {"script", "img", "b"}
    assert "javascript:" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;img src=x" in html
    assert Tree(html).marked["1-1"] == doc.text[15:30]


def test_many_documents_show_only_the_cited_ones():
    docs = [Document(id=f"d{i}", text=f"Document number {i} says something.") for i in range(8)]
    html = render.source_html(docs, [[cite(1, docs[3], 0, 8)]])
    assert 'data-doc="d3"' in html and 'data-doc="d0"' not in html
    assert 'data-doc="d0"' in render.source_html(docs[:3], [])


def test_blocks_render_as_headings_paragraphs_and_items(article):
    tree = Tree(render.document_html(article))
    kinds = [t for t, _ in tree.tags]
    assert kinds.count("h3") == sum(b.kind == "heading" for b in article.blocks) > 0
    assert kinds.count("li") == sum(b.kind == "item" for b in article.blocks) > 0
    assert "h2" in kinds and "ul" in kinds
    paragraphs = [b for b in article.blocks if b.kind == "paragraph"]
    assert kinds.count("p") >= len(paragraphs)
    # Nothing of the article is lost: every block's text appears in order.
    flat = "".join(tree.text)
    pos = 0
    for b in article.blocks:
        pos = flat.index(article.text[b.start : b.end], pos)


spans = st.tuples(st.integers(0, 80), st.integers(1, 40)).map(lambda t: (t[0], t[0] + t[1]))


@settings(max_examples=60, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list("ab <>&\"'\n-é.")), min_size=5, max_size=120)
       .filter(lambda s: s.strip()), cuts=st.lists(spans, max_size=4))
def test_any_overlapping_spans_highlight_exactly_their_slice(text, cuts):
    doc = Document(id="d", text=text)
    cuts = [(s, min(e, len(text))) for s, e in cuts if s < len(text) and s < min(e, len(text))]
    cites = [cite(i, doc, s, e) for i, (s, e) in enumerate(cuts, start=1)]
    html = render.source_html([doc], [cites])
    assert not {t for t, _ in Tree(html).tags} - {"div", "ol", "li", "a", "span", "blockquote",
                                                  "article", "header", "h2", "h3", "p", "ul",
                                                  "mark", "sup"}
    marked = Tree(html).marked
    for c in cites:
        # Only the text inside blocks is shown: whitespace between lines is layout, not content.
        shown = "".join(text[b.start : b.end][max(c["start"] - b.start, 0):max(c["end"] - b.start, 0)]
                        for b in doc.blocks)
        assert marked.get(f"1-{c['n']}", "") == shown


def test_details_show_timings_and_scores():
    answer = {"timings": {"retrieve": 0.0123}, "passages": [
        {"doc_id": "d", "start": 0, "end": 5, "text": EVIL, "score": 0.5, "dense_score": None,
         "bm25_score": 1.25}]}
    html = render.details_html(answer)
    assert "12.3 ms" in html and "0.5000" in html and "1.250" in html and "–" in html
    assert "<script" not in html


def test_details_show_the_answerer_its_notice_support_and_dropped_sentences():
    answer = {"answerer": "ollama:x", "mode": "read", "notice": f"The model failed {EVIL}",
              "sentences": [{"text": "Shown [1]", "citations": [1], "cited": [2], "overlap": 0.8125,
                             "similarity": None}],
              "dropped": [{"text": f"Evil {EVIL_IMG} claim", "reason": f"no source names {EVIL}",
                           "cited": [3]}],
              "timings": {}, "passages": []}
    html = render.details_html(answer)
    tree = Tree(html)
    assert not {t for t, _ in tree.tags} & {"script", "img"}
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "&lt;script&gt;" in html
    assert 'class="notice"' in html and 'class="dropped"' in html and "cited [3]" in html
    assert "ollama:x" in html and "(read)" in html and "0.81" in html and "–" in html
    text = "".join(tree.text)
    assert f"Evil {EVIL_IMG} claim" in text and f"The model failed {EVIL}" in text
    plain = render.details_html({"answerer": "extractive", "timings": {}, "passages": []})
    assert 'class="notice"' not in plain and "dropped" not in plain and "sentences" not in plain


def test_the_notice_shows_escaped_under_the_answer():
    html = render.chat_html("An answer [1]", 2, notice=f"The model failed {EVIL}")
    assert '<div class="notice-note">The model failed &lt;script&gt;' in html and "<script" not in html
    assert "notice" not in render.chat_html("An answer [1]", 2)
    turn = {"question": "q", "text": "t", "abstained": False, "query": "q", "notice": "N"}
    assert 'class="notice-note">N<' in render.messages([turn])[1]["content"]


def test_turn_of_message_maps_assistant_messages_only():
    assert [render.turn_of_message(i) for i in range(5)] == [None, 0, None, 1, None]
    assert render.turn_of_message([3, 0]) == 1


# -- feedback -----------------------------------------------------------------------------
def test_feedback_store_appends_and_reads(tmp_path):
    store = FeedbackStore(tmp_path / "a" / "feedback.jsonl")
    assert store.read() == []
    store.append({"rating": "up", "comment": "é ✓"})
    store.append({"rating": "down"})
    assert store.read() == [{"comment": "é ✓", "rating": "up"}, {"rating": "down"}]
    assert len(store.path.read_text(encoding="utf-8").splitlines()) == 2
    store.path.write_text('{"rating": "up"}\nnot json\n', encoding="utf-8")
    with pytest.raises(DocumentError, match=":2 is not valid JSON"):
        store.read()


def test_feedback_record_shape_and_validation(bot):
    answer = bot.ask(TPU_QUESTION)
    now = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    record = feedback_record(answer, "down", "  wrong span ", now=now)
    assert record == {
        "timestamp": "2025-01-02T03:04:05+00:00", "rating": "down", "comment": "wrong span",
        "question": TPU_QUESTION, "query": answer.query, "answer": answer.text,
        "abstained": False, "citations": answer.to_dict()["citations"],
    }
    json.dumps(record)
    with pytest.raises(ConfigError, match="rating must be 'up' or 'down'"):
        feedback_record(answer, "meh")


def test_rating_the_latest_answer_appends_to_the_home_feedback_file(bot):
    store = FeedbackStore(bot.settings.home / "feedback.jsonl")
    with pytest.warns(UserWarning, match="Ask a question first"):
        assert rate(store, [], "", "up") == gr.skip()
    assert store.read() == []
    *_, (_, turns, *_r) = run(bot, TPU_QUESTION)
    *_, (_, turns, *_r) = run(bot, "Who is OpenAI’s CEO?", turns)
    assert rate(store, turns, "good", "up", index=0) == ""
    assert rate(store, turns, "", "down") == ""
    first, second = store.read()
    assert (first["rating"], first["comment"], first["abstained"]) == ("up", "good", False)
    assert first["citations"] and first["question"] == TPU_QUESTION
    assert (second["rating"], second["abstained"], second["citations"]) == ("down", True, [])
    assert datetime.fromisoformat(second["timestamp"]).tzinfo is not None


# -- configuration --------------------------------------------------------------------------
def test_examples_come_from_the_corpus(tmp_path):
    questions = example_questions(Settings.load().corpus_dir)
    assert len(questions) == 5
    assert questions[0] == "What is the headline of the article?"
    assert questions[-1] == "Who is OpenAI’s CEO?"
    assert example_questions(tmp_path) == []  # a corpus without examples offers none
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "questions.txt").write_text(" Why? \n\nHow?\n", encoding="utf-8")
    assert example_questions(tmp_path) == ["Why?", "How?"]


def test_auth_comes_from_the_environment(monkeypatch):
    assert auth_from_env() is None
    monkeypatch.setenv("ASSISTANT_UI_AUTH", "ann:s3:cret")
    assert auth_from_env() == ("ann", "s3:cret")
    for bad in ("ann", "ann:", ":hunter2"):
        monkeypatch.setenv("ASSISTANT_UI_AUTH", bad)
        with pytest.raises(ConfigError, match="user:password") as info:
            auth_from_env()
        assert "hunter2" not in str(info.value)  # a password is never echoed


def _answer(data):
    from assistant.answer import Answer, Citation

    return Answer(text=data["text"], abstained=data["abstained"], query=data["query"],
                  citations=[Citation(**c) for c in data["citations"]])


@pytest.mark.extras  # builds a real OpenAI client for the offered name
def test_the_ui_offers_only_the_backends_its_owner_allows(tmp_path, article, monkeypatch):
    bot = fake_model_bot(article, tmp_path, name="fake:model")
    for name in ("llamacpp:/etc/passwd", "openai:gpt-4o"):
        with pytest.raises(ConfigError, match="this server offers the models extractive, fake:model, llamacpp:smollm2"):
            bot.with_llm(name)
    monkeypatch.setenv("ASSISTANT_UI_LLMS", "openai:gpt-4o, ollama:llama3.2")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    # The owner's list is a setting, read when the assistant is made (ASSISTANT_UI_LLMS).
    wider = Assistant(bot.index, Settings.load(index_dir=bot.settings.index_dir), answerer=bot.answerer)
    assert wider.offered_llms() == ["extractive", "fake:model", "llamacpp:smollm2", "openai:gpt-4o", "ollama:llama3.2"]
    assert wider.with_llm("openai:gpt-4o").answerer.name == "openai:gpt-4o"
    with pytest.raises(ConfigError, match="offers the models"):
        wider.with_llm("llamacpp:/etc/passwd")
