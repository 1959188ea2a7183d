"""The sources panel: the documents answers come from, and (unless ASSISTANT_UI_UPLOADS=0) adding
files by upload or drag and drop and removing documents, over `Assistant.upload` / `remove`.

Every session shares one index: an upload is seen by the other sessions' next answer, and their
page's list on its next load. Ingests run one at a time (one queue slot, and the index's lock),
beside the chats, which keep their own slots.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from assistant.errors import AssistantError
from assistant.llm import redact

from . import render

LIBRARY_SLOT = "library"  # uploads and removals share one queue slot: one ingest at a time
TICK = 0.25  # seconds between progress updates sent to the page
READ_ONLY = "This server's library is read-only (ASSISTANT_UI_UPLOADS=0)."


def build(demo: gr.Blocks, bot, turns: gr.State, panel: gr.HTML, subtitle: gr.Markdown) -> None:
    """The panel's components and events, inside `demo` (after `panel` exists)."""
    library = gr.HTML(library_html(bot), elem_id="library")
    if not bot.settings.ui_uploads:
        gr.Markdown(READ_ONLY, elem_id="read-only")
        # The list as it is when a page opens: another process may have changed it since build.
        demo.load(lambda: refreshed(bot)[::2], None, [library, subtitle], api_visibility="private",
                  show_progress="hidden")
        return
    files = gr.File(label="Add documents: .txt, .md, .html, .pdf (a .json of metadata beside one, "
                          f"same name); at most {bot.settings.upload_max_mb} MB each",
                    file_count="multiple", type="filepath", elem_id="upload", height=160)
    status = gr.HTML(render.status_html([]), elem_id="library-status")
    with gr.Row():
        choice = gr.Dropdown(choices(bot), value=None, label="Document to remove", scale=4,
                             elem_id="remove-choice")
        remove_button = gr.Button("Remove", variant="stop", scale=1, min_width=90, elem_id="remove")
    outputs = [status, library, choice, panel, subtitle, files]

    def add_(paths: list[str] | None, t: list[dict]) -> Iterator[tuple]:
        yield from add_files(bot, paths, t)  # a generator function: Gradio streams its updates

    files.upload(add_, [files, turns], outputs,
                 api_name="add_documents", concurrency_limit=1, concurrency_id=LIBRARY_SLOT,
                 show_progress="hidden")
    remove_button.click(lambda doc_id, t: remove_document(bot, doc_id, t), [choice, turns],
                        outputs[:-1], api_name="remove_document", concurrency_limit=1,
                        concurrency_id=LIBRARY_SLOT, show_progress="hidden")
    demo.load(lambda: refreshed(bot), None, [library, choice, subtitle], api_visibility="private",
              show_progress="hidden")


def refreshed(bot) -> tuple:
    """On page load: (library, remove choices, subtitle), with what other processes ingested."""
    bot.index.refresh()
    return library_html(bot), gr.update(choices=choices(bot), value=None), subtitle(bot.documents)


def add_files(bot, paths: list[str] | None, turns: list[dict]) -> Iterator[tuple]:
    """Ingest uploaded files, yielding (status, library, choices, source panel, subtitle, files):
    progress while it runs, then one line per file."""
    paths = [str(p) for p in paths or []]
    names = [Path(p).name for p in paths]  # the client's name, as Gradio kept it: shown only
    try:
        files = [(name, Path(p).read_bytes()) for name, p in zip(names, paths, strict=True)]
    except OSError as exc:
        yield _after(bot, turns, render.status_html([], error=f"the upload could not be read ({exc}); "
                                                           "upload the files again"))
        return
    finally:
        _forget(paths)  # Gradio's copies: the index keeps its own, under a generated name
    events: queue.Queue = queue.Queue()
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["results"] = bot.upload(files, on_progress=lambda *e: events.put(e))
        except AssistantError as exc:
            outcome["error"] = redact(str(exc))
        except Exception as exc:  # the page must hear of any failure, not wait for ever
            outcome["error"] = f"the upload failed ({type(exc).__name__}: {redact(str(exc))[:200]})"

    worker = threading.Thread(target=work, name="upload", daemon=True)
    worker.start()
    progress: dict[str, str] = {}
    shown = None
    while worker.is_alive() or not events.empty():
        try:
            doc_id, done, total = events.get(timeout=TICK)
            progress[doc_id] = f"{doc_id}: embedding {done} of {total} spans…"
        except queue.Empty:
            pass
        lines = [f"adding {len(files)} file(s)…", *progress.values()]
        if lines != shown:
            shown = lines
            yield (render.status_html(lines, busy=True), gr.skip(), gr.skip(), gr.skip(), gr.skip(),
                   gr.skip())
    worker.join()
    if "error" in outcome:
        yield _after(bot, turns, render.status_html([], error=outcome["error"]))
        return
    yield _after(bot, turns, render.status_html([r.line() for r in outcome["results"]]))


def remove_document(bot, doc_id: str | None, turns: list[dict]) -> tuple:
    """Take one document out: (status, library, choices, source panel, subtitle)."""
    if not doc_id:
        return _after(bot, turns, render.status_html([], error="choose a document to remove first"))[:-1]
    try:
        doc = bot.remove(doc_id)
    except AssistantError as exc:
        return _after(bot, turns, render.status_html([], error=redact(str(exc))))[:-1]
    line = f"removed “{doc.title or doc.id}” (id {doc.id}): answers no longer cite it"
    return _after(bot, turns, render.status_html([line]))[:-1]


def _after(bot, turns: list[dict], status: str) -> tuple:
    """Every output once the library changed (or failed to): the files box emptied."""
    panel = render.source_html(bot.documents, [t["citations"] for t in turns or []])
    return (status, library_html(bot), gr.update(choices=choices(bot), value=None), panel,
            subtitle(bot.documents), None)


def library_html(bot) -> str:
    """The library table of this assistant's documents."""
    docs = bot.documents
    return render.library_html(docs, {d.id: bot.index.added(d.id) for d in docs})


def choices(bot) -> list[tuple[str, str]]:
    """(label, id) of every document, for the remove menu."""
    return [(f"{d.title or d.id} ({d.id})", d.id) for d in bot.documents]


def subtitle(documents) -> str:
    """The line under the heading: what the questions are about."""
    from html import escape

    if not documents:
        return "No documents yet: add some in the sources panel below."
    if len(documents) == 1:
        d = documents[0]
        outlet = d.metadata.get("outlet")
        return escape(f"Questions about “{d.title or d.id}”" + (f" ({outlet})" if outlet else ""))
    return f"Questions about {len(documents)} documents"


def _forget(paths: list[str]) -> None:
    # Gradio's cache would keep every upload until it is cleaned; the index has its own copy.
    for p in paths:
        with contextlib.suppress(OSError):
            Path(p).unlink()
