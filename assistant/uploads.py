"""Files sent from outside (the web UI) -> Documents: checked by content and size, stored under
generated names.

    >>> staged, results = stage([("report.txt", b"Report\\n\\nSales rose.")], settings)

The client's file name is shown and becomes the document id, but is never used as a path: the
bytes are stored as <home>/uploads/<sha256 of the content>.<type found in the content>. A file
that is not what its name says (an image renamed .txt, a program renamed .pdf) is skipped with
the reason; an upload over the total size limit is refused whole, before anything is stored.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import Settings
from .documents import Document, load_file
from .errors import DocumentError, MissingDependencyError

# What makes one file unusable (the reason is its result line), not the whole upload.
FILE_ERRORS = (DocumentError, MissingDependencyError)

TEXT_TYPES = (".txt", ".md")
HTML_TYPES = (".html", ".htm")
PDF_TYPES = (".pdf",)
SIDECAR = ".json"  # metadata for the document of the same name: report.txt + report.json
ACCEPTED = (*TEXT_TYPES, *HTML_TYPES, *PDF_TYPES, SIDECAR)
MAX_FILES = 50  # per upload: each file is one ingest, and the page lists one line per file
# Formats that are valid text for no one: named .txt or .md, they are a disguise, not a document.
# (Windows programs start with "MZ", which text may too: their NUL bytes give them away instead.)
MAGIC = {b"%PDF-": "a PDF (name it .pdf)", b"\x89PNG": "a PNG image", b"GIF8": "a GIF image",
         b"\xff\xd8\xff": "a JPEG image", b"PK\x03\x04": "a ZIP archive (or an Office file)",
         b"\x7fELF": "a program", b"\x1f\x8b": "a gzip archive",
         b"\xd0\xcf\x11\xe0": "an old Office file"}
_UNSAFE = re.compile(r"[^\w.-]+")


@dataclass(frozen=True)
class UploadResult:
    """What became of one uploaded file."""

    name: str  # the client's file name, cleaned for display
    outcome: str  # "added", "updated", "unchanged", "skipped" or "failed"
    detail: str = ""  # why it was skipped or failed; the document's title otherwise
    doc_id: str = ""

    def line(self) -> str:
        """One line for a person: `report.txt: added as “Title” (id report)`."""
        if self.outcome in ("skipped", "failed"):
            return f"{self.name}: {self.outcome}: {self.detail}"
        if self.outcome == "unchanged":
            return f"{self.name}: unchanged: “{self.detail}” (id {self.doc_id}) is in the index already"
        return f"{self.name}: {self.outcome} as “{self.detail}” (id {self.doc_id})"


@dataclass(frozen=True)
class Staged:
    """An accepted file, its stored copy and the Document read from it."""

    name: str
    path: Path
    document: Document


def display_name(name: str) -> str:
    """The last part of a client's file name, without control characters: for showing only."""
    name = unicodedata.normalize("NFC", str(name))
    name = re.split(r"[/\\]", name)[-1]  # a client may send a path, in either convention
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
    return name[:120] or "unnamed"


def doc_id_for(name: str) -> str:
    """A document id from a file name: its stem in letters, digits, '.', '_' and '-'."""
    stem = Path(display_name(name)).stem
    return _UNSAFE.sub("-", stem).strip(".-")[:80] or "upload"


def sniff(name: str, data: bytes) -> str:
    """The file type the content shows (".txt", ".md", ".html", ".pdf"), which must be the one its
    name gives; DocumentError (naming the file and what to do) otherwise."""
    suffix = Path(name).suffix.lower()
    if suffix not in ACCEPTED or suffix == SIDECAR:
        raise DocumentError(f"unsupported file type {suffix or '(none)'}; upload "
                            f"{', '.join(ACCEPTED[:-1])} files (and a .json of metadata beside one)")
    if suffix in PDF_TYPES:
        if not data.lstrip(b" \t\r\n\f").startswith(b"%PDF-"):
            found = _magic(data)
            raise DocumentError(f"named .pdf but {'is ' + found if found else 'is not a PDF'}; "
                                "upload the PDF itself")
        return suffix
    found = _magic(data)
    if found:
        raise DocumentError(f"named {suffix} but is {found}, not text; upload the text itself")
    text_of(data)  # raises for anything that is not UTF-8 text
    return suffix


def text_of(data: bytes) -> str:
    """Bytes as UTF-8 text without NULs, or DocumentError saying what the bytes are instead."""
    # NULs first: text in any encoding but UTF-16 has none, so they mean binary, not an encoding.
    if b"\x00" in data:
        raise DocumentError("is binary data, not text; upload the text itself")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DocumentError("is not UTF-8 text (binary data, or another encoding); "
                            "convert it to UTF-8 first, e.g. with iconv") from None


def _magic(data: bytes) -> str:
    head = data[:8]
    return next((what for magic, what in MAGIC.items() if head.startswith(magic)), "")


