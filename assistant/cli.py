"""Thin CLI: parse, call the API, print. Errors become one line and a non-zero exit here."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .errors import AssistantError


class _Group(click.Group):
    """Turns the assistant's errors into one clear line instead of a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except AssistantError as exc:
            raise click.ClickException(str(exc)) from None
        except KeyboardInterrupt:
            raise click.Abort() from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="article-assistant")
def main() -> None:
    """Ask questions about a news article; every answer cites the exact passage."""


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--rebuild", is_flag=True, help="Drop the index first, then ingest PATHS (default: the corpus).")
def ingest(paths: tuple[Path, ...], rebuild: bool) -> None:
    """Add files or folders (.txt, .md, .html, .pdf) to the index."""
    from .api import Assistant
    from .config import Settings

    from .documents import load_path

    settings = Settings.load()
    docs = [d for p in (paths or (settings.corpus_dir,)) for d in load_path(p)]  # fail before any loading
    bot = _bare(settings)
    report = bot.ingest(documents=docs, rebuild=rebuild, progress=True)
    click.echo(
        f"{report.documents} document(s): {report.embedded} span(s) embedded, "
        f"{report.reused} unchanged, {report.removed} removed; "
        f"{len(bot.documents)} document(s) in the index at {settings.index_dir}"
    )


def _bare(settings):
    from .api import Assistant
    from .embeddings import get_embeddings
    from .index import Index

    return Assistant(Index(settings, get_embeddings(settings.embedding_model)), settings)


@main.command()
@click.argument("question")
@click.option("--json", "as_json", is_flag=True, help="Print the whole answer as JSON.")
@click.option("-k", type=click.IntRange(min=1), default=None, help="Passages to retrieve (default 5).")
def ask(question: str, as_json: bool, k: int | None) -> None:
    """Answer QUESTION from the article, with citations."""
    from .api import Assistant, check_question

    check_question(question)  # fail fast, before loading the model
    answer = Assistant.open().ask(question, k=k)
    if as_json:
        click.echo(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
        return
    click.echo(answer.text)
    if answer.query != answer.question:
        click.echo(f"(searched for: {answer.query})")
    for c in answer.citations:
        click.echo(f"\n[{c.n}] {c.label()}\n    “{c.quote}”")


@main.command()
def docs() -> None:
    """List the documents in the index."""
    from .api import Assistant

    for d in Assistant.open().documents:
        click.echo(f"{d.id}\t{len(d.text)} chars\t{d.title}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", type=click.IntRange(1, 65535), default=7860, show_default=True)
def ui(host: str, port: int) -> None:
    """Serve the chat web UI."""
    from ui.app import launch

    launch(host=host, port=port)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
