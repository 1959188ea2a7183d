"""HTML for the UI: chat messages with clickable [n] markers, the source panel, the details.

Pure functions from API objects (or their `to_dict()` forms) to strings. Every piece of
document or answer text goes through `html.escape`: an article may contain markup.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from assistant.answer import Citation
from assistant.documents import Document
from assistant.markers import MARKER  # the [n] an answer shows, linked to its span

ABSTAIN_LABEL = "Not in the article"
MAX_DOCS_SHOWN = 5  # beyond this, the panel shows only the documents the session cited


def cite_id(turn: int, n: int) -> str:
    """The key shared by a marker, its highlighted span and its citation card."""
    return f"{turn}-{n}"


def chat_html(text: str, turn: int, *, abstained: bool = False, query: str = "",
              question: str = "", streaming: bool = False, notice: str = "") -> str:
    """An assistant message: escaped text, [n] as links to the cited spans, notes around it."""
    body = MARKER.sub(
        lambda m: f'<a class="cite-ref" href="#cite-{cite_id(turn, int(m.group(1)))}">[{m.group(1)}]</a>',
        escape(text),
    )
    if abstained:
        body = (f'<div class="abstain"><span class="abstain-label">{ABSTAIN_LABEL}</span>'
                f'<span class="abstain-text">{body}</span></div>')
    else:
        body = f'<div class="answer{" streaming" if streaming else ""}">{body}</div>'
    if query and query != question:
        body += f'<div class="query-note">Searched for: <q>{escape(query)}</q></div>'
    if notice:  # the model failed or was not trusted: say so where the answer is read
        body += f'<div class="notice-note">{escape(notice)}</div>'
    return body


def messages(turns: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """The chat as Gradio messages: a user and an assistant message per answer dict."""
    out = []
    for turn, a in enumerate(turns, start=1):
        out.append({"role": "user", "content": user_html(a["question"])})
        out.append({"role": "assistant", "content": chat_html(
            a["text"], turn, abstained=a["abstained"], query=a["query"], question=a["question"],
            notice=a.get("notice", ""))})
    return out


def turn_of_message(index: Any) -> int | None:
    """The answer (0-based) behind a chat message index, None for a question."""
    if isinstance(index, (list, tuple)):
        index = index[0]
    return index // 2 if isinstance(index, int) and index % 2 == 1 else None


def user_html(question: str) -> str:
    """A user message, shown as typed."""
    return f'<div class="question">{escape(question)}</div>'


def source_html(documents: Sequence[Document], turns: Sequence[Sequence[Mapping[str, Any]]]) -> str:
    """The documents with every cited span marked; the latest turn's citations listed on top.

    `turns` holds each answer's citation dicts in order; turn numbers start at 1.
    """
    current = len(turns)
    marks: dict[str, list[tuple[int, int, str, bool]]] = {}
    for turn, citations in enumerate(turns, start=1):
        for c in citations:
            marks.setdefault(c["doc_id"], []).append(
                (int(c["start"]), int(c["end"]), cite_id(turn, int(c["n"])), turn == current))
    docs = list(documents)
    if len(docs) > MAX_DOCS_SHOWN:
        docs = [d for d in docs if d.id in marks]
    cards = citations_html(turns[-1], current) if turns else ""
    body = "".join(document_html(d, marks.get(d.id, [])) for d in docs)
    return f'<div class="source-panel">{cards}{body}</div>'


def library_html(documents: Sequence[Document], added: Mapping[str, str] | None = None) -> str:
    """The documents answers come from: title, outlet, id, size and when added, one row each."""
    if not documents:
        return '<p class="library-empty">No documents yet: add one below.</p>'
    rows = []
    for d in documents:
        outlet = str(d.metadata.get("outlet", "") or "")
        when = (added or {}).get(d.id, "")
        rows.append(
            f'<tr data-doc="{escape(d.id)}"><td class="lib-title">{escape(d.title or d.id)}</td>'
            f'<td class="lib-outlet">{escape(outlet) or "–"}</td><td class="lib-id">{escape(d.id)}</td>'
            f'<td class="lib-size">{size_label(len(d.text.encode("utf-8")))}</td>'
            f'<td class="lib-added">{escape(when[:16].replace("T", " ")) or "–"}</td></tr>')
    return ('<table class="library"><tr><th>title</th><th>outlet</th><th>id</th><th>size</th>'
            f'<th>added</th></tr>{"".join(rows)}</table>')


def size_label(n: int) -> str:
    """Bytes as a person reads them: 812 B, 6.1 KB, 2.4 MB."""
    if n < 1024:
        return f"{n} B"
    return f"{n / 1024:.1f} KB" if n < 2**20 else f"{n / 2**20:.1f} MB"


def status_html(lines: Sequence[str], *, busy: bool = False, error: str = "") -> str:
    """The sources panel's status: progress while an ingest runs, then one line per file."""
    items = "".join(f'<li class="{_line_class(line)}">{escape(line)}</li>' for line in lines)
    head = f'<p class="status-error">{escape(error)}</p>' if error else ""
    busy_class = " busy" if busy else ""
    return f'<div class="library-status{busy_class}">{head}<ul>{items}</ul></div>'