def check_limits(files: list[tuple[str, bytes]], settings: Settings) -> None:
    """Refuse an upload that is too big as a whole, before anything of it is read or stored."""
    if not files:
        raise DocumentError("the upload holds no file; choose or drop .txt, .md, .html or .pdf files")
    if len(files) > MAX_FILES:
        raise DocumentError(f"the upload holds {len(files)} files; upload at most {MAX_FILES} at once")
    total = sum(len(data) for _, data in files)
    if total > settings.upload_total_mb * 2**20:
        raise DocumentError(
            f"the upload holds {_mb(total)} in all, over the {settings.upload_total_mb} MB limit per "
            "upload (ASSISTANT_UPLOAD_TOTAL_MB); upload fewer files at once")


def stage(files: list[tuple[str, bytes]], settings: Settings) -> tuple[list[Staged], list[UploadResult]]:
    """Check and store each (name, bytes); return the accepted files read as Documents, and a
    result for each file skipped. Nothing is indexed here."""
    check_limits(files, settings)
    named = [(display_name(name), data) for name, data in files]
    sidecars = {Path(n).stem: (n, d) for n, d in named if Path(n).suffix.lower() == SIDECAR}
    used_sidecars: set[str] = set()
    staged: list[Staged] = []
    skipped: list[UploadResult] = []
    ids: set[str] = set()
    folder = settings.home / "uploads"
    for name, data in named:
        if Path(name).suffix.lower() == SIDECAR:
            continue
        try:
            if len(data) > settings.upload_max_mb * 2**20:
                raise DocumentError(f"is {_mb(len(data))}, over the {settings.upload_max_mb} MB limit "
                                    "per file (ASSISTANT_UPLOAD_MAX_MB); split it or upload the text only")
            suffix = sniff(name, data)
            meta = {}
            if Path(name).stem in sidecars:
                used_sidecars.add(Path(name).stem)
                meta = _sidecar(*sidecars[Path(name).stem])
            path, created = _store(folder, data, suffix)
            try:
                doc = _document(name, data, path, meta)
            except FILE_ERRORS:
                if created:
                    path.unlink()  # a file that is no document is not kept
                raise
            if doc.id in ids:
                raise DocumentError(f"another file of this upload has the id {doc.id!r}; rename one")
            ids.add(doc.id)
            staged.append(Staged(name, path, doc))
        except FILE_ERRORS as exc:
            skipped.append(UploadResult(name, "skipped", _without_name(str(exc), name)))
    for stem, (name, _) in sidecars.items():
        if stem not in used_sidecars:
            skipped.append(UploadResult(name, "skipped", "metadata for no file of this upload; upload it "
                                        "with its document, named alike (report.txt + report.json)"))
    return staged, skipped


def _sidecar(name: str, data: bytes) -> dict[str, Any]:
    try:
        meta = json.loads(text_of(data))
    except DocumentError as exc:
        raise DocumentError(f"its metadata {name} {exc}") from None
    except json.JSONDecodeError as exc:
        raise DocumentError(f"its metadata {name} is not valid JSON ({exc}); fix or leave it out") from None
    if not isinstance(meta, dict):
        raise DocumentError(f"its metadata {name} must hold a JSON object like {{\"title\": ...}}")
    for key in ("id", "title", "source"):
        if key in meta and not isinstance(meta[key], str):
            raise DocumentError(f"its metadata {name} gives {key} as {type(meta[key]).__name__}; "
                                "give it as text")
    return meta


def _store(folder: Path, data: bytes, suffix: str) -> tuple[Path, bool]:
    """Write the bytes under a name made from their hash (the same content: the same file);
    (path, whether this call wrote it)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha256(data).hexdigest()[:32]}{suffix}"
    if path.exists():
        return path, False
    # Written whole, then renamed: two uploads of the same file never see half of it.
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".part")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)
    return path, True


def _document(name: str, data: bytes, path: Path, sidecar: dict[str, Any]) -> Document:
    try:
        doc = load_file(path)
    except DocumentError as exc:
        raise DocumentError(_without_name(str(exc), path.name)) from None
    meta = {k: v for k, v in doc.metadata.items() if k != "file"}
    side = dict(sidecar)
    title = side.pop("title", "") or doc.title
    # load_file's fallback source is the stored copy's file:// path: nothing a reader can open.
    source = side.pop("source", "") or ("" if doc.source.startswith("file:") else doc.source)
    doc_id = side.pop("id", "") or doc_id_for(name)
    meta.update(side)
    meta.update({"file": name, "bytes": len(data)})
    return Document(id=doc_id, text=doc.text, title=title, source=source, metadata=meta)


def _without_name(message: str, name: str) -> str:
    # Errors from documents.py start with the (stored) file name; the result line names it already.
    for prefix in (f"{name} is ", f"{name}: ", f"{name} "):
        if message.startswith(prefix):
            return ("is " if prefix.endswith(" is ") else "") + message[len(prefix):]
    return message


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f} MB"
