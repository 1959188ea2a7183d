"""The sources panel's handlers (ui/sources.py) over a real Assistant (hashing embeddings): list,
add with progress and a line per file, remove, read-only mode, and answers citing an upload."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import pytest
from assistant_ui import render, sources
from assistant_ui.app import build_app, max_upload_bytes, respond
from test_ui_unit import Tree
from ui_fakes import ARTICLE_SCRIPT, scripted_assistant

from assistant.config import Settings
from assistant.documents import Document
from assistant.embeddings import get_embeddings
from assistant.index import Index

DOGS = "Dog Care\n\nDogs were domesticated from wolves. They bark at strangers.\n"
DOG_QUESTION = "What were dogs domesticated from?"
SCRIPT = {**ARTICLE_SCRIPT, "dogs": ["domesticated from wolves"]}


@pytest.fixture
def bot(tmp_path, article):
    return scripted_assistant([article], tmp_path / "home", script=SCRIPT, strict=False)


def dropped(tmp_path: Path, name: str, data: bytes | str) -> str:
    """A file as Gradio hands it to the handler: a path in its cache, the client's name last."""
    folder = tmp_path / "gradio-cache" / name.replace(".", "-")
    folder.mkdir(parents=True)
    path = folder / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return str(path)


def test_adding_files_shows_progress_then_a_line_per_file(bot, tmp_path):
    paths = [dropped(tmp_path, "dogs.txt", DOGS), dropped(tmp_path, "photo.txt", b"\x89PNG\r\n\x1a\n")]
    updates = list(sources.add_files(bot, paths, []))
    *busy, final = updates
    assert busy, "progress is shown before the ingest ends"
    assert 'class="library-status busy"' in busy[0][0] and "adding 2 file(s)…" in busy[0][0]
    assert any("dogs: embedding" in u[0] and "spans…" in u[0] for u in busy)
    assert all(u[1:] == (gr.skip(),) * 5 for u in busy)  # only the status changes meanwhile
    status, library, choice, panel, subtitle, files = final
    lines = Tree(status).text
    assert lines == ["dogs.txt: added as “Dog Care” (id dogs)",
                     "photo.txt: skipped: named .txt but is a PNG image, not text; upload the text itself"]
    assert 'class="line-added"' in status and 'class="line-skipped"' in status
    assert 'data-doc="dogs"' in library and "Dog Care" in library
    assert ("Dog Care (dogs)", "dogs") in choice["choices"]
    assert 'data-doc="dogs"' in panel  # the source panel shows the new document's text
    assert subtitle == "Questions about 2 documents" and files is None
    assert not any(Path(p).exists() for p in paths)  # Gradio's copies are gone; the index has its own


def test_an_upload_answers_with_its_span_cited_then_removal_refuses(bot, tmp_path):
    *_, (_, _r, _c, _p, _s, _f) = sources.add_files(bot, [dropped(tmp_path, "dogs.txt", DOGS)], [])
    *_, (chat, turns, panel, _details, answer, _box) = respond(bot, DOG_QUESTION, [])
    (citation,) = answer["citations"]
    assert (citation["doc_id"], citation["title"]) == ("dogs", "Dog Care")
    assert citation["quote"] == "Dogs were domesticated from wolves."
    assert Tree(panel).marked["1-1"] == citation["quote"]  # highlighted in the dogs document
    assert '<span class="cite-label">“Dog Care”, ¶ 1</span>' in panel  # the card names its document

    status, library, choice, panel, subtitle = sources.remove_document(bot, "dogs", turns)
    assert Tree(status).text == ["removed “Dog Care” (id dogs): answers no longer cite it"]
    assert 'data-doc="dogs"' not in library and 'data-doc="dogs"' not in panel
    assert all(value != "dogs" for _, value in choice["choices"])
    assert subtitle.startswith("Questions about “Powering the Future of AI")
    *_, (chat, turns, _p, _d, again, _b) = respond(bot, DOG_QUESTION, turns)
    assert again["abstained"] and again["citations"] == []
    assert 'class="abstain"' in chat[-1]["content"]
    # The article stayed: its own question is still answered.
    *_, (_c, _t, _p, _d, tpus, _b) = respond(bot, "What are TPUs, according to the article?", [])
    assert [c["doc_id"] for c in tpus["citations"]] == ["openai-google-cloud-tpus"] * 2


