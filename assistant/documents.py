"""Corpus files -> Document: text kept verbatim, plus title, source, outlet and blocks."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from .errors import DocumentError, missing

SUPPORTED = (".txt", ".md", ".html", ".htm", ".pdf")
BULLET = re.compile(r"\s*(?:[-*•‣◦▪–]|\d{1,3}[.)])\s+")
_SOURCE_LINE = re.compile(r"^\s*(?:source|url|link)\s*:\s*(https?://\S+)\s*$", re.I)

BlockKind = Literal["title", "heading", "paragraph", "item", "meta"]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Block:
    """A paragraph, heading, list item or metadata line, as a span of the document text."""

    kind: BlockKind
    start: int
    end: int
    number: int | None  # "¶ n" for paragraphs and items, None for the rest


@dataclass(frozen=True)
class Document:
    """A text with its provenance; every span in the system indexes into `text`."""

    id: str
    text: str
    title: str = ""
    source: str = ""
    metadata: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id.strip():
            raise DocumentError("A Document needs a non-empty string id, e.g. Document(id='d1', ...)")
        if not isinstance(self.text, str) or not self.text.strip():
            raise DocumentError(f"Document {self.id!r} has no text; give it the article's text")
        try:
            self.text.encode("utf-8")
        except UnicodeEncodeError:
            # A lone surrogate cannot be stored or shown. U+FFFD is one code point too, so every
            # offset into the text stays what it was.
            fixed = "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in self.text)
            object.__setattr__(self, "text", fixed)

    @cached_property
    def blocks(self) -> list[Block]:
        """Paragraphs, headings and list items in reading order."""
        return find_blocks(self.text, self.title)

    def block_at(self, offset: int) -> Block | None:
        """The block that contains a character offset."""
        for block in self.blocks:
            if block.start <= offset < block.end:
                return block
        return None

    def field_blocks(self, field: str) -> list[Block]:
        """The blocks that answer a question about the document itself (question.document_field):
        its title, its source line ("meta"; also for "author" and "date", which its metadata
        holds beside that line) or its conclusion (the last paragraph)."""
        if field == "conclusion":
            return [b for b in self.blocks if b.kind == "paragraph"][-1:]
        kind = "meta" if field in ("author", "date") else field
        return [b for b in self.blocks if b.kind == kind]

    def heading_before(self, offset: int) -> str:
        """The text of the nearest heading at or before an offset ('' when none)."""
        title = ""
        for block in self.blocks:
            if block.start > offset:
                break
            if block.kind == "heading":
                title = self.text[block.start : block.end]
        return title

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (the registry stores documents this way)."""
        return {"id": self.id, "text": self.text, "title": self.title,
                "source": self.source, "metadata": self.metadata}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Document:
        """Inverse of to_dict."""
        return cls(id=data["id"], text=data["text"], title=data.get("title", ""),
                   source=data.get("source", ""), metadata=dict(data.get("metadata") or {}))


def find_blocks(text: str, title: str = "") -> list[Block]:
    """Split text into blocks by lines; blank-line-separated prose keeps its wrapped lines together."""
    lines = [(m.start(), m.end()) for m in re.finditer(r"[^\n]+", text) if m.group().strip()]
    # Hard-wrapped files (paragraphs separated by blank lines, lines broken mid-sentence)
    # must not turn every line into a paragraph: join lines unless the next one starts a new item.
    wrapped = "\n\n" in text and _looks_wrapped(text, lines)
    spans: list[tuple[int, int]] = []
    for start, end in lines:
        if spans and wrapped and text[spans[-1][1]:start].count("\n") == 1 and not BULLET.match(
            text[start:end]
        ):
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))

    blocks: list[Block] = []
    number = 0
    for i, (start, end) in enumerate(spans):
        start, end = strip_span(text, start, end)
        line = text[start:end]
        if i == 0 and _is_heading(line) and (not title or _same(line, title)):
            kind: BlockKind = "title"
        elif _SOURCE_LINE.match(line):
            kind = "meta"
        elif BULLET.match(line):
            kind = "item"
        elif _is_heading(line):
            kind = "heading"
        else:
            kind = "paragraph"
        if kind in ("paragraph", "item"):
            number += 1
        blocks.append(Block(kind, start, end, number if kind in ("paragraph", "item") else None))
    return blocks


def _looks_wrapped(text: str, lines: list[tuple[int, int]]) -> bool:
    # Most lines end without sentence punctuation -> the file is hard-wrapped.
    if len(lines) < 4:
        return False
    open_ends = sum(1 for _, e in lines if text[e - 1] not in ".!?:\"'”’)")
    return open_ends / len(lines) > 0.5


def strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    """(start, end) moved inward past whitespace."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _is_heading(line: str) -> bool:
    words = line.split()
    return 0 < len(words) <= 14 and len(line) <= 120 and line.rstrip()[-1] not in ".!?:;,"


def _same(a: str, b: str) -> bool:
    norm = lambda s: re.sub(r"\W+", " ", s).strip().lower()  # noqa: E731
    return norm(a) == norm(b)


@dataclass(frozen=True)
class Skipped:
    """A file of a folder that could not be read, and why."""

    path: Path
    reason: str  # the DocumentError message

    def __str__(self) -> str:
        name = self.path.name
        why = self.reason
        for prefix in (f"{name} is ", f"{name}: ", f"{name} "):
            if why.startswith(prefix):
                why = why[len(prefix):]
                break
        return f"{name}: {why}"


def load_path(path: Path, skipped: list[Skipped] | None = None) -> list[Document]:
    """Load a file, or every supported file under a directory.

    In a folder, a file that cannot be read is skipped, not fatal: it is appended to `skipped`
    (or logged as a warning when no list is given) and the rest load. A folder where no file
    can be read, and a single bad file, are errors.
    """
    path = Path(path)
    if not path.exists():
        raise DocumentError(f"{path} does not exist; pass a .txt, .md, .html or .pdf file or a folder")
    if not path.is_dir():
        return [load_file(path)]
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in SUPPORTED)
    if not files:
        raise DocumentError(f"{path} holds no {', '.join(SUPPORTED)} files to ingest")
    docs, bad = [], []
    for file in files:
        try:
            docs.append(load_file(file))
        except DocumentError as exc:
            bad.append(Skipped(file, str(exc)))
    if not docs:
        reasons = "; ".join(str(s) for s in bad[:3]) + ("; …" if len(bad) > 3 else "")
        raise DocumentError(f"none of the {len(files)} file(s) in {path} could be read ({reasons})")
    if skipped is None:
        for s in bad:
            log.warning("skipped %s", s)
    else:
        skipped.extend(bad)
    return docs


EXAMPLES_FILE = Path("examples") / "questions.txt"  # in a subfolder: `load_path` never ingests it


def example_questions(corpus_dir: Path) -> list[str]:
    """The questions a UI offers as examples for this corpus, one a line of
    <corpus>/examples/questions.txt; none when the corpus has no such file."""
    path = Path(corpus_dir) / EXAMPLES_FILE
    if not path.is_file():
        return []
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_file(path: Path) -> Document:
    """One file -> Document; metadata from a sibling <name>.json when present."""
    path = Path(path)
    if not path.is_file():
        raise DocumentError(f"{path} does not exist or is not a file; pass a .txt, .md, .html or .pdf file")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise DocumentError(
            f"{path.name}: unsupported file type {suffix or '(none)'}; use one of {', '.join(SUPPORTED)}"
        )
    meta: dict[str, Any] = {}
    sidecar = path.with_suffix(".json")
    if sidecar.exists():
        try:
            meta = json.loads(sidecar.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DocumentError(f"{sidecar.name} is not valid JSON ({exc}); fix or remove it") from None
        if not isinstance(meta, dict):
            raise DocumentError(f"{sidecar.name} must hold a JSON object like {{\"title\": ...}}")
    try:
        if suffix == ".pdf":
            text, found = _read_pdf(path)
        elif suffix in (".html", ".htm"):
            text, found = _read_html(path)
        else:
            # utf-8-sig: a byte-order mark some editors write is not part of the title.
            text, found = path.read_text(encoding="utf-8-sig"), {}
    except UnicodeDecodeError:
        raise DocumentError(f"{path.name} is not UTF-8 text; convert it with iconv first") from None
    except OSError as exc:
        raise DocumentError(f"{path.name} cannot be read ({exc.strerror or exc})") from None
    if "\x00" in text:
        # Valid UTF-8 can still be binary junk (an image renamed .txt): text files hold no NULs.
        raise DocumentError(f"{path.name} is binary data, not text; pass the text itself")
    if not text.strip():
        raise DocumentError(f"{path.name} has no text to index")
    meta = {**found, **meta}
    title = meta.pop("title", "") or _first_line(text)
    source = meta.pop("source", "") or _source_line(text) or path.resolve().as_uri()
    doc_id = meta.pop("id", "") or path.stem
    meta.setdefault("file", path.name)
    return Document(id=doc_id, text=text, title=title, source=source, metadata=meta)


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")[:200]


def _source_line(text: str) -> str:
    for line in reversed(text.splitlines()):
        if line.strip():
            m = _SOURCE_LINE.match(line)
            return m.group(1) if m else ""
    return ""


def _read_html(path: Path) -> tuple[str, dict[str, Any]]:
    try:
        import trafilatura
    except ImportError:
        raise missing("trafilatura", "formats") from None
    html = path.read_text(encoding="utf-8", errors="replace")
    text = trafilatura.extract(html, include_comments=False, include_tables=False) or ""
    info = trafilatura.extract_metadata(html)
    meta: dict[str, Any] = {}
    if info is not None:
        for key in ("title", "url", "date", "sitename", "author"):
            value = getattr(info, key, None)
            if value:
                meta[{"url": "source", "sitename": "outlet"}.get(key, key)] = value
    return text, meta


def _read_pdf(path: Path) -> tuple[str, dict[str, Any]]:
    try:
        from pypdf import PdfReader
        from pypdf.errors import PdfReadError
    except ImportError:
        raise missing("pypdf", "formats") from None
    quiet = logging.getLogger("pypdf")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # pypdf logs each repair it tries; the one error below is enough
    try:
        reader = PdfReader(path)
        if reader.is_encrypted and not reader.decrypt(""):
            raise DocumentError(f"{path.name} is encrypted; save a copy without a password and ingest that")
        pages = [page.extract_text() or "" for page in reader.pages]
        meta = {"title": reader.metadata.title} if reader.metadata and reader.metadata.title else {}
    except PdfReadError as exc:
        raise DocumentError(f"{path.name} is not a readable PDF ({exc})") from None
    except Exception as exc:  # a damaged PDF can make pypdf raise almost anything (KeyError, ...)
        raise DocumentError(f"{path.name} is not a readable PDF ({exc.__class__.__name__}: {exc})") from None
    finally:
        quiet.setLevel(level)
    return "\n\n".join(p.strip() for p in pages if p.strip()), meta
