"""Corpus files -> Document: blocks, metadata, formats and the errors a user can hit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ARTICLE_PATH

from assistant.documents import Document, find_blocks, load_file, load_path
from assistant.errors import DocumentError

ARTICLE_TITLE = "Powering the Future of AI: Inside the Strategic OpenAI and Google Cloud Partnership"
ARTICLE_URL = (
    "https://www.datacenters.com/news/openai-s-strategic-partnership-with-google-cloud-"
    "powering-the-next-wave-of-ai-innovation"
)


def block_texts(doc: Document, kind: str) -> list[str]:
    return [doc.text[b.start : b.end] for b in doc.blocks if b.kind == kind]


# -- the article -----------------------------------------------------------------------
def test_article_metadata_comes_from_the_sidecar(article):
    assert article.id == "openai-google-cloud-tpus"
    assert article.title == ARTICLE_TITLE
    assert article.source == ARTICLE_URL
    assert article.metadata["outlet"] == "datacenters.com"
    assert article.metadata["file"] == "openai-google-cloud-tpus.txt"
    # Metadata keys that became fields are not duplicated in metadata.
    assert not {"id", "title", "source"} & set(article.metadata)


def test_article_text_is_kept_verbatim(article):
    assert article.text == ARTICLE_PATH.read_text(encoding="utf-8")


def test_article_blocks(article):
    kinds = [b.kind for b in article.blocks]
    assert kinds[0] == "title"
    assert block_texts(article, "title") == [ARTICLE_TITLE]
    assert block_texts(article, "heading") == [
        "A Strategic Alliance Built for Scale and Speed",
        "The Power of Google’s Tensor Processing Units (TPUs)",
        "What This Collaboration Signals for the Future of AI",
        "Key Takeaways for Businesses and Developers",
    ]
    items = block_texts(article, "item")
    assert len(items) == 6
    assert all(t.startswith("- ") for t in items)
    assert items[0].startswith("- Unmatched Performance:")
    assert items[-1].startswith("- Security and Reliability are Paramount:")
    assert block_texts(article, "meta") == [f"Source: {ARTICLE_URL}"]
    assert kinds[-1] == "meta"
    assert kinds.count("paragraph") == 11


def test_article_paragraph_numbering(article):
    numbered = [b for b in article.blocks if b.kind in ("paragraph", "item")]
    # "¶ n" counts paragraphs and list items together, from 1, in reading order.
    assert [b.number for b in numbered] == list(range(1, len(numbered) + 1))
    assert all(b.number is None for b in article.blocks if b.kind not in ("paragraph", "item"))
    v4 = article.text.index("By utilizing Google’s v4 and v5e TPUs")
    assert article.block_at(v4).number == 10
    assert article.block_at(v4).kind == "paragraph"


def test_blocks_are_stripped_ordered_and_disjoint(article):
    prev_end = -1
    for b in article.blocks:
        piece = article.text[b.start : b.end]
        assert piece and piece == piece.strip()
        assert "\n" not in piece  # the article has one paragraph per line
        assert b.start >= prev_end
        prev_end = b.end


def test_block_at_and_heading_before(article):
    at = article.text.index("matrix calculations")
    assert article.block_at(at).kind == "paragraph"
    assert article.heading_before(at) == "The Power of Google’s Tensor Processing Units (TPUs)"
    assert article.heading_before(article.text.index("In the rapidly")) == ""
    assert article.block_at(0) is None  # the file starts with a blank line


# -- block detection on synthetic text -------------------------------------------------
HARD_WRAPPED = """Cat Care Basics

Cats are small carnivores that
sleep for most of the day and
hunt at dawn and dusk.

They groom themselves with rough
tongues, which removes loose fur
and keeps the coat clean.