def test_bad_uploads_and_removals_say_what_to_do_and_keep_the_library(tmp_path, article):
    bot = scripted_assistant([article], tmp_path / "home", upload_max_mb=1, upload_total_mb=1)
    before = [d.id for d in bot.documents]
    big = [dropped(tmp_path, f"part{i}.txt", "words " * 120_000) for i in range(2)]
    *_, (status, library, *_rest) = sources.add_files(bot, big, [])
    assert 'class="status-error"' in status
    assert "over the 1 MB limit per upload (ASSISTANT_UPLOAD_TOTAL_MB); upload fewer files at once" in status
    assert [d.id for d in bot.documents] == before and 'data-doc="openai-google-cloud-tpus"' in library
    status, *_ = sources.remove_document(bot, None, [])
    assert "choose a document to remove first" in status
    status, *_ = sources.remove_document(bot, "nope", [])
    assert "no document &#x27;nope&#x27; in the index" in status
    assert [d.id for d in bot.documents] == before


def test_the_library_lists_title_outlet_id_size_and_when_added(bot):
    bot.upload([("dogs.txt", DOGS.encode()), ("dogs.json", b'{"outlet": "<b>Dog</b> Gazette"}')])
    html = sources.library_html(bot)
    rows = {a["data-doc"]: a for t, a in Tree(html).tags if t == "tr" and "data-doc" in a}
    assert list(rows) == ["openai-google-cloud-tpus", "dogs"]
    text = Tree(html).text
    assert ["Dog Care", "<b>Dog</b> Gazette", "dogs", f"{len(DOGS.encode())} B"] == text[-5:-1]
    assert text[-1][:4].isdigit() and "<b>" not in html  # markup in metadata shows as text
    assert render.size_label(6_300) == "6.2 KB" and render.size_label(3 * 2**20) == "3.0 MB"


def test_a_page_load_picks_up_what_another_process_ingested(bot):
    other = Index(Settings.load(home=bot.settings.home, index_dir=bot.settings.index_dir),
                  get_embeddings("hashing"))
    other.add([Document("dogs", DOGS, title="Dog Care")])
    assert [d.id for d in bot.documents] == ["openai-google-cloud-tpus"]  # not yet seen here
    library, choice, subtitle = sources.refreshed(bot)
    assert 'data-doc="dogs"' in library and ("Dog Care (dogs)", "dogs") in choice["choices"]
    assert subtitle == "Questions about 2 documents"
    assert any(c["doc_id"] == "dogs" for c in bot.ask(DOG_QUESTION).to_dict()["citations"])


def test_the_panel_wires_add_and_remove_and_read_only_turns_them_off(tmp_path, article, monkeypatch):
    bot = scripted_assistant([article], tmp_path / "on")
    names = {d.api_name for d in build_app(bot).fns.values()}
    assert {"add_documents", "remove_document"} <= names
    assert max_upload_bytes(bot.settings) == 10 * 2**20

    monkeypatch.setenv("ASSISTANT_UI_UPLOADS", "0")
    read_only = scripted_assistant([article], tmp_path / "off")
    assert read_only.settings.ui_uploads is False
    demo = build_app(read_only)
    names = {d.api_name for d in demo.fns.values()}
    assert not names & {"add_documents", "remove_document"}
    kinds = {type(b).__name__ for b in demo.blocks.values()}
    assert "File" not in kinds and "Dropdown" not in kinds
    assert any(getattr(b, "value", None) == sources.READ_ONLY for b in demo.blocks.values())
    assert max_upload_bytes(read_only.settings) == 1  # Gradio's own upload route takes nothing


def test_an_answer_cites_across_documents_each_citation_naming_its_own(tmp_path, article):
    script = {"dogs and tpus": ["v4 and v5e", "domesticated from wolves"]}
    bot = scripted_assistant([article], tmp_path / "home", script=script, strict=False)
    bot.upload([("dogs.txt", DOGS.encode())])
    *_, (_chat, _turns, panel, _details, answer, _box) = respond(bot, "What about dogs and TPUs?", [])
    assert [(c["n"], c["doc_id"]) for c in answer["citations"]] == [
        (1, "openai-google-cloud-tpus"), (2, "dogs")]
    labels = [text for text in Tree(panel).text if text.startswith("“")]
    assert labels[0].startswith("“Powering the Future of AI") and "datacenters.com" in labels[0]
    assert labels[1] == "“Dog Care”, ¶ 1"
    # Each span is marked inside its own document's text.
    for c in answer["citations"]:
        doc_html = panel.split(f'data-doc="{c["doc_id"]}"', 1)[1].split("</article>", 1)[0]
        assert f"c-1-{c['n']}" in doc_html and Tree(panel).marked[f"1-{c['n']}"] == c["quote"]