def _line_class(line: str) -> str:
    for outcome in ("skipped", "failed", "removed", "added", "updated", "unchanged"):
        if f": {outcome}" in line or line.startswith(outcome):
            return f"line-{outcome}"
    return "line-progress"


def citations_html(citations: Sequence[Mapping[str, Any]], turn: int) -> str:
    """One card per citation: [n], title, outlet, ¶ and the quote."""
    if not citations:
        return ""
    items = []
    for c in citations:
        key = cite_id(turn, int(c["n"]))
        label = Citation(**{k: c[k] for k in Citation.__dataclass_fields__ if k in c}).label()
        section = f' <span class="section">§ {escape(c["section"])}</span>' if c.get("section") else ""
        items.append(
            f'<li class="cite-card card-{key}"><a class="cite-ref" href="#cite-{key}">[{c["n"]}]</a> '
            f'<span class="cite-label">{escape(label)}</span>{section}'
            f'<blockquote class="cite-quote">{escape(c["quote"])}</blockquote></li>'
        )
    return f'<ol class="cite-list">{"".join(items)}</ol>'


def document_html(doc: Document, marks: Sequence[tuple[int, int, str, bool]] = ()) -> str:
    """One document as headings, numbered paragraphs and list items, with marked spans.

    Each mark is (start, end, key, current); the text inside a mark is exactly
    doc.text[start:end], split into pieces only where blocks or other marks begin or end.
    """
    head = [f'<header class="doc-head"><span class="doc-title">{escape(doc.title or doc.id)}</span>']
    if doc.metadata.get("outlet"):
        head.append(f'<span class="doc-outlet">{escape(str(doc.metadata["outlet"]))}</span>')
    if doc.source.startswith(("http://", "https://")):  # never a javascript: or file: link
        head.append(f'<a class="doc-source" href="{escape(doc.source)}" target="_blank" '
                    f'rel="noopener noreferrer">source</a>')
    parts = ["".join(head) + "</header>"]
    opened: set[str] = set()
    in_list = False
    for block in doc.blocks:
        if block.kind == "item" and not in_list:
            parts.append('<ul class="items">')
        elif block.kind != "item" and in_list:
            parts.append("</ul>")
        in_list = block.kind == "item"
        inner = _marked(doc.text, block.start, block.end, marks, opened)
        number = f'<span class="pnum">¶ {block.number}</span>' if block.number else ""
        if block.kind == "title":
            parts.append(f'<h2 class="block title">{inner}</h2>')
        elif block.kind == "heading":
            parts.append(f'<h3 class="block heading">{inner}</h3>')
        elif block.kind == "item":
            parts.append(f'<li class="block item">{number}{inner}</li>')
        elif block.kind == "meta":
            parts.append(f'<p class="block meta">{inner}</p>')
        else:
            parts.append(f'<p class="block paragraph">{number}{inner}</p>')
    if in_list:
        parts.append("</ul>")
    return f'<article class="doc" data-doc="{escape(doc.id)}">{"".join(parts)}</article>'


