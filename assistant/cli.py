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
    from .config import Settings
    from .documents import Skipped, load_path

    settings = Settings.load()
    skipped: list[Skipped] = []
    # Read everything first: bad input fails here, before the index is opened or cleared.
    docs = [d for p in (paths or (settings.corpus_dir,)) for d in load_path(p, skipped)]
    for s in skipped:
        click.echo(f"skipped {s}", err=True)
    bot = _bare(settings)  # repairs a damaged index; each repair is logged as one line on stderr
    report = bot.ingest(documents=docs, rebuild=rebuild, progress=True)
    click.echo(
        f"{report.documents} document(s): {report.embedded} span(s) embedded, "
        f"{report.reused} unchanged, {report.removed} removed; "
        f"{len(bot.documents)} document(s) in the index at {settings.index_dir}"
        + (f"; {len(skipped)} unreadable file(s) skipped" if skipped else "")
    )


def _bare(settings):
    from .api import Assistant
    from .embeddings import get_embeddings
    from .index import Index

    return Assistant(Index(settings, get_embeddings(settings.embedding_model)), settings)


def _backend(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    # A misspelt backend is a usage error, caught before the index or any model loads.
    if value is None:
        return None
    from .llm import parse_backend

    try:
        parse_backend(value)
    except AssistantError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


def llm_options(command):
    """--llm and --llm-mode: the chat model that writes the answer (Settings.llm, llm_mode)."""
    command = click.option(
        "--llm-mode", type=click.Choice(["auto", "phrase", "read"], case_sensitive=False), default=None,
        help="phrase: the model rewords the extractive quotes; read: it reads the passages "
             "(default auto: phrase for a small local model).")(command)
    return click.option(
        "--llm", "llm", metavar="NAME", default=None, callback=_backend,
        help="Chat model: extractive (default), openai:<model>, ollama:<model>, "
             "llamacpp:<path.gguf|smollm2>.")(command)


@main.command()
@click.argument("question")
@click.option("--json", "as_json", is_flag=True, help="Print the whole answer as JSON.")
@click.option("-k", type=click.IntRange(min=1), default=None, help="Passages to retrieve (default 5).")
@llm_options
def ask(question: str, as_json: bool, k: int | None, llm: str | None, llm_mode: str | None) -> None:
    """Answer QUESTION from the article, with citations."""
    from .api import Assistant, check_question

    check_question(question)  # fail fast, before loading the model
    answer = Assistant.open(llm=llm, llm_mode=llm_mode).ask(question, k=k)
    if as_json:
        click.echo(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
        return
    click.echo(answer.text)
    if answer.query != answer.question:
        click.echo(f"(searched for: {answer.query})")
    for c in answer.citations:
        click.echo(f"\n[{c.n}] {c.label()}\n    “{c.quote}”")
    # On stderr: stdout stays the answer alone, for a pipe.
    if answer.notice:
        click.echo(f"notice: {answer.notice}", err=True)
    for d in answer.dropped:
        click.echo(f"dropped (not shown): “{d.text}” ({d.reason})", err=True)


@main.command()
def docs() -> None:
    """List the documents in the index: id, size, when added, title."""
    from .api import Assistant

    bot = Assistant.open()
    for d in bot.documents:
        click.echo(f"{d.id}\t{len(d.text)} chars\t{bot.index.added(d.id) or '-'}\t{d.title}")


@main.command()
@click.argument("doc_id", metavar="ID")
def remove(doc_id: str) -> None:
    """Take document ID (see `assistant docs`) out of the index; answers stop citing it.

    An index left with no document gets the article again on its next use, as on first use.
    """
    from .config import Settings

    settings = Settings.load()
    bot = _bare(settings)
    doc = bot.remove(doc_id)
    click.echo(f"removed {doc.id} (“{doc.title or doc.id}”); {len(bot.documents)} document(s) left "
               f"in the index at {settings.index_dir}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", type=click.IntRange(1, 65535), default=7860, show_default=True)
@llm_options
def ui(host: str, port: int, llm: str | None, llm_mode: str | None) -> None:
    """Serve the chat web UI."""
    from assistant_ui.app import launch

    launch(host=host, port=port, llm=llm, llm_mode=llm_mode)


@main.command(name="eval")
@click.option("--dataset", type=click.Path(path_type=Path), default=None,
              help="Gold cases (JSONL); default corpus/eval/article.jsonl.")
@click.option("--flat", "flat_path", type=click.Path(path_type=Path), default=None,
              help="Run an external flat-QA file (ClapNQ format) instead, with the naive baseline.")
@click.option("--squad", "squad_dir", is_flag=False, flag_value="", default=None, metavar="[DIR]",
              help="Run SQuAD 2.0 whole articles (the --part articles, each in its own index) from DIR "
                   "(default ../shared/benchmarks), with the naive baseline.")
@click.option("--dialog", "dialog_path", is_flag=False, flag_value="", default=None, metavar="[PATH]",
              help="Run MTRAG conversations (default ../shared/benchmarks/mtrag_conversations.jsonl), "
                   "with the naive baseline.")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Questions to sample from --flat or --squad; conversations from --dialog.")
@click.option("--from-feedback", "feedback", type=click.Path(path_type=Path), default=None,
              help="Turn a feedback JSONL file into draft gold cases (printed) and exit.")
@click.option("--thresholds", type=click.Path(path_type=Path), default=None,
              help="Minimum metric values (TOML); default corpus/eval/thresholds.toml.")
@click.option("--report", "report_dir", type=click.Path(path_type=Path), default=None,
              help="Write report.md, metrics.json and chart.png here.")
@click.option("--json", "as_json", is_flag=True, help="Print metrics as JSON.")
@click.option("--part", type=click.Choice(["test", "fit", "all"]), default="test", show_default=True,
              help="Which part of the gold set the gate and the report judge (all parts are asked).")
@click.option("--llm", "llm_name", default=None, metavar="NAME",
              help="Answer with this model (extractive, openai:<m>, ollama:<m>, llamacpp:<path|smollm2>); "
                   "the gold set and --squad only. Default: ASSISTANT_LLM, else extractive.")
@click.option("--llm-mode", type=click.Choice(["auto", "phrase", "read"]), default=None,
              help="With --llm: reword the extractive quotes (phrase) or read the passages (read).")
def eval_(dataset, flat_path, squad_dir, dialog_path, limit, feedback, thresholds, report_dir, as_json,
          part, llm_name, llm_mode) -> None:
    """Score the assistant; exit 1 when a metric is below its threshold."""
    from .eval import gold, report
    from .llm import parse_backend

    parse_backend(llm_name or "")  # a bad name fails before anything loads

    if feedback is not None:
        from .eval.drafts import drafts_from_feedback

        for case in drafts_from_feedback(feedback):
            click.echo(json.dumps(case, ensure_ascii=False))
        return
    thresholds = thresholds or report.DEFAULT_THRESHOLDS
    external = [o for o, v in (("--flat", flat_path), ("--squad", squad_dir), ("--dialog", dialog_path))
                if v is not None]
    if len(external) > 1:
        raise click.UsageError(f"use one of {', '.join(external)} at a time")
    if (llm_name or llm_mode) and (flat_path is not None or dialog_path is not None):
        raise click.UsageError("--llm and --llm-mode apply to the gold set and --squad, not to --flat or --dialog")
    if external:
        if flat_path is not None:
            from .eval.clapnq import run_flat

            flat = run_flat(flat_path, limit=limit, progress=not as_json)
            section = Path(flat_path).stem.split("_")[0]
        elif squad_dir is not None:
            from .eval.squad import run_squad, squad_files

            flat = run_squad(*squad_files(Path(squad_dir) if squad_dir else None), part=part, limit=limit,
                             progress=not as_json, llm=llm_name, llm_mode=llm_mode)
            section = "squad"
        else:
            from .eval.mtrag import run_dialog

            flat = run_dialog(Path(dialog_path) if dialog_path else None, limit=limit, progress=not as_json)
            section = "dialog"
        metrics = flat["systems"]["article-assistant"]
        limits = report.load_thresholds(thresholds, section)
        if report_dir:
            report.write_report({}, None, report_dir, f"Flat QA: {flat['dataset']}" if flat_path else flat["dataset"],
                            flat=flat)
        click.echo(json.dumps(flat["systems"], indent=2) if as_json else report.flat_table(flat))
    else:
        from .api import Assistant

        cases = gold.load_dataset(dataset or gold.DEFAULT_DATASET)  # a bad file fails before the model loads
        bot = Assistant.open(llm=llm_name, llm_mode=llm_mode)
        results = gold.run(bot, cases)
        # Every part is asked; the gate and the report judge one part: the `test` part by default,
        # which no fit, threshold or rule was chosen on. A dataset without parts is judged whole.
        parts = {r.case.part for r in results}
        chosen = part if part != "all" and part in parts else "all"
        metrics = gold.score([r for r in results if chosen in ("all", r.case.part)], bot.documents, k=5)
        metrics["part"] = chosen
        metrics["other_parts"] = {p: gold.score([r for r in results if r.case.part == p], bot.documents, k=5)
                                  for p in sorted(parts - {chosen, ""})}
        limits = report.load_thresholds(thresholds, "article")
        if report_dir:
            report.write_report(metrics, [r for r in results if chosen in ("all", r.case.part)], report_dir,
                            "Gold set on the article", limits)
        if as_json:
            click.echo(json.dumps(metrics, indent=2))
        else:
            _print_metrics(metrics, limits)
            for name, other in metrics["other_parts"].items():
                _print_metrics(other, {}, f"article gold set, {name} part (the calibration fits on it: in-sample)")
    problems = report.failures(metrics, limits)
    if problems:
        raise click.ClickException("quality gate failed:\n  " + "\n  ".join(problems))


def _print_metrics(metrics: dict, limits: dict, title: str = "") -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title or f"article gold set, {metrics.get('part', 'all')} part")
    for col in ("metric", "value", "threshold"):
        table.add_column(col)
    for name, value in metrics.items():
        if isinstance(value, int | float):
            t = limits.get(name)
            ok = t is None or value >= t
            table.add_row(name, f"[{'green' if ok else 'red'}]{value:.3f}[/]", "" if t is None else f"≥ {t:.3f}")
    for name, value in metrics.get("accuracy_by_category", {}).items():
        table.add_row(f"accuracy: {name}", f"{value:.3f}", "")
    for stage, v in metrics.get("latency_ms", {}).items():
        table.add_row(f"latency {stage} p50/p95 ms", f"{v['p50']:.1f} / {v['p95']:.1f}", "")
    Console().print(table)


@main.command()
@click.option("--corpus", type=click.Path(exists=True, path_type=Path), default=None,
              help="Files or a folder to ingest (as `assistant ingest` reads), or a .jsonl with doc_id and "
                   "context per row (the shared SQuAD articles). Default: the article.")
@click.option("--questions", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Questions to time, one a line (or a .jsonl with a question field). Default: the gold "
                   "set's for the article, else sentences spread over the corpus.")
@click.option("--rounds", type=click.IntRange(min=5), default=50, show_default=True, help="Warm asks to time.")
@click.option("--cold-runs", type=click.IntRange(min=0), default=3, show_default=True,
              help="Fresh `assistant ask` processes to time against the import floor (0: skip).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (default: a table of the same figures).")
@click.option("--scale", default=None, metavar="SIZES",
              help="Instead: the scale curve at these chunk counts (e.g. 1000,10000,100000): ingest "
                   "throughput, ask and dense-search latency, recall@10 against exact search, peak RSS.")
@click.option("--stores", default="embedded,server", show_default=True,
              help="With --scale: embedded Chroma, a Chroma server (`chroma run`, started here), or both.")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="With --scale: also draw the curve to this PNG.")
