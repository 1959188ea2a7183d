"""Thin Gradio app over the public API: chat, source panel, details, feedback.

    >>> from assistant_ui.app import launch
    >>> launch()  # http://127.0.0.1:7860, the default article, index built on first use
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from assistant.documents import example_questions
from assistant.errors import AssistantError, ConfigError
from assistant.feedback import FeedbackStore, feedback_record
from assistant.llm import redact
from assistant.sanitize import clean

from . import render, sources

STATIC = Path(__file__).with_name("static")
CSS = (STATIC / "app.css").read_text(encoding="utf-8")
JS = (STATIC / "cite.js").read_text(encoding="utf-8")
AUTH_ENV = "ASSISTANT_UI_AUTH"
# Answers at once. An answer holds its slot while each of its updates goes out, so with 2 the
# CPU idled between them; beyond 4 answers only wait in threads instead of in the queue
# (`assistant bench --ui`: 15 -> 19 answers/s at 20 clients on 2 cores). The Assistant is
# safe to share: the embeddings' caches and tokenizer are behind a lock.
CONCURRENCY = 4
MAX_QUEUE = 32
# System fonts: nothing to fetch, and the same glyphs in every heading.
THEME = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                          font_mono=["ui-monospace", "monospace"])
LLM_LABEL = "Model (extractive, openai:<model>, ollama:<model>, llamacpp:<path|smollm2>)"


def build_app(bot) -> gr.Blocks:
    """The UI over an `Assistant`; each browser session keeps its own history."""
    store = FeedbackStore(bot.settings.home / "feedback.jsonl")
    examples = example_questions(bot.settings.corpus_dir)

    def ask_(question: str, turns: list[dict], k: float, llm_name: str) -> Iterator[tuple]:
        yield from respond(bot, question, turns, k, llm_name)

    def on_like(turns: list[dict], comment: str, data: gr.LikeData) -> Any:
        index = render.turn_of_message(data.index)
        if index is None or index >= len(turns) or not isinstance(data.liked, bool):
            return gr.skip()  # a question, or a like taken back: nothing to record
        return rate(store, turns, comment, "up" if data.liked else "down", index)

    with gr.Blocks(title="Article assistant", analytics_enabled=False) as demo:
        turns = gr.State([])  # this session's answers as dicts; gr.State is per browser tab
        gr.Markdown("## Article assistant")
        subtitle = gr.Markdown(sources.subtitle(bot.documents), elem_id="subtitle")
        with gr.Row(equal_height=False):
            with gr.Column(scale=5):
                chat = gr.Chatbot(elem_id="chat", label="Chat", height=440, render_markdown=False,
                                  buttons=["copy", "copy_all"],
                                  placeholder="Answers quote the article and cite it: click a [n].")
                with gr.Row():
                    msg = gr.Textbox(placeholder="Ask about the article…", show_label=False,
                                     scale=5, max_length=2000, autofocus=True, elem_id="question")
                    ask = gr.Button("Ask", variant="primary", scale=1, min_width=80, elem_id="ask")
                    reset = gr.Button("Clear", scale=1, min_width=80, elem_id="clear")
                with gr.Row():
                    comment = gr.Textbox(placeholder="Optional comment on the last answer",
                                         show_label=False, scale=4, max_length=2000, elem_id="comment")
                    up = gr.Button("Helpful", size="sm", scale=1, min_width=90, elem_id="rate-up")
                    down = gr.Button("Not helpful", size="sm", scale=1, min_width=110,
                                     elem_id="rate-down")
                if examples:
                    gr.Examples([[q] for q in examples], inputs=[msg], label="Example questions")
            with gr.Column(scale=6):
                panel = gr.HTML(render.source_html(bot.documents, []), elem_id="sources")
        with gr.Accordion("Sources: the documents answers come from", open=True, elem_id="library-panel"):
            sources.build(demo, bot, turns, panel, subtitle)
        with gr.Accordion("Details", open=False):
            with gr.Row():
                k = gr.Slider(1, 10, value=min(bot.settings.k, 10), step=1,
                              label="Passages to retrieve (k)", elem_id="k")
                llm_box = gr.Textbox(bot.llm, label=LLM_LABEL, max_lines=1, max_length=500,
                                     elem_id="llm")
            details = gr.HTML(render.details_html(None), elem_id="details")
            raw = gr.JSON(label="Answer (JSON)", elem_id="raw")

        outputs = [chat, turns, panel, details, raw, msg]
        gr.on([msg.submit, ask.click], ask_, [msg, turns, k, llm_box], outputs, api_name="ask",
              show_progress="minimal")
        reset.click(lambda: cleared(bot), None, outputs[:-1], api_name="clear")
        # The chatbot's own trash button must drop the session history too, not just the view.
        chat.clear(lambda: cleared(bot), None, outputs[:-1], api_visibility="private")
        up.click(lambda t, c: rate(store, t, c, "up"), [turns, comment], [comment],
                 api_name="feedback_up")
        down.click(lambda t, c: rate(store, t, c, "down"), [turns, comment], [comment],
                   api_name="feedback_down")
        chat.like(on_like, [turns, comment], [comment], api_visibility="private")
    return demo


def respond(bot, question: str, turns: list[dict], k: float = 5,
            llm_name: str | None = None) -> Iterator[tuple]:
    """Stream one answer: (chat, turns, source panel, details, answer dict, textbox) updates.

    While the text grows only the chat changes; the last update carries everything else.
    `llm_name` picks another backend (llm.py) over the same index; None keeps the bot's own.
    """
    try:
        bot = bot.with_llm(llm_name)
    except AssistantError as exc:
        # Nothing was yielded yet: the chat, the history and the typed question all stay.
        raise gr.Error(redact(str(exc))) from None
    history = [(t["question"], t["text"]) for t in turns]
    # Shown as the API will read it: a lone surrogate from the browser would break the reply's JSON.
    question = clean(question) if isinstance(question, str) else question
    asked = render.messages(turns) + [{"role": "user", "content": render.user_html(question)}]
    turn = len(turns) + 1
    box: Any = ""  # empty the question box once; later updates must not wipe what is typed next
    try:
        for text, final in bot.stream(question, history, k=int(k)):
            if final is None:
                partial = render.chat_html(text, turn, streaming=True)
                yield ([*asked, {"role": "assistant", "content": partial}],
                       gr.skip(), gr.skip(), gr.skip(), gr.skip(), box)
            else:
                turns = [*turns, final.to_dict()]
                yield (render.messages(turns), turns,
                       render.source_html(bot.documents, [t["citations"] for t in turns]),
                       render.details_html(turns[-1]), turns[-1], box)
            box = gr.skip()
    except AssistantError as exc:
        raise gr.Error(redact(str(exc))) from None


def cleared(bot) -> tuple:
    """An empty conversation: chat, history, source panel, details, answer (the box is kept)."""
    return [], [], render.source_html(bot.documents, []), render.details_html(None), None


def rate(store: FeedbackStore, turns: list[dict], comment: str, rating: str, index: int = -1) -> Any:
    """Store a rating of one answer (the latest by default); clears the comment box."""
    if not turns:
        gr.Warning("Ask a question first, then rate its answer.")
        return gr.skip()
    try:
        store.append(feedback_record(turns[index], rating, comment))
    except AssistantError as exc:
        raise gr.Error(str(exc)) from None
    gr.Info("Thanks, your feedback was saved.")
    return ""


def launch(host: str = "127.0.0.1", port: int = 7860, bot=None, *,
           prevent_thread_lock: bool = False, **overrides: Any) -> gr.Blocks:
    """Serve the UI on host:port (local only by default); loads the assistant once, with
    Settings overrides (e.g. llm="ollama:llama3.2")."""
    auth = auth_from_env()
    if bot is None:
        from assistant import Assistant

        bot = Assistant.open(**overrides)
        bot.warm_up()  # load the model and caches now, not in the first user's request
    demo = queued(build_app(bot))
    try:
        demo.launch(server_name=host, server_port=port, share=False, auth=auth, css=CSS, js=JS,
                    theme=THEME, prevent_thread_lock=prevent_thread_lock, footer_links=["api"],
                    max_file_size=max_upload_bytes(bot.settings))
    except OSError as exc:
        raise ConfigError(f"cannot serve on {host}:{port} ({exc}); choose another --port") from None
    return demo


def max_upload_bytes(settings) -> int:
    """What Gradio's upload route takes per file: the per-file limit, or a single byte when
    uploads are off (the route itself cannot be removed, so nothing of size gets to the disk)."""
    return settings.upload_max_mb * 2**20 if settings.ui_uploads else 1


def queued(demo: gr.Blocks) -> gr.Blocks:
    """The app with the UI's queue settings (the load bench serves its baseline with them too)."""
    return demo.queue(default_concurrency_limit=CONCURRENCY, max_size=MAX_QUEUE)


def auth_from_env() -> tuple[str, str] | None:
    """Basic-auth credentials from ASSISTANT_UI_AUTH=user:password (None when unset)."""
    raw = os.environ.get(AUTH_ENV, "")
    if not raw:
        return None
    user, sep, password = raw.partition(":")
    if not sep or not user.strip() or not password:
        # Never echo the value: it may hold a password.
        raise ConfigError(f"{AUTH_ENV} must look like user:password (both non-empty)")
    return user.strip(), password