def _marked(text: str, start: int, end: int, marks: Sequence[tuple[int, int, str, bool]],
            opened: set[str]) -> str:
    # Cut the block at every mark boundary inside it; each piece knows which marks cover it.
    cuts = {start, end} | {p for s, e, _, _ in marks for p in (s, e) if start < p < end}
    bounds = sorted(cuts)
    out = []
    for a, b in zip(bounds, bounds[1:], strict=False):
        covering = [(key, cur) for s, e, key, cur in marks if s <= a and b <= e]
        piece = escape(text[a:b])
        if not covering:
            out.append(piece)
            continue
        for key, cur in covering:
            if key not in opened:  # the scroll target and, for the latest answer, its number
                opened.add(key)
                out.append(f'<span class="cite-anchor" id="cite-{key}"></span>')
                if cur:
                    out.append(f'<sup class="cite-badge">[{key.split("-")[1]}]</sup>')
        classes = " ".join(f"c-{key}" for key, _ in covering)
        state = " current" if any(cur for _, cur in covering) else ""
        out.append(f'<mark class="cite{state} {classes}">{piece}</mark>')
    return "".join(out)


def details_html(answer: Mapping[str, Any] | None) -> str:
    """Who answered and how, any notice, each sentence's support and the dropped ones, per-stage
    timings and the retrieved passages with their scores."""
    if not answer:
        return '<p class="details-empty">Ask a question to see timings and retrieved passages.</p>'
    return ('<div class="details">' + _about_html(answer) + _sentences_html(answer.get("sentences", []))
            + _dropped_html(answer.get("dropped", [])) + _scores_html(answer) + "</div>")


def _about_html(answer: Mapping[str, Any]) -> str:
    mode = f' <span class="mode">({escape(str(answer["mode"]))})</span>' if answer.get("mode") else ""
    about = (f'<p class="answered-by">Answered by <b class="answerer">'
             f'{escape(str(answer.get("answerer", "")))}</b>{mode}</p>')
    if answer.get("notice"):
        about += f'<p class="notice">{escape(str(answer["notice"]))}</p>'
    return about


def _sentences_html(sentences: Sequence[Mapping[str, Any]]) -> str:
    if not sentences:
        return ""
    rows = "".join(
        f"<tr><td>{escape(str(s['text']))}</td><td>{_num(s.get('overlap'), 2)}</td>"
        f"<td>{_num(s.get('similarity'), 2)}</td></tr>"
        for s in sentences
    )
    return ('<table class="sentences"><tr><th>sentence</th><th>overlap</th><th>similarity</th></tr>'
            f"{rows}</table>")


def _dropped_html(dropped: Sequence[Mapping[str, Any]]) -> str:
    if not dropped:
        return ""
    items = "".join(
        f'<li><span class="dropped-text">{escape(str(d["text"]))}</span> '
        f'<span class="dropped-reason">{escape(str(d.get("reason", "")))}</span>'
        f"{_cited(d.get('cited', ()))}</li>"
        for d in dropped
    )
    return f'<p class="dropped-head">Dropped as unsupported:</p><ul class="dropped">{items}</ul>'


def _cited(numbers: Sequence[Any]) -> str:
    shown = "".join(f"[{int(n)}]" for n in numbers if isinstance(n, int | float))
    return f' <span class="dropped-cited">cited {shown}</span>' if shown else ""


def _scores_html(answer: Mapping[str, Any]) -> str:
    timings = "".join(
        f"<tr><td>{escape(stage)}</td><td>{seconds * 1000:.1f} ms</td></tr>"
        for stage, seconds in answer.get("timings", {}).items()
    )
    rows = "".join(
        f"<tr><td>{i}</td><td>{escape(p['doc_id'])} {p['start']}–{p['end']}</td>"
        f"<td>{p['score']:.4f}</td><td>{_num(p.get('dense_score'))}</td>"
        f"<td>{_num(p.get('bm25_score'))}</td><td class='passage'>{escape(p['text'])}</td></tr>"
        for i, p in enumerate(answer.get("passages", []), start=1)
    )
    return (
        f'<table class="timings"><tr><th>stage</th><th>time</th></tr>{timings}</table>'
        '<table class="passages"><tr><th>#</th><th>span</th><th>fused</th><th>dense</th>'
        f'<th>bm25</th><th>text</th></tr>{rows}</table>'
    )


def _num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"
