"""Real Chromium against the live UI: streaming, [n] -> highlighted span, feedback, no XSS.

The UI's behaviour is driven by a scripted answerer (tests/ui_fakes.py): two citations for
QUESTION, an abstention for anything unscripted. Only the screenshot test serves the real model,
so docs/screenshot.png shows a real cited answer.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from ui_fakes import scripted_assistant, serving

from assistant import Assistant, Document
from assistant.documents import load_file
from assistant.feedback import FeedbackStore

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
SCREENSHOT = REPO / "docs" / "screenshot.png"
# Read at import: the autouse fixture (conftest.isolate) drops every ASSISTANT_* variable before
# a test runs, so a test reading it would never see it.
WRITE_SHOTS = os.environ.get("ASSISTANT_SCREENSHOT") == "1"
ARTICLE = REPO / "corpus" / "openai-google-cloud-tpus.txt"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
QUESTION = "What are TPUs, according to the article?"
EVIL_TEXT = (
    "Widget news\n\n"
    "The widget label reads <script>alert(1)</script> in bright red letters.\n"
    "The spare part is sold as <img src=x onerror=alert(1)> by the vendor.\n"
)
# Records every distinct length of the latest answer, to see it grow while streaming.
WATCH_STREAM = """() => {
  window.__lengths = [];
  new MutationObserver(() => {
    const bots = document.querySelectorAll('#chat [data-testid=bot]');
    if (!bots.length) return;
    const n = bots[bots.length - 1].textContent.length;
    if (window.__lengths[window.__lengths.length - 1] !== n) window.__lengths.push(n);
  }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""






@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def article_bot(tmp_path_factory) -> Assistant:
    return scripted_assistant([load_file(ARTICLE)], tmp_path_factory.mktemp("home"))


@pytest.fixture
def page(browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


def ask(page: Page, question: str) -> None:
    """Submit a question and wait until its answer has finished streaming."""
    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")
    expect(page.locator("#chat [data-testid=user]").last).to_contain_text(question)
    expect(page.locator("#chat .streaming")).to_have_count(0)
    expect(page.locator("#chat [data-testid=bot]").last).to_be_visible()


def test_answer_streams_and_a_citation_click_highlights_its_span(article_bot, page):
    with serving(article_bot) as url:
        page.goto(url)
        page.evaluate(WATCH_STREAM)
        ask(page, QUESTION)
        first = page.locator("#chat a.cite-ref", has_text="[1]").first
        expect(first).to_be_visible()
        expect(page.locator(".source-panel .cite-card")).to_have_count(2)
        lengths = page.evaluate("window.__lengths")
        assert len(lengths) >= 3 and lengths == sorted(lengths)  # it grew in steps, not at once

        marks = page.locator(".source-panel mark.c-1-1")
        expect(marks.first).not_to_have_class("cite current active")
        expect(page.locator(".source-panel mark.active")).to_have_count(0)
        first.click()
        expect(marks.first).to_have_class("cite current c-1-1 active")
        expect(marks.first).to_be_in_viewport()
        quote = page.locator(".source-panel .card-1-1 .cite-quote").inner_text()
        assert "".join(marks.all_inner_texts()) == quote
        expect(page.locator(".source-panel .card-1-1")).to_have_class("cite-card card-1-1 active")

        # Another marker moves the highlight: only [2]'s span and card stay lit.
        page.locator("#chat a.cite-ref", has_text="[2]").first.click()
        second = page.locator(".source-panel mark.c-1-2")
        expect(second.first).to_contain_class("active")
        expect(page.locator(".source-panel mark.active")).to_have_count(second.count())
        expect(page.locator(".source-panel .cite-card.active")).to_have_count(1)
        expect(page.locator(".source-panel .card-1-2")).to_contain_class("active")
        quote2 = page.locator(".source-panel .card-1-2 .cite-quote").inner_text()
        assert "".join(second.all_inner_texts()) == quote2 != quote
        # The [n] on a citation card works too.
        page.locator(".source-panel .card-1-1 a.cite-ref").click()
        expect(marks.first).to_contain_class("active")
        expect(second.first).not_to_contain_class("active")


@pytest.mark.integration
def test_screenshot_of_a_real_cited_answer(real_bot, page, tmp_path):
    """The real model on the real article: the span a clicked [n] lights up is its quote.

    With ASSISTANT_SCREENSHOT=1 it also regenerates docs/screenshot.png, the picture the README
    shows; otherwise the picture goes to tmp_path, so a test run leaves the checkout clean.
    """
    with serving(real_bot) as url:
        page.goto(url)
        ask(page, "Which TPU versions does OpenAI use?")
        card = page.locator(".source-panel .cite-card", has_text="v4 and v5e").first
        expect(card).to_be_visible()
        key = next(c[len("card-"):] for c in card.get_attribute("class").split()
                   if c.startswith("card-"))
        page.locator(f'#chat a.cite-ref[href="#cite-{key}"]').click()
        marks = page.locator(f".source-panel mark.c-{key}")
        expect(marks.first).to_contain_class("active")
        expect(marks.first).to_be_in_viewport()
        expect(card).to_contain_class("active")
        assert "".join(marks.all_inner_texts()) == card.locator(".cite-quote").inner_text()
        page.wait_for_timeout(600)  # let the smooth scroll settle before the picture
        target = SCREENSHOT if WRITE_SHOTS else tmp_path / SCREENSHOT.name
        page.screenshot(path=str(target))
        assert target.stat().st_size > 10_000  # a real picture, not an empty page


class SlowAssistant(Assistant):
    """The real assistant, streaming like a slow model: a pause before every update."""

    def stream(self, question, history=None, k=None):
        for item in super().stream(question, history, k):
            # Whole sentences (Assistant.stream): a two-sentence answer is one partial update and
            # the final one, so the final one waits long enough to check and click in between.
            time.sleep(0.3 if item[1] is None else 1.5)
            yield item


def test_a_marker_clicked_while_streaming_highlights_when_the_span_arrives(page, tmp_path):
    bot = scripted_assistant([load_file(ARTICLE)], tmp_path, cls=SlowAssistant)
    with serving(bot) as url:
        page.goto(url)
        page.locator("#question textarea").fill(QUESTION)
        page.locator("#question textarea").press("Enter")
        marker = page.locator("#chat a.cite-ref", has_text="[1]").first
        marker.wait_for()
        assert page.locator(".source-panel mark.c-1-1").count() == 0  # still streaming
        marker.click()
        expect(page.locator(".source-panel .card-1-2")).to_be_visible()  # the answer is complete
        expect(page.locator(".source-panel mark.c-1-1").first).to_contain_class("active")
        expect(page.locator(".source-panel mark.c-1-1").first).to_be_in_viewport()


def test_clearing_forgets_history_and_likes_are_stored(article_bot, page):
    store = FeedbackStore(article_bot.settings.home / "feedback.jsonl")
    before = len(store.read())
    with serving(article_bot) as url:
        page.goto(url)
        ask(page, QUESTION)
        expect(page.locator("#chat a.cite-ref").first).to_be_visible()
        page.locator("#chat button[aria-label='Clear']").click()  # the chatbot's own trash can
        expect(page.locator("#chat [data-testid=bot]")).to_have_count(0)
        expect(page.locator(".source-panel .cite-card")).to_have_count(0)  # the server cleared too
        ask(page, "Why are they efficient?")
        expect(page.locator("#chat [data-testid=bot]")).to_have_count(1)
        expect(page.locator("#chat .query-note")).to_have_count(0)  # no history to lean on

        ask(page, "Who is OpenAI’s CEO?")
        answers = page.locator("#chat [data-testid=bot]")
        expect(answers).to_have_count(2)
        expect(answers.last.locator(".abstain")).to_contain_text("Not in the article")
        page.locator("#comment textarea").fill("correct refusal")
        page.locator("#chat button[aria-label='Like']").last.click()
        expect(page.locator("#comment textarea")).to_have_value("")
    records = store.read()[before:]
    assert [(r["rating"], r["comment"], r["abstained"]) for r in records] == [
        ("up", "correct refusal", True)]


def test_a_bad_model_name_is_an_error_toast_and_the_chat_goes_on(article_bot, page):
    with serving(article_bot) as url:
        page.goto(url)
        ask(page, QUESTION)
        page.get_by_text("Details", exact=True).click()
        model = page.locator("#llm input, #llm textarea").first
        expect(model).to_have_value("extractive")
        model.fill("gpt-9")
        box = page.locator("#question textarea")
        box.fill("Why are they efficient?")
        box.press("Enter")
        expect(page.get_by_text("unknown model backend 'gpt-9'", exact=False).first).to_be_visible()
        answers = page.locator("#chat [data-testid=bot]")
        expect(answers).to_have_count(1)  # the conversation so far is kept, nothing half-asked
        expect(box).to_have_value("Why are they efficient?")  # to ask again once the name is fixed
        model.fill("extractive")
        box.press("Enter")
        expect(answers).to_have_count(2)
        expect(page.locator("#chat .streaming")).to_have_count(0)
        expect(answers.last.locator(".query-note")).to_contain_text("TPUs")  # history survived
        expect(answers.last.locator("a.cite-ref").first).to_be_visible()


def test_markup_in_documents_and_questions_is_shown_as_text(browser, page, tmp_path):
    evil = Document(id="evil", text=EVIL_TEXT, title="Widget news",
                    source="javascript:alert(1)", metadata={"outlet": "<b>x</b>"})
    # The answer quotes both sentences with markup, so it reaches the chat and the marks too.
    bot = scripted_assistant([evil], tmp_path,
                             script={"spare part": ["spare part is sold as", "widget label reads"]})
    dialogs: list[str] = []
    errors: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("console", lambda m: errors.append(m.text) if "alert" in m.text else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    with serving(bot) as url:
        page.goto(url)
        panel = page.locator("#sources")
        expect(panel.get_by_text("<script>alert(1)</script>", exact=False)).to_be_visible()
        expect(panel.get_by_text("<img src=x onerror=alert(1)>", exact=False)).to_be_visible()
        ask(page, "What is the spare part sold as? <img src=x onerror=alert(2)>")
        answer = page.locator("#chat [data-testid=bot]")
        expect(answer).to_contain_text("<img src=x onerror=alert(1)>")
        expect(answer).to_contain_text("<script>alert(1)</script>")
        page.locator("#chat a.cite-ref", has_text="[2]").click()
        expect(page.locator(".source-panel mark.c-1-2.active")).to_have_text(
            "The spare part is sold as <img src=x onerror=alert(1)> by the vendor.")
        expect(page.locator("#chat [data-testid=user]")).to_contain_text("<img src=x onerror=alert(2)>")
        page.wait_for_timeout(500)  # give any injected handler the chance to fire
        assert page.locator("img[src='x']").count() == 0
        assert page.locator("#sources script, #chat script").count() == 0
        assert page.locator("a[href^='javascript:']").count() == 0
    assert dialogs == [] and errors == []


# -- the sources panel ------------------------------------------------------------------------
SOURCES_SHOT = REPO / "docs" / "sources.png"
DOGS = ("Dog Care\n\nDogs were domesticated from wolves more than fifteen thousand years ago. "
        "They bark at strangers.\n\n"
        + "\n\n".join(f"Dog fact {i}: dogs of breed {i} like walk number {i} in the park." for i in range(40))
        + "\n")
DOG_QUESTION = "What were dogs domesticated from?"


@pytest.fixture
def library_bot(tmp_path) -> Assistant:
    """The article behind a scripted answerer that cites the dogs file once it is uploaded (and
    refuses once it is removed), over an encoder slow enough for the progress to be seen."""
    from fakes import SlowEmbeddings
    from ui_fakes import ARTICLE_SCRIPT, ScriptedAnswerer

    from assistant.config import Settings
    from assistant.index import Index

    settings = Settings.load(home=tmp_path / "home", index_dir=tmp_path / "home" / "index")
    index = Index(settings, SlowEmbeddings(pause=0.25))
    index.add([load_file(ARTICLE)])
    script = {**ARTICLE_SCRIPT, "dogs": ["domesticated from wolves"]}
    return Assistant(index, settings, answerer=ScriptedAnswerer(script, strict=False))


def test_upload_cite_and_remove_a_document_from_the_page(library_bot, page, tmp_path):
    dogs = tmp_path / "dogs.txt"
    dogs.write_text(DOGS, encoding="utf-8")
    with serving(library_bot) as url:
        page.goto(url)
        library = page.locator("#library")
        expect(library.locator("tr[data-doc]")).to_have_count(1)
        expect(library).to_contain_text("datacenters.com")

        page.locator("#upload input[type=file]").set_input_files(str(dogs))
        status = page.locator("#library-status")
        expect(status).to_contain_text("dogs: embedding")  # progress while the ingest runs
        expect(status.locator(".line-added")).to_have_text("dogs.txt: added as “Dog Care” (id dogs)")
        row = library.locator("tr[data-doc=dogs]")
        expect(row).to_contain_text("Dog Care")
        expect(row.locator(".lib-size")).to_have_text(f"{len(DOGS.encode()) / 1024:.1f} KB")
        expect(page.locator("#subtitle")).to_contain_text("Questions about 2 documents")
        page.wait_for_timeout(300)
        target = SOURCES_SHOT if WRITE_SHOTS else tmp_path / SOURCES_SHOT.name
        page.locator("#library-panel").screenshot(path=str(target))
        assert target.stat().st_size > 5_000

        ask(page, DOG_QUESTION)
        page.locator("#chat a.cite-ref", has_text="[1]").first.click()
        mark = page.locator(".source-panel article[data-doc=dogs] mark.c-1-1")
        expect(mark).to_contain_class("active")
        expect(mark).to_be_in_viewport()
        expect(mark).to_have_text("Dogs were domesticated from wolves more than fifteen thousand years ago.")
        expect(page.locator(".source-panel .card-1-1 .cite-label")).to_contain_text("“Dog Care”")

        page.locator("#remove-choice input").click()
        page.get_by_role("option", name="Dog Care (dogs)").click()
        page.locator("#remove").click()
        expect(status.locator(".line-removed")).to_have_text(
            "removed “Dog Care” (id dogs): answers no longer cite it")
        expect(library.locator("tr[data-doc=dogs]")).to_have_count(0)
        expect(page.locator(".source-panel article[data-doc=dogs]")).to_have_count(0)

        ask(page, DOG_QUESTION)
        answers = page.locator("#chat [data-testid=bot]")
        expect(answers).to_have_count(2)
        expect(answers.last.locator(".abstain")).to_contain_text("Not in the article")
    assert [d.id for d in library_bot.documents] == ["openai-google-cloud-tpus"]