- Feed them twice a day
- Keep fresh water out
"""


def test_hard_wrapped_paragraphs_stay_whole():
    blocks = find_blocks(HARD_WRAPPED)
    texts = [(b.kind, HARD_WRAPPED[b.start : b.end]) for b in blocks]
    assert texts == [
        ("title", "Cat Care Basics"),
        ("paragraph", "Cats are small carnivores that\nsleep for most of the day and\nhunt at dawn and dusk."),
        ("paragraph", "They groom themselves with rough\ntongues, which removes loose fur\nand keeps the coat clean."),
        ("item", "- Feed them twice a day"),
        ("item", "- Keep fresh water out"),
    ]
    assert [b.number for b in blocks] == [None, 1, 2, 3, 4]


def test_one_paragraph_per_line_is_not_joined():
    text = "First paragraph ends here.\n\nSecond one too.\nThird one follows directly.\nFourth as well."
    blocks = find_blocks(text)
    assert [text[b.start : b.end] for b in blocks] == [
        "First paragraph ends here.", "Second one too.", "Third one follows directly.", "Fourth as well.",
    ]


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("- dash item", "item"),
        ("* star item", "item"),
        ("• bullet item", "item"),
        ("1. numbered item", "item"),
        ("2) numbered item", "item"),
        ("Source: https://example.com/a", "meta"),
        ("url: http://example.com", "meta"),
        ("A Short Heading Without Punctuation", "heading"),
        ("A full sentence that ends with a period.", "paragraph"),
        ("A lead-in that ends with a colon:", "paragraph"),
    ],
)
def test_block_kinds(line, kind):
    text = f"This opening sentence is a paragraph.\n{line}\n"
    blocks = find_blocks(text)
    assert len(blocks) == 2
    assert blocks[1].kind == kind
    assert text[blocks[1].start : blocks[1].end] == line


def test_title_only_when_it_matches_the_given_title():
    text = "Some Heading\nA paragraph follows.\n"
    assert find_blocks(text, title="Some Heading")[0].kind == "title"
    assert find_blocks(text, title="")[0].kind == "title"
    assert find_blocks(text, title="A different title")[0].kind == "heading"


# -- load_file / load_path -------------------------------------------------------------
def test_sidecar_metadata(tmp_path):
    (tmp_path / "cats.txt").write_text("Cats\nCats sleep a lot.\n", encoding="utf-8")
    (tmp_path / "cats.json").write_text(
        json.dumps({"title": "All About Cats", "outlet": "Cat Gazette",
                    "source": "https://cats.example/a", "id": "cats-1", "date": "2024-01-01"}),
        encoding="utf-8",
    )
    doc = load_file(tmp_path / "cats.txt")
    assert (doc.id, doc.title, doc.source) == ("cats-1", "All About Cats", "https://cats.example/a")
    assert doc.metadata == {"outlet": "Cat Gazette", "date": "2024-01-01", "file": "cats.txt"}


def test_defaults_without_sidecar(tmp_path):
    path = tmp_path / "notes.md"
    path.write_text("\n\nMy Notes\nA line.\nSource: https://notes.example/x\n", encoding="utf-8")
    doc = load_file(path)
    assert doc.id == "notes"
    assert doc.title == "My Notes"  # first non-blank line
    assert doc.source == "https://notes.example/x"  # trailing "Source:" line


def test_source_defaults_to_the_file_uri(tmp_path):
    path = tmp_path / "plain.txt"
    path.write_text("Just one line of text.", encoding="utf-8")
    assert load_file(path).source == path.resolve().as_uri()


def test_load_path_folder_reads_supported_files_in_order(tmp_path):
    (tmp_path / "b.txt").write_text("Bee text.", encoding="utf-8")
    (tmp_path / "a.md").write_text("Ant text.", encoding="utf-8")
    (tmp_path / "a.json").write_text('{"outlet": "X"}', encoding="utf-8")  # a sidecar, not a doc
    (tmp_path / "skip.csv").write_text("x,y", encoding="utf-8")
    docs = load_path(tmp_path)
    assert [d.id for d in docs] == ["a", "b"]
    assert docs[0].metadata["outlet"] == "X"


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda d: d / "missing.txt", "does not exist"),
        (lambda d: _write(d / "x.docx", "text"), "unsupported file type .docx"),
        (lambda d: _write(d / "x", "text"), "unsupported file type (none)"),
        (lambda d: _write(d / "empty.txt", "  \n\n\t "), "has no text"),
        (lambda d: _write(d / "l1.txt", "caf\xe9".encode("latin-1")), "not UTF-8"),
        (lambda d: _write(d / "bad.pdf", b"this is not a pdf"), "not a readable PDF"),
        (lambda d: _write(d / "emptydir", None), "holds no"),
    ],
)
def test_load_path_errors_are_document_errors(tmp_path, make, needle):
    path = make(tmp_path)
    with pytest.raises(DocumentError) as exc:
        load_path(path)
    assert needle in str(exc.value)
    assert str(exc.value)[0] != "["  # a sentence for a human, not a raw errno


def _write(path: Path, content: str | bytes | None) -> Path:
    if content is None:
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def test_invalid_sidecar_json(tmp_path):
    (tmp_path / "doc.txt").write_text("Some text.", encoding="utf-8")
    (tmp_path / "doc.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(DocumentError) as exc:
        load_file(tmp_path / "doc.txt")
    assert "doc.json is not valid JSON" in str(exc.value)
    assert "fix or remove it" in str(exc.value)


def test_sidecar_json_must_be_an_object(tmp_path):
    (tmp_path / "doc.txt").write_text("Some text.", encoding="utf-8")
    (tmp_path / "doc.json").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(DocumentError, match="doc.json"):
        load_file(tmp_path / "doc.txt")


def test_load_file_missing_file(tmp_path):
    with pytest.raises(DocumentError, match="does not exist"):
        load_file(tmp_path / "missing.txt")


def test_document_validation():
    with pytest.raises(DocumentError, match="non-empty string id"):
        Document(id=" ", text="text")
    with pytest.raises(DocumentError, match="has no text"):
        Document(id="d", text=" \n ")


def test_document_dict_round_trip(article):
    again = Document.from_dict(json.loads(json.dumps(article.to_dict())))
    assert again == article
    assert again.metadata == article.metadata


# -- other formats ---------------------------------------------------------------------
HTML = """<html><head><title>Cat Facts Weekly</title>
<meta property="og:site_name" content="Cat Gazette">
<meta property="og:url" content="https://cats.example/weekly"></head>
<body><nav>Home | About | Subscribe</nav><article><h1>Cat Facts Weekly</h1>
<p>Cats sleep for most of the day, often sixteen hours or more, according to veterinarians who
study feline behaviour.</p>
<p>They are most active at dawn and dusk, when their prey is easiest to find in the tall grass
near farms.</p></article><footer>Copyright 2024 nobody in particular</footer></body></html>"""


def test_html_is_extracted_with_trafilatura(tmp_path):
    path = tmp_path / "cats.html"
    path.write_text(HTML, encoding="utf-8")
    doc = load_file(path)
    assert "Cats sleep for most of the day" in doc.text
    assert "most active at dawn and dusk" in doc.text
    assert "<p>" not in doc.text and "Subscribe" not in doc.text
    assert doc.title == "Cat Facts Weekly"
    assert doc.metadata["outlet"] == "Cat Gazette"
    assert doc.source == "https://cats.example/weekly"


def test_html_sidecar_wins_over_page_metadata(tmp_path):
    (tmp_path / "cats.htm").write_text(HTML, encoding="utf-8")
    (tmp_path / "cats.json").write_text('{"title": "Override", "outlet": "Mine"}', encoding="utf-8")
    doc = load_file(tmp_path / "cats.htm")
    assert doc.title == "Override"
    assert doc.metadata["outlet"] == "Mine"


def make_pdf(path: Path, lines: list[str], title: str | None = None) -> Path:
    """A one-page PDF with real text (Helvetica), built with pypdf's writer."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    page = writer.add_blank_page(width=612, height=792)
    font = DictionaryObject({
        NameObject("/Type"): NameObject("/Font"),
        NameObject("/Subtype"): NameObject("/Type1"),
        NameObject("/BaseFont"): NameObject("/Helvetica"),
    })
    page[NameObject("/Resources")] = DictionaryObject({
        NameObject("/Font"): DictionaryObject({NameObject("/F1"): writer._add_object(font)})
    })
    escape = lambda s: s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")  # noqa: E731
    ops = ["BT", "/F1 12 Tf", "72 720 Td", "14 TL", *[f"({escape(x)}) Tj T*" for x in lines], "ET"]
    stream = DecodedStreamObject()
    stream.set_data("\n".join(ops).encode("latin-1"))
    page[NameObject("/Contents")] = writer._add_object(stream)
    if title:
        writer.add_metadata({"/Title": title})
    with path.open("wb") as fh:
        writer.write(fh)
    return path


def test_pdf_text_and_title(tmp_path):
    path = make_pdf(tmp_path / "cats.pdf", ["Cats sleep most of the day.", "They hunt at night."],
                    title="Cat Facts")
    doc = load_file(path)
    assert "Cats sleep most of the day." in doc.text
    assert "They hunt at night." in doc.text
    assert doc.title == "Cat Facts"
    assert doc.id == "cats"


def test_pdf_without_text_is_rejected(tmp_path):
    path = make_pdf(tmp_path / "blank.pdf", [])
    with pytest.raises(DocumentError, match="blank.pdf has no text"):
        load_file(path)
