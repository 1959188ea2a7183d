"""Uploaded files -> documents (assistant/uploads.py, `Assistant.upload`, `Assistant.remove`):
checked by content and size, stored under generated names, one result line per file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakes import CountingEmbeddings
from test_documents import make_pdf

from assistant import Assistant, Document
from assistant.config import Settings
from assistant.errors import ConfigError, DocumentError, IndexStoreError
from assistant.uploads import display_name, doc_id_for, sniff

CATS = "Cat Care\n\nCats sleep for sixteen hours every day. Kittens open their eyes after one week.\n"
DOGS = b"Dog Care\n\nDogs were domesticated from wolves. They bark at strangers.\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01"


@pytest.fixture
def bot(tmp_path) -> Assistant:
    return Assistant.from_documents([Document("cats", CATS, title="Cat Care")], home=tmp_path / "home",
                                    index_dir=tmp_path / "home" / "index", embeddings=CountingEmbeddings())


def uploads_dir(bot) -> Path:
    return bot.settings.home / "uploads"


def stored_files(bot) -> list[Path]:
    return sorted(p for p in uploads_dir(bot).rglob("*") if p.is_file()) if uploads_dir(bot).exists() else []


def lines(results) -> list[str]:
    return [r.line() for r in results]


def test_an_upload_is_added_then_unchanged_then_updated(bot):
    first = bot.upload([("dogs.txt", DOGS)])
    assert [(r.name, r.outcome, r.doc_id) for r in first] == [("dogs.txt", "added", "dogs")]
    assert lines(first) == ["dogs.txt: added as “Dog Care” (id dogs)"]
    assert [d.id for d in bot.documents] == ["cats", "dogs"]
    assert "wolves" in bot.ask("What were dogs domesticated from?").text
    dogs = bot.documents[1]
    assert dogs.metadata == {"file": "dogs.txt", "bytes": len(DOGS)} and dogs.source == ""
    assert bot.index.added("dogs")[:4].isdigit()

    again = bot.upload([("dogs.txt", DOGS)])
    assert lines(again) == ["dogs.txt: unchanged: “Dog Care” (id dogs) is in the index already"]
    edited = bot.upload([("dogs.txt", DOGS.replace(b"wolves", b"grey wolves"))])
    assert [r.outcome for r in edited] == ["updated"]
    assert "grey wolves" in bot.documents[1].text and len(bot.documents) == 2


def test_a_sidecar_json_gives_the_metadata(bot):
    meta = {"title": "All About Dogs", "outlet": "Dog Gazette", "source": "https://dogs.example/a",
            "id": "dog-guide"}
    results = bot.upload([("dogs.txt", DOGS), ("dogs.json", json.dumps(meta).encode())])
    assert lines(results) == ["dogs.txt: added as “All About Dogs” (id dog-guide)"]
    doc = bot.documents[-1]
    assert (doc.id, doc.title, doc.source, doc.metadata["outlet"]) == (
        "dog-guide", "All About Dogs", "https://dogs.example/a", "Dog Gazette")
    answer = bot.ask("What were dogs domesticated from?")
    assert any(c.doc_id == "dog-guide" and c.outlet == "Dog Gazette" for c in answer.citations)


@pytest.mark.parametrize(("name", "data", "reason"), [
    ("image.txt", PNG, "named .txt but is a PNG image, not text; upload the text itself"),
    ("notes.md", b"PK\x03\x04\x14\x00\x06\x00", "named .md but is a ZIP archive (or an Office file)"),
    ("report.pdf", b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 40, "named .pdf but is a program; upload the PDF itself"),
    ("report.pdf", b"just some text, no PDF", "named .pdf but is not a PDF; upload the PDF itself"),
    ("paper.txt", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", "named .txt but is a PDF (name it .pdf), not text"),
    ("page.html", b"<html>\x00\x01\x02 binary</html>", "is binary data, not text"),
    ("latin.txt", "café au lait".encode("latin-1"), "is not UTF-8 text"),
    ("tool.exe", b"MZ\x90\x00", "unsupported file type .exe; upload .txt, .md, .html, .htm, .pdf files"),
    ("README", b"plain text", "unsupported file type (none)"),
    ("empty.txt", b"  \n\n ", "has no text to index"),
])
def test_a_disguised_or_unreadable_file_is_skipped_with_its_reason(bot, name, data, reason):
    results = bot.upload([(name, data), ("dogs.txt", DOGS)])
    assert [r.outcome for r in results] == ["skipped", "added"]
    assert results[0].line().startswith(f"{name}: skipped: ") and reason in results[0].line()
    assert [d.id for d in bot.documents] == ["cats", "dogs"]  # the good file of the upload went in
    assert [p.suffix for p in stored_files(bot)] == [".txt"]  # the bad one was never stored


def test_the_content_decides_not_the_name_alone():
    assert sniff("a.pdf", b"  \n%PDF-1.7 ...") == ".pdf"
    assert sniff("a.HTML", b"<html><p>Hi</p></html>") == ".html"
    assert sniff("a.md", "# Überschrift\n\ntext".encode()) == ".md"
    assert sniff("a.txt", "\ufeffWith a byte-order mark".encode()) == ".txt"
    with pytest.raises(DocumentError, match="is a GIF image"):
        sniff("a.html", b"GIF89a\x01\x00")


def test_a_real_pdf_upload_is_read(bot, tmp_path):
    pdf = make_pdf(tmp_path / "src.pdf", ["Parrots can live for eighty years.", "Many birds migrate."])
    results = bot.upload([("birds.pdf", pdf.read_bytes())])
    assert [(r.outcome, r.doc_id) for r in results] == [("added", "birds")]
    assert "eighty years" in bot.documents[-1].text


@pytest.mark.parametrize("name", ["../../etc/passwd.txt", "/etc/cron.d/evil.txt",
                                  "..\\..\\windows\\evil.txt", "sub/dir/../evil.txt", ".evil.txt",
                                  "nul\x00byte\n.txt"])
def test_a_path_in_a_file_name_is_never_used_as_a_path(bot, tmp_path, name):
    results = bot.upload([(name, DOGS)])
    assert [r.outcome for r in results] == ["added"]
    shown = results[0].name
    assert "/" not in shown and "\\" not in shown and "\x00" not in shown and "\n" not in shown
    doc = bot.documents[-1]
    assert "/" not in doc.id and ".." not in doc.id and doc.metadata["file"] == shown
    # The bytes are stored once, under a name made from their hash, inside the uploads folder.
    (stored,) = stored_files(bot)
    assert stored.parent == uploads_dir(bot) and stored.name[:32].isalnum() and stored.suffix == ".txt"
    assert stored.read_bytes() == DOGS
    assert not any((tmp_path / part).exists() for part in ("etc", "windows", "evil.txt"))


def test_file_names_are_cleaned_for_showing_only():
    assert display_name("../../a/b/report 2024.txt") == "report 2024.txt"
    assert display_name("C:\\Users\\ann\\notes.md") == "notes.md"
    assert display_name("\x1b[31mred\x1b[0m.txt") == "[31mred[0m.txt"
    assert display_name("") == "unnamed"
    assert doc_id_for("../My Report (final).txt") == "My-Report-final"
    assert doc_id_for("....txt") == "upload"


def test_an_oversized_file_is_skipped_and_an_oversized_upload_refused_whole(tmp_path):
    bot = Assistant.from_documents([Document("cats", CATS)], home=tmp_path / "home",
                                   index_dir=tmp_path / "home" / "index", embeddings=CountingEmbeddings(),
                                   upload_max_mb=1, upload_total_mb=2)
    big = b"word " * (2**20 // 5 + 10)  # just over 1 MB
    results = bot.upload([("big.txt", big), ("dogs.txt", DOGS)])
    assert lines(results)[0] == ("big.txt: skipped: is 1.0 MB, over the 1 MB limit per file "
                                 "(ASSISTANT_UPLOAD_MAX_MB); split it or upload the text only")
    assert [r.outcome for r in results] == ["skipped", "added"]
    before = [d.id for d in bot.documents]
    with pytest.raises(DocumentError, match=r"over the 2 MB limit per upload \(ASSISTANT_UPLOAD_TOTAL_MB\); "
                                            "upload fewer files at once"):
        bot.upload([(f"part{i}.txt", b"x" * 2**19 + DOGS) for i in range(5)])
    assert [d.id for d in bot.documents] == before
    assert len(stored_files(bot)) == 1  # only dogs.txt: nothing of the refused upload was written
    with pytest.raises(DocumentError, match="the upload holds no file"):
        bot.upload([])
    with pytest.raises(DocumentError, match="upload at most 50 at once"):
        bot.upload([(f"f{i}.txt", DOGS) for i in range(51)])


def test_upload_limits_are_settings_with_checked_values(monkeypatch):
    assert (Settings.load().upload_max_mb, Settings.load().upload_total_mb) == (10, 50)
    assert Settings.load().ui_uploads is True
    for value, expected in (("0", False), ("off", False), ("1", True), ("yes", True)):
        monkeypatch.setenv("ASSISTANT_UI_UPLOADS", value)
        assert Settings.load().ui_uploads is expected
    monkeypatch.setenv("ASSISTANT_UI_UPLOADS", "maybe")
    with pytest.raises(ConfigError, match="ASSISTANT_UI_UPLOADS must be 1 or 0"):
        Settings.load()
    monkeypatch.delenv("ASSISTANT_UI_UPLOADS")
    with pytest.raises(ConfigError, match="ASSISTANT_UPLOAD_MAX_MB must be at least 1"):
        Settings.load(upload_max_mb=0)
    with pytest.raises(ConfigError, match="ASSISTANT_UPLOAD_TOTAL_MB at least as large"):
        Settings.load(upload_max_mb=20, upload_total_mb=10)


def test_sidecar_problems_and_duplicate_ids_are_skipped_with_reasons(bot):
    results = bot.upload([
        ("dogs.txt", DOGS), ("dogs.json", b"{not json"),
        ("a.txt", b"Alpha\n\nAlpha text here.\n"), ("a.md", b"Alpha again\n\nAnother alpha.\n"),
        ("lonely.json", b'{"title": "x"}'),
        ("b.txt", b"Beta\n\nBeta text.\n"), ("b.json", b'{"title": 5}'),
    ])
    got = {r.name: r.line() for r in results}
    assert got["dogs.txt"].startswith("dogs.txt: skipped: its metadata dogs.json is not valid JSON (")
    assert got["a.txt"] == "a.txt: added as “Alpha” (id a)"
    assert got["a.md"] == "a.md: skipped: another file of this upload has the id 'a'; rename one"
    assert got["lonely.json"].startswith("lonely.json: skipped: metadata for no file of this upload")
    assert got["b.txt"] == "b.txt: skipped: its metadata b.json gives title as int; give it as text"
    assert [r.name for r in results] == ["dogs.txt", "a.txt", "a.md", "lonely.json", "b.txt"]
    assert [d.id for d in bot.documents] == ["cats", "a"]


def test_results_come_back_in_upload_order(bot):
    results = bot.upload([("z.txt", b"Zed\n\nZed text.\n"), ("bad.exe", b"MZ"), ("a.txt", b"Ay\n\nAy text.\n")])
    assert [r.name for r in results] == ["z.txt", "bad.exe", "a.txt"]


def test_progress_is_reported_per_document(bot):
    events = []
    bot.upload([("dogs.txt", DOGS)], on_progress=lambda *e: events.append(e))
    assert events and all(doc_id == "dogs" for doc_id, _, _ in events)
    done = [d for _, d, _ in events]
    assert done == sorted(done) and events[-1][1] == events[-1][2] > 0


def test_remove_takes_the_document_out_of_answers_index_and_registry(bot):
    bot.upload([("dogs.txt", DOGS)])
    cited = bot.ask("What were dogs domesticated from?")
    assert any(c.doc_id == "dogs" for c in cited.citations)
    removed = bot.remove("dogs")
    assert removed.id == "dogs" and [d.id for d in bot.documents] == ["cats"]
    after = bot.ask("What were dogs domesticated from?")
    assert not any(c.doc_id == "dogs" for c in after.citations) and after.abstained
    for col in (bot.index.chunk_col, bot.index.sentence_col):
        assert col.get(where={"doc_id": "dogs"}, include=[])["ids"] == []
    registry = json.loads((bot.settings.index_dir / "documents.json").read_text(encoding="utf-8"))
    assert [d["id"] for d in registry["documents"]] == ["cats"] and "dogs" not in registry["added"]
    with pytest.raises(IndexStoreError, match="no document 'dogs' in the index; see `assistant docs`"):
        bot.remove("dogs")


def test_text_that_merely_starts_like_a_signature_is_text(bot):
    results = bot.upload([("mz.txt", b"MZ Holdings\n\nMZ Holdings reported record sales.\n"),
                          ("win.txt", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00")])
    assert [r.outcome for r in results] == ["added", "skipped"]
    assert results[1].line() == "win.txt: skipped: is binary data, not text; upload the text itself"