@click.option("--ui", "ui_load", is_flag=True,
              help="Instead: concurrent chat clients on the UI, against a trivial app streaming the same "
                   "shape, then on the UI again while uploads run (a copy of the article, added and removed).")
@click.option("--clients", type=click.IntRange(min=1, max=200), default=20, show_default=True,
              help="With --ui: sessions asking at once.")
@click.option("--seconds", type=click.FloatRange(min=1, max=600), default=20, show_default=True,
              help="With --ui: how long each app is loaded.")
def bench(corpus: Path | None, questions: Path | None, rounds: int, cold_runs: int, as_json: bool,
          scale: str | None, stores: str, plot: Path | None, ui_load: bool, clients: int, seconds: float) -> None:
    """Ingest, warm and cold asks, each as a ratio to its floor in the same run."""
    if scale is not None:
        from .eval import scale as sc

        try:
            sizes = [int(x) for x in scale.split(",")]
        except ValueError:
            raise click.BadParameter("give chunk counts separated by commas, e.g. 1000,10000", param_hint="--scale") from None
        kinds = [x.strip() for x in stores.split(",")]
        if not sizes or min(sizes) < 100 or not set(kinds) <= {"embedded", "server"}:
            raise click.BadParameter("chunk counts of at least 100; stores from embedded,server")
        result = sc.run_scale(sizes, kinds)
        if plot is not None:
            sc.plot(result, plot)
        _print_figures(result, as_json, "scale curve")
        return
    from .config import Settings
    from .eval import bench as cb
    from .eval.gold import load_dataset

    settings = Settings.load()
    docs = cb.load_corpus(corpus or settings.corpus_dir)
    if questions is not None:
        asked = cb.load_questions(questions)
    elif corpus is None:
        asked = [c.question for g in load_dataset() for c in g if not c.conversation]
    else:
        asked = cb.sample_questions(docs, rounds)
    if ui_load:
        from .api import Assistant
        from .eval.ui_load import run_ui_bench

        bot = Assistant.open()
        bot.warm_up()  # as `assistant ui` does: the first clients must not pay for loading
        _print_figures(run_ui_bench(bot, asked, clients, seconds), as_json, "UI under load")
        return
    result = {"corpus": str(corpus or settings.corpus_dir), **cb.run_corpus_bench(docs, asked, rounds, cold_runs)}
    _print_figures(result, as_json, "bench")


def _print_figures(result: dict, as_json: bool, title: str) -> None:
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    from .eval.report import figure_rows

    table = Table(title=f"{title} (ratios are to the floor measured in the same run; --json for JSON)")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in figure_rows(result):
        table.add_row(name, value)
    Console().print(table)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
